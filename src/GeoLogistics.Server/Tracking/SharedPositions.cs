using GeoLogistics.Server.Drivers;

namespace GeoLogistics.Server.Tracking;

/// <summary>
/// Drivers' latest positions beyond this node's memory (docs/adr/0005, 0009). The tracker always keeps the latest
/// position of the drivers that report to this node; this is where it looks for a driver it has not heard from
/// (served by another node, or before a restart). The positions it publishes get there through the backplane.
/// </summary>
public interface ISharedPositions
{
    /// <summary>The newest shared position of the driver, or null (unknown, expired, or not reachable now).</summary>
    ValueTask<Position?> GetAsync(Guid driverId, CancellationToken ct);
}

/// <summary>Without Redis: one node's memory is all there is, and the store behind it.</summary>
public sealed class NoSharedPositions : ISharedPositions
{
    public ValueTask<Position?> GetAsync(Guid driverId, CancellationToken ct) => ValueTask.FromResult<Position?>(null);
}
