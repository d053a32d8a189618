using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using GeoLogistics.Server.Orders;
using GeoLogistics.Tests.Support;
using static GeoLogistics.Tests.Support.HttpTestExtensions;

namespace GeoLogistics.Tests.Realtime.SignalR;

/// <summary>
/// The orders hub with the browser's client, <c>@microsoft/signalr</c> (and its MessagePack protocol), under Node:
/// tests/clients/signalr-client.mjs, driven line by line.
/// </summary>
public class SignalRNodeClientTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static TheoryData<string> Protocols => [HubClient.Json, HubClient.MessagePack];

    private static async Task<NodeHubClient> ConnectAsync(TestApp app, string email, string protocol)
    {
        var client = NodeHubClient.Start(app.ServerUri, await app.TokenForAsync(email), protocol);
        var connected = await client.NextAsync(l => Kind(l) is "connected" or "connect_error", Ct);
        Assert.Equal("connected", Kind(connected));
        return client;
    }

    private static string? Kind(JsonElement line) => NodeHubClient.Kind(line);

    private static Task<JsonElement> InvokeAsync(NodeHubClient client, string method, params object?[] args) => client.InvokeAsync(method, args, Ct);

    /// <summary>Subscribes; the replayed events, up to the <c>subscribed</c> event of this subscription.</summary>
    private static async Task<List<JsonElement>> SubscribeAsync(NodeHubClient client, string topic, long? since = null)
    {
        var answer = await InvokeAsync(client, "Subscribe", topic, null, since);
        Assert.Equal("result", Kind(answer));
        var id = answer.GetProperty("value").GetString();
        var replayed = new List<JsonElement>();
        while (true)
        {
            var line = await client.NextAsync("event", Ct);
            if (NodeHubClient.IsEvent(line, "subscribed") && line.GetProperty("payload").GetProperty("id").GetString() == id)
            {
                return replayed;
            }
            replayed.Add(line.GetProperty("payload"));
        }
    }

    private static async Task<OrderDto> CreateAsync(HttpClient client)
    {
        var response = await client.PostAsJsonAsync("/api/orders", NewOrder(), Ct);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return await response.ReadAsync<OrderDto>();
    }

    [Theory]
    [MemberData(nameof(Protocols))]
    public async Task An_order_created_over_rest_arrives_live_and_a_replay_with_since_brings_exactly_what_was_missed(string protocol)
    {
        await using var app = await TestApp.StartAsync();
        var dispatcher = await app.DispatcherAsync();
        long lastSeq;
        await using (var first = await ConnectAsync(app, "dispatcher@demo.test", protocol))
        {
            Assert.Empty(await SubscribeAsync(first, "orders"));
            var order = await CreateAsync(dispatcher);
            var created = (await first.NextAsync(l => NodeHubClient.IsEvent(l, "order.created"), Ct)).GetProperty("payload");
            Assert.Equal(order.Id, created.GetProperty("orderId").GetGuid());
            Assert.Equal("PENDING", created.GetProperty("data").GetProperty("status").GetString());
            lastSeq = created.GetProperty("seq").GetInt64();
            Assert.True(lastSeq > 0);
        }
        // Missed while away.
        var missed = new List<Guid>();
        for (var i = 0; i < 3; i++)
        {
            missed.Add((await CreateAsync(dispatcher)).Id);
        }

        await using var back = await ConnectAsync(app, "dispatcher@demo.test", protocol);
        var replayed = await SubscribeAsync(back, "orders", since: lastSeq);
        var live = await CreateAsync(dispatcher);

        Assert.Equal(missed, replayed.Select(e => e.GetProperty("orderId").GetGuid()));
        Assert.Equal([lastSeq + 1, lastSeq + 2, lastSeq + 3], replayed.Select(e => e.GetProperty("seq").GetInt64()));
        var next = (await back.NextEventAsync(Ct));
        Assert.Equal((live.Id, lastSeq + 4), (next.GetProperty("orderId").GetGuid(), next.GetProperty("seq").GetInt64()));
    }

    [Theory]
    [MemberData(nameof(Protocols))]
    public async Task Another_tenants_subscriber_gets_nothing_and_a_forbidden_topic_is_refused(string protocol)
    {
        await using var app = await TestApp.StartAsync();
        var hospital = await app.TenantAsync("Demo Hospital");
        var kitchen = await app.TenantAsync("Second Kitchen");
        var hospitalOrder = await CreateAsync(await app.DispatcherAsync());
        await using var kitchenSide = await ConnectAsync(app, "dispatcher2@demo.test", protocol);
        Assert.Empty(await SubscribeAsync(kitchenSide, "orders", since: 0));
        Assert.Empty(await SubscribeAsync(kitchenSide, "drivers", since: 0));
        var room = await InvokeAsync(kitchenSide, "JoinTenant", kitchen.Id.ToString());

        var refused = new[]
        {
            await InvokeAsync(kitchenSide, "Subscribe", $"order:{hospitalOrder.Id}", null, 0),
            await InvokeAsync(kitchenSide, "Subscribe", $"tenant:{hospital.Id}", null, null),
            await InvokeAsync(kitchenSide, "JoinTenant", hospital.Id.ToString()),
        };
        var hospitalDispatcher = await app.DispatcherAsync();
        for (var i = 0; i < 3; i++)
        {
            var o = await CreateAsync(hospitalDispatcher);
            await hospitalDispatcher.PostAsJsonAsync($"/api/orders/{o.Id}/status", new { status = "CONFIRMED" }, Ct);
        }
        var marker = await CreateAsync(await app.Dispatcher2Async());

        Assert.Equal("result", Kind(room));
        Assert.All(refused, r =>
        {
            Assert.Equal("error", Kind(r));
            Assert.Contains("forbidden: You may not subscribe to", r.GetProperty("message").GetString());
        });
        var received = new List<JsonElement>();
        while (!received.Any(e => e.TryGetProperty("orderId", out var id) && id.GetGuid() == marker.Id))
        {
            received.Add((await kitchenSide.NextEventAsync(Ct)));
        }
        Assert.All(received.Where(e => e.TryGetProperty("tenantId", out _)), e => Assert.Equal(kitchen.Id, e.GetProperty("tenantId").GetGuid()));
        Assert.DoesNotContain(received, e => e.TryGetProperty("orderId", out var id) && id.GetGuid() == hospitalOrder.Id);
    }

    [Theory]
    [MemberData(nameof(Protocols))]
    public async Task A_bad_token_is_refused_before_anything_is_delivered(string protocol)
    {
        await using var app = await TestApp.StartAsync();
        var token = await app.TokenForAsync("dispatcher@demo.test");

        foreach (var bad in new[] { token + "x", null })
        {
            await using var client = NodeHubClient.Start(app.ServerUri, bad, protocol);
            var refused = await client.NextAsync(l => Kind(l) is "connected" or "connect_error", Ct);
            Assert.Equal("connect_error", Kind(refused));
            Assert.Contains("401", refused.GetProperty("message").GetString());
            Assert.DoesNotContain(client.Drain(), l => Kind(l) == "event");
        }
    }

    [Theory]
    [MemberData(nameof(Protocols))]
    public async Task A_position_sent_with_ReportLocation_reaches_a_json_protocol_watcher(string protocol)
    {
        await using var app = await TestApp.StartAsync();
        var driverId = (await app.DriverRecordAsync(1)).Id;
        await using var watcher = await WsClient.ConnectAsync(app.ServerUri, await app.TokenForAsync("admin@demo.test"), Ct);
        await watcher.SendAsync(new { type = "subscribe", topic = "drivers" }, Ct);
        await watcher.NextAsync("subscribed");
        await using var driver = await ConnectAsync(app, "driver1@demo.test", protocol);

        var accepted = await InvokeAsync(driver, "ReportLocation", 52.3702, 4.8952, 180, 8.25);
        var invalid = await InvokeAsync(driver, "ReportLocation", 52.37, 190, null, null);

        Assert.Equal("result", Kind(accepted));
        Assert.Contains("bad_request: lng is a number from -180 to 180.", invalid.GetProperty("message").GetString());
        var position = await watcher.NextAsync("driver.location");
        Assert.Equal(driverId, position.GetProperty("driverId").GetGuid());
        Assert.Equal((52.3702, 4.8952, 180.0, 8.25), (position.GetProperty("lat").GetDouble(), position.GetProperty("lng").GetDouble(),
            position.GetProperty("heading").GetDouble(), position.GetProperty("speed").GetDouble()));
    }

    [Theory]
    [MemberData(nameof(Protocols))]
    public async Task Wrong_arguments_and_oversize_messages_answer_errors_and_harm_no_one(string protocol)
    {
        await using var app = await TestApp.StartAsync();
        await using var client = await ConnectAsync(app, "dispatcher@demo.test", protocol);

        var tooFew = await InvokeAsync(client, "Subscribe", "orders");
        var wrongType = await InvokeAsync(client, "Subscribe", new[] { 1, 2 }, "x", "y");
        var works = await SubscribeAsync(client, "orders");
        await client.SendAsync("Subscribe", [new string('x', 20 * 1024), null, null]);
        var closed = await client.NextAsync("closed", Ct);

        Assert.Contains("Invocation provides 1 argument(s) but target expects 3", tooFew.GetProperty("message").GetString());
        Assert.Contains("Failed to invoke 'Subscribe'", wrongType.GetProperty("message").GetString());
        Assert.Empty(works);
        Assert.Contains("The maximum message size of 16384B was exceeded", closed.GetProperty("error").GetString());
        await using var other = await ConnectAsync(app, "dispatcher@demo.test", protocol);
        Assert.Empty(await SubscribeAsync(other, "orders"));
        var order = await CreateAsync(await app.DispatcherAsync());
        Assert.Equal(order.Id, (await other.NextAsync(l => NodeHubClient.IsEvent(l, "order.created"), Ct)).GetProperty("payload").GetProperty("orderId").GetGuid());
    }
}
