using GeoLogistics.Server.Dispatch;
using GeoLogistics.Server.Drivers;

namespace GeoLogistics.Server.Tracking;

/// <summary>The checks a position passes before it counts (SPEC §6): plain functions of the position and the one before it.</summary>
public static class PositionChecks
{
    /// <summary>Ranges, and no NaN or infinity (which JSON cannot carry, but a client library might still produce).</summary>
    public static LocationOutcome.Invalid? Check(LocationRequest r, string prefix = "")
    {
        if (r.Lat is not { } lat || !double.IsFinite(lat) || lat is < -90 or > 90)
        {
            return new($"{prefix}lat", "lat is a number from -90 to 90.");
        }
        if (r.Lng is not { } lng || !double.IsFinite(lng) || lng is < -180 or > 180)
        {
            return new($"{prefix}lng", "lng is a number from -180 to 180.");
        }
        if (r.Heading is { } heading && (!double.IsFinite(heading) || heading is < 0 or > 360))
        {
            return new($"{prefix}heading", "heading is degrees from 0 to 360.");
        }
        if (r.Speed is { } speed && (!double.IsFinite(speed) || speed is < 0 or > 100))
        {
            return new($"{prefix}speed", "speed is metres per second from 0 to 100.");
        }
        if (r.Accuracy is { } accuracy && (!double.IsFinite(accuracy) || accuracy is < 0 or > 100_000))
        {
            return new($"{prefix}accuracy", "accuracy is metres from 0 to 100000.");
        }
        return null;
    }

    /// <summary>Whether reaching <paramref name="lat"/>, <paramref name="lng"/> at <paramref name="at"/> from <paramref name="previous"/> takes more than <paramref name="maxSpeedMps"/>.</summary>
    public static bool IsJump(Position previous, double lat, double lng, DateTimeOffset at, double maxSpeedMps)
    {
        var seconds = Math.Abs((at - previous.At).TotalSeconds);
        var meters = GeoGrid.DistanceKm(previous.Lat, previous.Lng, lat, lng) * 1000;
        return meters > maxSpeedMps * Math.Max(seconds, 1);
    }

    /// <summary>Metres per second between two positions; null when no time passed.</summary>
    public static double? SpeedBetween(Position a, Position b)
    {
        var seconds = (b.At - a.At).TotalSeconds;
        return seconds <= 0 ? null : GeoGrid.DistanceKm(a.Lat, a.Lng, b.Lat, b.Lng) * 1000 / seconds;
    }
}
