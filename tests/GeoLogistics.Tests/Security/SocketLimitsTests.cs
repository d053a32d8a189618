using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text.Json;
using GeoLogistics.Server.Events;
using GeoLogistics.Tests.Support;
using static GeoLogistics.Tests.Support.HttpTestExtensions;

namespace GeoLogistics.Tests.Security;

/// <summary>What one user can make the real-time gateway spend: sockets, a flood, replays.</summary>
public class SocketLimitsTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string Type(JsonElement m) => m.GetProperty("type").GetString()!;

    private static async Task<WsClient> ConnectAsync(TestApp app, string token)
    {
        var client = await WsClient.ConnectAsync(app.ServerUri, token, Ct);
        Assert.Equal("connection_ack", Type(await client.NextAsync()));
        return client;
    }

    private static async Task AnswersPingAsync(WsClient client)
    {
        await client.SendAsync(new { type = "ping" }, Ct);
        Assert.Equal("pong", Type(await client.NextAsync("pong")));
    }

    /// <summary>The upgrade request a WebSocket client sends, made by hand to read the refusal's headers and body.</summary>
    private static Task<HttpResponseMessage> UpgradeAsync(TestApp app, string token)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, "/api/ws");
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        request.Headers.Connection.Add("Upgrade");
        request.Headers.Upgrade.Add(new System.Net.Http.Headers.ProductHeaderValue("websocket"));
        request.Headers.Add("Sec-WebSocket-Version", "13");
        request.Headers.Add("Sec-WebSocket-Key", Convert.ToBase64String(Guid.NewGuid().ToByteArray()));
        return app.CreateClient().SendAsync(request, Ct);
    }

    [Fact]
    public async Task A_user_at_the_socket_cap_is_refused_before_the_upgrade_and_keeps_the_sockets_it_has()
    {
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?> { ["Realtime:MaxConnectionsPerUser"] = "3" });
        var token = await app.TokenForAsync("dispatcher@demo.test");
        var held = new List<WsClient>();
        for (var i = 0; i < 3; i++)
        {
            held.Add(await ConnectAsync(app, token));
        }

        var refused = await UpgradeAsync(app, token);
        var refusedSocket = await WsClient.RefusalAsync(app.ServerUri, token, Ct);
        // Another token of the same user counts the same: the cap is per user, not per token.
        var otherToken = await WsClient.RefusalAsync(app.ServerUri, await app.TokenForAsync("dispatcher@demo.test"), Ct);

        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
        Assert.NotNull(refused.Headers.RetryAfter);
        var problem = await refused.ReadJsonAsync();
        Assert.Equal(429, problem.GetProperty("status").GetInt32());
        Assert.Equal(3, problem.GetProperty("limit").GetInt32());
        Assert.Equal(HttpStatusCode.TooManyRequests, refusedSocket);
        Assert.Equal(HttpStatusCode.TooManyRequests, otherToken);
        foreach (var client in held)
        {
            await AnswersPingAsync(client);
        }
        // Other users are not affected.
        await using (var other = await ConnectAsync(app, await app.TokenForAsync("dispatcher2@demo.test")))
        {
            await AnswersPingAsync(other);
        }
        // The other user's socket ends on the server just after its client saw the close: wait for that, then only
        // the three held ones count.
        var admin = await app.AdminAsync();
        using (var patience = new CancellationTokenSource(TimeSpan.FromSeconds(20)))
        {
            while ((await admin.GetFromJsonAsync<JsonElement>("/api/ws/stats", Ct)).GetProperty("connections").GetInt32() > 3)
            {
                await Task.Delay(20, patience.Token);
            }
        }
        var stats = await admin.GetFromJsonAsync<JsonElement>("/api/ws/stats", Ct);
        Assert.Equal(3, stats.GetProperty("connections").GetInt32());

        // A socket that ends gives its place back.
        await held[0].DisposeAsync();
        held.RemoveAt(0);
        using (var patience = new CancellationTokenSource(TimeSpan.FromSeconds(20)))
        {
            while (await WsClient.RefusalAsync(app.ServerUri, token, Ct) == HttpStatusCode.TooManyRequests)
            {
                await Task.Delay(20, patience.Token);
            }
        }
        foreach (var client in held)
        {
            await AnswersPingAsync(client);
            await client.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_flooding_client_that_keeps_writing_is_told_1008_every_time()
    {
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?> { ["Realtime:MaxMessagesPerSecond"] = "20" });
        var token = await app.TokenForAsync("dispatcher@demo.test");
        await using var bystander = await ConnectAsync(app, token);

        // The close used to race the flooder's writes: the server stopped reading while the client still wrote, the
        // socket was reset, and the client saw 1006 in most runs. Several runs, so such a race shows.
        var statuses = new List<WebSocketCloseStatus?>();
        for (var run = 0; run < 8; run++)
        {
            await using var flooder = await ConnectAsync(app, token);
            var closed = flooder.ClosedAsync(TimeSpan.FromSeconds(30));
            while (!closed.IsCompleted)
            {
                try
                {
                    await flooder.SendAsync(new { type = "ping" }, Ct);
                }
                catch (Exception e) when (e is WebSocketException or ObjectDisposedException or InvalidOperationException)
                {
                    break;
                }
            }
            statuses.Add(await closed);
        }

        Assert.All(statuses, status => Assert.Equal(WebSocketCloseStatus.PolicyViolation, status));
        // The same user's other socket is untouched.
        await AnswersPingAsync(bystander);
    }

    /// <summary>
    /// One small message used to stream the whole log at once, as often as the client cared to ask. Now each page of
    /// a replay costs one message of the client's budget (10/s here, a burst of 20, of which a replay leaves 10): four
    /// replays of ten pages need at least three seconds, however fast the client reads.
    /// </summary>
    [Fact]
    public async Task Replays_asked_for_again_and_again_are_paced_by_the_message_budget_and_each_is_exactly_the_log()
    {
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?>
        {
            ["Realtime:MaxMessagesPerSecond"] = "10",
            ["Realtime:ReplayPageSize"] = "2",
        });
        var kitchen = await app.Dispatcher2Async();
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal(HttpStatusCode.Created, (await kitchen.PostAsJsonAsync("/api/orders", NewOrder(), Ct)).StatusCode);
        }
        await app.WaitForFeedAsync();
        var log = (await kitchen.GetFromJsonAsync<EventPage>("/api/events?since=0&limit=1000", TestApp.Json, Ct))!.Events
            .Where(e => e.Type.StartsWith("order.", StringComparison.Ordinal)).Select(e => e.Seq).ToList();
        Assert.Equal(20, log.Count);
        await using var bystander = await ConnectAsync(app, await app.TokenForAsync("dispatcher@demo.test"));
        await bystander.SendAsync(new { type = "subscribe", topic = "orders" }, Ct);
        Assert.Equal("subscribed", Type(await bystander.NextAsync()));
        await using var attacker = await ConnectAsync(app, await app.TokenForAsync("dispatcher2@demo.test"));

        var clock = Stopwatch.StartNew();
        for (var i = 1; i <= 4; i++)
        {
            await attacker.SendAsync(new { type = "subscribe", id = $"r{i}", topic = "orders", since = 0 }, Ct);
        }
        // Meanwhile another user's socket is served as usual.
        var live = await (await app.DispatcherAsync()).PostAsJsonAsync("/api/orders", NewOrder(), Ct);
        Assert.Equal(HttpStatusCode.Created, live.StatusCode);
        Assert.Equal("order.created", Type(await bystander.NextAsync("order.created")));
        await AnswersPingAsync(bystander);
        var received = await attacker.UntilAsync(all => all.Count(m => Type(m) == "subscribed") == 4, TimeSpan.FromSeconds(60));
        var took = clock.Elapsed;

        Assert.True(took >= TimeSpan.FromSeconds(2.5), $"four replays of the whole log took {took}");
        var replays = new List<List<long>> { new() };
        foreach (var message in received)
        {
            if (Type(message) == "subscribed")
            {
                Assert.Equal(20, message.GetProperty("replayed").GetInt32());
                replays.Add([]);
            }
            else if (message.TryGetProperty("seq", out var seq))
            {
                replays[^1].Add(seq.GetInt64());
            }
        }
        Assert.Equal(5, replays.Count);
        Assert.All(replays[..4], replay => Assert.Equal(log, replay));
        // Paced, not closed: the connection is still there for the client's own messages.
        await AnswersPingAsync(attacker);
        Assert.Equal(WebSocketState.Open, attacker.State);
    }
}
