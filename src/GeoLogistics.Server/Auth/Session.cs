namespace GeoLogistics.Server.Auth;

/// <summary>
/// One login: every access token names its session (<c>sid</c>), so logging out, disabling a user or changing its
/// role ends that session's tokens before they expire, on every node.
/// </summary>
public sealed class Session
{
    public Guid Id { get; set; }
    public Guid UserId { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset ExpiresAt { get; set; }
    /// <summary>Set once, when the session is ended; nodes read the recent ones to drop their cached entry.</summary>
    public DateTimeOffset? RevokedAt { get; set; }
}

/// <summary>
/// A login throttle's count, kept in the store so every node counts the same attempts. Times are Unix milliseconds:
/// the counters are updated with one upsert statement, the same SQL on SQLite and PostgreSQL.
/// </summary>
public sealed class LoginThrottle
{
    public string Key { get; set; } = "";
    public long WindowStart { get; set; }
    public int Count { get; set; }
    public long BlockedUntil { get; set; }
}
