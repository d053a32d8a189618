using System.Buffers.Binary;
using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using GeoLogistics.Tests.Support;
using static GeoLogistics.Tests.Realtime.Direct.DirectSocketTests;

namespace GeoLogistics.Tests.Realtime;

/// <summary>
/// The server's keep-alive (docs/realtime.md): every socket is pinged each <c>Realtime:KeepAliveInterval</c>, and one
/// from which nothing has come for <c>Realtime:IdleTimeout</c> (not even the pong) is cut off, whichever way it was
/// upgraded. Over raw TCP, so that the test sees the ping frames and answers none.
/// </summary>
public class KeepAliveTests
{
    private static Dictionary<string, string?> Settings(bool direct) => new()
    {
        ["Realtime:KeepAliveInterval"] = "00:00:00.200",
        ["Realtime:IdleTimeout"] = "00:00:01",
        ["Realtime:DirectSockets"] = direct ? "true" : "false",
    };

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_client_that_answers_no_ping_is_pinged_and_then_cut_off_after_the_idle_timeout(bool direct)
    {
        await using var app = await TestApp.StartAsync(Settings(direct));
        var token = await app.TokenForAsync("dispatcher@demo.test");
        using var raw = await Raw.OpenAsync(app.ServerUri);
        await raw.WriteAsync(Upgrade(app.ServerUri, "/api/ws", $"Authorization: Bearer {token}"));
        Assert.StartsWith("HTTP/1.1 101", await raw.ReadHeadAsync(), StringComparison.Ordinal);
        var open = Stopwatch.StartNew();

        var frames = new List<(int Opcode, byte[] Payload)>();
        using (var patience = CancellationTokenSource.CreateLinkedTokenSource(Ct))
        {
            patience.CancelAfter(TimeSpan.FromSeconds(30));
            while (await ReadFrameAsync(raw.Stream, patience.Token) is { } frame)
            {
                frames.Add(frame);
            }
        }
        var lasted = open.Elapsed;

        Assert.Equal(1, frames[0].Opcode);
        Assert.Contains("connection_ack", Encoding.UTF8.GetString(frames[0].Payload), StringComparison.Ordinal);
        var pings = frames.Skip(1).ToList();
        Assert.True(pings.Count >= 2, $"pinged {pings.Count} times in {lasted}");
        Assert.All(pings, p => Assert.Equal(9, p.Opcode));
        // Not before the idle timeout (the clock starts a moment before the test's).
        Assert.True(lasted >= TimeSpan.FromSeconds(0.8), $"cut off after {lasted}");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_client_that_answers_the_pings_stays_for_many_idle_timeouts(bool direct)
    {
        await using var app = await TestApp.StartAsync(Settings(direct));
        // The client's own keep-alive off: what keeps it open is its pongs to the server's pings.
        await using var client = await WsClient.ConnectAsync(
            app.ServerUri, await app.TokenForAsync("dispatcher@demo.test"), Ct, configure: o => o.KeepAliveInterval = TimeSpan.Zero);
        await client.NextAsync("connection_ack");

        await Task.Delay(TimeSpan.FromSeconds(3.5), Ct);

        await client.SendAsync(new { type = "subscribe", id = "s1", topic = "orders" }, Ct);
        await client.NextAsync("subscribed");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_client_that_never_answers_the_close_frame_is_cut_off_after_a_wait(bool direct)
    {
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?>
        {
            ["Realtime:MaxMessageBytes"] = "1024",
            ["Realtime:DirectSockets"] = direct ? "true" : "false",
        });
        var token = await app.TokenForAsync("dispatcher@demo.test");
        using var raw = await Raw.OpenAsync(app.ServerUri);
        await raw.WriteAsync(Upgrade(app.ServerUri, "/api/ws", $"Authorization: Bearer {token}"));
        Assert.StartsWith("HTTP/1.1 101", await raw.ReadHeadAsync(), StringComparison.Ordinal);
        using var patience = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        patience.CancelAfter(TimeSpan.FromSeconds(40));
        Assert.Equal(1, (await ReadFrameAsync(raw.Stream, patience.Token))?.Opcode);

        // Too big: the server closes with 1009, and then the client answers nothing, as a client that hangs would.
        await raw.WriteAsync(MaskedText(new string('x', 2000)));
        var close = await ReadFrameAsync(raw.Stream, patience.Token);
        Assert.Equal(8, close?.Opcode);
        Assert.Equal(1009, BinaryPrimitives.ReadUInt16BigEndian(close!.Value.Payload));
        var waited = Stopwatch.StartNew();
        while (await ReadFrameAsync(raw.Stream, patience.Token) is not null)
        {
        }

        // Cut off after the 10 s the server waits for an answer (docs/realtime.md), not at the next keep-alive (60 s).
        Assert.True(waited.Elapsed >= TimeSpan.FromSeconds(8), $"cut off after {waited.Elapsed}");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task An_engine_io_client_that_answers_no_ping_is_closed_and_cut_off(bool direct)
    {
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?>
        {
            ["SocketIo:PingInterval"] = "00:00:00.300",
            ["SocketIo:PingTimeout"] = "00:00:00.500",
            ["Realtime:DirectSockets"] = direct ? "true" : "false",
        });
        using var raw = await Raw.OpenAsync(app.ServerUri);
        await raw.WriteAsync(Upgrade(app.ServerUri, "/socket.io/?EIO=4&transport=websocket"));
        Assert.StartsWith("HTTP/1.1 101", await raw.ReadHeadAsync(), StringComparison.Ordinal);

        var frames = new List<(int Opcode, byte[] Payload)>();
        using (var patience = CancellationTokenSource.CreateLinkedTokenSource(Ct))
        {
            patience.CancelAfter(TimeSpan.FromSeconds(30));
            while (await ReadFrameAsync(raw.Stream, patience.Token) is { } frame)
            {
                frames.Add(frame);
            }
        }

        Assert.StartsWith("0{", Encoding.UTF8.GetString(frames[0].Payload), StringComparison.Ordinal);
        Assert.Contains(frames, f => f.Opcode == 1 && Encoding.UTF8.GetString(f.Payload) == "2");
        Assert.Equal(8, frames[^1].Opcode);
    }

    /// <summary>A client's text frame: masked, as RFC 6455 §5.3 requires of a client.</summary>
    private static byte[] MaskedText(string text)
    {
        var payload = Encoding.UTF8.GetBytes(text);
        byte[] mask = [0x12, 0x34, 0x56, 0x78];
        var frame = new List<byte> { 0x81, 0x80 | 126, (byte)(payload.Length >> 8), (byte)payload.Length };
        frame.AddRange(mask);
        frame.AddRange(payload.Select((b, i) => (byte)(b ^ mask[i % 4])));
        return [.. frame];
    }

    /// <summary>One whole frame as the server sent it (unmasked); null once the server has closed the connection.</summary>
    private static async Task<(int Opcode, byte[] Payload)?> ReadFrameAsync(Stream stream, CancellationToken ct)
    {
        try
        {
            var head = new byte[2];
            if (await stream.ReadAtLeastAsync(head, 2, throwOnEndOfStream: false, ct) < 2)
            {
                return null;
            }
            long length = head[1] & 0x7F;
            if (length >= 126)
            {
                var extended = new byte[length == 126 ? 2 : 8];
                await stream.ReadExactlyAsync(extended, ct);
                length = length == 126 ? BinaryPrimitives.ReadUInt16BigEndian(extended) : (long)BinaryPrimitives.ReadUInt64BigEndian(extended);
            }
            var payload = new byte[length];
            await stream.ReadExactlyAsync(payload, ct);
            return (head[0] & 0x0F, payload);
        }
        catch (Exception e) when (e is IOException or EndOfStreamException)
        {
            return null;
        }
    }
}

/// <summary>
/// No timer per socket (the live core's issue): the keep-alive of every JSON and STOMP socket is one sweep, where the
/// runtime's WebSocket would start a timer each. Alone: <see cref="Timer.ActiveCount"/> counts the whole process.
/// </summary>
[Collection(RunsAlone.Name)]
public class KeepAliveTimerTests
{
    private const int Sockets = 150;

