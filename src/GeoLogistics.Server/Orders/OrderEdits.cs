using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Data;
using GeoLogistics.Server.Events;
using GeoLogistics.Server.Http;
using GeoLogistics.Server.Realtime.Core;
using Microsoft.EntityFrameworkCore;

namespace GeoLogistics.Server.Orders;

/// <summary>PATCH /api/orders/{id}: edit the fields an order still lets change, at the version the client read.</summary>
internal static class OrderEdits
{
    internal static async Task<IResult> Update(
        Guid id,
        UpdateOrderRequest request,
        Caller caller,
        AppDb db,
        EventLog log,
        ILivePublisher live,
        TimeProvider clock,
        HttpContext http,
        CancellationToken ct)
    {
        var order = await db.Orders.VisibleTo(caller).FirstOrDefaultAsync(o => o.Id == id, ct);
        if (order is null)
        {
            return Problems.NotFound("The order");
        }
        if (!caller.MayManage())
        {
            return Problems.Forbidden("Only dispatchers and admins edit orders.");
        }
        if (!OrderVersions.TryReadExpectedVersion(http.Request, request.Version, out var expected, out var versionError))
        {
            return versionError!;
        }
        if (expected != order.Version)
        {
            return OrderVersions.Stale(live, order, expected);
        }
        if (OrderLifecycle.IsFinal(order.Status))
        {
            return Problems.Conflict($"A {order.Status.Name()} order cannot be edited.");
        }
        if ((request.Pickup is not null || request.Dropoff is not null || request.DispatchWhen is not null) &&
            order.Status is OrderStatus.Assigned or OrderStatus.PickedUp or OrderStatus.InTransit)
        {
            return Problems.Conflict("Pickup, dropoff and dispatchWhen cannot change once a driver is on the order.");
        }

        var changed = new List<string>();
        if (request.Pickup is { } pickup && Place.From(pickup) is var newPickup && !SamePlace(order.Pickup, newPickup))
        {
            order.Pickup = newPickup;
            changed.Add("pickup");
        }
        if (request.Dropoff is { } dropoff && Place.From(dropoff) is var newDropoff && !SamePlace(order.Dropoff, newDropoff))
        {
            order.Dropoff = newDropoff;
            changed.Add("dropoff");
        }
        // An empty string clears a text field; clearing what is already empty is no change.
        if (request.Kind is { } kind && NullIfEmpty(kind) != order.Kind)
        {
            order.Kind = NullIfEmpty(kind);
            changed.Add("kind");
        }
        if (request.Priority is { } priority && priority != order.Priority)
        {
            order.Priority = priority;
            changed.Add("priority");
        }
        if (request.Notes is { } notes && NullIfEmpty(notes) != order.Notes)
        {
            order.Notes = NullIfEmpty(notes);
            changed.Add("notes");
        }
        if (request.DispatchWhen is { } when && when != order.DispatchWhen)
        {
            order.DispatchWhen = when;
            changed.Add("dispatchWhen");
        }
        if (changed.Count == 0)
        {
            http.Response.Headers.ETag = OrderVersions.ETag(order.Version);
            return TypedResults.Ok(order.ToDto());
        }

        order.Version++;
        order.UpdatedAt = clock.Now();
        changed.Add("version");
        try
        {
            await log.SaveAsync([log.ForOrder(EventTypes.OrderUpdated, order, caller.Actor, changed)], ct);
        }
        catch (DbUpdateConcurrencyException)
        {
            return await OrderVersions.StaleAfterRace(db, live, id, expected, ct);
        }
        http.Response.Headers.ETag = OrderVersions.ETag(order.Version);
        return TypedResults.Ok(order.ToDto());
    }

    private static string? NullIfEmpty(string text) => text.Length == 0 ? null : text;

    private static bool SamePlace(Place a, Place b) => a.Lat == b.Lat && a.Lng == b.Lng && a.Address == b.Address;
}
