using System.Buffers;
using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Runtime.CompilerServices;
using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Realtime.Core;
using GeoLogistics.Server.Realtime.Json;

namespace GeoLogistics.Server.Realtime.Stomp;

/// <summary>
/// One STOMP client's WebSocket (plain or SockJS) under its <see cref="LiveSession"/>: frames each event as a MESSAGE
/// for the subscription it goes to, reads the client's frames and hands them to <see cref="StompProtocol"/>, and ends
/// the way STOMP says: an ERROR frame (or the RECEIPT a DISCONNECT asked for), then the close. The session exists
/// from the CONNECT frame on; before it, the socket belongs to nobody and is closed if CONNECT does not come in time.
/// </summary>
public sealed class StompConnection : ISessionTransport
{
    // Frames a client may send before CONNECT (heart-beats, say): the socket is nobody's yet, so no budget is.
    private const int MaxMessagesBeforeConnect = 8;

    private readonly WebSocket socket;
    private readonly SocketStream? stream;
    private readonly StompWire wire;
    private readonly StompLimits limits;
    private readonly int maxMessageBytes;
    // Subscription id → the start of its MESSAGE frames (the destination as the client wrote it, and the id).
    private readonly ConcurrentDictionary<string, byte[]> messageHeads = new(StringComparer.Ordinal);
    // Each event's frame tail, shared by every STOMP recipient of it and gone with it.
    private static readonly ConditionalWeakTable<LiveMessage, byte[]> MessageTails = [];
    // The sender's buffers, dropped whenever the outbox runs empty: an idle connection holds none.
    private ArrayBufferWriter<byte>? frameBuffer;
    private ArrayBufferWriter<byte>? wireBuffer;
    private long messageIds;
    private long lastRead = Environment.TickCount64;
    private long lastWrite = Environment.TickCount64;
    // What goes out last, before the close: the ERROR that ends the connection, or the RECEIPT of a DISCONNECT.
    private byte[]? lastWords;
    private WebSocketCloseStatus? closeStatus;

    public StompConnection(WebSocket socket, SocketStream? stream, StompWire wire, int maxFrameBytes, Caller? handshakeCaller, DateTimeOffset handshakeExpires,
        CancellationToken aborted)
    {
        Aborted = aborted;
        this.socket = socket;
        this.stream = stream;
        this.wire = wire;
        limits = new StompLimits(maxFrameBytes);
        maxMessageBytes = wire.MaxMessageBytes(maxFrameBytes);
        HandshakeCaller = handshakeCaller;
        HandshakeExpires = handshakeExpires;
    }

    /// <summary>Who the handshake's token (header, <c>?access_token=</c> or cookie) says the client is; null when CONNECT must say it.</summary>
    public Caller? HandshakeCaller { get; }

    public DateTimeOffset HandshakeExpires { get; }

    /// <summary>The client went away.</summary>
    public CancellationToken Aborted { get; }

    /// <summary>Set by CONNECT.</summary>
    public LiveSession? Session { get; private set; }

    /// <summary>The negotiated heart-beats, in milliseconds; 0 is none.</summary>
    public long SendEvery { get; private set; }

    public long ExpectEvery { get; private set; }

    /// <summary>The per-user admission held for this socket, taken on the handshake or at CONNECT; released when it ends.</summary>
    public IDisposable? Admission { get; set; }

    public bool DeliversPerSubscription => true;

    /// <summary>Starts the session once CONNECT checked out.</summary>
    public LiveSession Open(Caller caller, DateTimeOffset expires, LiveHub hub, long sendEvery, long expectEvery)
    {
        SendEvery = sendEvery;
        ExpectEvery = expectEvery;
        return Session = new LiveSession(this, caller, expires, hub, "stomp", Aborted);
    }

    public void AddDestination(string subscriptionId, string destination) =>
        messageHeads[subscriptionId] = StompWriter.MessageHead(destination, subscriptionId);

    public void RemoveDestination(string subscriptionId) => messageHeads.TryRemove(subscriptionId, out _);

    // ---- Writing (the session's sender, one call at a time) ----

