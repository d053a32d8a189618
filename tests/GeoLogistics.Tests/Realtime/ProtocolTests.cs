using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text.Json;
using GeoLogistics.Server.Orders;
using GeoLogistics.Tests.Support;
using static GeoLogistics.Tests.Support.HttpTestExtensions;

namespace GeoLogistics.Tests.Realtime;

/// <summary>What a careless, hostile or flaky client sends, and what a driver streams.</summary>
public class ProtocolTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string Type(JsonElement m) => m.GetProperty("type").GetString()!;

    private static async Task<WsClient> ConnectAsync(TestApp app, string email, TimeProvider? clock = null)
    {
        var client = await WsClient.ConnectAsync(app.ServerUri, await app.TokenForAsync(email, clock), Ct);
        Assert.Equal("connection_ack", Type(await client.NextAsync()));
        return client;
    }

    /// <summary>A clock stopped an hour back, so that every token it mints expires <paramref name="expiresIn"/> from now.</summary>
    private sealed class Backdated(TimeSpan expiresIn) : TimeProvider
    {
        private readonly DateTimeOffset at = System.GetUtcNow() - TimeSpan.FromMinutes(60) + expiresIn;

        public override DateTimeOffset GetUtcNow() => at;
    }

    public static TheoryData<string, string, string> BadMessages() => new()
    {
        { "not JSON", "hello", "bad_json" },
        { "truncated JSON", """{"type":"subscribe","topic":""", "bad_json" },
        { "not an object", "[1,2]", "bad_request" },
        { "no type", """{"topic":"orders"}""", "bad_request" },
        { "a number for a type", """{"type":7}""", "bad_request" },
        { "an unknown type", """{"type":"launch"}""", "unknown_type" },
        { "subscribe without a topic", """{"type":"subscribe"}""", "bad_request" },
        { "an unknown topic", """{"type":"subscribe","topic":"everything"}""", "bad_request" },
        { "a topic id that is no id", """{"type":"subscribe","topic":"order:42"}""", "bad_request" },
        { "since as a string", """{"type":"subscribe","topic":"orders","since":"yesterday"}""", "bad_request" },
        { "a negative since", """{"type":"subscribe","topic":"orders","since":-5}""", "bad_request" },
        { "an unknown status filter", """{"type":"subscribe","topic":"orders","filters":{"status":["LOST"]}}""", "bad_request" },
        { "an unknown filter", """{"type":"subscribe","topic":"orders","filters":{"colour":"red"}}""", "bad_request" },
        { "unsubscribe without an id", """{"type":"unsubscribe"}""", "bad_request" },
        { "unsubscribe of nothing", """{"type":"unsubscribe","id":"nope"}""", "not_found" },
        { "deep nesting", """{"type":"ping","x":[[[[[[[[[[[[1]]]]]]]]]]]]}""", "bad_json" },
        { "a location from a dispatcher", """{"type":"driver.location","lat":52,"lng":4}""", "forbidden" },
        { "a token refresh with a bad token", """{"type":"auth","token":"nope"}""", "unauthorized" },
    };

    [Theory]
    [MemberData(nameof(BadMessages))]
    public async Task A_bad_message_answers_error_and_the_connection_stays(string why, string message, string code)
    {
        await using var app = await TestApp.StartAsync();
        await using var client = await ConnectAsync(app, "dispatcher@demo.test");

        await client.SendRawAsync(message, Ct);
        var answer = await client.NextAsync();
        await client.SendAsync(new { type = "ping" }, Ct);

        Assert.True(Type(answer) == "error", $"{why}: {answer}");
        Assert.Equal(code, answer.GetProperty("code").GetString());
        Assert.Equal("pong", Type(await client.NextAsync()));
    }

    [Fact]
    public async Task A_message_over_16_KiB_closes_with_1009()
    {
        await using var app = await TestApp.StartAsync();
        await using var client = await ConnectAsync(app, "dispatcher@demo.test");

        await client.SendRawAsync($$"""{"type":"ping","pad":"{{new string('x', 17 * 1024)}}"}""", Ct);

        Assert.Equal(WebSocketCloseStatus.MessageTooBig, await client.ClosedAsync());
    }

    [Fact]
    public async Task A_flood_of_messages_closes_with_1008()
    {
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?> { ["Realtime:MaxMessagesPerSecond"] = "20" });
        await using var client = await ConnectAsync(app, "dispatcher@demo.test");

        for (var i = 0; i < 200 && client.State == WebSocketState.Open; i++)
        {
            try
            {
                await client.SendAsync(new { type = "ping" }, Ct);
            }
            catch (WebSocketException)
            {
                break;
            }
        }

        Assert.Equal(WebSocketCloseStatus.PolicyViolation, await client.ClosedAsync());
    }

    [Fact]
    public async Task A_drivers_backlog_of_positions_within_its_rate_is_not_a_flood_but_other_messages_are()
    {
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?> { ["Realtime:MaxMessagesPerSecond"] = "1" });
        await using var driver = await ConnectAsync(app, "driver1@demo.test");
        var start = DateTimeOffset.UtcNow.AddSeconds(-60);

        // What a driver's socket delivers at once after the network or the server stalled: many positions in a row.
        for (var i = 0; i < 50; i++)
        {
            await driver.SendAsync(new { type = "driver.location", lat = 52.30 + (i * 0.0001), lng = 4.89, recordedAt = start.AddSeconds(i) }, Ct);
        }
        await driver.SendAsync(new { type = "ping" }, Ct);

        Assert.Equal("pong", Type(await driver.NextAsync("pong")));
        var stats = await (await app.AdminAsync()).GetFromJsonAsync<JsonElement>("/api/ws/stats", Ct);
        Assert.Equal(50, stats.GetProperty("positionsAccepted").GetInt64());
        for (var i = 0; i < 10 && driver.State == WebSocketState.Open; i++)
        {
            try
            {
                await driver.SendAsync(new { type = "ping" }, Ct);
            }
            catch (WebSocketException)
            {
                break;
            }
        }
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, await driver.ClosedAsync());
    }

    [Fact]
    public async Task A_token_that_expires_mid_connection_closes_it_with_1008_unless_refreshed()
    {
        await using var app = await TestApp.StartAsync();
        var fresh = await app.TokenForAsync("dispatcher@demo.test");
        var someoneElses = await app.TokenForAsync("dispatcher2@demo.test");
        // Both from one stopped clock: they expire in the same second, with time to spare for the refresh.
        var clock = new Backdated(TimeSpan.FromSeconds(5));
        await using var expiring = await ConnectAsync(app, "dispatcher@demo.test", clock);
        await using var refreshed = await ConnectAsync(app, "dispatcher@demo.test", clock);

        await refreshed.SendAsync(new { type = "auth", token = fresh }, Ct);
        Assert.Equal("authenticated", Type(await refreshed.NextAsync()));
        await refreshed.SendAsync(new { type = "auth", token = someoneElses }, Ct);
        Assert.Equal("unauthorized", (await refreshed.NextAsync("error")).GetProperty("code").GetString());

        // Once the old token has closed one socket, the other is still open only because it was refreshed.
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, await expiring.ClosedAsync(TimeSpan.FromSeconds(20)));
        await refreshed.SendAsync(new { type = "ping" }, Ct);
        Assert.Equal("pong", Type(await refreshed.NextAsync()));
    }

    [Fact]
    public async Task Subscriptions_per_connection_are_capped()
    {
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?> { ["Realtime:MaxSubscriptions"] = "2" });
        await using var client = await ConnectAsync(app, "dispatcher@demo.test");

        for (var i = 0; i < 3; i++)
        {
            await client.SendAsync(new { type = "subscribe", topic = "orders", id = $"s{i}" }, Ct);
        }

        Assert.Equal("subscribed", Type(await client.NextAsync()));
        Assert.Equal("subscribed", Type(await client.NextAsync()));
        Assert.Equal("too_many_subscriptions", (await client.NextAsync()).GetProperty("code").GetString());
        await client.SendAsync(new { type = "unsubscribe", id = "s0" }, Ct);
        Assert.Equal("unsubscribed", Type(await client.NextAsync()));
    }

    [Fact]
    public async Task A_drivers_socket_positions_reach_its_orders_watchers_only_and_the_rate_is_enforced()
    {
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?> { ["Auth:LocationUpdatesPerSecond"] = "1" });
        var hospital = await app.TenantAsync("Demo Hospital");
        var customerHttp = await app.CustomerAsync();
        var order = await (await customerHttp.PostAsJsonAsync("/api/orders", NewOrder(hospital.Id), Ct)).ReadAsync<OrderDto>();
        var driver = await app.DriverRecordAsync(1);
        var driverHttp = await app.DriverAsync(1);
        await driverHttp.PostAsJsonAsync("/api/drivers/me/status", new { online = true }, Ct);
        Assert.Equal(HttpStatusCode.OK, (await (await app.DispatcherAsync()).PostAsJsonAsync($"/api/orders/{order.Id}/assign", new { driverId = driver.Id }, Ct)).StatusCode);
        await app.WaitForFeedAsync();

        await using var customer = await ConnectAsync(app, "customer@demo.test");
        await customer.SendAsync(new { type = "subscribe", topic = $"order:{order.Id}" }, Ct);
        Assert.Equal("subscribed", Type(await customer.NextAsync()));
        await using var otherTenant = await ConnectAsync(app, "dispatcher2@demo.test");
        await otherTenant.SendAsync(new { type = "subscribe", topic = "drivers" }, Ct);
        await otherTenant.SendAsync(new { type = "subscribe", topic = "orders" }, Ct);
        Assert.Equal("subscribed", Type(await otherTenant.NextAsync()));
        Assert.Equal("subscribed", Type(await otherTenant.NextAsync()));
        await using var driverSocket = await ConnectAsync(app, "driver1@demo.test");

        // Taken seconds apart: 130 m at once would be an impossible jump, which watchers never get.
        await driverSocket.SendAsync(new { type = "driver.location", lat = 52.371, lng = 4.891, heading = 90, speed = 8.5, recordedAt = DateTimeOffset.UtcNow.AddSeconds(-10) }, Ct);
        await driverSocket.SendAsync(new { type = "driver.location", lat = 52.372, lng = 4.892, heading = 180, recordedAt = DateTimeOffset.UtcNow.AddSeconds(-5) }, Ct);
        await driverSocket.SendAsync(new { type = "driver.location", lat = 52.373, lng = 4.893 }, Ct);
        await driverSocket.SendAsync(new { type = "driver.location", lat = 95, lng = 4.892 }, Ct);

        // 1/s with one second's room for jitter: the first two pass, the third is cut.
        // A watcher gets each position, unless a newer one of the driver replaced it before it left (the outbox keeps
        // the newest per driver): the second for certain, the first when the watcher was quick enough.
        var locations = (await customer.UntilAsync(all => all.Any(m => Type(m) == "driver.location" && m.GetProperty("lat").GetDouble() == 52.372)))
            .Where(m => Type(m) == "driver.location").Select(l => (l.GetProperty("driverId").GetGuid(), l.GetProperty("orderId").GetGuid(),
                l.GetProperty("lat").GetDouble(), l.GetProperty("heading").GetDouble())).ToList();
        Assert.Equal(
            locations.Count == 2 ? [(driver.Id, order.Id, 52.371, 90.0), (driver.Id, order.Id, 52.372, 180.0)] : [(driver.Id, order.Id, 52.372, 180.0)],
            locations);
        Assert.Equal("rate_limited", (await driverSocket.NextAsync("error")).GetProperty("code").GetString());
        var invalid = await driverSocket.NextAsync("error");
        Assert.Equal(("bad_request", "lat"), (invalid.GetProperty("code").GetString(), invalid.GetProperty("details").GetProperty("field").GetString()));
        // The socket handles a driver's messages one at a time and publishes a position before the next: with the
        // answer to the last one in, every position is queued or never will be, and a ping's answer closes the list.
        Assert.DoesNotContain(await customer.QueuedSoFarAsync(Ct), m => Type(m) == "driver.location");
        Assert.Empty(await otherTenant.QueuedSoFarAsync(Ct));
        var stored = await (await app.AdminAsync()).GetFromJsonAsync<JsonElement>($"/api/drivers/{driver.Id}", Ct);
        Assert.Equal(52.372, stored.GetProperty("location").GetProperty("lat").GetDouble());

        // A late subscriber gets the latest position at once.
        await using var late = await ConnectAsync(app, "dispatcher@demo.test");
        await late.SendAsync(new { type = "subscribe", topic = $"driver:{driver.Id}" }, Ct);
        Assert.Equal("subscribed", Type(await late.NextAsync()));
        Assert.Equal(52.372, (await late.NextAsync("driver.location")).GetProperty("lat").GetDouble());
    }

    [Fact]
    public async Task A_lost_version_race_is_told_to_the_orders_watchers_as_order_conflict()
    {
        await using var app = await TestApp.StartAsync();
        var dispatcher = await app.DispatcherAsync();
        var order = await (await dispatcher.PostAsJsonAsync("/api/orders", NewOrder(), Ct)).ReadAsync<OrderDto>();
        await using var watcher = await ConnectAsync(app, "dispatcher@demo.test");
        await watcher.SendAsync(new { type = "subscribe", topic = $"order:{order.Id}" }, Ct);
        Assert.Equal("subscribed", Type(await watcher.NextAsync()));
        using (var first = new HttpRequestMessage(HttpMethod.Patch, $"/api/orders/{order.Id}") { Content = JsonContent.Create(new { notes = "one", version = 1 }) })
        {
            await dispatcher.SendAsync(first, Ct);
        }

        using var stale = new HttpRequestMessage(HttpMethod.Patch, $"/api/orders/{order.Id}") { Content = JsonContent.Create(new { notes = "two", version = 1 }) };
        Assert.Equal(HttpStatusCode.Conflict, (await dispatcher.SendAsync(stale, Ct)).StatusCode);

        var conflict = await watcher.NextAsync("order.conflict");
        Assert.Equal((order.Id, 2, 1), (conflict.GetProperty("orderId").GetGuid(), conflict.GetProperty("currentVersion").GetInt32(), conflict.GetProperty("attemptedVersion").GetInt32()));
        Assert.Equal("one", conflict.GetProperty("data").GetProperty("notes").GetString());
    }

    [Fact]
    public async Task Socket_statistics_are_for_admins()
    {
        await using var app = await TestApp.StartAsync();
        await using var client = await ConnectAsync(app, "dispatcher@demo.test");
        await client.SendAsync(new { type = "subscribe", topic = "orders" }, Ct);
        Assert.Equal("subscribed", Type(await client.NextAsync()));

        Assert.Equal(HttpStatusCode.Forbidden, (await (await app.DispatcherAsync()).GetAsync("/api/ws/stats", Ct)).StatusCode);
        var stats = await (await app.AdminAsync()).GetFromJsonAsync<JsonElement>("/api/ws/stats", Ct);
        Assert.Equal(1, stats.GetProperty("connections").GetInt32());
        Assert.Equal(1, stats.GetProperty("subscriptions").GetProperty("orders").GetInt32());
    }
}
