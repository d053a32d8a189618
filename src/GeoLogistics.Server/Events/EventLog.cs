using System.Text.Json;
using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Data;
using GeoLogistics.Server.Drivers;
using GeoLogistics.Server.Http;
using GeoLogistics.Server.Orders;
using Microsoft.EntityFrameworkCore;

namespace GeoLogistics.Server.Events;

/// <summary>
/// The transactional outbox of SPEC §5: a change and its events commit together, or neither does.
/// </summary>
public sealed class EventLog(AppDb db, TimeProvider clock)
{
    public EventRecord ForOrder(string type, Order order, Actor actor, IReadOnlyList<string> changed) => new()
    {
        Type = type,
        Ts = clock.Now(),
        TenantId = order.TenantId,
        OrderId = order.Id,
        DriverId = order.DriverId,
        CustomerId = order.CustomerId,
        ActorUserId = actor.UserId,
        ActorEmail = actor.Email,
        Changed = JsonSerializer.Serialize(changed, AppJson.Default.IReadOnlyListString),
        Data = JsonSerializer.Serialize(order.ToDto(), AppJson.Default.OrderDto),
    };

    /// <summary>A driver's status event is seen by admins, the driver and its own fleet's dispatchers.</summary>
    public EventRecord ForDriver(Driver driver, Actor actor) => new()
    {
        Type = EventTypes.DriverStatusChanged,
        Ts = clock.Now(),
        TenantId = driver.TenantId,
        DriverId = driver.Id,
        OrderId = driver.CurrentOrderId,
        ActorUserId = actor.UserId,
        ActorEmail = actor.Email,
        Changed = JsonSerializer.Serialize<IReadOnlyList<string>>(["status"], AppJson.Default.IReadOnlyListString),
        Data = JsonSerializer.Serialize(driver.ToDto(withPhone: false), AppJson.Default.DriverDto),
    };

    /// <summary>
    /// Saves the tracked changes and appends <paramref name="events"/> in one transaction (the caller's, if it
    /// has one open). The event counter is taken last, after the change's own writes, so its lock is held only
    /// for the insert and the commit.
    /// </summary>
    public async Task SaveAsync(IReadOnlyList<EventRecord> events, CancellationToken ct)
    {
        var own = db.Database.CurrentTransaction is null ? await db.Database.BeginTransactionAsync(ct) : null;
        try
        {
            await db.SaveChangesAsync(ct);
            var last = await db.TakeAsync(Counter.Events, events.Count, ct);
            for (var i = 0; i < events.Count; i++)
            {
                events[i].Seq = last - events.Count + 1 + i;
            }
            db.Events.AddRange(events);
            await db.SaveChangesAsync(ct);
            if (own is not null)
            {
                await own.CommitAsync(ct);
            }
        }
        finally
        {
            if (own is not null)
            {
                await own.DisposeAsync();
            }
        }
    }
}

public static class EventVisibility
{
    /// <summary>SPEC §2 for the log: admins all; a dispatcher its tenant; a customer its orders; a driver its own.</summary>
    public static IQueryable<EventRecord> VisibleTo(this IQueryable<EventRecord> events, Caller caller) => caller.Role switch
    {
        Role.Admin => events,
        Role.Dispatcher when caller.TenantId is { } tenant => events.Where(e => e.TenantId == tenant),
        Role.Customer => events.Where(e => e.CustomerId == caller.UserId),
        Role.Driver when caller.DriverId is { } driver => events.Where(e => e.DriverId == driver),
        _ => events.Where(_ => false),
    };
}
