using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using GeoLogistics.Server.Orders;
using GeoLogistics.Tests.Support;

namespace GeoLogistics.Tests.Security;

/// <summary>A driver's app (or someone with its token) reports a position on the other side of the world.</summary>
public class ImpossibleJumpTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private const double PickupLat = 52.3700;
    private const double PickupLng = 4.8900;
    private const double SydneyLat = -33.8688;
    private const double SydneyLng = 151.2093;

    private static string Type(JsonElement m) => m.GetProperty("type").GetString()!;

    /// <summary>A customer's order at Demo Hospital, assigned by hand to driver 1, who is online.</summary>
    private static async Task<(OrderDto Order, HttpClient Driver)> AssignedOrderAsync(TestApp app)
    {
        var hospital = await app.TenantAsync("Demo Hospital");
        var created = await (await app.CustomerAsync()).PostAsJsonAsync("/api/orders", new
        {
            tenantId = hospital.Id,
            pickup = new { lat = PickupLat, lng = PickupLng, address = "Pickup" },
            dropoff = new { lat = 52.3500, lng = 4.9100, address = "Dropoff" },
        }, Ct);
        var order = (await created.Content.ReadFromJsonAsync<OrderDto>(TestApp.Json, Ct))!;
        var driverId = (await app.DriverRecordAsync(1)).Id;
        var driver = await app.DriverAsync(1);
        (await driver.PostAsJsonAsync("/api/drivers/me/status", new { online = true }, Ct)).EnsureSuccessStatusCode();
        Assert.Equal(HttpStatusCode.OK, (await (await app.DispatcherAsync()).PostAsJsonAsync($"/api/orders/{order.Id}/assign", new { driverId }, Ct)).StatusCode);
        await app.WaitForFeedAsync();
        return (order, driver);
    }

    private static async Task<WsClient> WatchAsync(TestApp app, string email, string topic)
    {
        var client = await WsClient.ConnectAsync(app.ServerUri, await app.TokenForAsync(email), Ct);
        Assert.Equal("connection_ack", Type(await client.NextAsync()));
        await client.SendAsync(new { type = "subscribe", topic }, Ct);
        Assert.Equal("subscribed", Type(await client.NextAsync()));
        return client;
    }

    private static async Task PostAsync(HttpClient driver, double lat, double lng, DateTimeOffset at) =>
        Assert.Equal(HttpStatusCode.Accepted, (await driver.PostAsJsonAsync("/api/drivers/me/location", new { lat, lng, recordedAt = at }, Ct)).StatusCode);

    private static async Task<JsonElement> TrackingAsync(TestApp app, Guid orderId) =>
        await (await app.DispatcherAsync()).GetFromJsonAsync<JsonElement>($"/api/orders/{orderId}/tracking", Ct);

    [Fact]
    public async Task A_jump_to_Sydney_goes_to_history_only_and_the_next_plausible_position_is_live()
    {
        await using var app = await TestApp.StartAsync();
        var (order, driver) = await AssignedOrderAsync(app);
        await using var customer = await WatchAsync(app, "customer@demo.test", $"order:{order.Id}");
        var start = DateTimeOffset.UtcNow.AddSeconds(-20);
        await PostAsync(driver, PickupLat - 0.02, PickupLng, start);
        await customer.NextAsync("order.eta");

        await PostAsync(driver, SydneyLat, SydneyLng, start.AddSeconds(2));
        var afterJump = await TrackingAsync(app, order.Id);
        var seenAfterJump = await customer.QueuedSoFarAsync(Ct);
        // A second impossible one, judged against where the driver really was, not against Sydney.
        await PostAsync(driver, SydneyLat + 0.001, SydneyLng, start.AddSeconds(3));
        await PostAsync(driver, PickupLat - 0.019, PickupLng, start.AddSeconds(4));
        var seen = await customer.UntilAsync(all => all.Any(m => Type(m) == "driver.location"));

        Assert.Equal(PickupLat - 0.02, afterJump.GetProperty("position").GetProperty("lat").GetDouble());
        Assert.DoesNotContain(seenAfterJump, m => Type(m) is "driver.location" or "order.eta");
        var location = Assert.Single(seen, m => Type(m) == "driver.location");
        Assert.Equal(PickupLat - 0.019, location.GetProperty("lat").GetDouble());
        var tracking = await TrackingAsync(app, order.Id);
        Assert.Equal(PickupLat - 0.019, tracking.GetProperty("position").GetProperty("lat").GetDouble());
        // Nothing was lost: every position is in the route, the impossible ones flagged.
        var route = tracking.GetProperty("route").EnumerateArray().ToList();
        Assert.Equal([PickupLat - 0.02, SydneyLat, SydneyLat + 0.001, PickupLat - 0.019], route.Select(p => p.GetProperty("lat").GetDouble()));
        Assert.Equal([false, true, true, false], route.Select(p => p.GetProperty("flagged").GetBoolean()));
    }

    [Fact]
    public async Task A_driver_back_after_hours_far_from_where_it_was_is_live_at_once()
    {
        await using var app = await TestApp.StartAsync();
        var (order, driver) = await AssignedOrderAsync(app);
        await using var customer = await WatchAsync(app, "customer@demo.test", $"order:{order.Id}");
        var now = DateTimeOffset.UtcNow;
        // Its last position before going offline, three hours ago, uploaded as the batch an app sends when back.
        Assert.Equal(HttpStatusCode.Accepted, (await driver.PostAsJsonAsync("/api/drivers/me/locations", new
        {
            positions = new[] { new { lat = PickupLat - 1, lng = PickupLng, recordedAt = now.AddHours(-3) } },
        }, Ct)).StatusCode);

        // 111 km in three hours is plausible, though 111 km in a second would not be.
        await PostAsync(driver, PickupLat - 0.01, PickupLng, now);
        var location = await customer.UntilAsync(all => all.Any(m => Type(m) == "driver.location" && m.GetProperty("lat").GetDouble() == PickupLat - 0.01));

        var tracking = await TrackingAsync(app, order.Id);
        Assert.Equal(PickupLat - 0.01, tracking.GetProperty("position").GetProperty("lat").GetDouble());
        Assert.Equal([false, false], tracking.GetProperty("route").EnumerateArray().Select(p => p.GetProperty("flagged").GetBoolean()));
        Assert.NotEmpty(location);
    }

    [Fact]
    public async Task After_a_wrong_first_fix_a_run_of_positions_that_agree_with_each_other_moves_the_driver_there()
    {
        await using var app = await TestApp.StartAsync();
        var (order, driver) = await AssignedOrderAsync(app);
        await using var customer = await WatchAsync(app, "customer@demo.test", $"order:{order.Id}");
        var start = DateTimeOffset.UtcNow.AddSeconds(-20);
        // Nothing to compare the first fix with: it is live, though wrong.
        await PostAsync(driver, SydneyLat, SydneyLng, start);
        await customer.UntilAsync(all => all.Any(m => Type(m) == "driver.location"));

        await PostAsync(driver, PickupLat - 0.0200, PickupLng, start.AddSeconds(2));
        await PostAsync(driver, PickupLat - 0.0199, PickupLng, start.AddSeconds(3));
        var beforeRunEnds = await TrackingAsync(app, order.Id);
        var seenBeforeRunEnds = await customer.QueuedSoFarAsync(Ct);
        await PostAsync(driver, PickupLat - 0.0198, PickupLng, start.AddSeconds(4));
        var seen = await customer.UntilAsync(all => all.Any(m => Type(m) == "driver.location"));

        Assert.Equal(SydneyLat, beforeRunEnds.GetProperty("position").GetProperty("lat").GetDouble());
        Assert.DoesNotContain(seenBeforeRunEnds, m => Type(m) == "driver.location");
        Assert.Equal(PickupLat - 0.0198, Assert.Single(seen, m => Type(m) == "driver.location").GetProperty("lat").GetDouble());
        var tracking = await TrackingAsync(app, order.Id);
        Assert.Equal(PickupLat - 0.0198, tracking.GetProperty("position").GetProperty("lat").GetDouble());
        Assert.Equal([false, true, true, false], tracking.GetProperty("route").EnumerateArray().Select(p => p.GetProperty("flagged").GetBoolean()));
    }
}
