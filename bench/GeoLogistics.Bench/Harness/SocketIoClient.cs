using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace GeoLogistics.Bench.Harness;

/// <summary>
/// A Socket.IO v4 subscriber as <c>socket.io-client</c> with <c>transports: ["websocket"]</c> is one (docs/realtime.md,
/// "Socket.IO"): a WebSocket at <c>/socket.io/?EIO=4&amp;transport=websocket</c>, Engine.IO's open packet, the namespace
/// CONNECT with <c>auth.token</c>, and on <c>/realtime</c> the automatic rooms (every order the user may see), live once
/// <c>subscribed</c> arrives. The receive loop answers the server's pings (<c>2</c> → <c>3</c>) and reads each event
/// <c>42/realtime,["name",{…}]</c>: <c>order:new</c> (the order plus <c>seq</c>) is reported as <c>order.created</c> with
/// the order's <c>id</c>, as the JSON protocol's client sees it; other events under their own name.
/// </summary>
public sealed class SocketIoClient : ISubscriber
{
    private static readonly byte[] Ping = "2"u8.ToArray();
    private static readonly byte[] Pong = "3"u8.ToArray();

    private readonly TextSocket socket;
    private readonly byte[] eventPrefix;

    private SocketIoClient(TextSocket socket, string ns)
    {
        this.socket = socket;
        eventPrefix = Encoding.UTF8.GetBytes($"42{ns},");
    }

    public bool IsOpen => socket.State == WebSocketState.Open;

    public static async Task<SocketIoClient> OpenAsync(Uri server, string token, string ns, CancellationToken ct)
    {
        var address = TextSocket.Address(server, "/socket.io/", "EIO=4&transport=websocket");
        var client = new SocketIoClient(await TextSocket.ConnectAsync(address, null, null, ct), ns);
        try
        {
            var open = await client.NextAsync(ct);
            if (open.Length == 0 || open[0] != (byte)'0')
            {
                throw new BenchException($"/socket.io/: expected Engine.IO's open packet, got '{Encoding.UTF8.GetString(open)}'.");
            }
            await client.socket.SendAsync($"40{ns},{JsonSerializer.Serialize(new Dictionary<string, string> { ["token"] = token })}", ct);
            var connected = Encoding.UTF8.GetBytes($"40{ns},");
            var refused = Encoding.UTF8.GetBytes($"44{ns},");
            var subscribed = Encoding.UTF8.GetBytes($"42{ns},[\"subscribed\"");
            var live = false;
            while (!live)
            {
                var packet = await client.NextAsync(ct);
                if (packet.StartsWith(refused))
                {
                    throw new BenchException($"/socket.io/: connecting {ns} answered connect_error {Encoding.UTF8.GetString(packet[refused.Length..])}.");
                }
                // The CONNECT's answer comes first, then connected, then subscribed once the automatic rooms are live.
                live = packet.StartsWith(subscribed) || (ns != "/realtime" && packet.StartsWith(connected));
            }
        }
        catch
        {
            client.socket.Dispose();
            throw;
        }
        return client;
    }

    public Task<WebSocketCloseStatus?> RunAsync(Action<WsMessage, long> onMessage, CancellationToken ct) =>
        socket.RunAsync(async (message, at) =>
        {
            if (message.Span.SequenceEqual(Ping))
            {
                await socket.SendAsync(Pong, ct);
                return;
            }
            onMessage(message.Span.StartsWith(eventPrefix) ? Event(message.Span[eventPrefix.Length..]) : new WsMessage("engine.io:" + (char)message.Span[0], null, null, null), at);
        }, ct);

    public ValueTask DisposeAsync()
    {
        socket.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>The next packet other than a ping, which it answers; the server closing is an error here.</summary>
    private async Task<byte[]> NextAsync(CancellationToken ct)
    {
        while (true)
        {
            var (message, _, closed) = await socket.ReceiveAsync(ct);
            if (closed)
            {
                throw new BenchException($"/socket.io/: the server closed the connection ({socket.CloseStatus}) while it opened.");
            }
            if (!message.Span.SequenceEqual(Ping))
            {
                return message.ToArray();
            }
            await socket.SendAsync(Pong, ct);
        }
    }

    /// <summary><c>["name",{…}]</c>: the name, and the payload's <c>orderId</c> (or <c>id</c>, an order's own), <c>driverId</c> and <c>seq</c>.</summary>
    private static WsMessage Event(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json);
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartArray || !reader.Read() || reader.TokenType != JsonTokenType.String)
        {
            return new WsMessage("socketio:bad", null, null, null);
        }
        var name = reader.GetString();
        string? id = null, orderId = null, driverId = null;
        long? seq = null;
        if (reader.Read() && reader.TokenType == JsonTokenType.StartObject)
        {
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var property = reader.ValueSpan;
                var isId = property.SequenceEqual("id"u8);
                var isOrder = property.SequenceEqual("orderId"u8);
                var isDriver = property.SequenceEqual("driverId"u8);
                var isSeq = property.SequenceEqual("seq"u8);
                reader.Read();
                if (reader.TokenType == JsonTokenType.String && (isId || isOrder || isDriver))
                {
                    var value = reader.GetString();
                    if (isId)
                    {
                        id = value;
                    }
                    else if (isOrder)
                    {
                        orderId = value;
                    }
                    else
                    {
                        driverId = value;
                    }
                }
                else if (isSeq && reader.TokenType == JsonTokenType.Number)
                {
                    seq = reader.GetInt64();
                }
                else
                {
                    reader.Skip();
                }
            }
        }
        return name == "order:new"
            ? new WsMessage("order.created", orderId ?? id, driverId, seq)
            : new WsMessage(name, orderId, driverId, seq);
    }
}
