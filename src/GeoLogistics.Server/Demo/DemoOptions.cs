using System.ComponentModel.DataAnnotations;
using GeoLogistics.Server.Auth;

namespace GeoLogistics.Server.Demo;

/// <summary>The city simulator's settings (section <c>Demo</c>; <c>Demo:Enabled</c> or <c>--demo</c> turns demo mode on).</summary>
public sealed class DemoOptions
{
    /// <summary>In demo mode, run the simulator. Off: demo data and the map only.</summary>
    public bool Simulate { get; set; } = true;

    /// <summary>Drivers on the road: driver1@demo.test and on; those beyond the seeded five are created.</summary>
    [Range(0, 500)]
    public int Drivers { get; set; } = 12;

    /// <summary>New orders per minute, from the two demo dispatchers at random; 0: none.</summary>
    [Range(0, 600)]
    public double OrdersPerMinute { get; set; } = 6;

    /// <summary>No new order arrives while this many wait for a driver, so an unattended demo does not pile up.</summary>
    [Range(1, 100)]
    public int MaxWaitingOrders { get; set; } = 10;

    /// <summary>A new order's pickup and dropoff are at least this far apart (straight line).</summary>
    [Range(0, 3000)]
    public double MinTripMeters { get; set; } = 800;

    /// <summary>Driving speed on an order (idle drivers cruise at a third of it).</summary>
    [Range(1, 100)]
    public double SpeedMps { get; set; } = 12;

    /// <summary>How often each driver sends its position; never more often than <c>Auth:LocationUpdatesPerSecond</c> allows.</summary>
    public TimeSpan PositionInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Seeds the simulator's randomness (start places, orders, idle drives); unset: different on every run.</summary>
    public int? Seed { get; set; }

    /// <summary>The time between two positions of one driver: the interval, but never under the rate limit.</summary>
    public TimeSpan Spacing(AuthOptions auth)
    {
        var limit = TimeSpan.FromSeconds(1.0 / auth.LocationUpdatesPerSecond);
        return PositionInterval > limit ? PositionInterval : limit;
    }
}
