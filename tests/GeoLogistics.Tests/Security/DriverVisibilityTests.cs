using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using GeoLogistics.Server.Drivers;
using GeoLogistics.Server.Orders;
using GeoLogistics.Tests.Support;
using static GeoLogistics.Tests.Support.HttpTestExtensions;

namespace GeoLogistics.Tests.Security;

/// <summary>
/// SPEC §2: a dispatcher sees drivers while they serve it. Another tenant's dispatcher sees a platform driver's name and
/// whether it is free (and where, only while it is free), never its order, its route or its phone; REST and the socket agree.
/// </summary>
public class DriverVisibilityTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Platform driver 1 on a Demo Hospital order, at a known place; driver 2 online and free at another.</summary>
    private static async Task<(Guid Busy, Guid Free, OrderDto Order)> HospitalDeliveryAsync(TestApp app)
    {
        var busy = (await app.DriverRecordAsync(1)).Id;
        var free = (await app.DriverRecordAsync(2)).Id;
        foreach (var (n, lat) in new[] { (1, 52.371), (2, 52.381) })
        {
            var driver = await app.DriverAsync(n);
            Assert.Equal(HttpStatusCode.Accepted, (await driver.PostAsJsonAsync("/api/drivers/me/location", new { lat, lng = 4.891 }, Ct)).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await driver.PostAsJsonAsync("/api/drivers/me/status", new { online = true }, Ct)).StatusCode);
        }
        var dispatcher = await app.DispatcherAsync();
        var created = await dispatcher.PostAsJsonAsync("/api/orders", NewOrder(), Ct);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var order = await created.ReadAsync<OrderDto>();
        Assert.Equal(HttpStatusCode.OK, (await dispatcher.PostAsJsonAsync($"/api/orders/{order.Id}/assign", new { driverId = busy }, Ct)).StatusCode);
        return (busy, free, order);
    }

    private static async Task<JsonElement> DriverAsync(HttpClient client, Guid id)
    {
        var response = await client.GetAsync($"/api/drivers/{id}", Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.ReadJsonAsync();
    }

    private static async Task<List<JsonElement>> ListAsync(HttpClient client)
    {
        var response = await client.GetAsync("/api/drivers?limit=1000", Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return [.. (await response.ReadJsonAsync()).EnumerateArray()];
    }

    private static bool Has(JsonElement driver, string field) =>
        driver.TryGetProperty(field, out var value) && value.ValueKind != JsonValueKind.Null;

    [Fact]
    public async Task Another_tenants_dispatcher_sees_a_platform_driver_on_a_hospital_order_only_as_busy_over_rest()
    {
        await using var app = await TestApp.StartAsync();
        var (busy, free, order) = await HospitalDeliveryAsync(app);
        var kitchen = await app.Dispatcher2Async();

        var one = await DriverAsync(kitchen, busy);
        var listed = await ListAsync(kitchen);

        Assert.Equal(("Driver 1", "busy"), (one.GetProperty("name").GetString(), one.GetProperty("status").GetString()));
        Assert.False(Has(one, "currentOrderId"), one.ToString());
        Assert.False(Has(one, "location"), one.ToString());
        Assert.False(Has(one, "phone"), one.ToString());
        var busyListed = listed.Single(d => d.GetProperty("id").GetGuid() == busy);
        Assert.False(Has(busyListed, "currentOrderId") || Has(busyListed, "location") || Has(busyListed, "phone"), busyListed.ToString());
        Assert.DoesNotContain(listed, d => d.GetProperty("tenantId").ValueKind == JsonValueKind.Null && Has(d, "phone"));
        Assert.DoesNotContain(order.Id.ToString(), (await kitchen.GetStringAsync("/api/drivers?limit=1000", Ct)), StringComparison.OrdinalIgnoreCase);

        // Nothing valid lost: the free platform driver is still there to assign by hand, with its place.
        var freeOne = await DriverAsync(kitchen, free);
        Assert.Equal("available", freeOne.GetProperty("status").GetString());
        Assert.Equal(52.381, freeOne.GetProperty("location").GetProperty("lat").GetDouble(), 6);
        Assert.False(Has(freeOne, "phone"), freeOne.ToString());
        var kitchenOrder = await (await kitchen.PostAsJsonAsync("/api/orders", NewOrder(), Ct)).ReadAsync<OrderDto>();
        var assigned = await kitchen.PostAsJsonAsync($"/api/orders/{kitchenOrder.Id}/assign", new { driverId = free }, Ct);
        Assert.Equal(HttpStatusCode.OK, assigned.StatusCode);
        // Now that driver serves the kitchen, the kitchen sees it whole.
        var serving = await DriverAsync(kitchen, free);
        Assert.Equal(kitchenOrder.Id, serving.GetProperty("currentOrderId").GetGuid());
        Assert.True(Has(serving, "phone") && Has(serving, "location"), serving.ToString());
    }

    [Fact]
    public async Task The_tenant_a_driver_serves_its_own_fleet_and_admins_keep_seeing_it_whole()
    {
        await using var app = await TestApp.StartAsync();
        var (busy, _, order) = await HospitalDeliveryAsync(app);
        var kitchen = await app.Dispatcher2Async();
        var ownRider = await kitchen.PostAsJsonAsync("/api/drivers",
            new { email = "kitchen-rider@demo.test", password = "Driver#2026", name = "Kitchen Rider", phone = "+31 6 5555 0000" }, Ct);
        Assert.Equal(HttpStatusCode.Created, ownRider.StatusCode);
        var riderId = (await ownRider.ReadAsync<DriverDto>()).Id;

        foreach (var watcher in new[] { await app.DispatcherAsync(), await app.AdminAsync() })
        {
            var seen = await DriverAsync(watcher, busy);
            Assert.Equal(order.Id, seen.GetProperty("currentOrderId").GetGuid());
            Assert.Equal(52.371, seen.GetProperty("location").GetProperty("lat").GetDouble(), 6);
            Assert.Equal("+31 6 0000 0001", seen.GetProperty("phone").GetString());
            var listed = (await ListAsync(watcher)).Single(d => d.GetProperty("id").GetGuid() == busy);
            Assert.Equal(order.Id, listed.GetProperty("currentOrderId").GetGuid());
            Assert.True(Has(listed, "phone") && Has(listed, "location"), listed.ToString());
        }
        var own = await DriverAsync(kitchen, riderId);
        Assert.Equal("+31 6 5555 0000", own.GetProperty("phone").GetString());
        Assert.Equal(HttpStatusCode.NotFound, (await (await app.DispatcherAsync()).GetAsync($"/api/drivers/{riderId}", Ct)).StatusCode);
    }

    [Fact]
    public async Task The_socket_and_rest_agree_on_who_sees_a_driver_whole()
    {
        await using var app = await TestApp.StartAsync();
        var (busy, _, _) = await HospitalDeliveryAsync(app);

        async Task<string?> SubscribeAsync(string email)
        {
            await using var client = await WsClient.ConnectAsync(app.ServerUri, await app.TokenForAsync(email), Ct);
            await client.NextAsync("connection_ack");
            await client.SendAsync(new { type = "subscribe", topic = $"driver:{busy}" }, Ct);
            var answer = await client.UntilAsync(all => all.Count > 0 && all[^1].GetProperty("type").GetString() is "subscribed" or "error");
            return answer[^1].GetProperty("type").GetString() == "error" ? answer[^1].GetProperty("code").GetString() : "subscribed";
        }

        Assert.Equal("forbidden", await SubscribeAsync("dispatcher2@demo.test"));
        Assert.Equal("subscribed", await SubscribeAsync("dispatcher@demo.test"));
        Assert.Equal("subscribed", await SubscribeAsync("admin@demo.test"));
        Assert.False(Has(await DriverAsync(await app.Dispatcher2Async(), busy), "currentOrderId"));
        Assert.True(Has(await DriverAsync(await app.DispatcherAsync(), busy), "currentOrderId"));
    }

    [Fact]
    public async Task A_delivered_orders_tracking_no_longer_shows_where_its_driver_is()
    {
        await using var app = await TestApp.StartAsync();
        var (busy, _, order) = await HospitalDeliveryAsync(app);
        var driver = await app.DriverAsync(1);
        var dispatcher = await app.DispatcherAsync();
        var during = await dispatcher.GetFromJsonAsync<JsonElement>($"/api/orders/{order.Id}/tracking", Ct);
        foreach (var step in new[] { "PICKED_UP", "IN_TRANSIT", "DELIVERED" })
        {
            Assert.Equal(HttpStatusCode.OK, (await driver.PostAsJsonAsync($"/api/orders/{order.Id}/status", new { status = step }, Ct)).StatusCode);
        }

        var after = await dispatcher.GetFromJsonAsync<JsonElement>($"/api/orders/{order.Id}/tracking", Ct);

        Assert.True(Has(during, "position"), during.ToString());
        Assert.False(Has(after, "position"), after.ToString());
        Assert.Equal(busy, after.GetProperty("driver").GetProperty("id").GetGuid());
        Assert.Equal("DELIVERED", after.GetProperty("status").GetString());
    }
}
