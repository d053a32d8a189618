using System.Threading.RateLimiting;
using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Http;
using Microsoft.Extensions.Options;

namespace GeoLogistics.Server.Orders;

/// <summary>
/// How fast one user may create orders: a token bucket per user (<c>Api:OrdersPerUserPerMinute</c>, bursts of
/// <c>Api:OrderBurst</c>), so one customer or dispatcher cannot flood a tenant's board and dispatch. Admins are not limited.
/// Checked in the handler, after the idempotency replay: a retry of an order already created is not a new one.
/// </summary>
public sealed class OrderCreationLimit : IDisposable
{
    private readonly PartitionedRateLimiter<Guid> limiter;

    public OrderCreationLimit(IOptions<ApiOptions> options)
    {
        var perMinute = options.Value.OrdersPerUserPerMinute;
        // Refill often enough that the bucket never waits a whole minute, and never faster than once a second.
        var (period, tokens) = perMinute <= 60
            ? (TimeSpan.FromSeconds(60.0 / perMinute), 1)
            : (TimeSpan.FromSeconds(1), (int)Math.Ceiling(perMinute / 60.0));
        var bucket = new TokenBucketRateLimiterOptions
        {
            TokenLimit = options.Value.OrderBurst,
            TokensPerPeriod = tokens,
            ReplenishmentPeriod = period,
            QueueLimit = 0,
        };
        limiter = PartitionedRateLimiter.Create<Guid, Guid>(user => RateLimitPartition.GetTokenBucketLimiter(user, _ => bucket));
    }

    /// <summary>Takes one order from the caller's bucket; false, with when to retry, when it is empty.</summary>
    public bool TryAcquire(Caller caller, out TimeSpan retryAfter)
    {
        retryAfter = TimeSpan.Zero;
        if (caller.IsAdmin)
        {
            return true;
        }
        using var lease = limiter.AttemptAcquire(caller.UserId);
        if (lease.IsAcquired)
        {
            return true;
        }
        retryAfter = lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? wait : TimeSpan.FromSeconds(1);
        return false;
    }

    public void Dispose() => limiter.Dispose();
}
