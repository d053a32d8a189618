using System.Collections.Concurrent;
using System.Security.Claims;
using GeoLogistics.Server.Data;
using GeoLogistics.Server.Http;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace GeoLogistics.Server.Auth;

/// <summary>
/// The sessions behind access tokens. A token is good only while its session is: it names a session of its own user
/// that has not ended, and the user's current role. Each node keeps the sessions it has seen in memory (one store
/// read per session and node), and <see cref="SessionWatch"/> reads the sessions ended anywhere, so a logout on one
/// node ends the session's tokens and sockets on every node within one poll interval.
/// </summary>
public sealed partial class Sessions(
    IServiceScopeFactory scopes, ISessionAccounts accounts, TokenService tokens, TimeProvider clock, ILogger<Sessions> logger)
{
    // The caller and the user's name, as read with the session: with them, the user's whole account (a user's email,
    // name, tenant and driver never change; a change of role or a disabling ends its sessions).
    private sealed record Known(SessionAccount Account, bool Ended);

    private readonly ConcurrentDictionary<Guid, Known> known = new();

    /// <summary>Sessions that ended (on this node or another): their sockets close.</summary>
    public event Action<IReadOnlyCollection<Guid>>? Ended;

    /// <summary>Starts a session for the user <paramref name="account"/> is (its session id aside) and mints its first token.</summary>
    public async Task<IssuedToken> StartAsync(Caller account, CancellationToken ct)
    {
        var id = Guid.CreateVersion7();
        var token = tokens.Issue(account with { SessionId = id });
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDb>();
        db.Sessions.Add(new Session { Id = id, UserId = account.UserId, CreatedAt = clock.Now(), ExpiresAt = token.ExpiresAt });
        await db.SaveChangesAsync(ct);
        return token;
    }

    /// <summary>
    /// The caller a validly signed token stands for, or null when its claims do not name exactly one known user, role
    /// and live session. The caller's tenant and driver come from the store, not from the token.
    /// </summary>
    public async ValueTask<Caller?> AuthenticateAsync(ClaimsPrincipal principal, CancellationToken ct)
    {
        if (!Guid.TryParse(principal.FindFirstValue(Caller.SubjectClaim), out var userId) ||
            !Guid.TryParse(principal.FindFirstValue(Caller.SessionClaim), out var sessionId) ||
            Caller.ParseRole(principal.FindFirstValue(Caller.RoleClaim)) is not { } role)
        {
            return null;
        }
        if (!known.TryGetValue(sessionId, out var session))
        {
            session = await LoadAsync(sessionId, ct);
            if (session is null)
            {
                return null;
            }
            session = known.GetOrAdd(sessionId, session);
        }
        // The token's own lifetime is checked by the bearer handler, with its clock skew.
        var caller = session.Account.Caller;
        return !session.Ended && caller.UserId == userId && caller.Role == role ? caller : null;
    }

    /// <summary>
    /// The user's name, as read with <paramref name="caller"/>'s session, while that session is live on this node (as
    /// <see cref="AuthenticateAsync"/> just found it); false once it has ended. With the caller it is the user's account,
    /// read from the store once per session and node, not once per request that shows it.
    /// </summary>
    public bool TryGetName(Caller caller, out string? name)
    {
        var live = known.TryGetValue(caller.SessionId, out var session) && !session.Ended && session.Account.Caller == caller;
        name = live ? session!.Account.Name : null;
        return live;
    }

    private async Task<Known?> LoadAsync(Guid sessionId, CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        var account = await accounts.FindAsync(scope.ServiceProvider.GetRequiredService<AppDb>(), sessionId, ct);
        return account is null ? null : new Known(account, Ended: false);
    }

    /// <summary>Ends one session (logout). Its tokens stop working at once here, and on other nodes at their next poll.</summary>
    public async Task EndAsync(AppDb db, Guid sessionId, CancellationToken ct)
    {
        var now = clock.Now();
        await db.Sessions.Where(s => s.Id == sessionId && s.RevokedAt == null).ExecuteUpdateAsync(s => s.SetProperty(x => x.RevokedAt, now), ct);
        Forget([sessionId]);
    }

    /// <summary>
    /// Ends every session of the user, in the caller's transaction (disabling a user or changing its role commits
    /// with it). Call <see cref="Forget"/> with the answer once that transaction committed.
    /// </summary>
    public static async Task<List<Guid>> EndAllAsync(AppDb db, Guid userId, DateTimeOffset now, CancellationToken ct)
    {
        var ids = await db.Sessions.Where(s => s.UserId == userId && s.RevokedAt == null && s.ExpiresAt > now).Select(s => s.Id).ToListAsync(ct);
        await db.Sessions.Where(s => s.UserId == userId && s.RevokedAt == null).ExecuteUpdateAsync(s => s.SetProperty(x => x.RevokedAt, now), ct);
        return ids;
    }

    /// <summary>Marks sessions ended on this node and closes their sockets.</summary>
    public void Forget(IReadOnlyCollection<Guid> sessionIds)
    {
        var newlyEnded = new List<Guid>();
        foreach (var id in sessionIds)
        {
            if (known.TryGetValue(id, out var session) && !session.Ended)
            {
                known[id] = session with { Ended = true };
                newlyEnded.Add(id);
            }
        }
        if (newlyEnded.Count > 0)
        {
            LogEnded(newlyEnded.Count);
            Ended?.Invoke(newlyEnded);
        }
    }

    /// <summary>Drops the entries of expired sessions: a token past its session's end fails its own lifetime check.</summary>
    public void Prune(DateTimeOffset now)
    {
        foreach (var (id, session) in known)
        {
            if (session.Account.ExpiresAt <= now)
            {
                known.TryRemove(id, out _);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Ended {Count} session(s)")]
    private partial void LogEnded(int count);
}

/// <summary>
/// Reads the sessions ended on any node (one indexed query per interval) and prunes expired sessions and login
/// throttle rows now and then. It reads a look-back window, not "since the last read": a node whose clock is a few
/// seconds behind the one that ended a session still sees it.
/// </summary>
public sealed partial class SessionWatch(
    Sessions sessions, IServiceScopeFactory scopes, TimeProvider clock, IOptions<AuthOptions> options, ILogger<SessionWatch> logger) : BackgroundService
{
    private static readonly TimeSpan LookBack = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan PruneEvery = TimeSpan.FromMinutes(10);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.SessionPollInterval, clock);
        var nextPrune = clock.GetUtcNow();
        try
        {
            do
            {
                var now = clock.GetUtcNow();
                try
                {
                    await using var scope = scopes.CreateAsyncScope();
                    var db = scope.ServiceProvider.GetRequiredService<AppDb>();
                    var since = now - LookBack;
                    sessions.Forget(await db.Sessions.Where(s => s.RevokedAt >= since).Select(s => s.Id).ToListAsync(stoppingToken));
                    sessions.Prune(now);
                    if (now >= nextPrune)
                    {
                        nextPrune = now + PruneEvery;
                        var expired = now - TimeSpan.FromDays(1);
                        await db.Sessions.Where(s => s.ExpiresAt < expired).ExecuteDeleteAsync(stoppingToken);
                        var stale = expired.ToUnixTimeMilliseconds();
                        await db.LoginThrottles.Where(t => t.WindowStart < stale && t.BlockedUntil < stale).ExecuteDeleteAsync(stoppingToken);
                    }
                }
                catch (Exception e) when (e is not OperationCanceledException && StoreFailures.IsTransient(e))
                {
                    LogStoreUnavailable(e.Message);
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not read ended sessions, the store is unavailable: {Reason}")]
    private partial void LogStoreUnavailable(string reason);
}
