using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Data;
using GeoLogistics.Server.Drivers;
using GeoLogistics.Server.Http;
using Microsoft.EntityFrameworkCore;

namespace GeoLogistics.Server.Orders;

/// <summary>POST /api/orders/{id}/assign: book a driver by hand, or move the order to another.</summary>
internal static class OrderAssignment
{
    internal static async Task<IResult> Assign(Guid id, AssignRequest request, Caller caller, AppDb db, Booking booking, CancellationToken ct)
    {
        var order = await db.Orders.AsNoTracking().VisibleTo(caller).FirstOrDefaultAsync(o => o.Id == id, ct);
        if (order is null)
        {
            return Problems.NotFound("The order");
        }
        if (!caller.MayManage())
        {
            return Problems.Forbidden("Only dispatchers and admins assign drivers.");
        }
        var reassign = order.Status == OrderStatus.Assigned;
        if (!reassign && OrderLifecycle.Find(order.Status, OrderStatus.Assigned, order.DispatchWhen) is null)
        {
            return Problems.Conflict($"A {order.Status.Name()} order cannot be assigned.");
        }
        var driver = await db.Drivers.AsNoTracking().FirstOrDefaultAsync(d => d.Id == request.DriverId, ct);
        if (driver is null || !driver.MayServe(order.TenantId))
        {
            return Problems.NotFound("The driver");
        }
        if (reassign && order.DriverId == driver.Id)
        {
            return TypedResults.Ok(order.ToDto());
        }
        if (!driver.IsFree)
        {
            return Problems.Conflict($"The driver is {driver.Status.ToString().ToLowerInvariant()}, not available.");
        }

        // Booked only if both are still as read here; a reassign releases the previous driver in the same transaction.
        var booked = await booking.TryBookAsync(BookingRequest.ForAssign(order, driver, caller.Actor), ct);
        return booked is { Result: BookingResult.Booked, Order: { } assigned }
            ? TypedResults.Ok(assigned.ToDto())
            : Problems.Conflict("The driver or the order changed meanwhile; read them again.");
    }
}
