using GeoLogistics.Server.Drivers;
using GeoLogistics.Server.Realtime.Core;
using GeoLogistics.Server.Tracking;

namespace GeoLogistics.Server.Realtime;

/// <summary>
/// A driver's position sent over a socket, on every protocol: only a driver's session may send one, the tracker checks
/// and rates it (as for REST), and each refusal is worded once here.
/// </summary>
public static class SocketPositions
{
    public const string NotADriver = "Only drivers report locations.";

    public const string Dropped = "Positions above your rate are dropped.";

    /// <summary>Hands the position to the tracker; null when the session's user is not a driver (nothing is reported).</summary>
    public static async Task<LocationOutcome?> ReportAsync(this Tracker tracker, LiveSession session, LocationRequest request) =>
        session.Caller.DriverId is { } driverId ? await tracker.ReportAsync(driverId, request, session.Aborted) : null;
}
