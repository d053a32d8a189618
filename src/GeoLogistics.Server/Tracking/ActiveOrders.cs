using System.Collections.Concurrent;
using GeoLogistics.Server.Data;
using GeoLogistics.Server.Events;
using GeoLogistics.Server.Orders;
using GeoLogistics.Server.Realtime.Core;
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
/// (every node sees every node's events), so a position ping needs no store read. It also tells the live hub which
/// orders' ETAs to keep: those of the leg under way, forgotten when the order ends or changes leg or driver.
/// </summary>
public sealed class ActiveOrders : IHostedService
{
    private readonly ConcurrentDictionary<Guid, ActiveOrder> byDriver = new();
    private readonly ConcurrentDictionary<Guid, Guid> driverOfOrder = new();
    private readonly TaskCompletionSource loaded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly IServiceScopeFactory scopes;
    private readonly LiveHub hub;

    public ActiveOrders(IServiceScopeFactory scopes, EventFeed feed, LiveHub hub)
    {
        this.scopes = scopes;
        this.hub = hub;
        feed.Subscribe(OnCommittedAsync);
    }

    public ActiveOrder? OfDriver(Guid driverId) => byDriver.GetValueOrDefault(driverId);

    /// <summary>Completes once the orders active at start-up are known (what reading other nodes' ETAs waits for).</summary>
    public Task WhenLoadedAsync(CancellationToken ct) => loaded.Task.WaitAsync(ct);

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
        loaded.TrySetResult();
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
                hub.ForgetEtasOf(orderId);
            }
        }
        return Task.CompletedTask;
    }

    private void Set(ActiveOrder order)
    {
        var before = Clear(order.OrderId);
        byDriver[order.DriverId] = order;
        driverOfOrder[order.OrderId] = order.DriverId;
        // An ETA is of one driver's leg: another driver, or the next leg, starts without one.
        if (before is null || before.DriverId != order.DriverId || before.Leg != order.Leg)
        {
            hub.KeepEtasOf(order.OrderId);
        }
    }

    /// <summary>Takes the order off its driver; returns what was held.</summary>
    private ActiveOrder? Clear(Guid orderId)
    {
        if (driverOfOrder.TryRemove(orderId, out var driverId) && byDriver.TryGetValue(driverId, out var held) && held.OrderId == orderId)
        {
            byDriver.TryRemove(driverId, out _);
            return held;
        }
        return null;
    }
}
