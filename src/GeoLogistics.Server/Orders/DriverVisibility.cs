using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Data;
using GeoLogistics.Server.Drivers;

namespace GeoLogistics.Server.Orders;

/// <summary>
/// Who sees which drivers, and how much (SPEC §2: a dispatcher sees drivers while they serve it). The one rule for the
/// REST endpoints and for the socket's <c>driver:{id}</c> topic, which is for those who see a driver whole. It lives
/// with the orders because it follows them: whoever may see an order sees the driver serving it.
/// </summary>
public static class DriverVisibility
{
    /// <summary>The drivers <paramref name="caller"/> sees whole: their order, position and phone.</summary>
    public static IQueryable<Driver> WhollyVisibleTo(this IQueryable<Driver> drivers, AppDb db, Caller caller)
    {
        // A driver serving an order the caller may see serves the caller: that order's dispatchers, its customer.
        var visibleOrders = db.Orders.VisibleTo(caller);
        return caller.Role switch
        {
            Role.Admin => drivers,
            Role.Dispatcher when caller.TenantId is { } tenant =>
                drivers.Where(d => d.TenantId == tenant || visibleOrders.Any(o => o.Id == d.CurrentOrderId)),
            Role.Customer => drivers.Where(d => visibleOrders.Any(o => o.Id == d.CurrentOrderId)),
            Role.Driver when caller.DriverId is { } self => drivers.Where(d => d.Id == self),
            _ => drivers.Where(_ => false),
        };
    }

    /// <summary>Every driver <paramref name="caller"/> may see (<see cref="WithView"/> says how much); anything else answers 404.</summary>
    public static IQueryable<Driver> VisibleTo(this IQueryable<Driver> drivers, AppDb db, Caller caller) =>
        // A dispatcher may assign the platform fleet too, so it sees every platform driver, if not whole.
        caller.Role == Role.Dispatcher && caller.TenantId is { } tenant
            ? drivers.Where(d => d.TenantId == null || d.TenantId == tenant)
            : drivers.WhollyVisibleTo(db, caller);

    /// <summary>Each of <paramref name="drivers"/> (already <see cref="VisibleTo"/> the caller) with how much the caller sees of it.</summary>
    public static IQueryable<SeenDriver> WithView(this IQueryable<Driver> drivers, AppDb db, Caller caller)
    {
        if (caller.Role != Role.Dispatcher)
        {
            return drivers.Select(d => new SeenDriver(d, DriverView.Whole));
        }
        var whole = db.Drivers.WhollyVisibleTo(db, caller);
        return drivers.Select(d => new SeenDriver(d, whole.Any(w => w.Id == d.Id) ? DriverView.Whole : DriverView.Assignable));
    }
}
