using System.Buffers;
using System.Net.WebSockets;
using System.Runtime.CompilerServices;
using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Realtime.Core;

namespace GeoLogistics.Server.Realtime.Json;

/// <summary>
/// The JSON protocol's WebSocket under a <see cref="LiveSession"/>: writes what the session sends, one text message each;
/// reads the client's messages one at a time and hands them to the protocol; says the session's close reasons as close
/// codes. While nothing moves it holds no buffer and runs nothing but a zero-byte read.
/// </summary>
public sealed class JsonSocket : ISessionTransport
{
    public const WebSocketCloseStatus TryAgainLater = (WebSocketCloseStatus)1013;
    public const WebSocketCloseStatus ServiceRestart = (WebSocketCloseStatus)1012;

    private readonly WebSocket socket;
    private readonly SocketStream? stream;
    private readonly RealtimeOptions options;

    /// <param name="stream">The socket's stream (<see cref="SocketStream"/>), so a burst leaves in one write; null writes each message through.</param>
    public JsonSocket(WebSocket socket, SocketStream? stream, Caller caller, DateTimeOffset tokenExpires, LiveHub hub, CancellationToken aborted)
    {
        this.socket = socket;
        this.stream = stream;
        options = hub.Options;
        Session = new LiveSession(this, caller, tokenExpires, hub, "json", aborted);
    }

    public LiveSession Session { get; }

    /// <summary>An event goes once per connection, in its own JSON (SPEC §5).</summary>
    public bool DeliversPerSubscription => false;

    public ValueTask SendAsync(Outgoing message, bool more, CancellationToken ct)
    {
        if (more)
        {
            stream?.Cork();
        }
        return socket.SendAsync(message.Utf8, WebSocketMessageType.Text, endOfMessage: true, ct);
    }

    public ValueTask FlushAsync() => stream?.UncorkAsync() ?? ValueTask.CompletedTask;

    public static WebSocketCloseStatus StatusOf(CloseReason reason) => reason switch
    {
        CloseReason.SlowConsumer => TryAgainLater,
        CloseReason.Restart => ServiceRestart,
        CloseReason.Flood or CloseReason.Unauthorized => WebSocketCloseStatus.PolicyViolation,
        CloseReason.TooBig => WebSocketCloseStatus.MessageTooBig,
        _ => WebSocketCloseStatus.NormalClosure,
    };

    /// <summary>Sends the close frame with the reason's code (<see cref="SocketClose"/>).</summary>
    public ValueTask CloseAsync(SessionClose close) => SocketClose.SendAsync(socket, StatusOf(close.Reason), close.Text, stream);

    /// <summary>
    /// Reads the client's messages until the session ends, then ends what the socket held: its place in
    /// <paramref name="keepAlive"/> and in the hub, the socket, and <paramref name="admission"/> (its place under the
    /// per-user cap). One method from start to end: each parked async method is kept for the socket's life.
    /// </summary>
    public async Task RunAsync(
        Func<LiveSession, ReadOnlyMemory<byte>, Task<bool>> handle, SocketKeepAlive keepAlive, IDisposable admission, CancellationToken ct)
    {
        keepAlive.Add(stream);
        try
        {
            try
            {
                while (socket.State == WebSocketState.Open && !Session.IsClosing)
                {
                    // Wait for data without a buffer: an idle connection holds none (most connections are idle). Nor a
                    // registration on the token: every way a session ends cuts the connection off (SocketClose, the
                    // keep-alive, the server's stop), and that ends this read.
                    var ready = await socket.ReceiveAsync(Memory<byte>.Empty, CancellationToken.None);
                    if (ready.MessageType == WebSocketMessageType.Close || Session.IsClosing || !await HandleNextAsync(handle, ct))
                    {
                        break;
                    }
                }
                Session.Close(SessionClose.Bye);
                await DiscardUntilClosedAsync(ct);
            }
            catch (Exception e) when (e is OperationCanceledException or WebSocketException or IOException)
            {
            }
            finally
            {
                Session.Close(SessionClose.Bye);
            }
            await Session.WhenEndedAsync();
        }
        finally
        {
            keepAlive.Remove(stream);
            Session.Hub.Remove(Session);
            socket.Dispose();
            admission.Dispose();
        }
    }

    /// <summary>
    /// Reads one whole message of at most <see cref="RealtimeOptions.MaxMessageBytes"/> (a larger one closes with 1009)
    /// and handles it; more messages than the budget allows close with 1008. <paramref name="handle"/> says whether a
    /// message counts toward that budget: a position the tracker accepted does not (it has its own rate, per driver),
    /// so a driver's backlog that arrives at once after a stall is not taken for a flood. False when the session ends.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<bool> HandleNextAsync(Func<LiveSession, ReadOnlyMemory<byte>, Task<bool>> handle, CancellationToken ct)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(options.MaxMessageBytes);
        try
        {
            if (await ReadMessageAsync(buffer, ct) is not { } message)
            {
                return false;
            }
            var counts = true;
            Session.Hub.CountReceived();
            if (message.Type == WebSocketMessageType.Binary)
            {
                Session.Send(JsonProtocol.Error("bad_request", "Messages are JSON text frames."));
            }
            else
            {
                counts = await handle(Session, buffer.AsMemory(0, message.Length));
            }
            if (counts && !Session.Budget.TrySpend())
            {
                Session.Close(new SessionClose(CloseReason.Flood, "too many messages"));
                return false;
            }
            return true;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// The session is ending (flood, oversize, slow consumer, expired token, or the client's own close): its close
    /// frame goes out, and this reads on, handling nothing, until the client answers it (or is cut off). A socket
    /// closed with unread input is reset, and a client still writing then loses the close frame and sees 1006, not why.
    /// </summary>
    private async Task DiscardUntilClosedAsync(CancellationToken ct)
    {
        if (socket.State is not (WebSocketState.Open or WebSocketState.CloseSent))
        {
            return;
        }
        var buffer = ArrayPool<byte>.Shared.Rent(4096);
        try
        {
            while (socket.State is WebSocketState.Open or WebSocketState.CloseSent)
            {
                if ((await socket.ReceiveAsync(buffer.AsMemory(), ct)).MessageType == WebSocketMessageType.Close)
                {
                    return;
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>One whole message into <paramref name="buffer"/>, or null when the connection ends (too big, or closed).</summary>
    private async Task<(WebSocketMessageType Type, int Length)?> ReadMessageAsync(byte[] buffer, CancellationToken ct)
    {
        var length = 0;
        ValueWebSocketReceiveResult result;
        do
        {
            if (length == options.MaxMessageBytes)
            {
                Session.Close(new SessionClose(CloseReason.TooBig, $"messages are limited to {options.MaxMessageBytes} bytes"));
                return null;
            }
            result = await socket.ReceiveAsync(buffer.AsMemory(length, options.MaxMessageBytes - length), ct);
            length += result.Count;
        }
        while (!result.EndOfMessage && result.MessageType != WebSocketMessageType.Close);
        return result.MessageType == WebSocketMessageType.Close ? null : (result.MessageType, length);
    }
}
