namespace GeoLogistics.Server.Tracking;

/// <summary>One position on the route of an order's leg, for the tracking view and its replay.</summary>
public sealed class TrackPoint
{
    public long Id { get; set; }
    public Guid OrderId { get; set; }
    /// <summary><c>pickup</c> (driving to it) or <c>dropoff</c>.</summary>
    public string Leg { get; set; } = "";
    public double Lat { get; set; }
    public double Lng { get; set; }
    public DateTimeOffset At { get; set; }
    /// <summary>An impossible jump from the point before: shown, not used for ETA.</summary>
    public bool Flagged { get; set; }
}

public abstract record LocationOutcome
{
    public sealed record Accepted : LocationOutcome;

    public sealed record RateLimited(TimeSpan RetryAfter) : LocationOutcome;

    public sealed record Invalid(string Field, string Message) : LocationOutcome;
}
