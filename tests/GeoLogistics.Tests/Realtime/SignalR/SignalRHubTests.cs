using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using GeoLogistics.Server.Orders;
using GeoLogistics.Server.Realtime.SignalR;
using GeoLogistics.Tests.Support;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using static GeoLogistics.Tests.Support.HttpTestExtensions;

namespace GeoLogistics.Tests.Realtime.SignalR;

/// <summary>The orders hub with the .NET SignalR client, on both hub protocols.</summary>
public class SignalRHubTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static TheoryData<string> Protocols => [HubClient.Json, HubClient.MessagePack];

    private static async Task<OrderDto> CreateAsync(HttpClient client, object? body = null)
    {
        var response = await client.PostAsJsonAsync("/api/orders", body ?? NewOrder(), Ct);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return await response.ReadAsync<OrderDto>();
    }

    /// <summary>The order's events as the log holds them: what a subscriber must get, seq for seq.</summary>
    private static async Task<List<(string Type, long Seq, Guid OrderId)>> LoggedAsync(TestApp app, long since = 0)
    {
        await app.WaitForFeedAsync();
        var page = await (await app.AdminAsync()).GetFromJsonAsync<JsonElement>($"/api/events?since={since}&limit=1000", Ct);
        return [.. page.GetProperty("events").EnumerateArray().Select(Fact)];
    }

    private static (string Type, long Seq, Guid OrderId) Fact(JsonElement e) =>
        (e.GetProperty("type").GetString()!, e.GetProperty("seq").GetInt64(), e.GetProperty("orderId").GetGuid());

    [Theory]
    [MemberData(nameof(Protocols))]
    public async Task An_order_created_over_rest_arrives_live_with_its_seq(string protocol)
    {
        await using var app = await TestApp.StartAsync();
        await using var dashboard = await HubClient.ConnectAsync(app, "dispatcher@demo.test", protocol, Ct);
        var (id, replayed) = await dashboard.SubscribeAsync("orders");

        var order = await CreateAsync(await app.DispatcherAsync());

        var created = await dashboard.NextAsync("order.created");
        Assert.StartsWith("s1-", id);
        Assert.Empty(replayed);
        Assert.Equal(order.Id, created.GetProperty("orderId").GetGuid());
        Assert.Equal("order.created", created.GetProperty("type").GetString());
        Assert.Equal("PENDING", created.GetProperty("data").GetProperty("status").GetString());
        Assert.Equal(order.Number, created.GetProperty("data").GetProperty("number").GetString());
        Assert.Equal(Assert.Single(await LoggedAsync(app)), Fact(created));
    }

    [Theory]
    [MemberData(nameof(Protocols))]
    public async Task A_replay_with_since_returns_exactly_what_was_missed_in_order_then_live_events(string protocol)
    {
        await using var app = await TestApp.StartAsync();
        var dispatcher = await app.DispatcherAsync();
        var seen = await CreateAsync(dispatcher);
        var since = (await LoggedAsync(app)).Single().Seq;
        // Missed while away: two orders, one of them confirmed.
        var missed = await CreateAsync(dispatcher);
        await dispatcher.PostAsJsonAsync($"/api/orders/{missed.Id}/status", new { status = "CONFIRMED" }, Ct);
        await CreateAsync(dispatcher);
        var expected = await LoggedAsync(app, since);

        await using var back = await HubClient.ConnectAsync(app, "dispatcher@demo.test", protocol, Ct);
        var (_, replayed) = await back.SubscribeAsync("orders", since: since);
        var live = await CreateAsync(dispatcher);

        Assert.Equal(3, expected.Count);
        Assert.Equal(expected, replayed.Select(Fact));
        Assert.DoesNotContain(replayed, e => e.GetProperty("orderId").GetGuid() == seen.Id);
        var next = await back.NextAsync();
        Assert.Equal(("order.created", live.Id), (next.GetProperty("type").GetString(), next.GetProperty("orderId").GetGuid()));
        Assert.Equal(expected[^1].Seq + 1, next.GetProperty("seq").GetInt64());
    }

    [Theory]
    [MemberData(nameof(Protocols))]
    public async Task Another_tenants_subscriber_gets_nothing_of_it_on_any_topic(string protocol)
    {
        await using var app = await TestApp.StartAsync();
        var hospital = await app.TenantAsync("Demo Hospital");
        var kitchen = await app.TenantAsync("Second Kitchen");
        var hospitalOrder = await CreateAsync(await app.DispatcherAsync());
        await using var kitchenSide = await HubClient.ConnectAsync(app, "dispatcher2@demo.test", protocol, Ct);
        await kitchenSide.SubscribeAsync("orders", since: 0);
        await kitchenSide.SubscribeAsync($"tenant:{kitchen.Id}", since: 0);
        await kitchenSide.SubscribeAsync("drivers", since: 0);
        await using var kitchenRoom = await HubClient.ConnectAsync(app, "dispatcher2@demo.test", protocol, Ct);
        var roomId = await kitchenRoom.Connection.InvokeAsync<string>("JoinTenant", kitchen.Id.ToString(), Ct);
        await using var customer = await HubClient.ConnectAsync(app, "customer@demo.test", protocol, Ct);
        await customer.SubscribeAsync("orders", since: 0);

        var forbidden = new[]
        {
            await Assert.ThrowsAsync<HubException>(() => kitchenSide.Connection.InvokeAsync<string>("Subscribe", $"order:{hospitalOrder.Id}", null, null, Ct)),
            await Assert.ThrowsAsync<HubException>(() => kitchenSide.Connection.InvokeAsync<string>("Subscribe", $"tenant:{hospital.Id}", null, 0L, Ct)),
            await Assert.ThrowsAsync<HubException>(() => kitchenSide.Connection.InvokeAsync<string>("JoinTenant", hospital.Id.ToString(), Ct)),
            await Assert.ThrowsAsync<HubException>(() => customer.Connection.InvokeAsync<string>("Subscribe", $"order:{hospitalOrder.Id}", null, 0L, Ct)),
            await Assert.ThrowsAsync<HubException>(() => customer.Connection.InvokeAsync<string>("Subscribe", $"tenant:{hospital.Id}", null, null, Ct)),
        };
        var hospitalDispatcher = await app.DispatcherAsync();
        for (var i = 0; i < 3; i++)
        {
            var o = await CreateAsync(hospitalDispatcher);
            await hospitalDispatcher.PostAsJsonAsync($"/api/orders/{o.Id}/status", new { status = "CONFIRMED" }, Ct);
        }
        // Events reach a subscriber in seq order: once the kitchen's own later order is there, the hospital's would have been.
        var marker = await CreateAsync(await app.Dispatcher2Async());

        Assert.All(forbidden, f => Assert.StartsWith("forbidden: You may not subscribe to", HubClient.Refusal(f)));
        Assert.StartsWith("s1-", roomId);
        foreach (var client in new[] { kitchenSide, kitchenRoom })
        {
            var received = new List<(string Type, JsonElement Payload)>();
            while (!received.Any(m => m.Type == "order.created" && m.Payload.GetProperty("orderId").GetGuid() == marker.Id))
            {
                received.Add(await client.NextWithTypeAsync());
            }
            Assert.All(received.Where(m => m.Payload.TryGetProperty("tenantId", out _)),
                m => Assert.Equal(kitchen.Id, m.Payload.GetProperty("tenantId").GetGuid()));
        }
        // The customer created none: of the hospital's orders it sees nothing, not even the one it was refused.
        Assert.DoesNotContain(customer.Drain(), m => m.Payload.TryGetProperty("tenantId", out var t) && t.GetGuid() == hospital.Id);
    }

    [Theory]
    [MemberData(nameof(Protocols))]
    public async Task A_bad_or_missing_token_or_a_foreign_origin_is_refused_before_anything_is_delivered(string protocol)
    {
        await using var app = await TestApp.StartAsync();
        var token = await app.TokenForAsync("dispatcher@demo.test");

        foreach (var bad in new[] { token + "x", "not-a-token", null })
        {
            await using var connection = HubClient.Build(app.ServerUri, bad, protocol);
            var received = 0;
            connection.On<object>("order.created", _ => received++);
            var refused = await Assert.ThrowsAsync<HttpRequestException>(() => connection.StartAsync(Ct));
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
            Assert.Equal(HubConnectionState.Disconnected, connection.State);
            Assert.Equal(0, received);
        }
        // The token on the socket's URL, as browsers send it, is refused too when bad.
        using var raw = new HttpClient();
        var upgrade = await raw.GetAsync(new Uri(app.ServerUri, "/hubs/orders?id=x&access_token=not-a-token"), Ct);
        Assert.Equal(HttpStatusCode.Unauthorized, upgrade.StatusCode);
        var foreign = app.ClientWithToken(token);
        foreign.DefaultRequestHeaders.Add("Origin", "https://evil.example");
        Assert.Equal(HttpStatusCode.Forbidden, (await foreign.PostAsync("/hubs/orders/negotiate?negotiateVersion=1", null, Ct)).StatusCode);
    }

    [Theory]
    [MemberData(nameof(Protocols))]
    public async Task A_position_sent_with_ReportLocation_reaches_a_json_protocol_watcher(string protocol)
    {
        await using var app = await TestApp.StartAsync();
        var driverId = (await app.DriverRecordAsync(1)).Id;
        await using var watcher = await WsClient.ConnectAsync(app.ServerUri, await app.TokenForAsync("admin@demo.test"), Ct);
        Assert.Equal("connection_ack", (await watcher.NextAsync()).GetProperty("type").GetString());
        await watcher.SendAsync(new { type = "subscribe", topic = $"driver:{driverId}" }, Ct);
        await watcher.NextAsync("subscribed");
        await using var driver = await HubClient.ConnectAsync(app, "driver1@demo.test", protocol, Ct);
        await using var dispatcher = await HubClient.ConnectAsync(app, "dispatcher@demo.test", protocol, Ct);

        await driver.Connection.InvokeAsync("ReportLocation", 52.3731, 4.8922, 90.0, 11.5, Ct);
        var notADriver = await Assert.ThrowsAsync<HubException>(() => dispatcher.Connection.InvokeAsync("ReportLocation", 52.0, 4.0, null, null, Ct));
        var offTheMap = await Assert.ThrowsAsync<HubException>(() => driver.Connection.InvokeAsync("ReportLocation", 123.0, 4.0, null, null, Ct));

        var position = await watcher.NextAsync("driver.location");
        Assert.Equal(driverId, position.GetProperty("driverId").GetGuid());
        Assert.Equal((52.3731, 4.8922, 90.0, 11.5), (position.GetProperty("lat").GetDouble(), position.GetProperty("lng").GetDouble(),
            position.GetProperty("heading").GetDouble(), position.GetProperty("speed").GetDouble()));
        Assert.Equal("forbidden: Only drivers report locations.", HubClient.Refusal(notADriver));
        Assert.Equal("bad_request: lat is a number from -90 to 90.", HubClient.Refusal(offTheMap));
    }

    [Fact]
    public async Task Filters_and_the_subscription_cap_apply_as_on_the_json_protocol()
    {
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?> { ["Realtime:MaxSubscriptions"] = "2" });
        await using var client = await HubClient.ConnectAsync(app, "dispatcher@demo.test", HubClient.MessagePack, Ct);
        await client.SubscribeAsync("orders", new SubscriptionFilters { Kind = "IB", Status = ["PENDING"] });
        var (id, _) = await client.SubscribeAsync("drivers");
        var tooMany = await Assert.ThrowsAsync<HubException>(() => client.Connection.InvokeAsync<string>("Subscribe", "drivers", null, null, Ct));
        await client.Connection.InvokeAsync("Unsubscribe", id, Ct);
        var again = await Assert.ThrowsAsync<HubException>(() => client.Connection.InvokeAsync("Unsubscribe", id, Ct));
        var dispatcher = await app.DispatcherAsync();

        await CreateAsync(dispatcher, NewOrder(kind: "OB"));
        var inbound = await CreateAsync(dispatcher, NewOrder(kind: "IB"));

        Assert.Equal("too_many_subscriptions: At most 2 subscriptions per connection.", HubClient.Refusal(tooMany));
        Assert.StartsWith("not_found: ", HubClient.Refusal(again));
        var first = await client.NextAsync();
        Assert.Equal(inbound.Id, first.GetProperty("orderId").GetGuid());
    }
}
