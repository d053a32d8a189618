using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text.Json;
using GeoLogistics.Server.Data;
using GeoLogistics.Server.Events;
using GeoLogistics.Server.Orders;
using GeoLogistics.Server.Realtime.Core;
using GeoLogistics.Server.Realtime.Json;
using GeoLogistics.Server.Tracking;
using GeoLogistics.Tests.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using static GeoLogistics.Tests.Support.HttpTestExtensions;

namespace GeoLogistics.Tests.Realtime;

public class RealtimeTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string Type(JsonElement m) => m.GetProperty("type").GetString()!;

    private static async Task<WsClient> ConnectAsync(TestApp app, string email, bool read = true)
    {
        var client = await WsClient.ConnectAsync(app.ServerUri, await app.TokenForAsync(email), Ct, read: read);
        if (read)
        {
            Assert.Equal("connection_ack", Type(await client.NextAsync()));
        }
        return client;
    }

    private static async Task<JsonElement> SubscribeAsync(WsClient client, object subscribe)
    {
        await client.SendAsync(subscribe, Ct);
        var answer = await client.NextAsync();
        while (Type(answer) is not ("subscribed" or "error" or "replay_unavailable"))
        {
            answer = await client.NextAsync();
        }
        return answer;
    }

    private static async Task<OrderDto> CreateAsync(HttpClient client, object? body = null)
    {
        var response = await client.PostAsJsonAsync("/api/orders", body ?? NewOrder(), Ct);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return await response.ReadAsync<OrderDto>();
    }

    [Fact]
    public async Task The_handshake_acknowledges_the_user_and_the_head_of_the_log()
    {
        await using var app = await TestApp.StartAsync();
        await CreateAsync(await app.DispatcherAsync());
        // The ack tells the newest seq the server has pushed; the commit reaches the feed a moment after the 201.
        var admin = await app.AdminAsync();
        while ((await admin.GetFromJsonAsync<JsonElement>("/api/ws/stats", Ct)).GetProperty("headSeq").GetInt64() < 1)
        {
            await Task.Delay(20, Ct);
        }
        await using var client = await WsClient.ConnectAsync(app.ServerUri, await app.TokenForAsync("dispatcher@demo.test"), Ct);

        var ack = await client.NextAsync();

        Assert.Equal("connection_ack", Type(ack));
        Assert.Equal("dispatcher@demo.test", ack.GetProperty("user").GetProperty("email").GetString());
        Assert.Equal(1, ack.GetProperty("headSeq").GetInt64());
        Assert.False(string.IsNullOrEmpty(ack.GetProperty("clientId").GetString()));
    }

    /// <summary>The ack's user is the account as <c>GET /api/me</c> gives it, field for field, for every role.</summary>
    [Theory]
    [InlineData("admin@demo.test")]
    [InlineData("dispatcher@demo.test")]
    [InlineData("driver1@demo.test")]
    [InlineData("customer@demo.test")]
    public async Task The_handshake_acknowledges_the_user_as_the_api_describes_it(string email)
    {
        await using var app = await TestApp.StartAsync();
        var token = await app.TokenForAsync(email);
        var me = await app.ClientWithToken(token).GetFromJsonAsync<JsonElement>("/api/me", Ct);
        await using var client = await WsClient.ConnectAsync(app.ServerUri, token, Ct);

        var ack = await client.NextAsync();

        Assert.Equal("connection_ack", Type(ack));
        Assert.Equal(me.GetRawText(), ack.GetProperty("user").GetRawText());
        Assert.Equal(email, me.GetProperty("email").GetString());
    }

    [Fact]
    public async Task A_missing_or_bad_token_or_a_foreign_origin_is_refused_before_the_upgrade()
    {
        await using var app = await TestApp.StartAsync();
        var token = await app.TokenForAsync("dispatcher@demo.test");

        Assert.Equal(HttpStatusCode.Unauthorized, await WsClient.RefusalAsync(app.ServerUri, null, Ct));
        Assert.Equal(HttpStatusCode.Unauthorized, await WsClient.RefusalAsync(app.ServerUri, token + "x", Ct));
        Assert.Equal(HttpStatusCode.Unauthorized, await WsClient.RefusalAsync(app.ServerUri, null, Ct, query: "access_token=not-a-token"));
        Assert.Equal(HttpStatusCode.Forbidden, await WsClient.RefusalAsync(app.ServerUri, token, Ct, configure: o => o.SetRequestHeader("Origin", "https://evil.example")));
        Assert.Equal(HttpStatusCode.Forbidden, await WsClient.RefusalAsync(app.ServerUri, null, Ct, configure: o =>
        {
            o.SetRequestHeader("Origin", "https://evil.example");
            o.SetRequestHeader("Cookie", $"glo_access={token}");
        }));

        await using var viaQuery = await WsClient.ConnectAsync(app.ServerUri, null, Ct, query: $"access_token={token}");
        Assert.Equal("connection_ack", Type(await viaQuery.NextAsync()));
        var own = app.ServerUri.GetLeftPart(UriPartial.Authority);
        await using var viaCookie = await WsClient.ConnectAsync(app.ServerUri, null, Ct, configure: o =>
        {
            o.SetRequestHeader("Origin", own);
            o.SetRequestHeader("Cookie", $"glo_access={token}");
        });
        Assert.Equal("connection_ack", Type(await viaCookie.NextAsync()));
    }

    [Fact]
    public async Task A_dashboard_subscribed_to_orders_sees_an_order_created_over_rest_and_then_assigned()
    {
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?> { ["Dispatch:Enabled"] = "true", ["Events:PollInterval"] = "00:00:00.100" });
        var driverId = await app.OnlineDriverAsync("near@demo.test", 52.370, 4.890);
        await using var dashboard = await ConnectAsync(app, "dispatcher@demo.test");
        Assert.Equal("subscribed", Type(await SubscribeAsync(dashboard, new { type = "subscribe", topic = "orders" })));

        var order = await CreateAsync(await app.DispatcherAsync());

        var created = await dashboard.NextAsync("order.created");
        Assert.Equal(order.Id, created.GetProperty("orderId").GetGuid());
        Assert.Equal("PENDING", created.GetProperty("data").GetProperty("status").GetString());
        var assigned = await dashboard.NextAsync("order.assigned");
        Assert.Equal(driverId, assigned.GetProperty("data").GetProperty("driverId").GetGuid());
        Assert.True(assigned.GetProperty("seq").GetInt64() > created.GetProperty("seq").GetInt64());
    }

    [Fact]
    public async Task Another_tenants_subscribers_receive_nothing_of_it_on_any_topic()
    {
        await using var app = await TestApp.StartAsync();
        var hospital = await app.TenantAsync("Demo Hospital");
        var kitchen = await app.TenantAsync("Second Kitchen");
        var hospitalOrder = await CreateAsync(await app.DispatcherAsync());
        await using var kitchenSide = await ConnectAsync(app, "dispatcher2@demo.test");
        Assert.Equal("subscribed", Type(await SubscribeAsync(kitchenSide, new { type = "subscribe", topic = "orders" })));
        Assert.Equal("subscribed", Type(await SubscribeAsync(kitchenSide, new { type = "subscribe", topic = $"tenant:{kitchen.Id}" })));
        Assert.Equal("subscribed", Type(await SubscribeAsync(kitchenSide, new { type = "subscribe", topic = "drivers" })));
        // The kitchen's events also come on its orders subscription: a socket with the tenant topic alone shows that
        // the topic delivers by itself.
        await using var kitchenRoom = await ConnectAsync(app, "dispatcher2@demo.test");
        Assert.Equal("subscribed", Type(await SubscribeAsync(kitchenRoom, new { type = "subscribe", topic = $"tenant:{kitchen.Id}" })));
        await using var customer = await ConnectAsync(app, "customer@demo.test");
        Assert.Equal("subscribed", Type(await SubscribeAsync(customer, new { type = "subscribe", topic = "orders", since = 0 })));

        var forbidden = new[]
        {
            await SubscribeAsync(kitchenSide, new { type = "subscribe", topic = $"order:{hospitalOrder.Id}" }),
            await SubscribeAsync(kitchenSide, new { type = "subscribe", topic = $"tenant:{hospital.Id}", since = 0 }),
            await SubscribeAsync(customer, new { type = "subscribe", topic = $"order:{hospitalOrder.Id}" }),
            await SubscribeAsync(customer, new { type = "subscribe", topic = $"tenant:{hospital.Id}" }),
        };
        var hospitalDispatcher = await app.DispatcherAsync();
        for (var i = 0; i < 5; i++)
        {
            var o = await CreateAsync(hospitalDispatcher);
            await hospitalDispatcher.PostAsJsonAsync($"/api/orders/{o.Id}/status", new { status = "CONFIRMED" }, Ct);
        }
        var marker = await CreateAsync(await app.Dispatcher2Async());

        Assert.All(forbidden, f => Assert.Equal("forbidden", f.GetProperty("code").GetString()));
        static bool IsMarker(JsonElement m, Guid id) => m.TryGetProperty("orderId", out var o) && o.GetGuid() == id;
        var seen = await kitchenSide.UntilAsync(all => all.Any(m => IsMarker(m, marker.Id)));
        Assert.All(seen.Where(m => m.TryGetProperty("tenantId", out _)), m => Assert.Equal(kitchen.Id, m.GetProperty("tenantId").GetGuid()));
        var room = await kitchenRoom.UntilAsync(all => all.Any(m => IsMarker(m, marker.Id)));
        var created = Assert.Single(room);
        Assert.Equal(("order.created", kitchen.Id), (Type(created), created.GetProperty("tenantId").GetGuid()));
        // Every hospital event has a lower seq than the marker's, and the feed has handed them all out; what a ping's
        // answer finds queued before it is then all that these sockets were ever going to get of them.
        await app.WaitForFeedAsync();
        var rest = (await kitchenSide.QueuedSoFarAsync(Ct)).Concat(await kitchenRoom.QueuedSoFarAsync(Ct)).Concat(await customer.QueuedSoFarAsync(Ct));
        Assert.DoesNotContain(rest, m => m.TryGetProperty("tenantId", out var t) && t.ValueKind == JsonValueKind.String && t.GetGuid() == hospital.Id);
    }

    [Fact]
    public async Task Filters_let_through_only_the_kind_and_the_statuses_asked_for()
    {
        await using var app = await TestApp.StartAsync();
        await using var inbound = await ConnectAsync(app, "dispatcher@demo.test");
        Assert.Equal("subscribed", Type(await SubscribeAsync(inbound, new { type = "subscribe", topic = "orders", filters = new { kind = "IB" } })));
        await using var confirmed = await ConnectAsync(app, "dispatcher@demo.test");
        Assert.Equal("subscribed", Type(await SubscribeAsync(confirmed, new { type = "subscribe", topic = "orders", filters = new { status = new[] { "CONFIRMED" } } })));
        var dispatcher = await app.DispatcherAsync();

        var ib = await CreateAsync(dispatcher, NewOrder(kind: "IB"));
        var ob = await CreateAsync(dispatcher, NewOrder(kind: "OB"));
        await dispatcher.PostAsJsonAsync($"/api/orders/{ob.Id}/status", new { status = "CONFIRMED" }, Ct);
        var last = await CreateAsync(dispatcher, NewOrder(kind: "IB"));
        await dispatcher.PostAsJsonAsync($"/api/orders/{last.Id}/status", new { status = "CONFIRMED" }, Ct);

        var ibSeen = await inbound.UntilAsync(all => all.Count(m => Type(m).StartsWith("order.", StringComparison.Ordinal)) == 3);
        Assert.All(ibSeen, m => Assert.Equal("IB", m.GetProperty("data").GetProperty("kind").GetString()));
        Assert.Equal([ib.Id, last.Id, last.Id], ibSeen.Select(m => m.GetProperty("orderId").GetGuid()));
        var confirmedSeen = await confirmed.UntilAsync(all => all.Count == 2);
        Assert.Equal([ob.Id, last.Id], confirmedSeen.Select(m => m.GetProperty("orderId").GetGuid()));
        Assert.All(confirmedSeen, m => Assert.Equal("CONFIRMED", m.GetProperty("data").GetProperty("status").GetString()));
    }

    /// <summary>
    /// The client reads some events and leaves; more are written, some by transactions held open so that they commit
    /// out of start order, and writing goes on while the client comes back with since: it ends with every event,
    /// in order, once.
    /// </summary>
    [Fact]
    public async Task A_client_that_comes_back_with_since_gets_every_event_once_in_order_across_the_switch_to_live()
    {
        await using var app = await TestApp.StartAsync();
        var dispatcher = await app.DispatcherAsync();
        var tenant = await app.TenantAsync("Demo Hospital");
        var received = new List<JsonElement>();
        await using (var first = await ConnectAsync(app, "admin@demo.test"))
        {
            Assert.Equal("subscribed", Type(await SubscribeAsync(first, new { type = "subscribe", topic = "orders", since = 0 })));
            for (var i = 0; i < 5; i++)
            {
                await CreateAsync(dispatcher);
            }
            received.AddRange(await first.UntilAsync(all => all.Count == 5));
        }

        async Task HeldWriter(int i)
        {
            await using var scope = app.Services.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<AppDb>();
            var log = scope.ServiceProvider.GetRequiredService<EventLog>();
            await using var tx = await db.Database.BeginTransactionAsync(Ct);
            await log.SaveAsync([new EventRecord { Type = "order.updated", TenantId = tenant.Id, OrderId = Guid.NewGuid(), ActorEmail = "test", Data = $$"""{"marker":{{i}}}""" }], Ct);
            await Task.Delay((10 - i) * 15, Ct);
            await tx.CommitAsync(Ct);
        }
        await Task.WhenAll(Enumerable.Range(0, 10).Select(i => Task.Run(() => HeldWriter(i), Ct)));
        await app.WaitForFeedAsync(); // what the held writers wrote is history now: the client gets it as replay
        var writing = Task.Run(async () =>
        {
            for (var i = 0; i < 30; i++)
            {
                await CreateAsync(dispatcher);
            }
        }, Ct);

        await using var again = await ConnectAsync(app, "admin@demo.test");
        var since = received[^1].GetProperty("seq").GetInt64();
        await again.SendAsync(new { type = "subscribe", topic = "orders", since }, Ct);
        await writing;
        var total = await app.WithDbAsync(db => db.Events.CountAsync(e => e.Type.StartsWith("order."), Ct));
        var rest = await again.UntilAsync(all => all.Count(m => m.TryGetProperty("seq", out _)) == total - received.Count);
        received.AddRange(rest.Where(m => m.TryGetProperty("seq", out _)));

        var seqs = received.Select(m => m.GetProperty("seq").GetInt64()).ToList();
        Assert.Equal(total, seqs.Count);
        Assert.Equal(seqs.Order(), seqs);
        Assert.Equal(seqs.Count, seqs.Distinct().Count());
        Assert.Equal(Enumerable.Range(1, total).Select(i => (long)i), seqs);
        Assert.Contains(rest, m => Type(m) == "subscribed" && m.GetProperty("replayed").GetInt32() > 0);
        // Once the feed has handed out every committed event, a ping's answer ends all there is to come: no duplicate.
        await app.WaitForFeedAsync();
        Assert.Empty(await again.QueuedSoFarAsync(Ct));
    }

    [Fact]
    public async Task A_since_older_than_retention_answers_replay_unavailable()
    {
        await using var app = await TestApp.StartAsync();
        var dispatcher = await app.DispatcherAsync();
        for (var i = 0; i < 3; i++)
        {
            await CreateAsync(dispatcher);
        }
        await app.WithDbAsync(db => db.Events.Where(e => e.Seq < 3).ExecuteDeleteAsync(Ct));
        await using var client = await ConnectAsync(app, "admin@demo.test");

        var answer = await SubscribeAsync(client, new { type = "subscribe", topic = "orders", since = 0 });

        Assert.Equal("replay_unavailable", Type(answer));
        Assert.Equal((0L, 3L), (answer.GetProperty("since").GetInt64(), answer.GetProperty("oldestSeq").GetInt64()));
        Assert.Equal("subscribed", Type(await client.NextAsync()));
    }

    /// <summary>A server whose outbound queues hold <paramref name="queueLimit"/> messages, over small kernel buffers.</summary>
    private static Task<TestApp> StartWithSmallQueuesAsync(int queueLimit) => TestApp.StartAsync(
        new Dictionary<string, string?> { ["Realtime:OutboundQueueLimit"] = $"{queueLimit}" },
        services => services.Configure<Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets.SocketTransportOptions>(o =>
            // Small kernel buffers: the server's own queue, not the loopback's megabytes, must hold the backlog.
            o.CreateBoundListenSocket = endpoint =>
            {
                var socket = Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets.SocketTransportOptions.CreateDefaultBoundListenSocket(endpoint);
                socket.SendBufferSize = 4096;
                return socket;
            }));

    /// <summary>A position of a driver the test makes up, published as the tracker publishes one (seen by admins only).</summary>
    private static void PublishPosition(TestApp app, Guid driverId, double lat) =>
        app.Services.GetRequiredService<ILivePublisher>().Publish(LiveMessage.Volatile(
            new DriverLocation(driverId, null, lat, 4.89, null, null, DateTimeOffset.UtcNow),
            TrackingJson.Default.DriverLocation, "driver.location", null, null, driverId, null));

    /// <summary>Waits until the server holds <paramref name="count"/> subscriptions to <paramref name="topic"/>.</summary>
    private static async Task WaitForSubscriptionsAsync(TestApp app, string topic, int count)
    {
        var admin = await app.AdminAsync();
        using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        while (!((await admin.GetFromJsonAsync<JsonElement>("/api/ws/stats", Ct)).GetProperty("subscriptions").TryGetProperty(topic, out var held) &&
            held.GetInt32() == count))
        {
            await Task.Delay(20, patience.Token);
        }
    }

    /// <summary>The last position each driver's messages told, by driver.</summary>
    private static Dictionary<Guid, double> Newest(IEnumerable<JsonElement> messages) => messages
        .Where(m => Type(m) == "driver.location")
        .GroupBy(m => m.GetProperty("driverId").GetGuid())
        .ToDictionary(g => g.Key, g => g.Last().GetProperty("lat").GetDouble());

    [Fact]
    public async Task Subscribing_to_drivers_with_more_drivers_than_the_queue_holds_sends_each_drivers_newest_position()
    {
        await using var app = await StartWithSmallQueuesAsync(16);
        var drivers = Enumerable.Range(0, 100).Select(_ => Guid.NewGuid()).ToList();
        foreach (var lat in new[] { 52.30, 52.31 })
        {
            drivers.ForEach(d => PublishPosition(app, d, lat));
        }
        await using var map = await ConnectAsync(app, "admin@demo.test");

        Assert.Equal("subscribed", Type(await SubscribeAsync(map, new { type = "subscribe", topic = "drivers" })));
        var seen = Newest(await map.UntilAsync(all => Newest(all).Count == drivers.Count));

        Assert.Equal((WebSocketState.Open, (WebSocketCloseStatus?)null), (map.State, map.CloseStatus));
        Assert.All(drivers, d => Assert.Equal(52.31, seen[d]));
    }

    [Fact]
    public async Task A_subscriber_behind_on_positions_gets_each_drivers_newest_and_every_durable_event_in_order()
    {
        await using var app = await StartWithSmallQueuesAsync(64);
        var dispatcher = await app.DispatcherAsync();
        await using var behind = await WsClient.ConnectAsync(app.ServerUri, await app.TokenForAsync("admin@demo.test"), Ct,
            configure: o => o.SetBuffer(1024, 1024), read: false);
        await behind.SendAsync(new { type = "subscribe", topic = "drivers" }, Ct);
        await behind.SendAsync(new { type = "subscribe", topic = "orders" }, Ct);
        await WaitForSubscriptionsAsync(app, "drivers", 1);
        await WaitForSubscriptionsAsync(app, "orders", 1);

        // 1,000 positions of 20 drivers, far more than the queue holds, and 10 orders among them; nothing is read meanwhile.
        var drivers = Enumerable.Range(0, 20).Select(_ => Guid.NewGuid()).ToList();
        var orders = new List<Guid>();
        for (var round = 0; round < 50; round++)
        {
            drivers.ForEach(d => PublishPosition(app, d, 52 + (round * 0.001)));
            if (round % 5 == 0)
            {
                orders.Add((await CreateAsync(dispatcher)).Id);
            }
        }
        await app.WaitForFeedAsync();
        behind.StartReading();
        var seen = await behind.UntilAsync(all =>
            all.Count(m => Type(m) == "order.created") == orders.Count && Newest(all) is var newest &&
            newest.Count == drivers.Count && newest.Values.All(lat => lat == 52 + (49 * 0.001)));

        Assert.Equal((WebSocketState.Open, (WebSocketCloseStatus?)null), (behind.State, behind.CloseStatus));
        var created = seen.Where(m => Type(m) == "order.created").ToList();
        Assert.Equal(orders, created.Select(m => m.GetProperty("orderId").GetGuid()));
        Assert.Equal(created.Select(m => m.GetProperty("seq").GetInt64()).Order(), created.Select(m => m.GetProperty("seq").GetInt64()));
        Assert.True(seen.Count(m => Type(m) == "driver.location") < 50 * drivers.Count, "positions of a driver were coalesced while the client was behind");
    }

    [Fact]
    public async Task A_slow_consumer_is_closed_with_1013_others_get_everything_and_it_resumes_with_since()
    {
        await using var app = await StartWithSmallQueuesAsync(64);
        var dispatcher = await app.DispatcherAsync();
        await using var fast = await ConnectAsync(app, "admin@demo.test");
        Assert.Equal("subscribed", Type(await SubscribeAsync(fast, new { type = "subscribe", topic = "orders" })));
        await using var slow = await WsClient.ConnectAsync(app.ServerUri, await app.TokenForAsync("admin@demo.test"), Ct,
            configure: o => o.SetBuffer(1024, 1024), read: false);
        await slow.SendAsync(new { type = "subscribe", topic = "orders" }, Ct);
        await WaitForSubscriptionsAsync(app, "orders", 2);

        // The fast client reads as a fast client does: it is never more than half a queue behind (on a busy machine a
        // test's reader can stall for as long as the server takes to write 64 orders, and it would be closed too).
        const int burst = 300;
        var everything = new List<JsonElement>();
        for (var i = 1; i <= burst; i++)
        {
            await CreateAsync(dispatcher, new
            {
                pickup = new { lat = 52.37, lng = 4.89 },
                dropoff = new { lat = 52.36, lng = 4.90 },
                notes = new string('n', 1900),
            });
            if (i % 32 == 0 || i == burst)
            {
                var created = i;
                everything.AddRange(await fast.UntilAsync(all => everything.Count + all.Count == created));
            }
        }

        Assert.Equal(Enumerable.Range(1, burst).Select(i => (long)i), everything.Select(m => m.GetProperty("seq").GetInt64()));
        var stats = await (await app.AdminAsync()).GetFromJsonAsync<JsonElement>("/api/ws/stats", Ct);
        Assert.Equal(1, stats.GetProperty("slowConsumersClosed").GetInt64());
        Assert.True(stats.GetProperty("queueDepth").GetProperty("max").GetInt32() <= 64);

        slow.StartReading();
        Assert.Equal(JsonSocket.TryAgainLater, await slow.ClosedAsync());
        var partial = slow.Drain().Where(m => m.TryGetProperty("seq", out _)).Select(m => m.GetProperty("seq").GetInt64()).ToList();
        Assert.True(partial.Count < burst);
        await using var resumed = await ConnectAsync(app, "admin@demo.test");
        await resumed.SendAsync(new { type = "subscribe", topic = "orders", since = partial.LastOrDefault() }, Ct);
        var rest = (await resumed.UntilAsync(all => all.Count(m => m.TryGetProperty("seq", out _)) == burst - partial.Count || resumed.State != WebSocketState.Open))
            .Where(m => m.TryGetProperty("seq", out _)).Select(m => m.GetProperty("seq").GetInt64());
        Assert.Equal((WebSocketState.Open, (WebSocketCloseStatus?)null), (resumed.State, resumed.CloseStatus));
        Assert.Equal(Enumerable.Range(1, burst).Select(i => (long)i), partial.Concat(rest));
    }
}
