using System.Buffers.Text;
using System.Net.WebSockets;
using System.Text;

namespace GeoLogistics.Bench.Harness;

/// <summary>
/// A STOMP 1.2 subscriber at <c>/ws-registry</c> (docs/realtime.md, "STOMP"): a plain WebSocket with subprotocol
/// <c>v12.stomp</c> and the token on the handshake (as the JSON client sends it), <c>CONNECT</c> without heart-beats (the
/// JSON client sends no pings either), <c>SUBSCRIBE</c> with a receipt (its <c>RECEIPT</c> comes once the subscription is
/// live), then each <c>MESSAGE</c>'s body, which is the event's JSON as on <c>/api/ws</c>, read as the JSON client reads it.
/// </summary>
public sealed class StompClient : ISubscriber
{
    private readonly TextSocket socket;

    private StompClient(TextSocket socket) => this.socket = socket;

    public bool IsOpen => socket.State == WebSocketState.Open;

    public static async Task<StompClient> OpenAsync(Uri server, string token, string destination, CancellationToken ct)
    {
        var client = new StompClient(await TextSocket.ConnectAsync(TextSocket.Address(server, "/ws-registry"), token, "v12.stomp", ct));
        try
        {
            await client.socket.SendAsync($"CONNECT\naccept-version:1.2\nhost:{server.Host}\nheart-beat:0,0\n\n\0", ct);
            await client.ExpectAsync("CONNECTED", ct);
            await client.socket.SendAsync($"SUBSCRIBE\nid:0\ndestination:{destination}\nreceipt:subscribed\n\n\0", ct);
            await client.ExpectAsync("RECEIPT", ct);
        }
        catch
        {
            client.socket.Dispose();
            throw;
        }
        return client;
    }

    /// <summary>
    /// Each <c>MESSAGE</c> as its body's fields; any other frame as a message of type <c>stomp:COMMAND</c>. Frames that
    /// share a WebSocket message share its arrival time.
    /// </summary>
    public Task<WebSocketCloseStatus?> RunAsync(Action<WsMessage, long> onMessage, CancellationToken ct) =>
        socket.RunAsync((message, at) =>
        {
            var rest = message.Span;
            while (NextFrame(ref rest, out var command, out _, out var body))
            {
                onMessage(command.SequenceEqual("MESSAGE"u8) ? WsMessage.Parse(body) : new WsMessage("stomp:" + Encoding.UTF8.GetString(command), null, null, null), at);
            }
            return ValueTask.CompletedTask;
        }, ct);

    public ValueTask DisposeAsync()
    {
        socket.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>Reads frames until one of <paramref name="command"/>; an <c>ERROR</c> or a close ends the connection.</summary>
    private async Task ExpectAsync(string command, CancellationToken ct)
    {
        var expected = Encoding.UTF8.GetBytes(command);
        while (true)
        {
            var (message, _, closed) = await socket.ReceiveAsync(ct);
            if (closed)
            {
                throw new BenchException($"/ws-registry: the server closed the connection ({socket.CloseStatus}) before {command}.");
            }
            if (Holds(message.Span, expected))
            {
                return;
            }
        }

        static bool Holds(ReadOnlySpan<byte> rest, byte[] expected)
        {
            while (NextFrame(ref rest, out var c, out var headers, out var body))
            {
                if (c.SequenceEqual("ERROR"u8))
                {
                    var text = TryHeader(headers, "message"u8, out var m) ? Encoding.UTF8.GetString(m) : "";
                    throw new BenchException($"/ws-registry: expected {Encoding.UTF8.GetString(expected)}, got ERROR '{text}': {Encoding.UTF8.GetString(body)}");
                }
                if (c.SequenceEqual(expected))
                {
                    return true;
                }
            }
            return false;
        }
    }

    /// <summary>
    /// The next frame of <paramref name="rest"/> (heart-beat EOLs before it skipped), and <paramref name="rest"/> moved past
    /// its NUL; false when only EOLs are left. Lines end in LF or CRLF; the body runs for <c>content-length</c> bytes, else
    /// to the first NUL.
    /// </summary>
    private static bool NextFrame(ref ReadOnlySpan<byte> rest, out ReadOnlySpan<byte> command, out ReadOnlySpan<byte> headers, out ReadOnlySpan<byte> body)
    {
        command = headers = body = default;
        var start = rest.IndexOfAnyExcept("\r\n"u8);
        if (start < 0)
        {
            rest = default;
            return false;
        }
        rest = rest[start..];
        var eol = rest.IndexOf((byte)'\n');
        if (eol < 0)
        {
            throw new BenchException("STOMP: a frame cut off in its command line.");
        }
        command = rest[..eol].TrimEnd((byte)'\r');
        var afterCommand = rest[(eol + 1)..];
        // Header lines run to the first empty line.
        var at = 0;
        while (true)
        {
            var next = afterCommand[at..].IndexOf((byte)'\n');
            if (next < 0)
            {
                throw new BenchException("STOMP: a frame cut off in its headers.");
            }
            var line = afterCommand.Slice(at, next).TrimEnd((byte)'\r');
            if (line.IsEmpty)
            {
                headers = afterCommand[..at];
                at += next + 1;
                break;
            }
            at += next + 1;
        }
        var afterHead = afterCommand[at..];
        var length = TryHeader(headers, "content-length"u8, out var text) && Utf8Parser.TryParse(text, out int n, out _) ? n : afterHead.IndexOf((byte)0);
        if (length < 0 || length >= afterHead.Length || afterHead[length] != 0)
        {
            throw new BenchException("STOMP: a frame cut off before its NUL.");
        }
        body = afterHead[..length];
        rest = afterHead[(length + 1)..];
        return true;
    }

    private static bool TryHeader(ReadOnlySpan<byte> headers, ReadOnlySpan<byte> name, out ReadOnlySpan<byte> value)
    {
        foreach (var range in headers.Split((byte)'\n'))
        {
            var line = headers[range].TrimEnd((byte)'\r');
            if (line.Length > name.Length && line[name.Length] == ':' && line.StartsWith(name))
            {
                value = line[(name.Length + 1)..];
                return true;
            }
        }
        value = default;
        return false;
    }
}
