namespace GeoLogistics.Bench.Harness;

/// <summary>What a replay of the event log says about SPEC §4's "a driver is on at most one active order".</summary>
/// <param name="DoubleBookings">order.assigned (or an active order's change) naming a driver that still held another active order.</param>
/// <param name="Reassignments">order.assigned for an order that was already active with another driver.</param>
/// <param name="DriverEventMismatches">driver.status_changed whose currentOrderId is not the order the replay has the driver on.</param>
public sealed record BookingCheck(
    int Events, int AssignedEvents, int DistinctAssignedDrivers, int DoubleBookings, int Reassignments, int DriverEventMismatches);

/// <summary>
/// Replays order and driver events in seq order, keeping for each driver the order it is on. An order is active in
/// ASSIGNED, PICKED_UP and IN_TRANSIT; a driver is released when its order leaves those statuses or names another
/// driver. A pure function of the log, so it runs after the load, on the whole log.
/// </summary>
public static class BookingReplay
{
    private static readonly HashSet<string> Active = ["ASSIGNED", "PICKED_UP", "IN_TRANSIT"];

    public static BookingCheck Check(IReadOnlyList<BenchEvent> events)
    {
        var orderOf = new Dictionary<Guid, Guid>();
        var orders = new Dictionary<Guid, (bool Active, Guid? Driver)>();
        var assignedDrivers = new HashSet<Guid>();
        int assigned = 0, doubles = 0, reassigned = 0, mismatches = 0;

        foreach (var e in events)
        {
            if (e.Type.StartsWith("order.", StringComparison.Ordinal) && e.OrderId is { } order)
            {
                var before = orders.GetValueOrDefault(order);
                var active = e.Type != "order.deleted" && e.Status is { } s && Active.Contains(s);
                var driver = active ? e.Link : null;
                // The order let go of its driver: free the driver, unless it already moved on.
                if (before is { Active: true, Driver: { } previous } && previous != driver &&
                    orderOf.TryGetValue(previous, out var held) && held == order)
                {
                    orderOf.Remove(previous);
                }
                if (e.Type == "order.assigned")
                {
                    assigned++;
                    if (e.Link is { } d)
                    {
                        assignedDrivers.Add(d);
                    }
                    if (before is { Active: true, Driver: { } p } && p != e.Link)
                    {
                        reassigned++;
                    }
                }
                if (driver is { } now)
                {
                    if (orderOf.TryGetValue(now, out var other) && other != order)
                    {
                        doubles++;
                    }
                    orderOf[now] = order;
                }
                orders[order] = (active, driver);
            }
            else if (e.Type == "driver.status_changed" && e.DriverId is { } driverId)
            {
                // The booking writes the order's event first, then the driver's, in one transaction.
                var replayed = orderOf.TryGetValue(driverId, out var o) ? o : (Guid?)null;
                if (e.Link != replayed)
                {
                    mismatches++;
                }
            }
        }
        return new BookingCheck(events.Count, assigned, assignedDrivers.Count, doubles, reassigned, mismatches);
    }
}
