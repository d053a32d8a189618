using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using GeoLogistics.Server.Data;
using GeoLogistics.Server.Dispatch;
using GeoLogistics.Server.Drivers;
using GeoLogistics.Server.Events;
using GeoLogistics.Server.Http;
using GeoLogistics.Server.Orders;
using GeoLogistics.Tests.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using static GeoLogistics.Tests.Support.HttpTestExtensions;

namespace GeoLogistics.Tests.Orders;

/// <summary>The one booking (Orders/Booking) that dispatch and a dispatcher's assign share.</summary>
public class BookingTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    // HttpTestExtensions.NewOrder's pickup.
    private const double PickupLat = 52.370;
    private const double PickupLng = 4.890;

    private static async Task<OrderDto> CreateOrderAsync(HttpClient client)
    {
        var response = await client.PostAsJsonAsync("/api/orders", NewOrder(), Ct);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return await response.ReadAsync<OrderDto>();
    }

    private static Task<HttpResponseMessage> AssignAsync(HttpClient client, Guid orderId, Guid driverId) =>
        client.PostAsJsonAsync($"/api/orders/{orderId}/assign", new { driverId }, Ct);

    private static Task<List<EventRecord>> EventsAsync(TestApp app, Func<EventRecord, bool> which) =>
        app.WithDbAsync(async db => (await db.Events.AsNoTracking().OrderBy(e => e.Id).ToListAsync(Ct)).Where(which).ToList());

    /// <summary>The payload an event of this order or driver carries when it is the latest change: the stored row, as EventLog writes it.</summary>
    private static Task<string> StoredOrderJsonAsync(TestApp app, Guid id) => app.WithDbAsync(async db =>
        JsonSerializer.Serialize((await db.Orders.AsNoTracking().SingleAsync(o => o.Id == id, Ct)).ToDto(), OrdersJson.Default.OrderDto));

    private static Task<string> StoredDriverJsonAsync(TestApp app, Guid id) => app.WithDbAsync(async db =>
        JsonSerializer.Serialize((await db.Drivers.AsNoTracking().SingleAsync(d => d.Id == id, Ct)).ToDto(withPhone: false), DriversJson.Default.DriverDto));

    private static Task<Driver> DriverRowAsync(TestApp app, Guid id) =>
        app.WithDbAsync(db => db.Drivers.AsNoTracking().SingleAsync(d => d.Id == id, Ct));

    [Fact]
    public async Task Dispatch_and_a_dispatchers_assign_racing_for_one_driver_book_it_exactly_once()
    {
        await using var app = await TestApp.StartAsync();
        var driverId = await app.OnlineDriverAsync("only@demo.test", PickupLat, PickupLng);
        var dispatcher = await app.DispatcherAsync();
        var orders = new List<OrderDto>();
        for (var i = 0; i < 20; i++)
        {
            orders.Add(await CreateOrderAsync(dispatcher));
        }
        var dispatch = app.Services.GetRequiredService<DispatchService>();
        using var go = new SemaphoreSlim(0);
        var byDispatch = orders.Take(10).Select(o => Task.Run(async () =>
        {
            await go.WaitAsync(Ct);
            return await dispatch.DispatchAsync(o.Id, Ct);
        }, Ct)).ToList();
        var byHand = orders.Skip(10).Select(o => Task.Run(async () =>
        {
            await go.WaitAsync(Ct);
            return (await AssignAsync(dispatcher, o.Id, driverId)).StatusCode;
        }, Ct)).ToList();

        go.Release(orders.Count);
        var dispatched = await Task.WhenAll(byDispatch);
        var assigned = await Task.WhenAll(byHand);

        var wins = dispatched.Count(o => o == DispatchOutcome.Assigned) + assigned.Count(s => s == HttpStatusCode.OK);
        Assert.True(wins == 1, $"dispatch: {string.Join(", ", dispatched)}; assign: {string.Join(", ", assigned)}");
        Assert.All(assigned, s => Assert.Contains(s, new[] { HttpStatusCode.OK, HttpStatusCode.Conflict }));
        var stored = await app.WithDbAsync(db => db.Orders.AsNoTracking().Where(o => orders.Select(x => x.Id).Contains(o.Id)).ToListAsync(Ct));
        var winner = Assert.Single(stored, o => o.Status == OrderStatus.Assigned);
        Assert.Equal(driverId, winner.DriverId);
        Assert.All(stored.Where(o => o.Id != winner.Id), o => Assert.Equal((OrderStatus.Pending, (Guid?)null, 1), (o.Status, o.DriverId, o.Version)));
        var driver = await DriverRowAsync(app, driverId);
        Assert.Equal((DriverStatus.Busy, (Guid?)winner.Id), (driver.Status, driver.CurrentOrderId));
        Assert.Single(await EventsAsync(app, e => e.Type == EventTypes.OrderAssigned));
        Assert.Single(await EventsAsync(app, e => e.Type == EventTypes.DriverStatusChanged && e.Data.Contains("\"status\":\"busy\"", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Reassigning_releases_the_previous_driver_and_logs_the_order_and_both_drivers_as_the_rows_now_are()
    {
        await using var app = await TestApp.StartAsync();
        var first = await app.OnlineDriverAsync("first@demo.test", PickupLat, PickupLng);
        var second = await app.OnlineDriverAsync("second@demo.test", PickupLat + 0.01, PickupLng);
        var dispatcher = await app.DispatcherAsync();
        var order = await CreateOrderAsync(dispatcher);
        Assert.Equal(HttpStatusCode.OK, (await AssignAsync(dispatcher, order.Id, first)).StatusCode);
        var before = (await EventsAsync(app, _ => true)).Count;

        var response = await AssignAsync(dispatcher, order.Id, second);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var reassigned = await response.ReadAsync<OrderDto>();
        Assert.Equal((OrderStatus.Assigned, (Guid?)second, 3), (reassigned.Status, reassigned.DriverId, reassigned.Version));
        var released = await DriverRowAsync(app, first);
        Assert.Equal((DriverStatus.Available, (Guid?)null), (released.Status, released.CurrentOrderId));
        var booked = await DriverRowAsync(app, second);
        Assert.Equal((DriverStatus.Busy, (Guid?)order.Id), (booked.Status, booked.CurrentOrderId));

        // The same three events as a reassign always wrote, in this order, each carrying its row as stored now.
        var events = (await EventsAsync(app, _ => true)).Skip(before).ToList();
        Assert.Equal(
            [(EventTypes.OrderAssigned, (Guid?)order.Id, (Guid?)second), (EventTypes.DriverStatusChanged, null, first), (EventTypes.DriverStatusChanged, order.Id, second)],
            events.Select(e => (e.Type, e.OrderId, e.DriverId)));
        Assert.Equal("""["status","driverId","version"]""", events[0].Changed);
        Assert.Equal("""["status"]""", events[1].Changed);
        Assert.All(events, e => Assert.Equal("dispatcher@demo.test", e.ActorEmail));
        Assert.Equal(await StoredOrderJsonAsync(app, order.Id), events[0].Data);
        Assert.Equal(await StoredDriverJsonAsync(app, first), events[1].Data);
        Assert.Equal(await StoredDriverJsonAsync(app, second), events[2].Data);
        // A reassign is no status change: the history keeps its two entries.
        var history = (await (await dispatcher.GetAsync($"/api/orders/{order.Id}", Ct)).ReadAsync<OrderDto>()).History!;
        Assert.Equal([OrderStatus.Pending, OrderStatus.Assigned], history.Select(h => h.Status));
    }

    [Fact]
    public async Task A_dispatch_booking_logs_the_order_and_the_driver_as_the_rows_now_are()
    {
        await using var app = await TestApp.StartAsync();
        var driverId = await app.OnlineDriverAsync("near@demo.test", PickupLat, PickupLng);
        var order = await CreateOrderAsync(await app.DispatcherAsync());

        var outcome = await app.Services.GetRequiredService<DispatchService>().DispatchAsync(order.Id, Ct);

        Assert.Equal(DispatchOutcome.Assigned, outcome);
        var assigned = Assert.Single(await EventsAsync(app, e => e.Type == EventTypes.OrderAssigned));
        var busy = Assert.Single(await EventsAsync(app, e => e.Type == EventTypes.DriverStatusChanged && e.OrderId == order.Id));
        Assert.True(assigned.Id < busy.Id, "the order's event comes first");
        Assert.Equal((order.Id, (Guid?)driverId, "system", (Guid?)null), (assigned.OrderId!.Value, assigned.DriverId, assigned.ActorEmail, assigned.ActorUserId));
        Assert.Equal(await StoredOrderJsonAsync(app, order.Id), assigned.Data);
        Assert.Equal(await StoredDriverJsonAsync(app, driverId), busy.Data);
        var history = await app.WithDbAsync(db => db.OrderHistory.AsNoTracking().Where(h => h.OrderId == order.Id).OrderBy(h => h.Id).ToListAsync(Ct));
        Assert.Equal([(OrderStatus.Pending, "dispatcher@demo.test"), (OrderStatus.Assigned, "system")], history.Select(h => (h.Status, h.ActorEmail!)));
    }

    [Fact]
    public async Task Booking_an_order_that_is_no_longer_dispatchable_changes_nothing_not_even_the_driver_it_had_taken()
    {
        await using var app = await TestApp.StartAsync();
        var driverId = await app.OnlineDriverAsync("near@demo.test", PickupLat, PickupLng);
        var dispatcher = await app.DispatcherAsync();
        var order = await CreateOrderAsync(dispatcher);
        var store = app.Services.GetRequiredService<IDispatchStore>();
        var read = (await store.FindDispatchableAsync(order.Id, Ct))!;
        var candidate = Assert.Single(await store.FindCandidatesAsync(read, Ct));
        Assert.Equal(HttpStatusCode.OK, (await dispatcher.PostAsync($"/api/orders/{order.Id}/cancel", null, Ct)).StatusCode);
        var driverBefore = await DriverRowAsync(app, driverId);
        var eventsBefore = (await EventsAsync(app, _ => true)).Count;

        // The driver's UPDATE matches (it is free at that version); the order's does not: the whole booking rolls back.
        var result = await store.TryBookAsync(read, candidate, Ct);

        Assert.Equal(BookingResult.OrderGone, result);
        var driverAfter = await DriverRowAsync(app, driverId);
        Assert.Equal((DriverStatus.Available, (Guid?)null, driverBefore.Version), (driverAfter.Status, driverAfter.CurrentOrderId, driverAfter.Version));
        Assert.Equal(eventsBefore, (await EventsAsync(app, _ => true)).Count);
        Assert.Equal(OrderStatus.Cancelled, (await dispatcher.GetFromJsonAsync<OrderDto>($"/api/orders/{order.Id}", TestApp.Json, Ct))!.Status);
    }

    [Fact]
    public async Task Booking_an_order_another_booking_took_meanwhile_answers_order_gone_so_dispatch_stops_trying_drivers()
    {
        await using var app = await TestApp.StartAsync();
        var near = await app.OnlineDriverAsync("near@demo.test", PickupLat, PickupLng);
        var other = await app.OnlineDriverAsync("other@demo.test", PickupLat + 0.002, PickupLng);
        var dispatcher = await app.DispatcherAsync();
        var order = await CreateOrderAsync(dispatcher);
        var store = app.Services.GetRequiredService<IDispatchStore>();
        var read = (await store.FindDispatchableAsync(order.Id, Ct))!;
        var candidates = await store.FindCandidatesAsync(read, Ct);
        Assert.Equal([near, other], candidates.Select(c => c.DriverId));
        Assert.Equal(HttpStatusCode.OK, (await AssignAsync(dispatcher, order.Id, other)).StatusCode);

        // The nearest driver is still free at the version read; the order is not dispatchable any more.
        var result = await store.TryBookAsync(read, candidates[0], Ct);

        Assert.Equal(BookingResult.OrderGone, result);
        var untouched = await DriverRowAsync(app, near);
        Assert.Equal((DriverStatus.Available, (Guid?)null, candidates[0].Version), (untouched.Status, untouched.CurrentOrderId, untouched.Version));
        Assert.Equal(order.Id, (await DriverRowAsync(app, other)).CurrentOrderId);
    }

    [Fact]
    public async Task Booking_a_driver_at_a_version_it_no_longer_has_is_refused_and_changes_nothing()
    {
        await using var app = await TestApp.StartAsync();
        var driverId = await app.OnlineDriverAsync("near@demo.test", PickupLat, PickupLng);
        var dispatcher = await app.DispatcherAsync();
        var order = await CreateOrderAsync(dispatcher);
        var store = app.Services.GetRequiredService<IDispatchStore>();
        var read = (await store.FindDispatchableAsync(order.Id, Ct))!;
        var candidate = Assert.Single(await store.FindCandidatesAsync(read, Ct));
        var eventsBefore = (await EventsAsync(app, _ => true)).Count;

        var result = await store.TryBookAsync(read, candidate with { Version = candidate.Version - 1 }, Ct);

        Assert.Equal(BookingResult.DriverTaken, result);
        var driver = await DriverRowAsync(app, driverId);
        Assert.Equal((DriverStatus.Available, (Guid?)null, candidate.Version), (driver.Status, driver.CurrentOrderId, driver.Version));
        var stored = (await dispatcher.GetFromJsonAsync<OrderDto>($"/api/orders/{order.Id}", TestApp.Json, Ct))!;
        Assert.Equal((OrderStatus.Pending, (Guid?)null, 1), (stored.Status, stored.DriverId, stored.Version));
        Assert.Equal(eventsBefore, (await EventsAsync(app, _ => true)).Count);
    }
}
