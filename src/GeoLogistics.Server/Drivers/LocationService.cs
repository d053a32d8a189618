using System.Threading.RateLimiting;
using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Data;
using GeoLogistics.Server.Dispatch;
using GeoLogistics.Server.Http;
using GeoLogistics.Server.Realtime;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace GeoLogistics.Server.Drivers;

public abstract record LocationOutcome
{
    public sealed record Accepted : LocationOutcome;

    public sealed record RateLimited(TimeSpan RetryAfter) : LocationOutcome;

    public sealed record Invalid(string Field, string Message) : LocationOutcome;
}

/// <summary>
/// Where a driver's position goes, whether it came over REST or the socket: one rate limit per driver, one set of
/// checks, the store, and a volatile <c>driver.location</c> to whoever may see that driver now (SPEC §5, §7).
/// A position over the rate is dropped before it costs a store write.
/// </summary>
public sealed class LocationService(IServiceScopeFactory scopes, EventHub hub, IOptions<AuthOptions> options, TimeProvider clock) : IDisposable
{
    private static readonly TimeSpan MaxFutureSkew = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan MaxAge = TimeSpan.FromMinutes(10);

    private readonly PartitionedRateLimiter<Guid> limiter = PartitionedRateLimiter.Create<Guid, Guid>(driver =>
        RateLimitPartition.GetTokenBucketLimiter(driver, _ => new TokenBucketRateLimiterOptions
        {
            TokenLimit = options.Value.LocationUpdatesPerSecond,
            TokensPerPeriod = options.Value.LocationUpdatesPerSecond,
            ReplenishmentPeriod = TimeSpan.FromSeconds(1),
            QueueLimit = 0,
        }));

    /// <summary>Ranges, and no NaN or infinity (which JSON cannot carry, but a client library might still produce).</summary>
    public static LocationOutcome.Invalid? Check(LocationRequest r)
    {
        if (r.Lat is not { } lat || !double.IsFinite(lat) || lat is < -90 or > 90)
        {
            return new("lat", "lat is a number from -90 to 90.");
        }
        if (r.Lng is not { } lng || !double.IsFinite(lng) || lng is < -180 or > 180)
        {
            return new("lng", "lng is a number from -180 to 180.");
        }
        if (r.Heading is { } heading && (!double.IsFinite(heading) || heading is < 0 or > 360))
        {
            return new("heading", "heading is degrees from 0 to 360.");
        }
        if (r.Speed is { } speed && (!double.IsFinite(speed) || speed is < 0 or > 100))
        {
            return new("speed", "speed is metres per second from 0 to 100.");
        }
        if (r.Accuracy is { } accuracy && (!double.IsFinite(accuracy) || accuracy is < 0 or > 100_000))
        {
            return new("accuracy", "accuracy is metres from 0 to 100000.");
        }
        return null;
    }

    public async Task<LocationOutcome> ReportAsync(Guid driverId, LocationRequest request, CancellationToken ct)
    {
        if (Check(request) is { } invalid)
        {
            return invalid;
        }
        var now = clock.Now();
        var at = request.RecordedAt is { } recorded ? Timestamps.Truncate(recorded) : now;
        if (at > now + MaxFutureSkew)
        {
            return new LocationOutcome.Invalid("recordedAt", "recordedAt is in the future.");
        }
        if (at < now - MaxAge)
        {
            return new LocationOutcome.Invalid("recordedAt", $"recordedAt is older than {MaxAge.TotalMinutes:0} minutes.");
        }
        using var lease = limiter.AttemptAcquire(driverId);
        if (!lease.IsAcquired)
        {
            return new LocationOutcome.RateLimited(lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? wait : TimeSpan.FromSeconds(1));
        }

        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDb>();
        var (lat, lng) = (request.Lat!.Value, request.Lng!.Value);
        // One statement, no version bump: a position never conflicts with a booking, and an older one never wins.
        var moved = await db.Drivers
            .Where(d => d.Id == driverId && (d.LocationAt == null || d.LocationAt < at))
            .ExecuteUpdateAsync(s => s
                .SetProperty(d => d.Lat, lat)
                .SetProperty(d => d.Lng, lng)
                .SetProperty(d => d.Heading, request.Heading)
                .SetProperty(d => d.Speed, request.Speed)
                .SetProperty(d => d.LocationAt, at)
                .SetProperty(d => d.Cell, GeoGrid.CellOf(lat, lng)), ct);
        if (moved == 1)
        {
            // Who may see it: the order's tenant and customer while the driver serves one, else the driver's fleet.
            var seen = await db.Drivers.AsNoTracking().Where(d => d.Id == driverId)
                .Select(d => new
                {
                    d.TenantId,
                    d.CurrentOrderId,
                    Order = db.Orders.Where(o => o.Id == d.CurrentOrderId).Select(o => new { o.TenantId, o.CustomerId }).FirstOrDefault(),
                })
                .FirstAsync(ct);
            hub.Publish(EventHub.Volatile(
                new DriverLocation(driverId, seen.CurrentOrderId, lat, lng, request.Heading, request.Speed, at),
                RealtimeJson.Default.DriverLocation, "driver.location",
                seen.Order?.TenantId ?? seen.TenantId, seen.CurrentOrderId, driverId, seen.Order?.CustomerId));
        }
        return new LocationOutcome.Accepted();
    }

    public void Dispose() => limiter.Dispose();
}
