namespace GeoLogistics.Server.Tracking;

/// <summary>Minutes to go for a distance at a speed. A seam: a routing engine can replace the straight line later.</summary>
public interface IEtaEstimator
{
    double Minutes(double distanceKm, double? recentSpeedMps);
}

/// <summary>Great-circle distance × a road factor ÷ the driver's recent speed (or a default when it is unknown or ~0).</summary>
public sealed class GreatCircleEtaEstimator(Microsoft.Extensions.Options.IOptions<TrackingOptions> options) : IEtaEstimator
{
    public double Minutes(double distanceKm, double? recentSpeedMps)
    {
        var settings = options.Value;
        var speed = recentSpeedMps is { } s && s >= 1 ? s : settings.DefaultSpeedMps;
        var seconds = distanceKm * 1000 * settings.RoadFactor / speed;
        return Math.Round(seconds / 60, 1);
    }
}
