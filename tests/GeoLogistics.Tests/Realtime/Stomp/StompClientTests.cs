using System.Net.Http.Json;
using System.Text.Json;
using GeoLogistics.Server.Events;
using GeoLogistics.Server.Orders;
using GeoLogistics.Tests.Support;
using Microsoft.EntityFrameworkCore;

namespace GeoLogistics.Tests.Realtime.Stomp;

/// <summary>
/// STOMP at /ws-registry with the real clients under Node (tests/clients/stomp-client.mjs): @stomp/stompjs over a
/// plain WebSocket ("ws"), and sockjs-client with Stomp.over as the Spring seeds' page ("sockjs").
/// </summary>
public class StompClientTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static TheoryData<string> Transports => ["ws", "sockjs"];

    private static NodeClient Stomp(TestApp app, string transport, string? token, string tokenHeader = "Authorization")
    {
        var server = app.ServerUri;
        var url = transport == "sockjs"
            ? new UriBuilder(server) { Path = "/ws-registry" }.Uri.ToString()
            : new UriBuilder(server) { Scheme = "ws", Path = "/ws-registry" }.Uri.ToString();
        var environment = new Dictionary<string, string> { ["STOMP_URL"] = url, ["STOMP_TRANSPORT"] = transport, ["STOMP_TOKEN_HEADER"] = tokenHeader };
        if (token is not null)
        {
            environment["STOMP_TOKEN"] = token;
        }
        return NodeClient.Start("stomp-client.mjs", environment);
    }

    private static async Task<NodeClient> ConnectedAsync(TestApp app, string transport, string email)
    {
        var client = Stomp(app, transport, await app.TokenForAsync(email));
        var connected = await NextOf(client, "connected", "error", "closed");
        Assert.True(Kind(connected) == "connected", connected.ToString());
        return client;
    }

    /// <summary>Subscribes, and waits for the RECEIPT that says the replay (if any) is done and live events follow.</summary>
    private static async Task SubscribeAsync(NodeClient client, string id, string destination, Dictionary<string, string>? headers = null)
    {
        var all = new Dictionary<string, string>(headers ?? []) { ["receipt"] = $"r-{id}" };
        await client.SendAsync(new { op = "subscribe", id, destination, headers = all });
        var answer = await NextOf(client, "receipt", "error", "closed");
        Assert.True(Kind(answer) == "receipt" && answer.GetProperty("id").GetString() == $"r-{id}", answer.ToString());
    }

    private static string? Kind(JsonElement line) => line.GetProperty("kind").GetString();

    private static Task<JsonElement> Next(NodeClient client, string kind) => client.NextAsync(kind, ct: Ct);

    /// <summary>The next line of one of <paramref name="kinds"/>, so that a test sees the answer it did not hope for.</summary>
    private static Task<JsonElement> NextOf(NodeClient client, params string[] kinds) => client.NextAsync(l => kinds.Contains(Kind(l)), ct: Ct);

    private static async Task<OrderDto> CreateOrderAsync(HttpClient client) =>
        await (await client.PostAsJsonAsync("/api/orders", HttpTestExtensions.NewOrder(), Ct)).ReadAsync<OrderDto>();

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task An_order_created_over_REST_arrives_live_with_its_seq(string transport)
    {
        await using var app = await TestApp.StartAsync();
        await using var client = await ConnectedAsync(app, transport, "dispatcher@demo.test");
        await SubscribeAsync(client, "board", "/topic/orders");

        var order = await CreateOrderAsync(await app.DispatcherAsync());

        var message = await Next(client, "message");
        Assert.Equal("board", message.GetProperty("subscription").GetString());
        Assert.Equal("/topic/orders", message.GetProperty("destination").GetString());
        Assert.Equal("order.created", message.GetProperty("eventType").GetString());
        Assert.Equal("application/json", message.GetProperty("contentType").GetString());
        var body = message.GetProperty("body");
        Assert.Equal(order.Id, body.GetProperty("orderId").GetGuid());
        Assert.True(body.GetProperty("seq").GetInt64() > 0);
        Assert.Equal(body.GetProperty("seq").GetInt64(), message.GetProperty("seq").GetInt64());
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task Replay_with_since_returns_exactly_what_was_missed_in_order_then_live(string transport)
    {
        await using var app = await TestApp.StartAsync();
        var dispatcher = await app.DispatcherAsync();
        var hospital = await app.TenantAsync("Demo Hospital");
        await CreateOrderAsync(dispatcher);
        await app.WaitForFeedAsync();
        var since = await app.WithDbAsync(db => db.Events.MaxAsync(e => e.Seq)) ?? 0;
        // Missed: three of ours, and one of another tenant's, which must not come.
        for (var i = 0; i < 3; i++)
        {
            await CreateOrderAsync(dispatcher);
        }
        await CreateOrderAsync(await app.Dispatcher2Async());
        await app.WaitForFeedAsync();
        var missed = await app.WithDbAsync(db => db.Events.Where(e => e.Seq > since && e.TenantId == hospital.Id && e.Type.StartsWith("order."))
            .OrderBy(e => e.Seq).Select(e => e.Seq!.Value).ToListAsync(Ct));
        Assert.True(missed.Count >= 3);

        await using var client = await ConnectedAsync(app, transport, "dispatcher@demo.test");
        await client.SendAsync(new { op = "subscribe", id = "board", destination = "/topic/orders", headers = new { since = since.ToString(), receipt = "caught-up" } });
        var replayed = new List<long>();
        while (await NextOf(client, "message", "receipt", "error") is var line && Kind(line) == "message")
        {
            replayed.Add(line.GetProperty("seq").GetInt64());
        }
        Assert.Equal(missed, replayed);

        var live = await CreateOrderAsync(dispatcher);
        var next = await Next(client, "message");
        Assert.Equal(live.Id, next.GetProperty("body").GetProperty("orderId").GetGuid());
        Assert.True(next.GetProperty("seq").GetInt64() > missed[^1]);
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task Another_tenants_subscriber_gets_nothing_of_it_on_any_destination(string transport)
    {
        await using var app = await TestApp.StartAsync();
        var kitchen = await app.TenantAsync("Second Kitchen");
        await using var other = await ConnectedAsync(app, transport, "dispatcher2@demo.test");
        await SubscribeAsync(other, "orders", "/topic/orders");
        await SubscribeAsync(other, "drivers", "/topic/drivers");
        await SubscribeAsync(other, "tenant", $"/topic/tenants/{kitchen.Id}");

        var dispatcher = await app.DispatcherAsync();
        var ours = await CreateOrderAsync(dispatcher);
        (await dispatcher.PostAsync($"/api/orders/{ours.Id}/cancel", null, Ct)).EnsureSuccessStatusCode();
        // Then one of its own tenant: what arrives before it is everything it was sent of the first.
        var theirs = await CreateOrderAsync(await app.Dispatcher2Async());

        var seen = new List<JsonElement>();
        while (seen.Count(m => m.GetProperty("body").GetProperty("orderId").GetGuid() == theirs.Id) < 2)
        {
            seen.Add(await Next(other, "message"));
        }
        Assert.DoesNotContain(seen, m => m.GetProperty("body").GetProperty("orderId").GetGuid() == ours.Id);
        // One MESSAGE per subscription it matches: on /topic/orders and on its tenant's destination.
        Assert.Equal(["orders", "tenant"], seen.Select(m => m.GetProperty("subscription").GetString()).Order());
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task A_forbidden_destination_is_refused_with_ERROR_and_delivers_nothing(string transport)
    {
        await using var app = await TestApp.StartAsync();
        var hospital = await app.TenantAsync("Demo Hospital");
        var order = await CreateOrderAsync(await app.DispatcherAsync());
        await app.WaitForFeedAsync();

        foreach (var destination in new[] { $"/topic/tenants/{hospital.Id}", $"/topic/orders/{order.Id}" })
        {
            await using var other = await ConnectedAsync(app, transport, "dispatcher2@demo.test");
            await other.SendAsync(new { op = "subscribe", id = "spy", destination, headers = new { since = "0" } });

            var error = await NextOf(other, "message", "error", "receipt");
            Assert.Equal("error", Kind(error));
            Assert.Equal("forbidden", error.GetProperty("message").GetString());
            await Next(other, "closed");
            await CreateOrderAsync(await app.DispatcherAsync());
            await Task.Delay(200, Ct);
            Assert.DoesNotContain(other.Drain(), l => Kind(l) == "message");
        }
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task An_unknown_destination_is_refused_with_ERROR(string transport)
    {
        await using var app = await TestApp.StartAsync();
        await using var client = await ConnectedAsync(app, transport, "dispatcher@demo.test");

        await client.SendAsync(new { op = "subscribe", id = "x", destination = "/queue/orders" });

        var error = await Next(client, "error");
        Assert.Equal("unknown destination", error.GetProperty("message").GetString());
        Assert.Contains("/topic/orders", error.GetProperty("body").GetString());
        await Next(client, "closed");
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task A_bad_token_is_refused_before_anything_is_delivered(string transport)
    {
        await using var app = await TestApp.StartAsync();
        var good = await app.TokenForAsync("dispatcher@demo.test");
        var forged = good[..^4] + (good[^4..] == "AAAA" ? "BBBB" : "AAAA");

        foreach (var (token, header) in new (string?, string)[] { (forged, "Authorization"), (forged, "passcode"), (null, "Authorization") })
        {
            await using var client = Stomp(app, transport, token, header);
            var first = await NextOf(client, "connected", "error", "message");
            Assert.Equal("error", Kind(first));
            Assert.Equal("unauthorized", first.GetProperty("message").GetString());
            await Next(client, "closed");
        }
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task The_token_may_come_as_passcode(string transport)
    {
        await using var app = await TestApp.StartAsync();
        await using var client = Stomp(app, transport, await app.TokenForAsync("dispatcher@demo.test"), "passcode");

        var connected = await NextOf(client, "connected", "error");

        Assert.Equal("connected", Kind(connected));
        var headers = connected.GetProperty("headers");
        Assert.Equal("1.2", headers.GetProperty("version").GetString());
        Assert.Equal("dispatcher@demo.test", headers.GetProperty("user-name").GetString());
        Assert.StartsWith("GeoLogistics/", headers.GetProperty("server").GetString());
        if (transport == "ws")
        {
            Assert.Equal("v12.stomp", connected.GetProperty("protocol").GetString());
        }
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task A_drivers_position_sent_over_STOMP_reaches_a_JSON_protocol_watcher(string transport)
    {
        await using var app = await TestApp.StartAsync();
        var driverId = (await app.DriverRecordAsync(1)).Id;
        await using var watcher = await WsClient.ConnectAsync(app.ServerUri, await app.TokenForAsync("admin@demo.test"), Ct);
        Assert.Equal("connection_ack", (await watcher.NextAsync()).GetProperty("type").GetString());
        await watcher.SendAsync(new { type = "subscribe", topic = $"driver:{driverId}" }, Ct);
        await watcher.NextAsync("subscribed");
        await using var driver = await ConnectedAsync(app, transport, "driver1@demo.test");

        await driver.SendAsync(new
        {
            op = "send",
            destination = "/app/drivers/location",
            body = JsonSerializer.Serialize(new { type = "driver.location", lat = 52.3111, lng = 4.8222, heading = 90, speed = 11.5 }),
            headers = new { receipt = "pos-1" },
        });

        Assert.Equal("pos-1", (await Next(driver, "receipt")).GetProperty("id").GetString());
        var position = await watcher.NextAsync("driver.location");
        Assert.Equal(driverId, position.GetProperty("driverId").GetGuid());
        Assert.Equal(52.3111, position.GetProperty("lat").GetDouble());
        Assert.Equal(4.8222, position.GetProperty("lng").GetDouble());
    }
}
