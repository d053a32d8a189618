using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;

namespace GeoLogistics.Bench.Harness;

/// <summary>
/// A client WebSocket that reads whole messages into one growing buffer of its own and stamps each with
/// <see cref="Stopwatch.GetTimestamp"/> when its last fragment arrived: the transport under the JSON, STOMP and
/// Socket.IO subscribers, so that all three read the wire the same way. No client pings (each protocol's server pings).
/// </summary>
public sealed class TextSocket : IDisposable
{
    private readonly ClientWebSocket socket;
    private byte[] buffer = new byte[2048];

    private TextSocket(ClientWebSocket socket) => this.socket = socket;

    public WebSocketState State => socket.State;

    public WebSocketCloseStatus? CloseStatus => socket.CloseStatus;

    /// <summary>Opens <paramref name="uri"/>, with an <c>Authorization: Bearer</c> header and a subprotocol when given.</summary>
    public static async Task<TextSocket> ConnectAsync(Uri uri, string? bearer, string? subProtocol, CancellationToken ct)
    {
        var socket = new ClientWebSocket();
        if (bearer is not null)
        {
            socket.Options.SetRequestHeader("Authorization", $"Bearer {bearer}");
        }
        if (subProtocol is not null)
        {
            socket.Options.AddSubProtocol(subProtocol);
        }
        socket.Options.KeepAliveInterval = TimeSpan.Zero;
        socket.Options.SetBuffer(4096, 1024);
        try
        {
            await socket.ConnectAsync(uri, ct);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        return new TextSocket(socket);
    }

    /// <summary>A <c>ws://</c> address on <paramref name="server"/>.</summary>
    public static Uri Address(Uri server, string path, string query = "") =>
        new UriBuilder(server) { Scheme = "ws", Path = path, Query = query }.Uri;

    /// <summary>The next whole message (valid until the next call) and when it arrived; <c>Closed</c> once the peer closed.</summary>
    public async Task<(ReadOnlyMemory<byte> Message, long At, bool Closed)> ReceiveAsync(CancellationToken ct)
    {
        var length = 0;
        while (true)
        {
            if (length == buffer.Length)
            {
                Array.Resize(ref buffer, buffer.Length * 2);
            }
            var r = await socket.ReceiveAsync(buffer.AsMemory(length), ct);
            if (r.MessageType == WebSocketMessageType.Close)
            {
                return (default, Stopwatch.GetTimestamp(), true);
            }
            length += r.Count;
            if (r.EndOfMessage)
            {
                return (buffer.AsMemory(0, length), Stopwatch.GetTimestamp(), false);
            }
        }
    }

    /// <summary>
    /// Hands every message to <paramref name="onMessage"/> until the peer closes or <paramref name="ct"/> fires; returns
    /// the close status, if any.
    /// </summary>
    public async Task<WebSocketCloseStatus?> RunAsync(Func<ReadOnlyMemory<byte>, long, ValueTask> onMessage, CancellationToken ct)
    {
        try
        {
            while (socket.State == WebSocketState.Open)
            {
                var (message, at, closed) = await ReceiveAsync(ct);
                if (closed)
                {
                    break;
                }
                await onMessage(message, at);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (WebSocketException)
        {
        }
        return socket.CloseStatus;
    }

    public Task SendAsync(ReadOnlyMemory<byte> utf8, CancellationToken ct) =>
        socket.SendAsync(utf8, WebSocketMessageType.Text, endOfMessage: true, ct).AsTask();

    public Task SendAsync(string text, CancellationToken ct) => SendAsync(Encoding.UTF8.GetBytes(text), ct);

    /// <summary>Aborts the socket: the bench does not wait for close handshakes.</summary>
    public void Dispose()
    {
        socket.Abort();
        socket.Dispose();
    }
}