    [Fact]
    public async Task Sockets_open_by_the_hundred_start_no_timer_each()
    {
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?> { ["Realtime:MaxConnectionsPerUser"] = "1000" });
        var token = await app.TokenForAsync("dispatcher@demo.test");
        var clients = new List<IAsyncDisposable>();
        try
        {
            // One of each first, so that what the first socket of a kind starts once is counted before.
            clients.Add(await JsonAsync(app, token));
            clients.Add(await StompAsync(app, token));
            var before = Timer.ActiveCount;

            for (var i = 0; i < Sockets; i++)
            {
                clients.Add(await JsonAsync(app, token));
                clients.Add(await StompAsync(app, token));
            }
            var after = Timer.ActiveCount;

            Assert.True(after - before < Sockets / 10, $"{after - before} more timers with {2 * Sockets} more sockets open");
        }
        finally
        {
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }
        }
    }

    private static async Task<WsClient> JsonAsync(TestApp app, string token)
    {
        var client = await WsClient.ConnectAsync(app.ServerUri, token, Ct, configure: o => o.KeepAliveInterval = TimeSpan.Zero);
        await client.NextAsync("connection_ack");
        return client;
    }

    /// <summary>A STOMP socket past CONNECTED, with the client's keep-alive off.</summary>
    private static async Task<StompSocket> StompAsync(TestApp app, string token)
    {
        var socket = new ClientWebSocket();
        socket.Options.KeepAliveInterval = TimeSpan.Zero;
        socket.Options.AddSubProtocol("v12.stomp");
        await socket.ConnectAsync(new UriBuilder(app.ServerUri) { Scheme = "ws", Path = "/ws-registry" }.Uri, Ct);
        await socket.SendAsync(Encoding.UTF8.GetBytes(Stomp.RawStomp.Connect(token)), WebSocketMessageType.Text, endOfMessage: true, Ct);
        var buffer = new byte[4096];
        var received = await socket.ReceiveAsync(buffer.AsMemory(), Ct);
        Assert.StartsWith("CONNECTED", Encoding.UTF8.GetString(buffer, 0, received.Count), StringComparison.Ordinal);
        return new StompSocket(socket);
    }

    private sealed class StompSocket(ClientWebSocket socket) : IAsyncDisposable
    {
        public ValueTask DisposeAsync()
        {
            socket.Abort();
            socket.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
