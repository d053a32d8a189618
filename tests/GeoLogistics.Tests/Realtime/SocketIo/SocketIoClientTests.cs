using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using GeoLogistics.Server.Orders;
using GeoLogistics.Tests.Support;

namespace GeoLogistics.Tests.Realtime.SocketIo;

/// <summary>
/// The real socket.io-client (tests/clients/socketio-client.mjs) against the adapter, with its default transports
/// (long-polling, then the upgrade to a WebSocket) and WebSocket only.
/// </summary>
public class SocketIoClientTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private const string Both = "/orders,/realtime";

    /// <summary>One client script and everything it reported so far.</summary>
    private sealed class Client(NodeClient node) : IAsyncDisposable
    {
        private readonly List<JsonElement> seen = [];
        // Lines a wait returned already: the next wait for the same kind of line finds the next one.
        private readonly HashSet<int> taken = [];

        public static Client Start(TestApp app, string transports, string? token, string namespaces = Both, long? since = null, string auth = "auth") =>
            new(NodeClient.Start("socketio-client.mjs", new Dictionary<string, string>
            {
                ["SERVER"] = app.ServerUri.ToString().TrimEnd('/'),
                ["NAMESPACES"] = namespaces,
                ["TOKEN"] = token ?? "",
                ["AUTH"] = auth,
                ["SINCE"] = since?.ToString(CultureInfo.InvariantCulture) ?? "",
                ["TRANSPORTS"] = transports,
            }));

        /// <summary>The first line not yet waited for, seen before or to come, that <paramref name="match"/> accepts.</summary>
        public async Task<JsonElement> WaitAsync(Func<JsonElement, bool> match)
        {
            for (var i = 0; ; i++)
            {
                if (i == seen.Count)
                {
                    seen.Add(await node.NextAsync(_ => true, TimeSpan.FromSeconds(20), Ct));
                }
                if (!taken.Contains(i) && match(seen[i]))
                {
                    taken.Add(i);
                    return seen[i];
                }
            }
        }

        public Task<JsonElement> ConnectedAsync(string ns) => WaitAsync(l => Kind(l) == "connect" && Ns(l) == ns);

        public async Task<JsonElement> EventAsync(string ns, string name, Func<JsonElement, bool>? payload = null) =>
            (await WaitAsync(l => Kind(l) == "event" && Ns(l) == ns && Name(l) == name && (payload is null || payload(l.GetProperty("payload"))))).GetProperty("payload");

        public async Task<JsonElement> AckAsync(string ns, string name) =>
            (await WaitAsync(l => Kind(l) == "ack" && Ns(l) == ns && Name(l) == name)).GetProperty("payload");

        public Task EmitAsync(string ns, string name, object payload, bool ack = false) => node.SendAsync(new { cmd = "emit", ns, name, payload, ack });

        public List<JsonElement> Events(string ns, params string[] names) =>
            [.. seen.Where(l => Kind(l) == "event" && Ns(l) == ns && names.Contains(Name(l))).Select(l => l.GetProperty("payload"))];

        /// <summary>What arrived meanwhile, without waiting.</summary>
        public IReadOnlyList<JsonElement> Collect()
        {
            seen.AddRange(node.Drain());
            return seen;
        }

        public ValueTask DisposeAsync() => node.DisposeAsync();
    }

    private static string? Kind(JsonElement l) => l.GetProperty("kind").GetString();

    private static string? Ns(JsonElement l) => l.TryGetProperty("ns", out var ns) ? ns.GetString() : null;

    private static string? Name(JsonElement l) => l.TryGetProperty("name", out var name) ? name.GetString() : null;

    private static long Seq(JsonElement payload) => payload.GetProperty("seq").GetInt64();

    private static bool IsOrder(JsonElement payload, Guid id) =>
        (payload.TryGetProperty("id", out var p) ? p : payload.GetProperty("orderId")).GetGuid() == id;

    private static async Task<OrderDto> CreateAsync(HttpClient client)
    {
        var response = await client.PostAsJsonAsync("/api/orders", HttpTestExtensions.NewOrder(), Ct);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return await response.ReadAsync<OrderDto>();
    }

    /// <summary>The durable events after <paramref name="since"/> that the user may see, from the REST API.</summary>
    private static async Task<List<long>> SeqsAfterAsync(TestApp app, HttpClient client, long since)
    {
        await app.WaitForFeedAsync();
        var page = await client.GetFromJsonAsync<JsonElement>($"/api/events?since={since}&limit=1000", Ct);
        return [.. page.GetProperty("events").EnumerateArray().Select(e => e.GetProperty("seq").GetInt64())];
    }

    /// <summary>Connected to both namespaces, in the hospital room and the automatic rooms: their <c>joined</c> and <c>subscribed</c>.</summary>
    private static async Task<(JsonElement Joined, JsonElement Subscribed)> JoinAsync(Client client, Guid tenantId)
    {
        await client.ConnectedAsync("/orders");
        await client.ConnectedAsync("/realtime");
        await client.EmitAsync("/orders", "join:hospital", new { hospitalId = tenantId }, ack: true);
        var joined = await client.EventAsync("/orders", "joined");
        Assert.Equal($"hospital:{tenantId}", joined.GetProperty("room").GetString());
        Assert.Equal($"hospital:{tenantId}", (await client.AckAsync("/orders", "join:hospital")).GetProperty("room").GetString());
        return (joined, await client.EventAsync("/realtime", "subscribed"));
    }

    [Theory]
    [InlineData("polling")]
    [InlineData("websocket")]
    public async Task An_order_created_over_REST_arrives_live_with_its_seq_in_the_hospital_room_and_the_automatic_rooms(string transports)
    {
        await using var app = await TestApp.StartAsync();
        var hospital = await app.TenantAsync("Demo Hospital");
        var dispatcher = await app.DispatcherAsync();
        await using var client = Client.Start(app, transports, await app.TokenForAsync("dispatcher@demo.test"));
        // Long-polling first, then the upgrade the client asks for; or a WebSocket from the start.
        Assert.Equal(transports, (await client.WaitAsync(l => Kind(l) == "open")).GetProperty("transport").GetString());
        await JoinAsync(client, hospital.Id);
        var connected = await client.EventAsync("/realtime", "connected");
        Assert.Equal("dispatcher", connected.GetProperty("role").GetString());
        if (transports == "polling")
        {
            Assert.Equal("websocket", (await client.WaitAsync(l => Kind(l) == "upgrade")).GetProperty("transport").GetString());
        }

        var order = await CreateAsync(dispatcher);
        var created = Assert.Single(await SeqsAfterAsync(app, dispatcher, 0));
        var updated = await client.EventAsync("/orders", "order:updated", p => IsOrder(p, order.Id));
        var fresh = await client.EventAsync("/realtime", "order:new", p => IsOrder(p, order.Id));
        Assert.Equal(HttpStatusCode.OK, (await dispatcher.PostAsync($"/api/orders/{order.Id}/cancel", null, Ct)).StatusCode);
        var cancelled = await client.EventAsync("/realtime", "order:status_update", p => IsOrder(p, order.Id));
        var updatedAgain = await client.EventAsync("/orders", "order:updated", p => IsOrder(p, order.Id) && Seq(p) > created);

        Assert.Equal((created, order.Number, "PENDING"), (Seq(updated), updated.GetProperty("number").GetString(), updated.GetProperty("status").GetString()));
        Assert.Equal((created, hospital.Id), (Seq(fresh), fresh.GetProperty("tenantId").GetGuid()));
        var cancelSeq = Assert.Single(await SeqsAfterAsync(app, dispatcher, created));
        Assert.Equal((cancelSeq, "CANCELLED", "order.cancelled"),
            (Seq(cancelled), cancelled.GetProperty("status").GetString(), cancelled.GetProperty("type").GetString()));
        Assert.Equal((cancelSeq, "CANCELLED"), (Seq(updatedAgain), updatedAgain.GetProperty("status").GetString()));
    }

    [Theory]
    [InlineData("polling")]
    [InlineData("websocket")]
    public async Task Replay_with_since_returns_exactly_what_was_missed_in_order_then_live_events(string transports)
    {
        await using var app = await TestApp.StartAsync();
        var hospital = await app.TenantAsync("Demo Hospital");
        var dispatcher = await app.DispatcherAsync();
        await CreateAsync(dispatcher);
        var since = (await SeqsAfterAsync(app, dispatcher, 0))[^1];
        // What the client misses while away: two orders, one of them cancelled.
        var missed = await CreateAsync(dispatcher);
        await CreateAsync(dispatcher);
        Assert.Equal(HttpStatusCode.OK, (await dispatcher.PostAsync($"/api/orders/{missed.Id}/cancel", null, Ct)).StatusCode);
        var expected = await SeqsAfterAsync(app, dispatcher, since);
        Assert.Equal(3, expected.Count);

        await using var client = Client.Start(app, transports, await app.TokenForAsync("dispatcher@demo.test"), since: since);
        var (joined, subscribed) = await JoinAsync(client, hospital.Id);

        Assert.Equal(expected.Count, joined.GetProperty("replayed").GetInt32());
        Assert.Equal(expected.Count, subscribed.GetProperty("replayed").GetInt32());
        Assert.Equal(expected, client.Events("/orders", "order:updated").Select(Seq));
        Assert.Equal(expected, client.Events("/realtime", "order:new", "order:status_update").Select(Seq));

        var live = await CreateAsync(dispatcher);
        await client.EventAsync("/orders", "order:updated", p => IsOrder(p, live.Id));
        await client.EventAsync("/realtime", "order:new", p => IsOrder(p, live.Id));
        var all = (await SeqsAfterAsync(app, dispatcher, since)).ToList();
        Assert.Equal(all, client.Events("/orders", "order:updated").Select(Seq));
        Assert.Equal(all, client.Events("/realtime", "order:new", "order:status_update").Select(Seq));
    }

    [Theory]
    [InlineData("polling")]
    [InlineData("websocket")]
    public async Task Another_tenants_client_gets_nothing_of_it_in_any_room_or_namespace(string transports)
    {
        await using var app = await TestApp.StartAsync();
        var hospital = await app.TenantAsync("Demo Hospital");
        var kitchen = await app.TenantAsync("Second Kitchen");
        var dispatcher = await app.DispatcherAsync();
        await using var hospitalClient = Client.Start(app, transports, await app.TokenForAsync("dispatcher@demo.test"));
        await using var kitchenClient = Client.Start(app, transports, await app.TokenForAsync("dispatcher2@demo.test"));
        await JoinAsync(hospitalClient, hospital.Id);
        await JoinAsync(kitchenClient, kitchen.Id);

        var order = await CreateAsync(dispatcher);
        Assert.Equal(HttpStatusCode.OK, (await dispatcher.PostAsync($"/api/orders/{order.Id}/cancel", null, Ct)).StatusCode);
        await hospitalClient.EventAsync("/orders", "order:updated", p => IsOrder(p, order.Id) && p.GetProperty("status").GetString() == "CANCELLED");
        await hospitalClient.EventAsync("/realtime", "order:status_update", p => IsOrder(p, order.Id));
        // A later event of its own tenant: whatever came before it has arrived (a namespace's events come in seq order).
        var own = await CreateAsync(await app.Dispatcher2Async());
        await kitchenClient.EventAsync("/orders", "order:updated", p => IsOrder(p, own.Id));
        await kitchenClient.EventAsync("/realtime", "order:new", p => IsOrder(p, own.Id));

        Assert.DoesNotContain(kitchenClient.Collect(), l => l.GetRawText().Contains(order.Id.ToString(), StringComparison.Ordinal));
        Assert.DoesNotContain(hospitalClient.Collect(), l => l.GetRawText().Contains(own.Id.ToString(), StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("polling")]
    [InlineData("websocket")]
    public async Task A_forbidden_room_is_refused_and_delivers_nothing(string transports)
    {
        await using var app = await TestApp.StartAsync();
        var hospital = await app.TenantAsync("Demo Hospital");
        var kitchen = await app.TenantAsync("Second Kitchen");
        var dispatcher = await app.DispatcherAsync();
        var order = await CreateAsync(dispatcher);
        await using var client = Client.Start(app, transports, await app.TokenForAsync("dispatcher2@demo.test"));
        await JoinAsync(client, kitchen.Id);

        await client.EmitAsync("/orders", "join:hospital", new { hospitalId = hospital.Id }, ack: true);
        var refused = await client.EventAsync("/orders", "error");
        var refusedAck = await client.AckAsync("/orders", "join:hospital");
        await client.EmitAsync("/realtime", "subscribe:order", new { orderId = order.Id, since = 0 }, ack: true);
        var refusedOrder = await client.EventAsync("/realtime", "error");
        Assert.Equal(HttpStatusCode.OK, (await dispatcher.PostAsync($"/api/orders/{order.Id}/cancel", null, Ct)).StatusCode);
        await CreateAsync(dispatcher);
        var own = await CreateAsync(await app.Dispatcher2Async());
        await client.EventAsync("/orders", "order:updated", p => IsOrder(p, own.Id));
        await client.EventAsync("/realtime", "order:new", p => IsOrder(p, own.Id));

        Assert.Equal("forbidden", refused.GetProperty("code").GetString());
        Assert.Equal("forbidden", refusedAck.GetProperty("error").GetProperty("code").GetString());
        Assert.Equal("forbidden", refusedOrder.GetProperty("code").GetString());
        Assert.Equal("forbidden", (await client.AckAsync("/realtime", "subscribe:order")).GetProperty("error").GetProperty("code").GetString());
        Assert.Single(client.Events("/orders", "joined"));
        Assert.All(client.Events("/orders", "order:updated").Concat(client.Events("/realtime", "order:new", "order:status_update")),
            p => Assert.Equal(kitchen.Id, p.TryGetProperty("tenantId", out var t) ? t.GetGuid() : p.GetProperty("order").GetProperty("tenantId").GetGuid()));
    }

    [Theory]
    [InlineData("polling")]
    [InlineData("websocket")]
    public async Task A_bad_or_missing_token_is_refused_with_connect_error_before_anything_is_delivered(string transports)
    {
        await using var app = await TestApp.StartAsync();
        var token = await app.TokenForAsync("dispatcher@demo.test");
        var dispatcher = await app.DispatcherAsync();
        var cases = new (string Auth, string? Token, string Message)[]
        {
            ("auth", token + "x", "The token is not valid."),
            ("header", token + "x", "The token is not valid."),
            ("auth", null, "Authentication required: pass auth.token, or an Authorization header."),
        };
        foreach (var (auth, bad, message) in cases)
        {
            await using var client = Client.Start(app, transports, bad, auth: auth);

            var orders = await client.WaitAsync(l => Kind(l) == "connect_error" && Ns(l) == "/orders");
            var realtime = await client.WaitAsync(l => Kind(l) == "connect_error" && Ns(l) == "/realtime");
            await CreateAsync(dispatcher);
            await app.WaitForFeedAsync();
            await Task.Delay(200, Ct);

            Assert.Equal(message, orders.GetProperty("message").GetString());
            Assert.Equal(message, realtime.GetProperty("message").GetString());
            Assert.DoesNotContain(client.Collect(), l => Kind(l) is "connect" or "event");
        }
    }

    [Theory]
    [InlineData("polling")]
    [InlineData("websocket")]
    public async Task A_drivers_position_sent_through_SocketIo_reaches_a_JSON_protocol_watcher(string transports)
    {
        await using var app = await TestApp.StartAsync();
        var driverId = (await app.DriverRecordAsync(1)).Id;
        await using var watcher = await WsClient.ConnectAsync(app.ServerUri, await app.TokenForAsync("admin@demo.test"), Ct);
        Assert.Equal("connection_ack", (await watcher.NextAsync()).GetProperty("type").GetString());
        await watcher.SendAsync(new { type = "subscribe", topic = $"driver:{driverId}" }, Ct);
        await watcher.NextAsync("subscribed");
        // The token in an Authorization header (extraHeaders), the seeds' other way.
        await using var driver = Client.Start(app, transports, await app.TokenForAsync("driver1@demo.test"), namespaces: "/realtime", auth: "header");
        await driver.ConnectedAsync("/realtime");
        Assert.Equal("driver", (await driver.EventAsync("/realtime", "connected")).GetProperty("role").GetString());

        await driver.EmitAsync("/realtime", "driver:location", new { latitude = 52.3711, longitude = 4.8911, heading = 90, speed = 5.5 }, ack: true);

        var acknowledged = await driver.AckAsync("/realtime", "driver:location");
        await driver.EventAsync("/realtime", "driver:location_acknowledged");
        var seen = await watcher.UntilAsync(all => all.Any(m => m.GetProperty("type").GetString() == "driver.location"));
        var location = seen.Single(m => m.GetProperty("type").GetString() == "driver.location");
        Assert.True(acknowledged.TryGetProperty("ts", out _), acknowledged.ToString());
        Assert.Equal((driverId, 52.3711, 4.8911, 90.0), (location.GetProperty("driverId").GetGuid(), location.GetProperty("lat").GetDouble(),
            location.GetProperty("lng").GetDouble(), location.GetProperty("heading").GetDouble()));
    }
}
