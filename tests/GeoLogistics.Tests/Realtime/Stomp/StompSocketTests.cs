using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text.Json;
using GeoLogistics.Server.Events;
using GeoLogistics.Server.Realtime.Stomp;
using GeoLogistics.Tests.Support;
using Microsoft.EntityFrameworkCore;

namespace GeoLogistics.Tests.Realtime.Stomp;

/// <summary>
/// What no client library sends, over a real socket: broken frames, floods, silence, the SockJS framing by hand, the
/// handshake's own token. Each ends in an ERROR and a close where STOMP says so, and the server goes on serving others.
/// </summary>
public class StompSocketTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<RawStomp> ConnectedAsync(TestApp app, string email = "dispatcher@demo.test", bool sockJs = false, string heartBeat = "0,0")
    {
        var client = await RawStomp.OpenAsync(app.ServerUri, Ct, sockJs);
        await client.SendAsync(RawStomp.Connect(await app.TokenForAsync(email), heartBeat), Ct);
        var connected = await client.NextFrameAsync();
        Assert.Equal("CONNECTED", connected?.Command);
        return client;
    }

    /// <summary>The server still serves: another client connects, subscribes and gets its receipt.</summary>
    private static async Task AssertServerStillServesAsync(TestApp app)
    {
        await using var second = await ConnectedAsync(app);
        await second.SendAsync("SUBSCRIBE\nid:s\ndestination:/topic/orders\nreceipt:ok\n\n\0", Ct);
        var receipt = await second.NextFrameAsync();
        Assert.Equal("RECEIPT", receipt?.Command);
        Assert.Equal("ok", receipt!.Header("receipt-id"));
    }

    private static async Task AssertErrorAndCloseAsync(RawStomp client, string message, WebSocketCloseStatus status)
    {
        var error = await client.NextFrameAsync();
        Assert.Equal("ERROR", error?.Command);
        Assert.Equal(message, error!.Header("message"));
        var (_, closed) = await client.ClosedAsync();
        Assert.Equal(status, closed);
    }

    [Theory]
    [InlineData("SUBSCRIBE\nid:s\ndestination:/topic/orders\n\n", "truncated frame")]
    [InlineData("SEND\ndestination:/app/drivers/location\ncontent-length:100\n\n{}\0", "truncated frame")]
    [InlineData("HELLO\n\n\0", "unknown command")]
    [InlineData("subscribe\nid:s\n\n\0", "bad frame")]
    [InlineData("SEND\nkey:a\\tb\n\n\0", "bad frame")]
    [InlineData("{\"type\":\"subscribe\",\"topic\":\"orders\"}", "bad frame")]
    [InlineData("SUBSCRIBE\nid:s\n\n\0", "destination required")]
    [InlineData("BEGIN\ntransaction:t\n\n\0", "transactions not supported")]
    [InlineData("CONNECT\naccept-version:1.2\n\n\0", "already connected")]
    public async Task A_bad_frame_gets_an_ERROR_and_the_connection_closes_while_the_server_serves_on(string frame, string message)
    {
        await using var app = await TestApp.StartAsync();
        await using var client = await ConnectedAsync(app);

        await client.SendAsync(frame, Ct);

        await AssertErrorAndCloseAsync(client, message, WebSocketCloseStatus.ProtocolError);
        await AssertServerStillServesAsync(app);
    }

    [Fact]
    public async Task A_frame_over_the_size_limit_gets_an_ERROR_and_1009()
    {
        await using var app = await TestApp.StartAsync();
        await using var within = await ConnectedAsync(app);
        await using var beyond = await ConnectedAsync(app);

        // Within one message, and a message over the limit: both refused.
        await within.SendAsync($"SEND\ndestination:/app/drivers/location\n\n{new string('x', 16 * 1024)}\0", Ct);
        await beyond.SendAsync($"SEND\ndestination:/app/drivers/location\n\n{new string('x', 64 * 1024)}\0", Ct);

        await AssertErrorAndCloseAsync(within, "frame too big", WebSocketCloseStatus.MessageTooBig);
        await AssertErrorAndCloseAsync(beyond, "frame too big", WebSocketCloseStatus.MessageTooBig);
        await AssertServerStillServesAsync(app);
    }

    [Fact]
    public async Task A_flood_of_frames_gets_an_ERROR_and_1008()
    {
        await using var app = await TestApp.StartAsync();
        await using var client = await ConnectedAsync(app);

        try
        {
            for (var i = 0; i < 500 && client.CloseStatus is null; i++)
            {
                await client.SendAsync("ACK\nid:1\n\n\0", Ct);
            }
        }
        catch (WebSocketException)
        {
            // Closed while still sending, as a flooder is.
        }

        await AssertErrorAndCloseAsync(client, "too many frames", WebSocketCloseStatus.PolicyViolation);
        await AssertServerStillServesAsync(app);
    }

    [Fact]
    public async Task Frames_before_CONNECT_are_refused_and_no_CONNECT_in_time_is_closed()
    {
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?> { ["Realtime:Stomp:ConnectTimeout"] = "00:00:00.500" });

        await using var early = await RawStomp.OpenAsync(app.ServerUri, Ct);
        await early.SendAsync("SUBSCRIBE\nid:s\ndestination:/topic/orders\n\n\0", Ct);
        await AssertErrorAndCloseAsync(early, "CONNECT expected", WebSocketCloseStatus.ProtocolError);

        await using var silent = await RawStomp.OpenAsync(app.ServerUri, Ct);
        await AssertErrorAndCloseAsync(silent, "CONNECT expected", WebSocketCloseStatus.PolicyViolation);
    }

    [Fact]
    public async Task Heart_beats_go_out_when_idle_and_a_client_silent_past_its_promise_is_closed()
    {
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?> { ["Realtime:Stomp:HeartBeat"] = "00:00:00.300" });
        await using var client = await RawStomp.OpenAsync(app.ServerUri, Ct);
        await client.SendAsync(RawStomp.Connect(await app.TokenForAsync("dispatcher@demo.test"), "300,300"), Ct);
        var connected = await client.NextFrameAsync();
        Assert.Equal("300,300", connected!.Header("heart-beat"));

        // Silent from here on: heart-beats come in, and then the close for the missing ones.
        var (messages, status) = await client.ClosedAsync(TimeSpan.FromSeconds(5));

        Assert.Contains("\n", messages);
        Assert.Contains(messages, m => m.StartsWith("ERROR\nmessage:heart-beat missed\n", StringComparison.Ordinal));
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, status);
    }

    [Fact]
    public async Task A_client_that_beats_is_kept()
    {
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?> { ["Realtime:Stomp:HeartBeat"] = "00:00:00.200" });
        await using var client = await ConnectedAsync(app, heartBeat: "200,0");

        for (var i = 0; i < 10; i++)
        {
            await Task.Delay(150, Ct);
            await client.SendRawAsync("\n", Ct);
        }

        Assert.Null(client.CloseStatus);
        await client.SendAsync("SUBSCRIBE\nid:s\ndestination:/topic/orders\nreceipt:alive\n\n\0", Ct);
        Assert.Equal("alive", (await client.NextFrameAsync())!.Header("receipt-id"));
    }

    [Fact]
    public async Task DISCONNECT_with_a_receipt_gets_the_RECEIPT_then_a_normal_close()
    {
        await using var app = await TestApp.StartAsync();
        await using var client = await ConnectedAsync(app);

        await client.SendAsync("DISCONNECT\nreceipt:bye-1\n\n\0", Ct);

        var receipt = await client.NextFrameAsync();
        Assert.Equal("RECEIPT", receipt?.Command);
        Assert.Equal("bye-1", receipt!.Header("receipt-id"));
        Assert.Equal(WebSocketCloseStatus.NormalClosure, (await client.ClosedAsync()).Status);
    }

    [Fact]
    public async Task A_token_on_the_handshake_serves_for_CONNECT_and_a_bad_one_is_refused_before_the_upgrade()
    {
        await using var app = await TestApp.StartAsync();
        await using var client = await RawStomp.OpenAsync(app.ServerUri, Ct, handshakeToken: await app.TokenForAsync("dispatcher@demo.test"));
        await client.SendAsync(RawStomp.Connect(token: null), Ct);
        Assert.Equal("dispatcher@demo.test", (await client.NextFrameAsync())!.Header("user-name"));

        var refused = await Assert.ThrowsAsync<WebSocketException>(() => RawStomp.OpenAsync(app.ServerUri, Ct, handshakeToken: "not-a-token"));
        Assert.Contains("401", refused.Message);
    }

    [Theory]
    [InlineData(new[] { "v10.stomp", "v11.stomp" }, "v11.stomp")]
    [InlineData(new[] { "v10.stomp" }, "v10.stomp")]
    [InlineData(new string[0], null)]
    public async Task The_STOMP_subprotocol_is_negotiated_and_none_is_accepted_too(string[] offered, string? chosen)
    {
        await using var app = await TestApp.StartAsync();
        await using var client = await RawStomp.OpenAsync(app.ServerUri, Ct, subProtocols: offered);

        Assert.Equal(chosen, client.SubProtocol);
        await client.SendAsync(RawStomp.Connect(await app.TokenForAsync("dispatcher@demo.test")), Ct);
        Assert.Equal("CONNECTED", (await client.NextFrameAsync())?.Command);
    }

    [Fact]
    public async Task SockJS_info_and_greeting_are_served()
    {
        await using var app = await TestApp.StartAsync();
        var http = app.CreateClient();

        var info = await http.GetFromJsonAsync<JsonElement>("/ws-registry/info?t=1", Ct);
        var greeting = await http.GetStringAsync("/ws-registry", Ct);
        var notUpgraded = await http.GetAsync("/ws-registry/000/abcdef/websocket", Ct);

        Assert.True(info.GetProperty("websocket").GetBoolean());
        Assert.False(info.GetProperty("cookie_needed").GetBoolean());
        Assert.Equal("*:*", info.GetProperty("origins")[0].GetString());
        Assert.True(info.GetProperty("entropy").GetUInt32() >= 0);
        Assert.Equal("Welcome to SockJS!\n", greeting);
        Assert.Equal(HttpStatusCode.BadRequest, notUpgraded.StatusCode);
    }

    [Fact]
    public async Task SockJS_frames_open_carry_STOMP_in_arrays_and_close_with_a_reason()
    {
        await using var app = await TestApp.StartAsync();
        await using var client = await RawStomp.OpenAsync(app.ServerUri, Ct, sockJs: true);

        Assert.Equal("o", await client.NextMessageAsync());
        await client.SendAsync(RawStomp.Connect(await app.TokenForAsync("dispatcher@demo.test")), Ct);
        Assert.StartsWith("a[\"CONNECTED\\nversion:1.2\\n", await client.NextMessageAsync(), StringComparison.Ordinal);

        await client.SendRawAsync("CONNECT not in an array", Ct);

        var (messages, status) = await client.ClosedAsync();
        Assert.StartsWith("a[\"ERROR\\nmessage:bad SockJS message\\n", messages[0], StringComparison.Ordinal);
        Assert.StartsWith("c[1002,", messages[1], StringComparison.Ordinal);
        Assert.Equal(WebSocketCloseStatus.ProtocolError, status);
        await AssertServerStillServesAsync(app);
    }

    [Fact]
    public async Task Replay_from_before_the_log_is_told_as_a_replay_unavailable_MESSAGE()
    {
        await using var app = await TestApp.StartAsync();
        var dispatcher = await app.DispatcherAsync();
        for (var i = 0; i < 3; i++)
        {
            await dispatcher.PostAsJsonAsync("/api/orders", HttpTestExtensions.NewOrder(), Ct);
        }
        await app.WaitForFeedAsync();
        // Retention took all but the newest event away.
        var head = await app.WithDbAsync(db => db.Events.MaxAsync(e => e.Seq, Ct)) ?? 0;
        await app.WithDbAsync(db => db.Events.Where(e => e.Seq < head).ExecuteDeleteAsync(Ct));
        await using var client = await ConnectedAsync(app);

        await client.SendAsync("SUBSCRIBE\nid:board\ndestination:/topic/orders\nsince:0\nreceipt:r\n\n\0", Ct);

        var unavailable = await client.NextFrameAsync();
        Assert.Equal("MESSAGE", unavailable?.Command);
        Assert.Equal("replay_unavailable", unavailable!.Header("event-type"));
        Assert.Equal("board", unavailable.Header("subscription"));
        Assert.Null(unavailable.Header("seq"));
        using var body = JsonDocument.Parse(unavailable.Body);
        Assert.True(body.RootElement.GetProperty("oldestSeq").GetInt64() > 1);
        Assert.Equal("RECEIPT", (await client.NextFrameAsync())?.Command);
    }

    [Fact]
    public async Task A_position_from_someone_who_is_not_a_driver_is_refused()
    {
        await using var app = await TestApp.StartAsync();
        await using var client = await ConnectedAsync(app);

        await client.SendAsync("SEND\ndestination:/app/drivers/location\n\n{\"lat\":52.3,\"lng\":4.8}\0", Ct);

        await AssertErrorAndCloseAsync(client, "forbidden", WebSocketCloseStatus.PolicyViolation);
    }

    [Fact]
    public async Task A_bad_position_from_a_driver_is_refused_and_names_the_field()
    {
        await using var app = await TestApp.StartAsync();
        await using var client = await ConnectedAsync(app, "driver1@demo.test");

        await client.SendAsync("SEND\ndestination:/app/drivers/location\n\n{\"lat\":\"north\",\"lng\":4.8}\0", Ct);

        var error = await client.NextFrameAsync();
        Assert.Equal("bad position", error!.Header("message"));
        Assert.Contains("lat", System.Text.Encoding.UTF8.GetString(error.Body.Span));
    }
}
