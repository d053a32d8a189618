using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using GeoLogistics.Server.Drivers;
using GeoLogistics.Server.Orders;
using GeoLogistics.Server.Realtime.Core;
using GeoLogistics.Server.Tracking;
using GeoLogistics.Tests.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace GeoLogistics.Tests.Tracking;

public class TrackingTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private const double PickupLat = 52.3700;
    private const double PickupLng = 4.8900;

    private static string Type(JsonElement m) => m.GetProperty("type").GetString()!;

    /// <summary>A customer's order at Demo Hospital, assigned by hand to driver 1, who is online.</summary>
    private static async Task<(OrderDto Order, Guid DriverId, HttpClient Driver)> AssignedOrderAsync(TestApp app)
    {
        var hospital = await app.TenantAsync("Demo Hospital");
        var order = await (await (await app.CustomerAsync()).PostAsJsonAsync("/api/orders", new
        {
            tenantId = hospital.Id,
            pickup = new { lat = PickupLat, lng = PickupLng, address = "Pickup" },
            dropoff = new { lat = 52.3500, lng = 4.9100, address = "Dropoff" },
        }, Ct)).ReadAsync<OrderDto>();
        var driverId = (await app.DriverRecordAsync(1)).Id;
        var driver = await app.DriverAsync(1);
        (await driver.PostAsJsonAsync("/api/drivers/me/status", new { online = true }, Ct)).EnsureSuccessStatusCode();
        var assigned = await (await app.DispatcherAsync()).PostAsJsonAsync($"/api/orders/{order.Id}/assign", new { driverId }, Ct);
        Assert.Equal(HttpStatusCode.OK, assigned.StatusCode);
        await app.WaitForFeedAsync();
        return (order, driverId, driver);
    }

    private static async Task<WsClient> WatchAsync(TestApp app, string email, string topic)
    {
        var client = await WsClient.ConnectAsync(app.ServerUri, await app.TokenForAsync(email), Ct);
        Assert.Equal("connection_ack", Type(await client.NextAsync()));
        await client.SendAsync(new { type = "subscribe", topic }, Ct);
        var answer = await client.NextAsync();
        Assert.True(Type(answer) == "subscribed", answer.ToString());
        return client;
    }

    /// <summary>Waits for the driver's position at <paramref name="lat"/>: a watcher behind gets only a driver's newest.</summary>
    private static Task<List<JsonElement>> UntilLocationAsync(WsClient client, double lat) =>
        client.UntilAsync(all => all.Any(m => Type(m) == "driver.location" && m.GetProperty("lat").GetDouble() == lat));

    private static Task<HttpResponseMessage> PostPosition(HttpClient driver, double lat, double lng, DateTimeOffset at, double? speed = null) =>
        driver.PostAsJsonAsync("/api/drivers/me/location", new { lat, lng, speed, recordedAt = at }, Ct);

    [Fact]
    public async Task A_customer_watches_the_driver_come_closer_arrive_once_and_deliver()
    {
        await using var app = await TestApp.StartAsync();
        var (order, driverId, driver) = await AssignedOrderAsync(app);
        await using var customer = await WatchAsync(app, "customer@demo.test", $"order:{order.Id}");
        await using var otherTenant = await WatchAsync(app, "dispatcher2@demo.test", "drivers");
        var start = DateTimeOffset.UtcNow.AddSeconds(-200);

        // About 2 km south of the pickup, 250 m closer every 20 s (12.5 m/s), the last two within the arrival radius.
        var steps = new[] { 0.0180, 0.0157, 0.0135, 0.0112, 0.0090, 0.0067, 0.0045, 0.0022, 0.0008, 0.0002 };
        for (var i = 0; i < steps.Length; i++)
        {
            var posted = await PostPosition(driver, PickupLat - steps[i], PickupLng, start.AddSeconds(i * 20));
            Assert.Equal(HttpStatusCode.Accepted, posted.StatusCode);
        }
        var seen = await UntilLocationAsync(customer, PickupLat - steps[^1]);
        seen.AddRange(await customer.QueuedSoFarAsync(Ct));

        Assert.All(seen.Where(m => Type(m) == "driver.location"), m => Assert.Equal(driverId, m.GetProperty("driverId").GetGuid()));
        var etas = seen.Where(m => Type(m) == "order.eta").Select(m => m.GetProperty("etaMinutes").GetDouble()).ToList();
        Assert.True(etas.Count >= 3, $"{etas.Count} ETAs");
        Assert.Equal(etas.OrderDescending(), etas);
        var arriving = Assert.Single(seen, m => Type(m) == "order.driver_arriving");
        Assert.Equal("pickup", arriving.GetProperty("leg").GetString());

        foreach (var status in new[] { "PICKED_UP", "IN_TRANSIT", "DELIVERED" })
        {
            Assert.Equal(HttpStatusCode.OK, (await driver.PostAsJsonAsync($"/api/orders/{order.Id}/status", new { status }, Ct)).StatusCode);
        }
        var transitions = await customer.UntilAsync(all => all.Count(m => Type(m) == "order.status_changed") == 3);
        Assert.Equal(["PICKED_UP", "IN_TRANSIT", "DELIVERED"], transitions.Where(m => Type(m) == "order.status_changed")
            .Select(m => m.GetProperty("data").GetProperty("status").GetString()));
        var history = (await (await app.CustomerAsync()).GetFromJsonAsync<OrderDto>($"/api/orders/{order.Id}", TestApp.Json, Ct))!.History!;
        Assert.Equal([OrderStatus.Pending, OrderStatus.Assigned, OrderStatus.PickedUp, OrderStatus.InTransit, OrderStatus.Delivered], history.Select(h => h.Status));
        Assert.Equal("driver1@demo.test", history[^1].Actor.Email);
        Assert.Empty(await otherTenant.QueuedSoFarAsync(Ct));
    }

    [Fact]
    public async Task Another_customer_and_another_tenants_dispatcher_receive_nothing_of_the_drive()
    {
        await using var app = await TestApp.StartAsync();
        var (order, _, driver) = await AssignedOrderAsync(app);
        await using var kitchen = await WatchAsync(app, "dispatcher2@demo.test", "drivers");
        await kitchen.SendAsync(new { type = "subscribe", topic = "orders" }, Ct);
        Assert.Equal("subscribed", Type(await kitchen.NextAsync()));
        var kitchenTenant = await app.TenantAsync("Second Kitchen");
        var admin = await app.AdminAsync();
        await admin.PostAsJsonAsync("/api/users", new { email = "other@demo.test", password = "other-password", role = "customer" }, Ct);
        await using var otherCustomer = await WatchAsync(app, "other@demo.test", "drivers");
        await otherCustomer.SendAsync(new { type = "subscribe", topic = $"order:{order.Id}" }, Ct);
        Assert.Equal("forbidden", (await otherCustomer.NextAsync("error")).GetProperty("code").GetString());
        await using var hospital = await WatchAsync(app, "dispatcher@demo.test", "drivers");

        for (var i = 0; i < 3; i++)
        {
            await PostPosition(driver, PickupLat - 0.01 + (i * 0.001), PickupLng, DateTimeOffset.UtcNow.AddSeconds(-30 + (i * 10)));
        }

        await UntilLocationAsync(hospital, PickupLat - 0.01 + (2 * 0.001));
        Assert.Empty(await kitchen.QueuedSoFarAsync(Ct));
        Assert.Empty(await otherCustomer.QueuedSoFarAsync(Ct));
        Assert.Equal(HttpStatusCode.NotFound, (await (await app.Dispatcher2Async()).GetAsync($"/api/orders/{order.Id}/tracking", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await (await app.ClientForAsync("other@demo.test")).GetAsync($"/api/orders/{order.Id}/tracking", Ct)).StatusCode);
        // The kitchen's socket is not deaf: its own tenant's next order is the first thing it gets.
        var own = await (await (await app.Dispatcher2Async()).PostAsJsonAsync("/api/orders", HttpTestExtensions.NewOrder(), Ct)).ReadAsync<OrderDto>();
        var created = Assert.Single(await kitchen.UntilAsync(all => all.Any(m => m.TryGetProperty("orderId", out var id) && id.GetGuid() == own.Id)));
        Assert.Equal(("order.created", own.Id, kitchenTenant.Id), (Type(created), created.GetProperty("orderId").GetGuid(), created.GetProperty("tenantId").GetGuid()));
    }

    [Fact]
    public async Task The_tracking_view_tells_what_the_events_told()
    {
        await using var app = await TestApp.StartAsync();
        var (order, driverId, driver) = await AssignedOrderAsync(app);
        await using var customer = await WatchAsync(app, "customer@demo.test", $"order:{order.Id}");
        var start = DateTimeOffset.UtcNow.AddSeconds(-60);
        await PostPosition(driver, PickupLat - 0.02, PickupLng, start);
        await PostPosition(driver, PickupLat - 0.015, PickupLng, start.AddSeconds(30));
        var seen = await UntilLocationAsync(customer, PickupLat - 0.015);
        seen.AddRange(await customer.QueuedSoFarAsync(Ct));
        var lastLocation = seen.Last(m => Type(m) == "driver.location");
        var lastEta = seen.Last(m => Type(m) == "order.eta");

        var tracking = await (await app.CustomerAsync()).GetFromJsonAsync<JsonElement>($"/api/orders/{order.Id}/tracking", Ct);

        Assert.Equal("ASSIGNED", tracking.GetProperty("status").GetString());
        Assert.Equal("pickup", tracking.GetProperty("leg").GetString());
        Assert.Equal(driverId, tracking.GetProperty("driver").GetProperty("id").GetGuid());
        Assert.Equal("Driver 1", tracking.GetProperty("driver").GetProperty("name").GetString());
        Assert.False(string.IsNullOrEmpty(tracking.GetProperty("driver").GetProperty("phone").GetString()));
        var position = tracking.GetProperty("position");
        Assert.Equal(lastLocation.GetProperty("lat").GetDouble(), position.GetProperty("lat").GetDouble());
        Assert.Equal(lastLocation.GetProperty("ts").GetString(), position.GetProperty("at").GetString());
        Assert.InRange(position.GetProperty("ageSeconds").GetDouble(), 25, 120);
        Assert.Equal(lastEta.GetProperty("etaMinutes").GetDouble(), tracking.GetProperty("etaMinutes").GetDouble());
        Assert.Equal([PickupLat - 0.02, PickupLat - 0.015], tracking.GetProperty("route").EnumerateArray().Select(p => p.GetProperty("lat").GetDouble()));
        Assert.Equal(["PENDING", "ASSIGNED"], tracking.GetProperty("history").EnumerateArray().Select(h => h.GetProperty("status").GetString()));
        Assert.NotEqual(JsonValueKind.Null, tracking.GetProperty("assignedAt").ValueKind);
    }

    [Fact]
    public async Task A_board_that_subscribes_late_gets_the_latest_eta_of_an_order_under_way_and_none_once_it_ended()
    {
        await using var app = await TestApp.StartAsync();
        var (order, _, driver) = await AssignedOrderAsync(app);
        await using var early = await WatchAsync(app, "customer@demo.test", $"order:{order.Id}");
        var start = DateTimeOffset.UtcNow.AddSeconds(-60);
        await PostPosition(driver, PickupLat - 0.02, PickupLng, start);
        await PostPosition(driver, PickupLat - 0.015, PickupLng, start.AddSeconds(30));
        var seen = await UntilLocationAsync(early, PickupLat - 0.015);
        seen.AddRange(await early.QueuedSoFarAsync(Ct));
        var newest = seen.Last(m => Type(m) == "order.eta").GetProperty("etaMinutes").GetDouble();

        foreach (var (email, topic) in new[] { ("dispatcher@demo.test", "orders"), ("customer@demo.test", $"order:{order.Id}"), ("admin@demo.test", "orders") })
        {
            await using var late = await WatchAsync(app, email, topic);
            var etas = (await late.QueuedSoFarAsync(Ct)).Where(m => Type(m) == "order.eta").ToList();
            var eta = Assert.Single(etas);
            Assert.Equal((order.Id, newest), (eta.GetProperty("orderId").GetGuid(), eta.GetProperty("etaMinutes").GetDouble()));
        }
        await using (var kitchen = await WatchAsync(app, "dispatcher2@demo.test", "orders"))
        {
            Assert.DoesNotContain(await kitchen.QueuedSoFarAsync(Ct), m => Type(m) == "order.eta");
        }
        await using (var onlyPending = await WatchAsync(app, "dispatcher@demo.test", "orders"))
        {
            await onlyPending.SendAsync(new { type = "subscribe", topic = "orders", filters = new { status = "PENDING" } }, Ct);
            var both = await onlyPending.UntilAsync(all => all.Count > 0 && Type(all[^1]) == "subscribed");
            both.AddRange(await onlyPending.QueuedSoFarAsync(Ct));
            // The first subscription gets it; the filtered one does not (an ETA carries no status), as with a live ETA.
            Assert.Single(both, m => Type(m) == "order.eta");
        }

        Assert.Equal(HttpStatusCode.OK, (await (await app.DispatcherAsync()).PostAsync($"/api/orders/{order.Id}/cancel", null, Ct)).StatusCode);
        await app.WaitForFeedAsync();

        await using var after = await WatchAsync(app, "dispatcher@demo.test", "orders");
        Assert.DoesNotContain(await after.QueuedSoFarAsync(Ct), m => Type(m) == "order.eta");
        Assert.Null(app.Services.GetRequiredService<LiveHub>().LatestEta(order.Id));
    }

    [Fact]
    public async Task An_impossible_jump_is_kept_flagged_and_moves_no_eta()
    {
        await using var app = await TestApp.StartAsync();
        var (order, _, driver) = await AssignedOrderAsync(app);
        await using var customer = await WatchAsync(app, "customer@demo.test", $"order:{order.Id}");
        var start = DateTimeOffset.UtcNow.AddSeconds(-20);
        await PostPosition(driver, PickupLat - 0.02, PickupLng, start);
        await customer.NextAsync("order.eta");

        var jump = await PostPosition(driver, PickupLat + 0.5, PickupLng, start.AddSeconds(2)); // 57 km in 2 s

        Assert.Equal(HttpStatusCode.Accepted, jump.StatusCode);
        // Not the live position either: watchers get nothing of it (Security/ImpossibleJumpTests).
        Assert.DoesNotContain(await customer.QueuedSoFarAsync(Ct), m => Type(m) is "order.eta" or "driver.location");
        var route = (await (await app.DispatcherAsync()).GetFromJsonAsync<JsonElement>($"/api/orders/{order.Id}/tracking", Ct)).GetProperty("route");
        Assert.Equal([false, true], route.EnumerateArray().Select(p => p.GetProperty("flagged").GetBoolean()));
    }

    [Fact]
    public async Task A_flood_above_the_rate_is_cut_before_it_reaches_the_store()
    {
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?> { ["Auth:LocationUpdatesPerSecond"] = "1" });
        var (order, driverId, driver) = await AssignedOrderAsync(app);
        var now = DateTimeOffset.UtcNow;

        var answers = await Task.WhenAll(Enumerable.Range(0, 6).Select(i => PostPosition(driver, PickupLat - 0.01 + (i * 0.0001), PickupLng, now.AddMilliseconds(-600 + (i * 100)))));

        // The rate (1/s) plus one second's room for jitter: two accepted, the rest cut.
        Assert.Equal(2, answers.Count(a => a.StatusCode == HttpStatusCode.Accepted));
        Assert.Equal(4, answers.Count(a => a.StatusCode == HttpStatusCode.TooManyRequests));
        var route = (await (await app.DispatcherAsync()).GetFromJsonAsync<JsonElement>($"/api/orders/{order.Id}/tracking", Ct)).GetProperty("route");
        Assert.Equal(2, route.GetArrayLength());
        // The writer stores track points, and the newest position with them, once per flush: wait for it.
        using (var patience = new CancellationTokenSource(TimeSpan.FromSeconds(20)))
        {
            while (await app.WithDbAsync(db => db.TrackPoints.CountAsync(p => p.OrderId == order.Id, Ct)) < 2)
            {
                await Task.Delay(50, patience.Token);
            }
        }
        Assert.Equal(2, await app.WithDbAsync(db => db.TrackPoints.CountAsync(p => p.OrderId == order.Id, Ct)));
        var newest = route.EnumerateArray().MaxBy(p => p.GetProperty("at").GetDateTimeOffset());
        var stored = await app.WithDbAsync(db => db.Drivers.AsNoTracking().SingleAsync(d => d.Id == driverId, Ct));
        Assert.Equal(((double?)newest.GetProperty("lat").GetDouble(), (DateTimeOffset?)newest.GetProperty("at").GetDateTimeOffset()), (stored.Lat, stored.LocationAt));
        var stats = await (await app.AdminAsync()).GetFromJsonAsync<JsonElement>("/api/ws/stats", Ct);
        Assert.Equal(2, stats.GetProperty("positionsAccepted").GetInt64());
    }

    [Fact]
    public async Task A_late_batch_fills_the_history_without_moving_the_live_position_back()
    {
        await using var app = await TestApp.StartAsync();
        var (order, driverId, driver) = await AssignedOrderAsync(app);
        var now = DateTimeOffset.UtcNow;
        Assert.Equal(HttpStatusCode.Accepted, (await PostPosition(driver, PickupLat - 0.001, PickupLng, now)).StatusCode);

        var batch = await driver.PostAsJsonAsync("/api/drivers/me/locations", new
        {
            positions = new[]
            {
                new { lat = PickupLat - 0.004, lng = PickupLng, recordedAt = now.AddMinutes(-2) },
                new { lat = PickupLat - 0.006, lng = PickupLng, recordedAt = now.AddMinutes(-4) },
                new { lat = PickupLat - 0.002, lng = PickupLng, recordedAt = now.AddMinutes(-1) },
            },
        }, Ct);
        var badBatch = await driver.PostAsJsonAsync("/api/drivers/me/locations", new
        {
            positions = new object[] { new { lat = 52.0, lng = 4.0, recordedAt = now.AddMinutes(-1) }, new { lat = 91.0, lng = 4.0, recordedAt = now } },
        }, Ct);

        Assert.Equal(HttpStatusCode.Accepted, batch.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, badBatch.StatusCode);
        Assert.True((await badBatch.ReadJsonAsync()).GetProperty("errors").TryGetProperty("positions[1].lat", out _));
        var tracking = await (await app.DispatcherAsync()).GetFromJsonAsync<JsonElement>($"/api/orders/{order.Id}/tracking", Ct);
        Assert.Equal(PickupLat - 0.001, tracking.GetProperty("position").GetProperty("lat").GetDouble());
        Assert.Equal([PickupLat - 0.006, PickupLat - 0.004, PickupLat - 0.002, PickupLat - 0.001],
            tracking.GetProperty("route").EnumerateArray().Select(p => p.GetProperty("lat").GetDouble()));
        var stored = await (await app.AdminAsync()).GetFromJsonAsync<JsonElement>($"/api/drivers/{driverId}", Ct);
        Assert.Equal(PickupLat - 0.001, stored.GetProperty("location").GetProperty("lat").GetDouble());
    }

    private static Task<double?> StoredLatAsync(TestApp app, Guid driverId) =>
        app.WithDbAsync(db => db.Drivers.AsNoTracking().Where(d => d.Id == driverId).Select(d => d.Lat).SingleAsync(Ct));

    private static async Task<(long Stored, long Flushes)> StoreCountsAsync(TestApp app)
    {
        var stats = await (await app.AdminAsync()).GetFromJsonAsync<JsonElement>("/api/ws/stats", Ct);
        return (stats.GetProperty("positionsStored").GetInt64(), stats.GetProperty("storeFlushes").GetInt64());
    }

    [Fact]
    public async Task A_drivers_pings_are_answered_while_the_store_is_locked_and_the_writer_stores_the_newest_after()
    {
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?> { ["Tracking:StoreInterval"] = "00:00:00.200" });
        var driverId = (await app.DriverRecordAsync(1)).Id;
        await using var socket = await WsClient.ConnectAsync(app.ServerUri, await app.TokenForAsync("driver1@demo.test"), Ct);
        Assert.Equal("connection_ack", Type(await socket.NextAsync()));
        // The first position is urgent (a driver who just came online is a dispatch candidate at once): the ping that
        // follows is answered once the writer has stored it.
        await socket.SendAsync(new { type = "driver.location", lat = 52.30, lng = 4.89, recordedAt = DateTimeOffset.UtcNow.AddSeconds(-60) }, Ct);
        await socket.SendAsync(new { type = "ping" }, Ct);
        Assert.Equal("pong", Type(await socket.NextAsync("pong")));
        Assert.Equal(52.30, await StoredLatAsync(app, driverId));

        // Someone else holds the driver's row (PostgreSQL) or the store's one write lock (SQLite) for a while.
        await using var scope = app.Services.CreateAsyncScope();
        var blocker = scope.ServiceProvider.GetRequiredService<GeoLogistics.Server.Data.AppDb>();
        await using var held = await blocker.Database.BeginTransactionAsync(Ct);
        await blocker.Drivers.Where(d => d.Id == driverId).ExecuteUpdateAsync(s => s.SetProperty(d => d.Name, d => d.Name), Ct);
        await Task.Delay(300, Ct); // past the store interval: the next position is due for the store
        await socket.SendAsync(new { type = "driver.location", lat = 52.31, lng = 4.89 }, Ct);
        await socket.SendAsync(new { type = "ping" }, Ct);

        Assert.Equal("pong", Type(await socket.NextAsync("pong")));
        await held.RollbackAsync(Ct);
        using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        while (await StoredLatAsync(app, driverId) != 52.31)
        {
            await Task.Delay(50, patience.Token);
        }
    }

    [Fact]
    public async Task Positions_due_are_written_by_the_writer_in_one_transaction_not_by_the_pings()
    {
        // An hour: within the test, only urgent positions and the flush the test runs reach the store.
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?> { ["Tracking:StoreInterval"] = "01:00:00" });
        var drivers = new List<(Guid Id, HttpClient Http)>();
        for (var n = 1; n <= 3; n++)
        {
            drivers.Add(((await app.DriverRecordAsync(n)).Id, await app.DriverAsync(n)));
        }
        var now = DateTimeOffset.UtcNow;
        foreach (var (id, http) in drivers)
        {
            Assert.Equal(HttpStatusCode.Accepted, (await PostPosition(http, 52.30, 4.89, now.AddSeconds(-60))).StatusCode);
            Assert.Equal(52.30, await StoredLatAsync(app, id)); // first position: stored before the answer
        }
        var before = await StoreCountsAsync(app);

        for (var i = 0; i < drivers.Count; i++)
        {
            Assert.Equal(HttpStatusCode.Accepted, (await PostPosition(drivers[i].Http, 52.31 + (i * 0.001), 4.89, now)).StatusCode);
        }
        Assert.Equal(before, await StoreCountsAsync(app));
        foreach (var (id, _) in drivers)
        {
            Assert.Equal(52.30, await StoredLatAsync(app, id));
        }
        await app.Services.GetRequiredService<Tracker>().FlushAsync(Ct);

        Assert.Equal((before.Stored + 3, before.Flushes + 1), await StoreCountsAsync(app));
        for (var i = 0; i < drivers.Count; i++)
        {
            Assert.Equal(52.31 + (i * 0.001), await StoredLatAsync(app, drivers[i].Id));
        }
    }
}
