using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Data;
using GeoLogistics.Server.Drivers;
using GeoLogistics.Server.Events;
using GeoLogistics.Server.Http;
using Microsoft.EntityFrameworkCore;

namespace GeoLogistics.Server.Orders;

/// <summary>Moving an order along its lifecycle (status, cancel) and deleting it; both free a driver the order held.</summary>
internal static class OrderStatusChanges
{
    internal static async Task<IResult> ChangeStatus(
        Guid id, StatusRequest request, Caller caller, AppDb db, EventLog log, TimeProvider clock, CancellationToken ct)
    {
        if (request.Status is OrderStatus.Assigned)
        {
            return Problems.Invalid("status", "ASSIGNED is reached by dispatch or POST /api/orders/{id}/assign.");
        }
        return await Move(id, request.Status!.Value, caller, db, log, clock, ct);
    }

    internal static Task<IResult> Cancel(Guid id, Caller caller, AppDb db, EventLog log, TimeProvider clock, CancellationToken ct) =>
        Move(id, OrderStatus.Cancelled, caller, db, log, clock, ct);

    private static async Task<IResult> Move(
        Guid id, OrderStatus to, Caller caller, AppDb db, EventLog log, TimeProvider clock, CancellationToken ct)
    {
        var order = await db.Orders.VisibleTo(caller).FirstOrDefaultAsync(o => o.Id == id, ct);
        if (order is null)
        {
            return Problems.NotFound("The order");
        }
        var transition = OrderLifecycle.Find(order.Status, to, order.DispatchWhen);
        if (transition is null)
        {
            return Problems.Conflict($"An order cannot go from {order.Status.Name()} to {to.Name()}.");
        }
        if (!OrderLifecycle.MayTake(caller.Role, transition.Kind))
        {
            return Problems.Forbidden($"A {caller.Role.ToString().ToLowerInvariant()} may not move an order to {to.Name()}.");
        }

        var now = clock.Now();
        var events = new List<EventRecord>();
        var changed = new List<string> { "status", "version" };
        Driver? released = null;
        if (!OrderLifecycle.HoldsDriver(to) && order.DriverId is { } driverId)
        {
            released = await db.Drivers.FirstOrDefaultAsync(d => d.Id == driverId, ct);
            released?.Release(now);
            if (transition.Kind == StepKind.Unassign)
            {
                if (caller.Role == Role.Driver)
                {
                    // A decline: dispatch will not offer this order to this driver again.
                    db.OrderDeclines.Add(new OrderDecline { OrderId = order.Id, DriverId = driverId, At = now });
                }
                order.DriverId = null;
                changed.Add("driverId");
            }
        }
        OrderLifecycle.Apply(order, to, caller.Actor, now);
        events.Add(log.ForOrder(to == OrderStatus.Cancelled ? EventTypes.OrderCancelled : EventTypes.OrderStatusChanged, order, caller.Actor, changed));
        if (released is not null)
        {
            events.Add(log.ForDriver(released, caller.Actor));
        }
        try
        {
            await log.SaveAsync(events, ct);
        }
        catch (DbUpdateConcurrencyException)
        {
            return Problems.Conflict("The order changed meanwhile; read it again.");
        }
        return TypedResults.Ok(order.ToDto());
    }

    internal static async Task<IResult> Delete(Guid id, Caller caller, AppDb db, EventLog log, TimeProvider clock, CancellationToken ct)
    {
        var order = await db.Orders.VisibleTo(caller).FirstOrDefaultAsync(o => o.Id == id, ct);
        if (order is null)
        {
            return Problems.NotFound("The order");
        }
        if (!caller.IsAdmin)
        {
            return Problems.Forbidden("Only admins delete orders.");
        }
        var events = new List<EventRecord> { log.ForOrder(EventTypes.OrderDeleted, order, caller.Actor, []) };
        if (OrderLifecycle.HoldsDriver(order.Status) && order.DriverId is { } driverId &&
            await db.Drivers.FirstOrDefaultAsync(d => d.Id == driverId, ct) is { } driver)
        {
            driver.Release(clock.Now());
            events.Add(log.ForDriver(driver, caller.Actor));
        }
        db.Orders.Remove(order);
        try
        {
            await log.SaveAsync(events, ct);
        }
        catch (DbUpdateConcurrencyException)
        {
            return Problems.Conflict("The order changed meanwhile; read it again.");
        }
        return TypedResults.NoContent();
    }
}
