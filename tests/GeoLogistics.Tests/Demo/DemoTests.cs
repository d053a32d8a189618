using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using GeoLogistics.Server.Demo;
using GeoLogistics.Server.Drivers;
using GeoLogistics.Server.Orders;
using GeoLogistics.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace GeoLogistics.Tests.Demo;

public class DemoTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string Type(JsonElement m) => m.GetProperty("type").GetString()!;

    private static bool IsDriverEmail(string? email) => email is not null && System.Text.RegularExpressions.Regex.IsMatch(email, @"^driver\d+@demo\.test$");

    [Fact]
    public async Task The_map_answers_401_without_a_token()
    {
        await using var app = await TestApp.StartAsync();

        var response = await app.CreateClient().GetAsync("/api/map", Ct);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Contains("Bearer", response.Headers.WwwAuthenticate.ToString());
    }

    [Fact]
    public async Task Any_user_gets_the_demo_city_map_in_the_documented_shape()
    {
        await using var app = await TestApp.StartAsync();

        var response = await (await app.CustomerAsync()).GetAsync("/api/map", Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var map = await response.ReadJsonAsync();

        Assert.Equal(["name", "bounds", "streets", "areas"], map.EnumerateObject().Select(p => p.Name));
        Assert.False(string.IsNullOrWhiteSpace(map.GetProperty("name").GetString()));
        var bounds = map.GetProperty("bounds");
        Assert.Equal(["minLat", "minLng", "maxLat", "maxLng"], bounds.EnumerateObject().Select(p => p.Name));
        var (minLat, minLng, maxLat, maxLng) = (bounds.GetProperty("minLat").GetDouble(), bounds.GetProperty("minLng").GetDouble(),
            bounds.GetProperty("maxLat").GetDouble(), bounds.GetProperty("maxLng").GetDouble());
        Assert.True(minLat < 52.37 && 52.37 < maxLat && minLng < 4.89 && 4.89 < maxLng);

        void AssertPoints(JsonElement points, int atLeast)
        {
            Assert.True(points.GetArrayLength() >= atLeast);
            foreach (var point in points.EnumerateArray())
            {
                Assert.Equal(2, point.GetArrayLength());
                Assert.InRange(point[0].GetDouble(), minLat, maxLat);
                Assert.InRange(point[1].GetDouble(), minLng, maxLng);
            }
        }
        var streets = map.GetProperty("streets").EnumerateArray().ToList();
        Assert.NotEmpty(streets);
        foreach (var street in streets)
        {
            Assert.Equal(["name", "kind", "points"], street.EnumerateObject().Select(p => p.Name));
            Assert.False(string.IsNullOrWhiteSpace(street.GetProperty("name").GetString()));
            Assert.Contains(street.GetProperty("kind").GetString(), new[] { "main", "street", "bridge" });
            AssertPoints(street.GetProperty("points"), 2);
        }
        Assert.Equal(["bridge", "main", "street"], streets.Select(s => s.GetProperty("kind").GetString()).Distinct().Order());
        var areas = map.GetProperty("areas").EnumerateArray().ToList();
        foreach (var area in areas)
        {
            Assert.Equal(["name", "kind", "points"], area.EnumerateObject().Select(p => p.Name));
            AssertPoints(area.GetProperty("points"), 3);
        }
        Assert.Equal(["park", "water"], areas.Select(a => a.GetProperty("kind").GetString()).Distinct().Order());
    }

    [Fact]
    public async Task A_position_interval_under_the_location_rate_stops_the_server_at_start()
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            await using var app = await TestApp.StartAsync(new Dictionary<string, string?>
            {
                ["Auth:LocationUpdatesPerSecond"] = "2",
                ["Demo:PositionInterval"] = "00:00:00.400",
            });
        });

        Assert.IsType<OptionsValidationException>(error.GetBaseException());
        Assert.Contains("Demo:PositionInterval", error.GetBaseException().Message);
    }

    [Fact]
    public async Task Without_Demo_Simulate_no_driver_goes_online_and_no_order_arrives()
    {
        await using var app = await TestApp.StartAsync();
        // A simulator that plays runs as long as the server does: once it has ended, nothing of it is still to come.
        var simulator = app.Services.GetServices<IHostedService>().OfType<DemoSimulator>().Single();
        await simulator.ExecuteTask!.WaitAsync(TimeSpan.FromSeconds(15), Ct);

        var admin = await app.AdminAsync();
        var drivers = await admin.GetFromJsonAsync<List<DriverDto>>("/api/drivers", TestApp.Json, Ct);
        var orders = await admin.GetFromJsonAsync<OrderPage>("/api/orders", TestApp.Json, Ct);
        await using var board = await WsClient.ConnectAsync(app.ServerUri, await app.TokenForAsync("admin@demo.test"), Ct);
        Assert.Equal("connection_ack", Type(await board.NextAsync()));
        await board.SendAsync(new { type = "subscribe", topic = "orders", since = 0 }, Ct);
        await board.SendAsync(new { type = "subscribe", topic = "drivers", since = 0 }, Ct);

        Assert.Equal(5, drivers!.Count);
        Assert.All(drivers, d => Assert.Equal(DriverStatus.Offline, d.Status));
        Assert.Empty(orders!.Items);
        // The whole log replayed and every driver's last position: none.
        Assert.Equal(["subscribed", "subscribed"], (await board.QueuedSoFarAsync(Ct)).Select(Type));
    }

    [Fact]
    public async Task The_simulated_city_lives_drivers_stream_orders_arrive_are_dispatched_and_delivered_by_their_drivers()
    {
        var app = await TestApp.StartAsync(new Dictionary<string, string?>
        {
            ["Demo:Simulate"] = "true",
            ["Dispatch:Enabled"] = "true",
            ["Dispatch:SweepInterval"] = "00:00:01",
            ["Demo:Drivers"] = "6",
            ["Demo:OrdersPerMinute"] = "60",
            ["Demo:MinTripMeters"] = "300",
            ["Demo:SpeedMps"] = "100",
            ["Demo:PositionInterval"] = "00:00:00.200",
            ["Demo:Seed"] = "11",
            // At the demo's test speed positions are far apart; they are not jumps.
            ["Tracking:MaxSpeedMps"] = "500",
        });
        try
        {
            await using var admin = await WsClient.ConnectAsync(app.ServerUri, await app.TokenForAsync("admin@demo.test"), Ct);
            Assert.Equal("connection_ack", Type(await admin.NextAsync()));
            // From the start of the log: the simulator began as soon as the server listened.
            await admin.SendAsync(new { type = "subscribe", id = "orders", topic = "orders", since = 0 }, Ct);
            await admin.SendAsync(new { type = "subscribe", id = "drivers", topic = "drivers", since = 0 }, Ct);

            static bool DeliveredByItsDriver(JsonElement m) =>
                Type(m) == "order.status_changed" && m.GetProperty("data").GetProperty("status").GetString() == "DELIVERED" &&
                IsDriverEmail(m.GetProperty("actor").GetProperty("email").GetString());
            var seen = await admin.UntilAsync(all => all.Any(DeliveredByItsDriver), TimeSpan.FromMinutes(3));
            seen.AddRange(admin.Drain());

            var delivered = seen.First(DeliveredByItsDriver);
            var orderId = delivered.GetProperty("orderId").GetGuid();
            var driverId = delivered.GetProperty("data").GetProperty("driverId").GetGuid();
            var driverEmail = delivered.GetProperty("actor").GetProperty("email").GetString();

            // Orders came from the demo dispatchers, and dispatch (not the simulator) assigned them.
            var created = seen.Where(m => Type(m) == "order.created").ToList();
            Assert.NotEmpty(created);
            Assert.All(created, m => Assert.Contains(m.GetProperty("actor").GetProperty("email").GetString(), new[] { "dispatcher@demo.test", "dispatcher2@demo.test" }));
            Assert.All(created, m => Assert.Matches(@"^\d+ \S", m.GetProperty("data").GetProperty("pickup").GetProperty("address").GetString()));
            var assigned = Assert.Single(seen, m => Type(m) == "order.assigned" && m.GetProperty("orderId").GetGuid() == orderId);
            Assert.Equal("system", assigned.GetProperty("actor").GetProperty("email").GetString());
            Assert.Equal(driverId, assigned.GetProperty("data").GetProperty("driverId").GetGuid());

            // Drivers stream positions: several of them, and the delivering one while it carried the order.
            var locations = seen.Where(m => Type(m) == "driver.location").ToList();
            Assert.True(locations.Select(m => m.GetProperty("driverId").GetGuid()).Distinct().Count() >= 2);
            var carrying = locations.Where(m => m.GetProperty("driverId").GetGuid() == driverId &&
                m.TryGetProperty("orderId", out var o) && o.ValueKind == JsonValueKind.String && o.GetGuid() == orderId).ToList();
            Assert.True(carrying.Count >= 2, $"{carrying.Count} positions of the driver on its order");
            Assert.Contains(carrying, m => m.GetProperty("speed").GetDouble() > 0);

            // The order went every step, the driving ones by the driver's own calls.
            var client = await app.AdminAsync();
            var order = await client.GetFromJsonAsync<OrderDto>($"/api/orders/{orderId}", TestApp.Json, Ct);
            Assert.Equal([OrderStatus.Pending, OrderStatus.Assigned, OrderStatus.PickedUp, OrderStatus.InTransit, OrderStatus.Delivered],
                order!.History!.Select(h => h.Status));
            Assert.All(order.History!.TakeLast(3), h => Assert.Equal(driverEmail, h.Actor.Email));

            // Six drivers: the seeded five and one the simulator registered through the API; all online.
            var drivers = await client.GetFromJsonAsync<List<DriverDto>>("/api/drivers", TestApp.Json, Ct);
            Assert.Equal(6, drivers!.Count);
            Assert.Contains(drivers, d => d.Name == "Driver 6");
            Assert.All(drivers, d => Assert.NotEqual(DriverStatus.Offline, d.Status));
        }
        finally
        {
            // Stopping the host stops the simulator too, without hanging on its sockets.
            await app.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(60), Ct);
        }
    }
}