    public async ValueTask SendAsync(Outgoing message, bool more, CancellationToken ct)
    {
        ReadOnlyMemory<byte> frame;
        if (message.Event is { } e)
        {
            if (!messageHeads.TryGetValue(message.SubscriptionId!, out var head))
            {
                // Unsubscribed while this waited in the outbox.
                return;
            }
            var tail = MessageTails.GetValue(e, static e => StompWriter.MessageTail(e.Type, e.Seq, e.Utf8.Span));
            frameBuffer ??= new ArrayBufferWriter<byte>(head.Length + tail.Length + 20);
            frameBuffer.ResetWrittenCount();
            StompWriter.Message(frameBuffer, head, ++messageIds, tail);
            frame = frameBuffer.WrittenMemory;
        }
        else if (message.Reply.IsEmpty)
        {
            // A subscribe that asked for no receipt is acknowledged with nothing.
            return;
        }
        else
        {
            frame = message.Reply;
        }
        await WriteAsync(frame, more, ct);
    }

    private ValueTask WriteAsync(ReadOnlyMemory<byte> frame, bool more, CancellationToken ct)
    {
        if (more)
        {
            stream?.Cork();
        }
        if (wire.IsSockJs)
        {
            wireBuffer ??= new ArrayBufferWriter<byte>(frame.Length + 64);
            wireBuffer.ResetWrittenCount();
        }
        return socket.SendAsync(wire.Encode(frame, wireBuffer!), WebSocketMessageType.Text, endOfMessage: true, ct);
    }

    public ValueTask FlushAsync()
    {
        // Once per burst, not per frame: what the heart-beat timer needs to know is that something went out.
        Volatile.Write(ref lastWrite, Environment.TickCount64);
        frameBuffer = null;
        wireBuffer = null;
        return stream?.UncorkAsync() ?? ValueTask.CompletedTask;
    }

    // ---- Heart-beats (StompHeartbeats calls this, for every connection, from one timer) ----

    /// <summary>Sends a heart-beat if nothing went out for an interval; closes a client silent for twice its own and a second.</summary>
    public void Beat(long now)
    {
        if (Session is not { IsClosing: false } session)
        {
            return;
        }
        // Slack for a client's timer and the network: twice its interval, and a second more.
        var silence = (2 * ExpectEvery) + 1000;
        if (ExpectEvery > 0 && now - Volatile.Read(ref lastRead) > silence)
        {
            Fail("heart-beat missed", $"Nothing came from the client for {silence} ms; it promised a heart-beat every {ExpectEvery} ms.",
                null, WebSocketCloseStatus.PolicyViolation);
            return;
        }
        if (SendEvery > 0 && now - Volatile.Read(ref lastWrite) >= SendEvery)
        {
            Volatile.Write(ref lastWrite, now);
            session.Send(StompWriter.HeartBeat);
        }
    }

    // ---- Ending ----

    /// <summary>Ends the connection with an ERROR frame (STOMP closes after every ERROR); the first reason wins.</summary>
    public void Fail(string message, string detail, string? receiptId, WebSocketCloseStatus status, CloseReason reason = CloseReason.Normal)
    {
        if (Session is { IsClosing: true })
        {
            return;
        }
        if (Interlocked.CompareExchange(ref lastWords, StompWriter.Error(message, detail, receiptId), null) is null)
        {
            closeStatus = status;
        }
        Session?.Close(new SessionClose(reason, message));
    }

    /// <summary>Ends the connection after <paramref name="frame"/> (a DISCONNECT's RECEIPT), normally.</summary>
    public void EndWith(byte[]? frame)
    {
        if (frame is not null)
        {
            Interlocked.CompareExchange(ref lastWords, frame, null);
        }
        Session?.Close(SessionClose.Bye);
    }

    /// <summary>
    /// The last words (the ERROR that ended it, or one saying why the core closed it: slow consumer, token expired,
    /// flood), SockJS's close frame, then the WebSocket's. A client that does not answer is cut off.
    /// </summary>
    public ValueTask CloseAsync(SessionClose close)
    {
        var status = closeStatus ?? JsonSocket.StatusOf(close.Reason);
        var last = Volatile.Read(ref lastWords) ?? (close.Reason == CloseReason.Normal ? null : StompWriter.Error(close.Text));
        return SocketClose.SendAsync(socket, status, close.Text, stream, async ct =>
        {
            if (last is not null)
            {
                await WriteAsync(last, more: true, ct);
            }
            await wire.CloseFrameAsync(socket, (int)status, close.Text, ct);
        });
    }

