using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using GeoLogistics.Server.Nodes;
using GeoLogistics.Server.Realtime.Core;
using GeoLogistics.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace GeoLogistics.Tests.Nodes;

/// <summary>
/// Several nodes on one store and one Redis act as one for volatile messages (docs/adr/0009): a position a driver
/// sends to one node reaches maps on every node, a map on any node starts full, and with Redis gone durable events
/// still reach every node while positions come back by themselves when it returns.
/// </summary>
public class BackplaneTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string Type(JsonElement m) => m.GetProperty("type").GetString()!;

    /// <summary>Driver 1 (online) reports a position at <paramref name="lat"/> to <paramref name="node"/>, <paramref name="secondsAgo"/> ago.</summary>
    private static async Task ReportAsync(HttpClient driver, double lat, int secondsAgo)
    {
        var posted = await driver.PostAsJsonAsync("/api/drivers/me/location",
            new { lat, lng = 4.89, recordedAt = DateTimeOffset.UtcNow.AddSeconds(-secondsAgo) }, Ct);
        Assert.Equal(HttpStatusCode.Accepted, posted.StatusCode);
    }

    private static async Task<WsClient> MapAsync(TestApp node)
    {
        var map = await WsClient.ConnectAsync(node.ServerUri, await node.TokenForAsync("admin@demo.test"), Ct);
        Assert.Equal("connection_ack", Type(await map.NextAsync()));
        // Orders first: the latest positions follow the reply to the drivers subscription, and must not be skipped.
        await map.SendAsync(new { type = "subscribe", topic = "orders" }, Ct);
        await map.NextAsync("subscribed");
        await map.SendAsync(new { type = "subscribe", topic = "drivers" }, Ct);
        await map.NextAsync("subscribed");
        return map;
    }

    private static async Task WaitUntilAsync(Func<bool> done, string what)
    {
        using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        while (!done())
        {
            if (patience.IsCancellationRequested)
            {
                Assert.Fail($"Timed out waiting until {what}.");
            }
            await Task.Delay(20, Ct);
        }
    }

    [Fact]
    public async Task Positions_a_driver_sends_to_one_node_reach_a_map_on_another_in_order()
    {
        var settings = TestStore.RedisSettings();
        await using var a = await TestApp.StartAsync(settings);
        await using var b = TestApp.StartNode(a, settings);
        var driverId = (await a.DriverRecordAsync(1)).Id;
        await using var map = await MapAsync(b);
        var driver = await a.DriverAsync(1);

        // 11 m every 5 s: plausible moves, each one live (a jump would be flagged and not published).
        double[] lats = [52.3500, 52.3501, 52.3502, 52.3503, 52.3504];
        for (var i = 0; i < lats.Length; i++)
        {
            await ReportAsync(driver, lats[i], 30 - (5 * i));
        }

        var seen = await map.UntilAsync(all => all.Any(m => Type(m) == "driver.location" && m.GetProperty("lat").GetDouble() == lats[^1]));
        var positions = seen.Where(m => Type(m) == "driver.location").ToList();
        Assert.All(positions, p => Assert.Equal(driverId, p.GetProperty("driverId").GetGuid()));
        var received = positions.Select(p => p.GetProperty("lat").GetDouble()).ToList();
        // In the order sent; a map that fell behind may get only a driver's newest, never an older one after it.
        Assert.Equal(received.Order(), received);
        Assert.Equal(lats[^1], received[^1]);
        Assert.True(b.Services.GetRequiredService<RedisBackplane>().Counts.Received > 0);
    }

    [Fact]
    public async Task A_map_on_another_node_or_on_a_node_started_later_starts_with_the_latest_positions()
    {
        // Positions reach Redis every 2 s: C starts while the newest has been published but not yet written.
        var settings = new Dictionary<string, string?>(TestStore.RedisSettings()) { ["Redis:WriteInterval"] = "00:00:02" };
        await using var a = await TestApp.StartAsync(settings);
        await using var b = TestApp.StartNode(a, settings);
        var driverId = (await a.DriverRecordAsync(1)).Id;
        var driver = await a.DriverAsync(1);
        var redis = a.Services.GetRequiredService<IConnectionMultiplexer>().GetDatabase();
        var key = $"{settings["Redis:KeyPrefix"]}live:position:{driverId:N}";
        await ReportAsync(driver, 52.3610, 20);
        await WaitUntilAsync(() => redis.KeyExists(key), "node A wrote the first position to Redis");
        await ReportAsync(driver, 52.3611, 10);
        var hubOfB = b.Services.GetRequiredService<LiveHub>();
        await WaitUntilAsync(() => hubOfB.LatestPosition(driverId) is { } p && p.Utf8.Span.IndexOf("52.3611"u8) >= 0, "node B heard the newest position");

        await using var c = TestApp.StartNode(a, settings);
        var hubOfC = c.Services.GetRequiredService<LiveHub>();
        // C subscribed after both positions were published: it finds the newest in Redis, not the one written before.
        await WaitUntilAsync(() => hubOfC.LatestPosition(driverId) is not null, "node C read the latest positions");

        foreach (var node in new[] { b, c })
        {
            await using var map = await MapAsync(node);
            var position = await map.NextAsync("driver.location", TimeSpan.FromSeconds(5));
            Assert.Equal((driverId, 52.3611), (position.GetProperty("driverId").GetGuid(), position.GetProperty("lat").GetDouble()));
        }
    }

    [Fact]
    public async Task A_board_on_another_node_or_on_a_node_started_later_starts_with_the_latest_eta_forgotten_when_the_order_ends()
    {
        var settings = TestStore.RedisSettings();
        await using var a = await TestApp.StartAsync(settings);
        await using var b = TestApp.StartNode(a, settings);
        var dispatcher = await a.DispatcherAsync();
        var order = await (await dispatcher.PostAsJsonAsync("/api/orders", new
        {
            pickup = new { lat = 52.3700, lng = 4.8900, address = "Pickup" },
            dropoff = new { lat = 52.3500, lng = 4.9100, address = "Dropoff" },
        }, Ct)).ReadJsonAsync();
        var orderId = order.GetProperty("id").GetGuid();
        var driverId = (await a.DriverRecordAsync(1)).Id;
        var driver = await a.DriverAsync(1);
        (await driver.PostAsJsonAsync("/api/drivers/me/status", new { online = true }, Ct)).EnsureSuccessStatusCode();
        Assert.Equal(HttpStatusCode.OK, (await dispatcher.PostAsJsonAsync($"/api/orders/{orderId}/assign", new { driverId }, Ct)).StatusCode);
        // Both nodes know the order is under way (an ETA is kept only for such an order) before the driver moves.
        await a.WaitForFeedAsync();
        await b.WaitForFeedAsync();
        await ReportAsync(driver, 52.3500, 20);
        var hubOfA = a.Services.GetRequiredService<LiveHub>();
        var hubOfB = b.Services.GetRequiredService<LiveHub>();
        await WaitUntilAsync(() => hubOfB.LatestEta(orderId) is not null, "node B heard the ETA");
        var made = JsonDocument.Parse(hubOfA.LatestEta(orderId)!.Utf8).RootElement.GetProperty("etaMinutes").GetDouble();

        await using var c = TestApp.StartNode(a, settings);
        var hubOfC = c.Services.GetRequiredService<LiveHub>();
        // C started after the ETA was made: it finds it in Redis.
        await WaitUntilAsync(() => hubOfC.LatestEta(orderId) is not null, "node C read the latest ETAs");
        foreach (var node in new[] { b, c })
        {
            await using var board = await WsClient.ConnectAsync(node.ServerUri, await node.TokenForAsync("dispatcher@demo.test"), Ct);
            await board.SendAsync(new { type = "subscribe", topic = "orders" }, Ct);
            await board.NextAsync("subscribed");
            var eta = await board.NextAsync("order.eta", TimeSpan.FromSeconds(5));
            Assert.Equal((orderId, made), (eta.GetProperty("orderId").GetGuid(), eta.GetProperty("etaMinutes").GetDouble()));
        }

        Assert.Equal(HttpStatusCode.OK, (await dispatcher.PostAsync($"/api/orders/{orderId}/cancel", null, Ct)).StatusCode);
        await WaitUntilAsync(() => new[] { hubOfA, hubOfB, hubOfC }.All(hub => hub.LatestEta(orderId) is null), "every node forgot the ETA");
    }

    [Fact]
    public async Task With_redis_cut_durable_events_still_reach_every_node_and_positions_come_back_when_it_returns()
    {
        var direct = TestStore.RedisSettings();
        var server = direct["Redis:Configuration"]!.Split(':');
        using var redis = new TcpProxy(new IPEndPoint(IPAddress.Parse(server[0]), int.Parse(server[1], System.Globalization.CultureInfo.InvariantCulture)));
        var settings = new Dictionary<string, string?>(direct)
        {
            ["Redis:Configuration"] = $"127.0.0.1:{redis.Port},connectTimeout=500,syncTimeout=1000",
        };
        await using var a = await TestApp.StartAsync(settings);
        await using var b = TestApp.StartNode(a, settings);
        await using var map = await MapAsync(b);
        var driver = await a.DriverAsync(1);
        await ReportAsync(driver, 52.3700, 100);
        await map.NextAsync("driver.location");

        redis.Cut();
        var dispatcher = await a.DispatcherAsync();
        var created = new List<Guid>();
        for (var i = 0; i < 3; i++)
        {
            var order = await (await dispatcher.PostAsJsonAsync("/api/orders", HttpTestExtensions.NewOrder(), Ct)).ReadJsonAsync();
            created.Add(order.GetProperty("id").GetGuid());
            // Best effort while Redis is away: accepted, and delivered on node A; whether B gets it is not promised.
            await ReportAsync(driver, 52.3701 + (i * 0.0001), 90 - (5 * i));
        }
        var durable = await map.UntilAsync(all => all.Count(m => Type(m) == "order.created") == created.Count);
        var orders = durable.Where(m => Type(m) == "order.created").ToList();
        Assert.Equal(created, orders.Select(m => m.GetProperty("orderId").GetGuid()));
        Assert.Equal(orders.Select(m => m.GetProperty("seq").GetInt64()).Order(), orders.Select(m => m.GetProperty("seq").GetInt64()));

        redis.Restore();
        // The multiplexer reconnects and subscribes again by itself; positions sent from then on reach B again.
        var lat = 52.3710;
        var back = false;
        using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        for (var secondsAgo = 60; !back && secondsAgo > 0 && !patience.IsCancellationRequested; secondsAgo -= 2)
        {
            lat += 0.00005;
            await ReportAsync(driver, lat, secondsAgo);
            try
            {
                var position = await map.NextAsync("driver.location", TimeSpan.FromSeconds(1));
                back = position.GetProperty("lat").GetDouble() > 52.3710;
            }
            catch (OperationCanceledException)
            {
            }
        }
        Assert.True(back, "positions reach node B again once Redis is back");
        var more = await (await dispatcher.PostAsJsonAsync("/api/orders", HttpTestExtensions.NewOrder(), Ct)).ReadJsonAsync();
        var after = await map.NextAsync("order.created");
        Assert.Equal(more.GetProperty("id").GetGuid(), after.GetProperty("orderId").GetGuid());
    }
}
