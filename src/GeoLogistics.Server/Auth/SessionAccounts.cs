using GeoLogistics.Server.Data;

namespace GeoLogistics.Server.Auth;

/// <summary>The account behind a live session: its caller (<see cref="Caller.SessionId"/> set), the user's name, and when it expires.</summary>
public sealed record SessionAccount(Caller Caller, string? Name, DateTimeOffset ExpiresAt);

/// <summary>
/// Reads the account a session belongs to. Accounts are the user accounts' and their drivers' (Users/), which sit
/// above sign-in: every module names a <see cref="Caller"/>, so what makes one from the store is theirs, not Auth's.
/// </summary>
public interface ISessionAccounts
{
    /// <summary>The session's account, or null when the session is unknown or ended, or its user is disabled.</summary>
    Task<SessionAccount?> FindAsync(AppDb db, Guid sessionId, CancellationToken ct);
}
