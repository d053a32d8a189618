using System.Net;
using System.Net.Http.Json;
using GeoLogistics.Server.Realtime.Core;
using GeoLogistics.Tests.Support;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;
using static GeoLogistics.Tests.Support.HttpTestExtensions;

namespace GeoLogistics.Tests.Realtime.SignalR;

/// <summary>What the orders hub does with calls it cannot take: a clear error, and no harm to the server or other clients.</summary>
public class SignalRBadInputTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static TheoryData<string> Protocols => [HubClient.Json, HubClient.MessagePack];

    /// <summary>Another client subscribes and gets an order created now: the server is unharmed.</summary>
    private static async Task AssertServerWorksAsync(TestApp app, string protocol)
    {
        await using var other = await HubClient.ConnectAsync(app, "dispatcher@demo.test", protocol, Ct);
        await other.SubscribeAsync("orders");
        var response = await (await app.DispatcherAsync()).PostAsJsonAsync("/api/orders", NewOrder(), Ct);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal("order.created", (await other.NextAsync()).GetProperty("type").GetString());
    }

    [Theory]
    [MemberData(nameof(Protocols))]
    public async Task Calls_with_wrong_arguments_answer_an_error_and_keep_the_connection(string protocol)
    {
        await using var app = await TestApp.StartAsync();
        await using var client = await HubClient.ConnectAsync(app, "dispatcher@demo.test", protocol, Ct);
        var hub = client.Connection;

        var tooFew = await Assert.ThrowsAsync<HubException>(() => hub.InvokeAsync<string>("Subscribe", "orders", Ct));
        var tooMany = await Assert.ThrowsAsync<HubException>(() => hub.InvokeAsync<string>("Subscribe", "orders", null, null, 1, Ct));
        var wrongType = await Assert.ThrowsAsync<HubException>(() => hub.InvokeAsync<string>("Subscribe", "orders", "not filters", "not a seq", Ct));
        var wrongNumber = await Assert.ThrowsAsync<HubException>(() => hub.InvokeAsync("ReportLocation", "north", 4.0, null, null, Ct));
        var unknown = await Assert.ThrowsAsync<HubException>(() => hub.InvokeAsync("Teleport", Ct));
        var badTopic = await Assert.ThrowsAsync<HubException>(() => hub.InvokeAsync<string>("Subscribe", "everything", null, null, Ct));
        var badSince = await Assert.ThrowsAsync<HubException>(() => hub.InvokeAsync<string>("Subscribe", "orders", null, -1L, Ct));
        var badStatus = await Assert.ThrowsAsync<HubException>(() => hub.InvokeAsync<string>("Subscribe", "orders",
            new GeoLogistics.Server.Realtime.SignalR.SubscriptionFilters { Status = ["LOST"] }, null, Ct));
        var badTenant = await Assert.ThrowsAsync<HubException>(() => hub.InvokeAsync<string>("JoinTenant", "hospital", Ct));

        Assert.Contains("Invocation provides 1 argument(s) but target expects 3", tooFew.Message);
        Assert.Contains("Invocation provides 4 argument(s) but target expects 3", tooMany.Message);
        Assert.Contains("Failed to invoke 'Subscribe'", wrongType.Message);
        Assert.Contains("Failed to invoke 'ReportLocation'", wrongNumber.Message);
        Assert.Contains("Method does not exist", unknown.Message);
        Assert.Equal("bad_request: topic is orders, drivers, order:{id}, tenant:{id} or driver:{id}.", HubClient.Refusal(badTopic));
        Assert.Equal("bad_request: since is a seq: an integer of 0 or more.", HubClient.Refusal(badSince));
        Assert.Equal("bad_request: filters.status holds order statuses such as \"PENDING\".", HubClient.Refusal(badStatus));
        Assert.Equal("bad_request: tenantId is a tenant's id (a UUID).", HubClient.Refusal(badTenant));
        Assert.Equal(HubConnectionState.Connected, hub.State);
        var (id, _) = await client.SubscribeAsync("orders");
        Assert.StartsWith("s1-", id);
        await AssertServerWorksAsync(app, protocol);
    }

    [Theory]
    [MemberData(nameof(Protocols))]
    public async Task A_message_over_the_size_limit_closes_the_connection_with_an_error(string protocol)
    {
        await using var app = await TestApp.StartAsync();
        await using var client = await HubClient.ConnectAsync(app, "dispatcher@demo.test", protocol, Ct);

        await client.Connection.SendAsync("Subscribe", new string('x', 20 * 1024), null, null, Ct);

        var error = await client.ClosedAsync();
        Assert.NotNull(error);
        Assert.Contains("The maximum message size of 16384B was exceeded", error.Message);
        await AssertServerWorksAsync(app, protocol);
    }

    [Theory]
    [MemberData(nameof(Protocols))]
    public async Task A_flood_of_calls_closes_the_connection_with_an_error(string protocol)
    {
        await using var app = await TestApp.StartAsync();
        await using var client = await HubClient.ConnectAsync(app, "dispatcher@demo.test", protocol, Ct);

        // Twice the burst the budget allows (Realtime:MaxMessagesPerSecond 50, burst 100), at once.
        for (var i = 0; i < 200 && client.Connection.State == HubConnectionState.Connected; i++)
        {
            try
            {
                await client.Connection.SendAsync("Unsubscribe", "nothing", Ct);
            }
            catch (InvalidOperationException)
            {
                // Closed meanwhile: the send finds the connection gone.
            }
        }

        var error = await client.ClosedAsync();
        Assert.NotNull(error);
        Assert.Contains("too many messages", error.Message);
        await AssertServerWorksAsync(app, protocol);
    }

    /// <summary>A clock stopped an hour back, so that every token it mints expires <paramref name="expiresIn"/> from now.</summary>
    private sealed class Backdated(TimeSpan expiresIn) : TimeProvider
    {
        private readonly DateTimeOffset at = System.GetUtcNow() - TimeSpan.FromMinutes(60) + expiresIn;

        public override DateTimeOffset GetUtcNow() => at;
    }

    [Theory]
    [MemberData(nameof(Protocols))]
    public async Task A_connection_whose_token_expires_is_closed_saying_so(string protocol)
    {
        await using var app = await TestApp.StartAsync();
        var token = await app.TokenForAsync("dispatcher@demo.test", new Backdated(TimeSpan.FromSeconds(8)));
        await using var client = await HubClient.ConnectAsync(app.ServerUri, token, protocol, Ct);
        await client.SubscribeAsync("orders");

        var error = await client.ClosedAsync();

        Assert.NotNull(error);
        Assert.Equal("The server closed the connection with the following error: token expired", error.Message);
        Assert.Equal(HubConnectionState.Disconnected, client.Connection.State);
    }

    [Fact]
    public async Task A_user_at_the_socket_cap_is_refused_with_429_counting_every_protocol()
    {
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?> { ["Realtime:MaxConnectionsPerUser"] = "2" });
        var token = await app.TokenForAsync("dispatcher@demo.test");
        await using var json = await WsClient.ConnectAsync(app.ServerUri, token, Ct);
        await using var first = await HubClient.ConnectAsync(app.ServerUri, token, HubClient.Json, Ct);

        await using var third = HubClient.Build(app.ServerUri, token, HubClient.MessagePack);
        var refused = await Assert.ThrowsAsync<HttpRequestException>(() => third.StartAsync(Ct));

        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        await first.SubscribeAsync("orders");
        await first.Connection.StopAsync(Ct);
        // The place is given back once the server has seen the connection end.
        var user = (await app.UserAsync("dispatcher@demo.test")).Id;
        while (app.Services.GetRequiredService<LiveHub>().AdmittedOf(user) > 1)
        {
            await Task.Delay(10, Ct);
        }
        await using var again = await HubClient.ConnectAsync(app.ServerUri, token, HubClient.MessagePack, Ct);
        await again.SubscribeAsync("orders");
    }
}
