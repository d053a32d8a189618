using System.Collections.Concurrent;
using GeoLogistics.Server.Data;
using GeoLogistics.Server.Events;
using GeoLogistics.Server.Orders;
using Microsoft.EntityFrameworkCore;

namespace GeoLogistics.Server.Tracking;

/// <summary>The order a driver is on, and where it goes: what a position needs to be routed, timed and shown.</summary>
public sealed record ActiveOrder(
    Guid OrderId, Guid TenantId, Guid? CustomerId, Guid DriverId, OrderStatus Status,
    double PickupLat, double PickupLng, double DropoffLat, double DropoffLng)
{
    /// <summary>To the pickup while assigned, to the dropoff once picked up.</summary>
    public string Leg => Status == OrderStatus.Assigned ? "pickup" : "dropoff";

    public (double Lat, double Lng) Target => Status == OrderStatus.Assigned ? (PickupLat, PickupLng) : (DropoffLat, DropoffLng);
}

/// <summary>
/// Active orders by driver, in memory: loaded from the store at start-up, then kept by the committed event feed
/// (every node sees every node's events), so a position ping needs no store read.
/// </summary>
public sealed class ActiveOrders : IHostedService
{
    private readonly ConcurrentDictionary<Guid, ActiveOrder> byDriver = new();
    private readonly ConcurrentDictionary<Guid, Guid> driverOfOrder = new();
    private readonly IServiceScopeFactory scopes;

    public ActiveOrders(IServiceScopeFactory scopes, EventFeed feed)
    {
        this.scopes = scopes;
        feed.Subscribe(OnCommittedAsync);
    }

    public ActiveOrder? OfDriver(Guid driverId) => byDriver.GetValueOrDefault(driverId);

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDb>();
        var active = await db.Orders.AsNoTracking()
            .Where(o => o.DriverId != null && (o.Status == OrderStatus.Assigned || o.Status == OrderStatus.PickedUp || o.Status == OrderStatus.InTransit))
            .ToListAsync(cancellationToken);
        foreach (var o in active)
        {
            Set(new ActiveOrder(o.Id, o.TenantId, o.CustomerId, o.DriverId!.Value, o.Status, o.Pickup.Lat, o.Pickup.Lng, o.Dropoff.Lat, o.Dropoff.Lng));
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private Task OnCommittedAsync(IReadOnlyList<CommittedEvent> events, CancellationToken ct)
    {
        foreach (var e in events)
        {
            if (e.OrderId is not { } orderId || !e.IsOrderEvent)
            {
                continue;
            }
            if (e.Type != EventTypes.OrderDeleted && e.Order is { DriverId: { } driverId } o && OrderLifecycle.HoldsDriver(o.Status))
            {
                Set(new ActiveOrder(orderId, o.TenantId, o.CustomerId, driverId, o.Status,
                    o.Pickup.Lat!.Value, o.Pickup.Lng!.Value, o.Dropoff.Lat!.Value, o.Dropoff.Lng!.Value));
            }
            else
            {
                Clear(orderId);
            }
        }
        return Task.CompletedTask;
    }

    private void Set(ActiveOrder order)
    {
        Clear(order.OrderId);
        byDriver[order.DriverId] = order;
        driverOfOrder[order.OrderId] = order.DriverId;
    }

    private void Clear(Guid orderId)
    {
        if (driverOfOrder.TryRemove(orderId, out var driverId) && byDriver.TryGetValue(driverId, out var held) && held.OrderId == orderId)
        {
            byDriver.TryRemove(driverId, out _);
        }
    }
}
