namespace GeoLogistics.Server.Dispatch;

/// <summary>
/// Great-circle distance and a grid of 0.01° cells (about 1.1 km north–south). A driver's cell is stored and
/// indexed with its status, so the nearest free drivers are found by asking for a few cells around the pickup,
/// widening ring by ring, instead of scanning every driver (docs/adr/0004).
/// </summary>
public static class GeoGrid
{
    public const double CellDegrees = 0.01;
    private const double EarthRadiusKm = 6371.0088;
    private const double KmPerDegree = Math.PI * EarthRadiusKm / 180;
    private const long Columns = 36_001;

    public static long CellOf(double lat, double lng) => (Row(lat) * Columns) + Column(lng);

    private static long Row(double lat) => (long)Math.Floor((Math.Clamp(lat, -90, 90) + 90) / CellDegrees);

    private static long Column(double lng) => (long)Math.Floor((Math.Clamp(lng, -180, 180) + 180) / CellDegrees);

    public static double DistanceKm(double lat1, double lng1, double lat2, double lng2)
    {
        var dLat = ToRadians(lat2 - lat1);
        var dLng = ToRadians(lng2 - lng1);
        var a = (Math.Sin(dLat / 2) * Math.Sin(dLat / 2)) +
            (Math.Cos(ToRadians(lat1)) * Math.Cos(ToRadians(lat2)) * Math.Sin(dLng / 2) * Math.Sin(dLng / 2));
        return 2 * EarthRadiusKm * Math.Asin(Math.Min(1, Math.Sqrt(a)));
    }

    private static double ToRadians(double degrees) => degrees * Math.PI / 180;

    /// <summary>The cells of the square <paramref name="rings"/> cells around the point's own: one range per row.</summary>
    public static IReadOnlyList<(long From, long To)> Square(double lat, double lng, int rings)
    {
        var row = Row(lat);
        var column = Column(lng);
        var first = Math.Max(0, column - rings);
        var last = Math.Min(Columns - 1, column + rings);
        var ranges = new List<(long, long)>((2 * rings) + 1);
        for (var r = Math.Max(0, row - rings); r <= row + rings && r * CellDegrees <= 180; r++)
        {
            ranges.Add(((r * Columns) + first, (r * Columns) + last));
        }
        return ranges;
    }

    /// <summary>Every driver closer than this to the point lies inside the square of <paramref name="rings"/> rings.</summary>
    public static double CoveredKm(double lat, int rings) =>
        rings * CellDegrees * KmPerDegree * Math.Max(0.01, Math.Cos(ToRadians(Math.Abs(lat))));
}
