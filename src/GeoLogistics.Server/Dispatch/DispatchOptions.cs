using System.ComponentModel.DataAnnotations;

namespace GeoLogistics.Server.Dispatch;

/// <summary>Dispatch settings (section <c>Dispatch</c>).</summary>
public sealed class DispatchOptions
{
    /// <summary>Off only in tests that drive dispatch by hand.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>A driver whose last position is older than this is not a candidate.</summary>
    public TimeSpan MaxLocationAge { get; set; } = TimeSpan.FromMinutes(2);

    [Range(0.1, 500)]
    public double MaxRadiusKm { get; set; } = 15;

    /// <summary>How many of the nearest drivers one search returns to try in turn.</summary>
    [Range(1, 100)]
    public int MaxCandidates { get; set; } = 5;

    /// <summary>Searches per dispatch when every candidate was taken by a concurrent booking.</summary>
    [Range(1, 1000)]
    public int MaxRounds { get; set; } = 25;

    /// <summary>Retries of one booking attempt after a transient store failure.</summary>
    [Range(0, 20)]
    public int BookingRetries { get; set; } = 3;

    public TimeSpan BookingRetryDelay { get; set; } = TimeSpan.FromMilliseconds(25);

    [Range(1, 64)]
    public int Workers { get; set; } = 4;

    /// <summary>Orders waiting for a worker; beyond it they wait for the next sweep.</summary>
    [Range(16, 1_000_000)]
    public int QueueCapacity { get; set; } = 10_000;

    /// <summary>Every dispatchable order is queued again this often (and at start-up, and when a driver comes free).</summary>
    public TimeSpan SweepInterval { get; set; } = TimeSpan.FromSeconds(10);
}
