using System.ComponentModel.DataAnnotations;

namespace GeoLogistics.Server.Tracking;

/// <summary>Tracking settings (section <c>Tracking</c>).</summary>
public sealed class TrackingOptions
{
    /// <summary>A driver's position reaches the store at most this often; the track of an active order is written in batches this often.</summary>
    public TimeSpan StoreInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Faster than this from the live position is an impossible jump: kept in history, flagged, and not the live
    /// position (nor sent to watchers, nor used for ETA) until a position plausible from the live one comes.
    /// </summary>
    [Range(1, 1000)]
    public double MaxSpeedMps { get; set; } = 70;

    /// <summary>Streets are longer than the straight line: distance × this.</summary>
    [Range(1, 5)]
    public double RoadFactor { get; set; } = 1.3;

    /// <summary>Speed assumed when the driver's recent speed is unknown or near zero (m/s; 8.3 ≈ 30 km/h).</summary>
    [Range(0.5, 100)]
    public double DefaultSpeedMps { get; set; } = 8.3;

    /// <summary>An <c>order.eta</c> goes out when the ETA moved at least this much since the last one.</summary>
    [Range(0.1, 60)]
    public double EtaStepMinutes { get; set; } = 1;

    /// <summary>Closer than this to the pickup or dropoff: <c>order.driver_arriving</c>, once per leg.</summary>
    [Range(10, 5000)]
    public double ArrivalRadiusMeters { get; set; } = 150;

    /// <summary>Positions in one batch upload (after being offline).</summary>
    [Range(1, 10_000)]
    public int MaxBatchPositions { get; set; } = 1000;

    /// <summary>How old a position in a batch upload may be.</summary>
    public TimeSpan MaxBatchAge { get; set; } = TimeSpan.FromHours(24);

    /// <summary>Track points waiting for the store; beyond it new ones are dropped (and counted).</summary>
    [Range(100, 10_000_000)]
    public int MaxPendingTrackPoints { get; set; } = 200_000;
}
