using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using GeoLogistics.Server.Orders;
using GeoLogistics.Tests.Support;

namespace GeoLogistics.Tests.Realtime.SocketIo;

/// <summary>What no client library sends, over real connections: each gets a clear error, and the server stays whole.</summary>
public class SocketIoBadPacketTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<RawEngineClient> OrdersSocketAsync(TestApp app)
    {
        var (client, _) = await RawEngineClient.ConnectAsync(app.ServerUri, Ct);
        await client.ConnectNamespaceAsync("/orders", await app.TokenForAsync("dispatcher@demo.test"), Ct);
        return client;
    }

    /// <summary>The server is unharmed: another client connects, joins its hospital and gets a new order live.</summary>
    private static async Task A_second_client_still_works(TestApp app)
    {
        await using var second = await OrdersSocketAsync(app);
        var hospital = await app.TenantAsync("Demo Hospital");
        await second.SendAsync($"42/orders,[\"join:hospital\",{{\"hospitalId\":\"{hospital.Id}\"}}]", Ct);
        Assert.StartsWith("42/orders,[\"joined\"", await second.ReceiveAsync(Ct, skipPings: true));
        var order = await (await (await app.DispatcherAsync()).PostAsJsonAsync("/api/orders", HttpTestExtensions.NewOrder(), Ct)).ReadAsync<OrderDto>();
        var update = await second.ReceiveAsync(Ct, skipPings: true);
        Assert.StartsWith("42/orders,[\"order:updated\"", update);
        Assert.Contains(order.Id.ToString(), update);
    }

    [Theory]
    [InlineData("42/orders,[\"join:hospital\"", "the payload is not JSON")]
    [InlineData("42/orders,{\"hospitalId\":1}", "an EVENT payload is a non-empty array")]
    [InlineData("451-[\"x\",{\"_placeholder\":true,\"num\":0}]", "binary packets are not supported")]
    [InlineData("4", "unknown packet type")]
    [InlineData("9", "unknown packet type")]
    [InlineData("2", "unexpected ping packet")]
    public async Task A_truncated_or_garbage_packet_closes_the_connection_with_an_error_and_1002(string bad, string expected)
    {
        await using var app = await TestApp.StartAsync();
        await using (var client = await OrdersSocketAsync(app))
        {
            await client.SendAsync(bad, Ct);

            var frames = await client.UntilClosedAsync(Ct);

            var error = Assert.Single(frames);
            Assert.StartsWith("42/orders,[\"error\",{\"code\":\"bad_packet\"", error);
            Assert.Contains(expected, error);
            Assert.Equal(WebSocketCloseStatus.ProtocolError, client.CloseStatus);
        }
        await A_second_client_still_works(app);
    }

    [Fact]
    public async Task An_oversize_packet_closes_with_1009_after_an_error()
    {
        await using var app = await TestApp.StartAsync();
        await using (var client = await OrdersSocketAsync(app))
        {
            await client.SendAsync($"42/orders,[\"join:hospital\",\"{new string('a', 17 * 1024)}\"]", Ct);

            var frames = await client.UntilClosedAsync(Ct);

            Assert.StartsWith("42/orders,[\"error\",{\"code\":\"too_big\"", Assert.Single(frames));
            Assert.Equal(WebSocketCloseStatus.MessageTooBig, client.CloseStatus);
        }
        await A_second_client_still_works(app);
    }

    [Fact]
    public async Task A_flood_closes_with_1008_after_an_error()
    {
        await using var app = await TestApp.StartAsync();
        await using (var client = await OrdersSocketAsync(app))
        {
            var sending = Task.Run(async () =>
            {
                try
                {
                    for (var i = 0; i < 400; i++)
                    {
                        await client.SendAsync("42/orders,[\"nope\"]", Ct);
                    }
                }
                catch (WebSocketException)
                {
                    // Closed while still sending: that is the point.
                }
            }, Ct);

            var frames = await client.UntilClosedAsync(Ct);
            await sending;

            Assert.Contains(frames, f => f.StartsWith("42/orders,[\"error\",{\"code\":\"flood\"", StringComparison.Ordinal));
            Assert.Equal(WebSocketCloseStatus.PolicyViolation, client.CloseStatus);
        }
        await A_second_client_still_works(app);
    }

    [Fact]
    public async Task Wrong_types_unknown_events_and_unknown_namespaces_answer_an_error_and_keep_the_connection()
    {
        await using var app = await TestApp.StartAsync();
        await using var client = await OrdersSocketAsync(app);
        var token = await app.TokenForAsync("dispatcher@demo.test");

        await client.SendAsync("42/orders,[\"join:hospital\",{\"hospitalId\":42}]", Ct);
        var wrongType = await client.ReceiveAsync(Ct, skipPings: true);
        await client.SendAsync("42/orders,[\"join:hospital\",\"HOSP-001\"]", Ct);
        var notAnObject = await client.ReceiveAsync(Ct, skipPings: true);
        await client.SendAsync("42/orders,5[\"nope\",{}]", Ct);
        var unknown = await client.ReceiveAsync(Ct, skipPings: true);
        var unknownAck = await client.ReceiveAsync(Ct, skipPings: true);
        await client.SendAsync("40/nope,{}", Ct);
        var noSuchNamespace = await client.ReceiveAsync(Ct, skipPings: true);
        await client.SendAsync("40/realtime,{\"token\":5}", Ct);
        var tokenNotAString = await client.ReceiveAsync(Ct, skipPings: true);
        await client.SendAsync($"40/realtime,{{\"token\":\"{token}\",\"since\":\"yesterday\"}}", Ct);
        var sinceNotANumber = await client.ReceiveAsync(Ct, skipPings: true);
        await client.SendAsync($"40/orders,{{\"token\":\"{token}\"}}", Ct);
        var twice = await client.ReceiveAsync(Ct, skipPings: true);

        Assert.StartsWith("42/orders,[\"error\",{\"code\":\"bad_request\"", wrongType);
        Assert.Contains("\"field\":\"hospitalId\"", wrongType);
        Assert.StartsWith("42/orders,[\"error\",{\"code\":\"bad_request\"", notAnObject);
        Assert.StartsWith("42/orders,[\"error\",{\"code\":\"unknown_event\"", unknown);
        Assert.StartsWith("43/orders,5[{\"error\":{\"code\":\"unknown_event\"", unknownAck);
        Assert.Equal("44/nope,{\"message\":\"Invalid namespace\"}", noSuchNamespace);
        Assert.Equal("44/realtime,{\"message\":\"auth.token is a string: the access token.\"}", tokenNotAString);
        Assert.Equal("44/realtime,{\"message\":\"auth.since is a seq: an integer of 0 or more.\"}", sinceNotANumber);
        Assert.Equal("44/orders,{\"message\":\"Already connected to /orders.\"}", twice);
        // And the connection works on.
        var hospital = await app.TenantAsync("Demo Hospital");
        await client.SendAsync($"42/orders,7[\"join:hospital\",{{\"hospitalId\":\"{hospital.Id}\"}}]", Ct);
        Assert.StartsWith("42/orders,[\"joined\"", await client.ReceiveAsync(Ct, skipPings: true));
        Assert.StartsWith($"43/orders,7[{{\"room\":\"hospital:{hospital.Id}\"", await client.ReceiveAsync(Ct, skipPings: true));
    }

    [Fact]
    public async Task Long_polling_refuses_a_wrong_version_transport_or_sid_and_an_oversize_body_closes_the_connection()
    {
        await using var app = await TestApp.StartAsync();
        var http = app.CreateClient();
        Assert.Equal(HttpStatusCode.BadRequest, (await http.GetAsync("/socket.io/?EIO=3&transport=polling", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await http.GetAsync("/socket.io/?EIO=4&transport=carrier-pigeon", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await RawEngineClient.PollAsync(http, "no-such-sid", Ct)).Status);
        Assert.Equal(HttpStatusCode.BadRequest, (await RawEngineClient.PostAsync(http, "no-such-sid", "40/orders,", Ct)).StatusCode);

        var sid = await RawEngineClient.ConnectPollingAsync(http, await app.TokenForAsync("dispatcher@demo.test"), Ct);

        var oversize = await RawEngineClient.PostAsync(http, sid, $"42/orders,[\"x\",\"{new string('a', 17 * 1024)}\"]", Ct);
        var last = await RawEngineClient.PollAsync(http, sid, Ct);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, oversize.StatusCode);
        Assert.StartsWith("42/orders,[\"error\",{\"code\":\"too_big\"", last.Body);
        Assert.EndsWith("\u001e1", last.Body);
        await A_second_client_still_works(app);
    }

    [Fact]
    public async Task A_long_polling_body_over_the_limit_sent_without_a_length_closes_the_connection_too()
    {
        await using var app = await TestApp.StartAsync();
        var http = app.CreateClient();
        var sid = await RawEngineClient.ConnectPollingAsync(http, await app.TokenForAsync("dispatcher@demo.test"), Ct);

        // Chunked: the server finds the size only by reading past the limit.
        var oversize = await http.PostAsync($"/socket.io/?EIO=4&transport=polling&sid={sid}",
            new LengthUnknown($"42/orders,[\"x\",\"{new string('a', 17 * 1024)}\"]"), Ct);
        var last = await RawEngineClient.PollAsync(http, sid, Ct);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, oversize.StatusCode);
        Assert.StartsWith("42/orders,[\"error\",{\"code\":\"too_big\"", last.Body);
        Assert.EndsWith("\u001e1", last.Body);
    }

    /// <summary>A body whose length is not known before it is sent: the client sends it chunked.</summary>
    private sealed class LengthUnknown(string text) : HttpContent
    {
        protected override Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context) =>
            stream.WriteAsync(System.Text.Encoding.UTF8.GetBytes(text)).AsTask();

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }

    [Fact]
    public async Task A_garbage_poll_body_is_refused_and_the_connection_closes_saying_why()
    {
        await using var app = await TestApp.StartAsync();
        var http = app.CreateClient();
        var sid = await RawEngineClient.ConnectPollingAsync(http, await app.TokenForAsync("dispatcher@demo.test"), Ct);

        var garbage = await RawEngineClient.PostAsync(http, sid, "42/orders,[\"join:hospital\",{\"hospitalId\":\u001e4x", Ct);
        var last = await RawEngineClient.PollAsync(http, sid, Ct);

        Assert.Equal(HttpStatusCode.BadRequest, garbage.StatusCode);
        Assert.Contains("parse error", (await garbage.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>(Ct)).GetProperty("message").GetString());
        Assert.StartsWith("42/orders,[\"error\",{\"code\":\"bad_packet\"", last.Body);
        Assert.EndsWith("\u001e1", last.Body);
        await A_second_client_still_works(app);
    }

    [Fact]
    public async Task A_client_that_stops_answering_pings_is_closed()
    {
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?>
        {
            ["SocketIo:PingInterval"] = "00:00:00.200",
            ["SocketIo:PingTimeout"] = "00:00:00.300",
        });
        var token = await app.TokenForAsync("dispatcher@demo.test");
        var (client, open) = await RawEngineClient.ConnectAsync(app.ServerUri, Ct);
        await using (client)
        {
            Assert.Equal(200, open.GetProperty("pingInterval").GetInt32());
            await client.SendAsync($"40/orders,{{\"token\":\"{token}\"}}", Ct);
            Assert.StartsWith("40/orders,", await client.ReceiveAsync(Ct));

            // Pings come and are not answered.
            Assert.Equal("2", await client.ReceiveAsync(Ct));
            Assert.Null(await client.ReceiveAsync(Ct));
            Assert.Equal("ping timeout", client.CloseText);
        }
    }
}
