using System.Linq.Expressions;
using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Data;
using GeoLogistics.Server.Drivers;
using GeoLogistics.Server.Events;
using GeoLogistics.Server.Http;
using GeoLogistics.Server.Orders;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace GeoLogistics.Server.Dispatch;

public sealed class DispatchStore(IServiceScopeFactory scopes, IOptions<DispatchOptions> options, TimeProvider clock) : IDispatchStore
{
    public async Task<DispatchOrder?> FindDispatchableAsync(Guid orderId, CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDb>();
        var order = await db.Orders.AsNoTracking().Where(o => o.Id == orderId)
            .Select(o => new { o.Id, o.TenantId, o.Status, o.DispatchWhen, o.Pickup.Lat, o.Pickup.Lng })
            .FirstOrDefaultAsync(ct);
        return order is not null && OrderLifecycle.IsDispatchable(order.Status, order.DispatchWhen)
            ? new DispatchOrder(order.Id, order.TenantId, order.Lat, order.Lng)
            : null;
    }

    public async Task<IReadOnlyList<Candidate>> FindCandidatesAsync(DispatchOrder order, CancellationToken ct)
    {
        var settings = options.Value;
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDb>();
        var freshSince = clock.Now() - settings.MaxLocationAge;
        // A query inside a query's lambda is named by a local: an extension member cannot appear in an expression tree.
        var declines = db.OrderDeclines;
        var free = db.Drivers.AsNoTracking().Where(d =>
            d.Status == DriverStatus.Available && d.CurrentOrderId == null && d.LocationAt > freshSince &&
            (d.TenantId == null || d.TenantId == order.TenantId) &&
            !declines.Any(x => x.OrderId == order.Id && x.DriverId == d.Id));

        // Widen the square of cells until it holds enough drivers that are certainly the nearest, or the radius.
        for (var rings = 1; ; rings *= 2)
        {
            var covered = GeoGrid.CoveredKm(order.Lat, rings);
            var found = await free.Where(InCells(GeoGrid.Square(order.Lat, order.Lng, rings)))
                .Select(d => new { d.Id, d.Version, Lat = d.Lat!.Value, Lng = d.Lng!.Value })
                .ToListAsync(ct);
            var ranked = found
                .Select(d => new Candidate(d.Id, d.Version, GeoGrid.DistanceKm(order.Lat, order.Lng, d.Lat, d.Lng)))
                .Where(c => c.DistanceKm <= settings.MaxRadiusKm)
                .OrderBy(c => c.DistanceKm)
                .ToList();
            if (covered >= settings.MaxRadiusKm)
            {
                return ranked.Take(settings.MaxCandidates).ToList();
            }
            var certain = ranked.TakeWhile(c => c.DistanceKm <= covered).Take(settings.MaxCandidates).ToList();
            if (certain.Count == settings.MaxCandidates)
            {
                return certain;
            }
        }
    }

    /// <summary><c>Cell BETWEEN a AND b OR Cell BETWEEN c AND d …</c>: one index range per row of cells.</summary>
    /// <remarks>The bounds are read from objects, so EF Core sends them as parameters and compiles one query per
    /// number of rows, not one per search.</remarks>
    private static Expression<Func<Driver, bool>> InCells(IReadOnlyList<(long From, long To)> ranges)
    {
        var driver = Expression.Parameter(typeof(Driver), "d");
        var cell = Expression.Property(driver, nameof(Driver.Cell));
        Expression? any = null;
        foreach (var (from, to) in ranges)
        {
            var bounds = Expression.Constant(new CellRange(from, to));
            var inRange = Expression.AndAlso(
                Expression.GreaterThanOrEqual(cell, Expression.Property(bounds, nameof(CellRange.From))),
                Expression.LessThanOrEqual(cell, Expression.Property(bounds, nameof(CellRange.To))));
            any = any is null ? inRange : Expression.OrElse(any, inRange);
        }
        return Expression.Lambda<Func<Driver, bool>>(any ?? Expression.Constant(false), driver);
    }

    private sealed record CellRange(long? From, long? To);

    public async Task<BookingResult> TryBookAsync(DispatchOrder order, Candidate candidate, CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        var booking = scope.ServiceProvider.GetRequiredService<Booking>();
        var outcome = await booking.TryBookAsync(BookingRequest.ForDispatch(order.Id, candidate.DriverId, candidate.Version), ct);
        return outcome.Result;
    }

    public async Task RecordFailureAsync(Guid orderId, string reason, CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDb>();
        var log = scope.ServiceProvider.GetRequiredService<EventLog>();
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        // Conditional, so that of several workers or nodes failing the same order at once only one records it.
        var marked = await db.Orders
            .Where(o => o.Id == orderId && (o.DispatchFailure == null || o.DispatchFailure != reason) &&
                ((o.Status == OrderStatus.Pending && o.DispatchWhen == DispatchWhen.Created) ||
                 (o.Status == OrderStatus.ReadyForPickup && o.DispatchWhen == DispatchWhen.Ready)))
            .ExecuteUpdateAsync(u => u.SetProperty(o => o.DispatchFailure, reason), ct);
        if (marked == 0)
        {
            return;
        }
        var order = await db.Orders.AsNoTracking().FirstAsync(o => o.Id == orderId, ct);
        await log.SaveAsync([log.ForOrder(EventTypes.OrderDispatchFailed, order, Actor.System, ["dispatchFailure"])], ct);
        await tx.CommitAsync(ct);
    }

    public async Task<IReadOnlyList<QueuedOrder>> ListDispatchableAsync(int limit, CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDb>();
        return await db.Orders.AsNoTracking()
            .Where(o => (o.Status == OrderStatus.Pending && o.DispatchWhen == DispatchWhen.Created) ||
                        (o.Status == OrderStatus.ReadyForPickup && o.DispatchWhen == DispatchWhen.Ready))
            .OrderByDescending(o => o.Priority).ThenBy(o => o.Serial)
            .Select(o => new QueuedOrder(o.Id, o.Priority, o.CreatedAt))
            .Take(limit)
            .ToListAsync(ct);
    }
}
