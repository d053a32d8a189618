using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using GeoLogistics.Server.Drivers;
using GeoLogistics.Server.Orders;
using GeoLogistics.Server.Tracking;
using GeoLogistics.Tests.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace GeoLogistics.Tests.Tracking;

/// <summary>The latest positions in Redis (docs/adr/0005): seen by every node, and never needed for a ping to work.</summary>
public class SharedPositionsTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Long enough that within a test only the first position of a driver reaches the store.</summary>
    private static readonly Dictionary<string, string?> NoStoreWrites = new() { ["Tracking:StoreInterval"] = "01:00:00" };

    private static Dictionary<string, string?> With(params IReadOnlyDictionary<string, string?>[] parts) =>
        parts.SelectMany(p => p).ToDictionary(p => p.Key, p => p.Value);

    /// <summary>A customer's order at Demo Hospital, assigned by hand to driver 1, who is online.</summary>
    private static async Task<(OrderDto Order, Guid DriverId)> AssignedOrderAsync(TestApp app)
    {
        var hospital = await app.TenantAsync("Demo Hospital");
        var order = await (await (await app.CustomerAsync()).PostAsJsonAsync("/api/orders", new
        {
            tenantId = hospital.Id,
            pickup = new { lat = 52.3700, lng = 4.8900, address = "Pickup" },
            dropoff = new { lat = 52.3500, lng = 4.9100, address = "Dropoff" },
        }, Ct)).ReadAsync<OrderDto>();
        var driverId = (await app.DriverRecordAsync(1)).Id;
        (await (await app.DriverAsync(1)).PostAsJsonAsync("/api/drivers/me/status", new { online = true }, Ct)).EnsureSuccessStatusCode();
        var assigned = await (await app.DispatcherAsync()).PostAsJsonAsync($"/api/orders/{order.Id}/assign", new { driverId }, Ct);
        Assert.Equal(HttpStatusCode.OK, assigned.StatusCode);
        await app.WaitForFeedAsync();
        return (order, driverId);
    }

    [Fact]
    public async Task A_second_node_shows_the_position_a_driver_streams_to_the_first_before_the_store_has_it()
    {
        var settings = With(TestStore.RedisSettings(), NoStoreWrites);
        await using var a = await TestApp.StartAsync(settings);
        await using var b = TestApp.StartNode(a, settings);
        var (order, driverId) = await AssignedOrderAsync(a);

        // The driver streams to node A: the first position is written through to the store, the later ones are not
        // (the store interval is an hour), so only Redis can tell node B about them.
        await using var socket = await WsClient.ConnectAsync(a.ServerUri, await a.TokenForAsync("driver1@demo.test"), Ct);
        Assert.Equal("connection_ack", (await socket.NextAsync()).GetProperty("type").GetString());
        var start = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.AddSeconds(-30).ToUnixTimeMilliseconds());
        double[] lats = [52.3500, 52.3510, 52.3520];
        for (var i = 0; i < lats.Length; i++)
        {
            await socket.SendAsync(new { type = "driver.location", lat = lats[i], lng = 4.8900, recordedAt = start.AddSeconds(i * 5) }, Ct);
        }
        var customer = await b.CustomerAsync();
        JsonElement position = default;
        using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (!patience.IsCancellationRequested)
        {
            var tracking = await customer.GetFromJsonAsync<JsonElement>($"/api/orders/{order.Id}/tracking", Ct);
            position = tracking.GetProperty("position");
            if (position.ValueKind == JsonValueKind.Object && position.GetProperty("lat").GetDouble() == lats[^1])
            {
                break;
            }
            await Task.Delay(50, Ct);
        }

        Assert.Equal(lats[^1], position.GetProperty("lat").GetDouble());
        Assert.Equal(start.AddSeconds(10), position.GetProperty("at").GetDateTimeOffset());
        Assert.Null(b.Services.GetRequiredService<Tracker>().Latest(driverId));
        var stored = await a.WithDbAsync(db => db.Drivers.AsNoTracking().SingleAsync(d => d.Id == driverId, Ct));
        Assert.Equal(lats[0], stored.Lat);
        var driver = await (await b.DispatcherAsync()).GetFromJsonAsync<JsonElement>($"/api/drivers/{driverId}", Ct);
        Assert.Equal(lats[^1], driver.GetProperty("location").GetProperty("lat").GetDouble());
    }

    [Fact]
    public async Task Readiness_is_healthy_with_redis_up()
    {
        await using var app = await TestApp.StartAsync(TestStore.RedisSettings());

        var ready = await app.CreateClient().GetAsync("/health/ready", Ct);

        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
    }

    [Fact]
    public async Task With_redis_down_positions_are_accepted_and_stored_and_readiness_says_degraded()
    {
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?>
        {
            ["Redis:Configuration"] = $"127.0.0.1:{ClosedPort()},connectTimeout=500",
            ["Tracking:StoreInterval"] = "00:00:00.200",
        });
        var (order, driverId) = await AssignedOrderAsync(app);
        var driver = await app.DriverAsync(1);
        var start = DateTimeOffset.UtcNow.AddSeconds(-30);

        for (var i = 0; i < 5; i++)
        {
            var posted = await driver.PostAsJsonAsync("/api/drivers/me/location", new { lat = 52.35 + (i * 0.001), lng = 4.89, recordedAt = start.AddSeconds(i * 5) }, Ct);
            Assert.Equal(HttpStatusCode.Accepted, posted.StatusCode);
        }

        var ready = await app.CreateClient().GetAsync("/health/ready", Ct);
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.StartsWith("Degraded", await ready.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await app.CreateClient().GetAsync("/health/live", Ct)).StatusCode);
        var tracking = await (await app.CustomerAsync()).GetFromJsonAsync<JsonElement>($"/api/orders/{order.Id}/tracking", Ct);
        Assert.Equal(52.354, tracking.GetProperty("position").GetProperty("lat").GetDouble(), 6);
        Assert.Equal(5, tracking.GetProperty("route").GetArrayLength());
        // The write-behind goes on: the newest position reaches the store within an interval or two.
        using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        double? stored = null;
        while (!patience.IsCancellationRequested && stored != 52.354)
        {
            await Task.Delay(100, Ct);
            stored = await app.WithDbAsync(db => db.Drivers.AsNoTracking().Where(d => d.Id == driverId).Select(d => d.Lat).SingleAsync(Ct));
        }
        Assert.Equal(52.354, stored!.Value, 6);
    }

    /// <summary>A loopback port nothing listens on: bound once by us, then released.</summary>
    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
