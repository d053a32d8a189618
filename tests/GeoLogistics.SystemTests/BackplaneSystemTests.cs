using System.Net.Http.Json;
using System.Text.Json;
using GeoLogistics.Tests.Support;

namespace GeoLogistics.SystemTests;

/// <summary>Two server processes on one store and one Redis act as one (docs/adr/0009), also while Redis dies and comes back.</summary>
public class BackplaneSystemTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string Type(JsonElement m) => m.GetProperty("type").GetString()!;

    private static async Task<WsClient> MapAsync(ServerProcess node, string token)
    {
        var map = await WsClient.ConnectAsync(node.Address, token, Ct);
        Assert.Equal("connection_ack", Type(await map.NextAsync()));
        await map.SendAsync(new { type = "subscribe", topic = "orders" }, Ct);
        await map.NextAsync("subscribed");
        await map.SendAsync(new { type = "subscribe", topic = "drivers" }, Ct);
        await map.NextAsync("subscribed");
        return map;
    }

    [Fact]
    public async Task Events_and_positions_made_on_one_node_reach_the_other_in_order_and_survive_redis_dying()
    {
        await using var store = await TestStore.CreateAsync();
        await using var redis = await RedisServer.StartAsync(Ct);
        var settings = new Dictionary<string, string> { ["Redis:Configuration"] = redis.Configuration };
        await using var a = await ServerProcess.StartAsync(store, port: null, settings, Ct);
        await using var b = await ServerProcess.StartAsync(store, port: null, settings, Ct);
        var fleet = await Fleet.CreateAsync(a, drivers: 1, Ct);
        var (driverId, driver) = fleet.Drivers.Single();
        var token = fleet.Admin.DefaultRequestHeaders.Authorization!.Parameter!;
        await using var map = await MapAsync(b, token);
        var lat = Fleet.Lat;
        // After the fleet's first position (taken at its creation), so that each one is newer and live.
        var at = DateTimeOffset.UtcNow;
        async Task MoveAsync()
        {
            // 1 m every half second: plausible, so every position is live, and never far ahead of the clock.
            lat += 0.00001;
            at = at.AddMilliseconds(500);
            await Fleet.PostAsync(driver, "/api/drivers/me/location", new { lat, lng = Fleet.Lng, recordedAt = at }, Ct);
        }

        var created = new List<Guid>();
        for (var i = 0; i < 5; i++)
        {
            created.Add((await Fleet.PostAsync(fleet.Dispatcher, "/api/orders", Fleet.Order(i), Ct)).GetProperty("id").GetGuid());
            await MoveAsync();
        }
        var seen = await map.UntilAsync(all =>
            all.Count(m => Type(m) == "order.created") == created.Count &&
            all.Any(m => Type(m) == "driver.location" && m.GetProperty("lat").GetDouble() == lat));
        var orders = seen.Where(m => Type(m) == "order.created").ToList();
        Assert.Equal(created, orders.Select(m => m.GetProperty("orderId").GetGuid()));
        var positions = seen.Where(m => Type(m) == "driver.location").Select(m => m.GetProperty("lat").GetDouble()).ToList();
        Assert.Equal(positions.Order(), positions);

        // A map that subscribes on B now starts with the driver where A last heard it.
        await using (var late = await MapAsync(b, token))
        {
            var position = await late.NextAsync("driver.location", TimeSpan.FromSeconds(5));
            Assert.Equal((driverId, lat), (position.GetProperty("driverId").GetGuid(), position.GetProperty("lat").GetDouble()));
        }

        // Redis dies: durable events still reach B, from the store, each once and in order.
        redis.Kill();
        for (var i = 5; i < 10; i++)
        {
            created.Add((await Fleet.PostAsync(fleet.Dispatcher, "/api/orders", Fleet.Order(i), Ct)).GetProperty("id").GetGuid());
            await MoveAsync();
        }
        seen.AddRange(await map.UntilAsync(all => all.Count(m => Type(m) == "order.created") == 5));
        orders = seen.Where(m => Type(m) == "order.created").ToList();
        Assert.Equal(created, orders.Select(m => m.GetProperty("orderId").GetGuid()));
        var seqs = seen.Where(m => m.TryGetProperty("seq", out _)).Select(m => m.GetProperty("seq").GetInt64()).ToList();
        Assert.Equal(seqs.Order().Distinct(), seqs);

        // Redis is back (empty): the nodes reconnect by themselves and positions reach B again.
        await redis.RestartAsync(Ct);
        var back = false;
        using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(40));
        while (!back && !patience.IsCancellationRequested)
        {
            await MoveAsync();
            try
            {
                var next = await map.NextAsync("driver.location", TimeSpan.FromSeconds(1));
                back = next.GetProperty("lat").GetDouble() == lat;
            }
            catch (OperationCanceledException)
            {
            }
        }
        Assert.True(back, "positions sent to A reach B again once Redis is back");
    }
}