    // ---- Reading ----

    /// <summary>
    /// Reads the client's messages until the connection ends. Each holds whole frames (and heart-beat EOLs); a frame cut
    /// off at a message's end, a frame over the size limit, or anything that is not STOMP ends the connection with an
    /// ERROR. Frames before CONNECT go to <paramref name="connect"/>, which opens the session or refuses; after it, to
    /// <paramref name="handle"/>, which says whether the frame counts toward the flood budget.
    /// </summary>
    public async Task RunAsync(
        Func<StompConnection, StompFrame, Task> connect, Func<StompConnection, StompFrame, Task<bool>> handle, TimeSpan connectTimeout, CancellationToken ct)
    {
        var connectBy = Environment.TickCount64 + (long)connectTimeout.TotalMilliseconds;
        var messagesBeforeConnect = 0;
        try
        {
            await wire.OpenAsync(socket, ct);
            while (socket.State == WebSocketState.Open && Session is not { IsClosing: true } && lastWords is null)
            {
                // Wait for data without a buffer: an idle connection holds none. Nor a registration on the token: every
                // way a session ends cuts the connection off, and that ends this read.
                ValueWebSocketReceiveResult ready;
                if (Session is not null)
                {
                    ready = await socket.ReceiveAsync(Memory<byte>.Empty, CancellationToken.None);
                }
                else if (await ReceiveByAsync(connectBy, ct) is { } first)
                {
                    ready = first;
                }
                else
                {
                    return;
                }
                if (ready.MessageType == WebSocketMessageType.Close || Session is { IsClosing: true })
                {
                    break;
                }
                if (Session is null && ++messagesBeforeConnect > MaxMessagesBeforeConnect)
                {
                    await RefuseAsync("CONNECT expected", "The first frame on a STOMP connection is CONNECT (or STOMP).", WebSocketCloseStatus.ProtocolError);
                    break;
                }
                var buffer = ArrayPool<byte>.Shared.Rent(maxMessageBytes);
                try
                {
                    if (await ReadMessageAsync(buffer, ct) is not { } length)
                    {
                        break;
                    }
                    Volatile.Write(ref lastRead, Environment.TickCount64);
                    await HandleMessageAsync(buffer.AsMemory(0, length), connect, handle);
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
            }
            if (Session is null && lastWords is null)
            {
                // The client left before CONNECT: close without a word.
                await CloseAsync(SessionClose.Bye);
            }
            Session?.Close(SessionClose.Bye);
            await DiscardUntilClosedAsync(ct);
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException or IOException)
        {
        }
        finally
        {
            Session?.Close(SessionClose.Bye);
        }
        if (Session is not null)
        {
            await Session.WhenEndedAsync();
        }
    }

    /// <summary>
    /// Before CONNECT: the client's next message, if it starts before the deadline. If not, the ERROR and the close go
    /// out, and this reads on until the client answers (or is cut off); null. The receive is not cancelled instead:
    /// cancelling a WebSocket's receive aborts the socket, and the client would never learn why.
    /// </summary>
    private async Task<ValueWebSocketReceiveResult?> ReceiveByAsync(long deadline, CancellationToken ct)
    {
        var pending = socket.ReceiveAsync(Memory<byte>.Empty, ct).AsTask();
        using (var timer = new CancellationTokenSource())
        {
            var wait = Task.Delay(TimeSpan.FromMilliseconds(Math.Max(0, deadline - Environment.TickCount64)), timer.Token);
            if (await Task.WhenAny(pending, wait) == pending)
            {
                await timer.CancelAsync();
                return await pending;
            }
        }
        if (Interlocked.CompareExchange(ref lastWords, StompWriter.Error("CONNECT expected", "No CONNECT frame in time."), null) is null)
        {
            closeStatus = WebSocketCloseStatus.PolicyViolation;
            await CloseAsync(new SessionClose(CloseReason.Normal, "CONNECT expected"));
        }
        try
        {
            if ((await pending).MessageType != WebSocketMessageType.Close)
            {
                await DiscardUntilClosedAsync(CancellationToken.None);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException or IOException)
        {
        }
        return null;
    }

    private async Task HandleMessageAsync(ReadOnlyMemory<byte> message, Func<StompConnection, StompFrame, Task> connect, Func<StompConnection, StompFrame, Task<bool>> handle)
    {
        Session?.Hub.CountReceived();
        if (wire.Decode(message) is not { } input)
        {
            await FailAnyTimeAsync("bad SockJS message", "A SockJS message is a JSON array of strings, each STOMP data.", WebSocketCloseStatus.ProtocolError);
            return;
        }
        var offset = 0;
        var frames = 0;
        while (offset < input.Length && lastWords is null && Session is not { IsClosing: true })
        {
            var parse = StompParser.Parse(input.Span[offset..], limits);
            switch (parse.Status)
            {
                case StompParseStatus.HeartBeat:
                    offset += parse.Consumed;
                    continue;
                case StompParseStatus.Incomplete:
                    await FailAnyTimeAsync("truncated frame", "A frame ends with a NUL byte within the same WebSocket message; this one was cut off.",
                        WebSocketCloseStatus.ProtocolError);
                    return;
                case StompParseStatus.Error:
                    await FailAnyTimeAsync(parse.TooBig ? "frame too big" : "bad frame", parse.Error!,
                        parse.TooBig ? WebSocketCloseStatus.MessageTooBig : WebSocketCloseStatus.ProtocolError,
                        parse.TooBig ? CloseReason.TooBig : CloseReason.Normal);
                    return;
            }
            offset += parse.Consumed;
            frames++;
            if (Session is null)
            {
                await connect(this, parse.Frame!);
                continue;
            }
            if (await handle(this, parse.Frame!) && !Session.Budget.TrySpend())
            {
                Fail("too many frames", "More frames than the rate allows; slow down.", null, WebSocketCloseStatus.PolicyViolation, CloseReason.Flood);
                return;
            }
        }
        // A message of heart-beats only costs one too, so a stream of empty lines is a flood like any other.
        if (frames == 0 && Session is { } session && !session.Budget.TrySpend())
        {
            Fail("too many frames", "More messages than the rate allows; slow down.", null, WebSocketCloseStatus.PolicyViolation, CloseReason.Flood);
        }
    }

    /// <summary>Before CONNECT there is no session to close: the ERROR and the close go out here and now.</summary>
    public async Task RefuseAsync(string message, string detail, WebSocketCloseStatus status, string? receiptId = null)
    {
        if (Interlocked.CompareExchange(ref lastWords, StompWriter.Error(message, detail, receiptId), null) is not null)
        {
            return;
        }
        closeStatus = status;
        await CloseAsync(new SessionClose(CloseReason.Normal, message));
        await DiscardUntilClosedAsync(CancellationToken.None);
    }

    private Task FailAnyTimeAsync(string message, string detail, WebSocketCloseStatus status, CloseReason reason = CloseReason.Normal)
    {
        if (Session is null)
        {
            return RefuseAsync(message, detail, status);
        }
        Fail(message, detail, null, status, reason);
        return Task.CompletedTask;
    }

    /// <summary>After the close frame, read on (handling nothing) until the client answers, so it sees why and not a reset.</summary>
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
        catch (Exception e) when (e is OperationCanceledException or WebSocketException or IOException)
        {
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>One whole message, or null when the connection ends (closed, or too big: then an ERROR says so).</summary>
    private async Task<int?> ReadMessageAsync(byte[] buffer, CancellationToken ct)
    {
        var length = 0;
        ValueWebSocketReceiveResult result;
        do
        {
            if (length == maxMessageBytes)
            {
                await FailAnyTimeAsync("frame too big", $"A frame may be at most {limits.MaxFrameBytes} bytes.", WebSocketCloseStatus.MessageTooBig, CloseReason.TooBig);
                return null;
            }
            result = await socket.ReceiveAsync(buffer.AsMemory(length, maxMessageBytes - length), ct);
            length += result.Count;
        }
        while (!result.EndOfMessage && result.MessageType != WebSocketMessageType.Close);
        return result.MessageType == WebSocketMessageType.Close ? null : length;
    }
}
