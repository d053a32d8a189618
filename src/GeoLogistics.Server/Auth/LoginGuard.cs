using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using GeoLogistics.Server.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace GeoLogistics.Server.Auth;

/// <summary>
/// Throttles password guessing where every node sees the same counts: in the store. Two limits:
/// <list type="bullet">
/// <item>per client address, <c>Auth:LoginAttemptsPerMinute</c> attempts in each minute, whatever the account;</item>
/// <item>per account and address, a back-off of <c>Auth:LoginBackoffMin</c> after <c>Auth:LoginFailuresBeforeBackoff</c>
/// failures in a row that doubles with each further failure up to <c>Auth:LoginBackoffMax</c>, cleared by a success. It is keyed by the address too, so
/// an attacker's failures slow the attacker and never lock the real user, signing in from elsewhere, out.</item>
/// </list>
/// </summary>
public sealed class LoginGuard(TimeProvider clock, IOptions<AuthOptions> options)
{
    private static readonly TimeSpan Window = TimeSpan.FromMinutes(1);

    // An address over its limit is refused here until its window ends, without another store write per attempt.
    private readonly ConcurrentDictionary<string, DateTimeOffset> refusedHere = new();

    /// <summary>Counts an attempt from the address; the wait when it is over the limit, else null.</summary>
    public async Task<TimeSpan?> CountAttemptAsync(AppDb db, string address, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        if (refusedHere.TryGetValue(address, out var until))
        {
            if (now < until)
            {
                return until - now;
            }
            refusedHere.TryRemove(address, out _);
        }
        var windowStart = now.ToUnixTimeMilliseconds() / (long)Window.TotalMilliseconds * (long)Window.TotalMilliseconds;
        var key = "ip:" + address;
        var count = (await db.Database.SqlQuery<int>($"""
            INSERT INTO "LoginThrottle" ("Key", "WindowStart", "Count", "BlockedUntil") VALUES ({key}, {windowStart}, 1, 0)
            ON CONFLICT ("Key") DO UPDATE SET
                "Count" = CASE WHEN "LoginThrottle"."WindowStart" = excluded."WindowStart" THEN "LoginThrottle"."Count" + 1 ELSE 1 END,
                "WindowStart" = excluded."WindowStart"
            RETURNING "Count" AS "Value"
            """).ToListAsync(ct)).Single();
        if (count <= options.Value.LoginAttemptsPerMinute)
        {
            return null;
        }
        var windowEnd = DateTimeOffset.FromUnixTimeMilliseconds(windowStart) + Window;
        refusedHere[address] = windowEnd;
        return windowEnd - now;
    }

    /// <summary>The wait before this address may try this account again, or null.</summary>
    public async Task<TimeSpan?> BackoffAsync(AppDb db, string email, string address, CancellationToken ct)
    {
        var key = AccountKey(email, address);
        var blockedUntil = await db.LoginThrottles.Where(t => t.Key == key).Select(t => t.BlockedUntil).FirstOrDefaultAsync(ct);
        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        return blockedUntil > now ? TimeSpan.FromMilliseconds(blockedUntil - now) : null;
    }

    public async Task FailedAsync(AppDb db, string email, string address, CancellationToken ct)
    {
        var key = AccountKey(email, address);
        var now = clock.GetUtcNow();
        var failures = (await db.Database.SqlQuery<int>($"""
            INSERT INTO "LoginThrottle" ("Key", "WindowStart", "Count", "BlockedUntil") VALUES ({key}, {now.ToUnixTimeMilliseconds()}, 1, 0)
            ON CONFLICT ("Key") DO UPDATE SET "Count" = "LoginThrottle"."Count" + 1, "WindowStart" = excluded."WindowStart"
            RETURNING "Count" AS "Value"
            """).ToListAsync(ct)).Single();
        if (Backoff(failures, options.Value) is { } wait)
        {
            var until = (now + wait).ToUnixTimeMilliseconds();
            await db.LoginThrottles.Where(t => t.Key == key).ExecuteUpdateAsync(t => t.SetProperty(x => x.BlockedUntil, until), ct);
        }
    }

    public Task SucceededAsync(AppDb db, string email, string address, CancellationToken ct)
    {
        var key = AccountKey(email, address);
        return db.LoginThrottles.Where(t => t.Key == key).ExecuteDeleteAsync(ct);
    }

    /// <summary>The minimum at the threshold, doubling with each failure after it, at most the maximum.</summary>
    public static TimeSpan? Backoff(int failures, AuthOptions options)
    {
        var over = failures - options.LoginFailuresBeforeBackoff;
        if (over < 0)
        {
            return null;
        }
        var seconds = options.LoginBackoffMin.TotalSeconds * Math.Pow(2, Math.Min(over, 40));
        return TimeSpan.FromSeconds(Math.Min(seconds, options.LoginBackoffMax.TotalSeconds));
    }

    /// <summary>A hash: the store keeps no list of the emails people tried.</summary>
    private static string AccountKey(string email, string address) =>
        "acct:" + Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(email + "\n" + address)));
}
