using System.Net.WebSockets;
using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Realtime.Core;
using GeoLogistics.Server.Realtime.Json;

namespace GeoLogistics.Server.Realtime.SocketIo;

public enum EngineTransport
{
    Polling,
    /// <summary>A WebSocket answered the probe; polling is paused until the client's <c>upgrade</c> packet.</summary>
    Upgrading,
    WebSocket,
}

/// <summary>
/// One Engine.IO connection (one <c>sid</c>): its namespaces, and one ordered queue of packets for the client that
/// whichever transport carries the connection drains: a long-polling GET takes all of it in one body, a WebSocket sends
/// it frame by frame. The queue is bounded in bytes for what sessions write (<see cref="WriteAsync"/> waits for room,
/// so a client that does not read fills its sessions' outboxes, whose bound closes it); control packets (pings,
/// CONNECT answers) always fit. The heartbeat is driven from outside, by one timer for every connection (<see cref="Tick"/>).
/// </summary>
public sealed class EngineConnection
{
    private readonly Lock gate = new();
    private readonly SocketIoOptions options;
    private readonly Queue<ReadOnlyMemory<byte>> queued = new();
    private readonly Dictionary<string, NamespaceSocket> namespaces = new(StringComparer.Ordinal);
    private int queuedBytes;
    private TaskCompletionSource? room;
    private TaskCompletionSource? parkedGet;
    private bool getActive;
    private bool postActive;
    private WebSocket? socket;
    private SocketStream? stream;
    private bool pumping;
    private SessionClose? closed;
    private long closedAt;
    private bool everConnected;
    private bool failed;
    private readonly long connectDeadline;
    private long nextPingAt;
    private long pongDeadline;

    public EngineConnection(string sid, HandshakeAuth auth, SocketIoOptions options, RealtimeOptions realtime)
    {
        Sid = sid;
        Auth = auth;
        this.options = options;
        Budget = new MessageBudget(realtime.MaxMessagesPerSecond);
        var now = Environment.TickCount64;
        connectDeadline = now + (long)options.ConnectTimeout.TotalMilliseconds;
        nextPingAt = now + (long)options.PingInterval.TotalMilliseconds;
    }

    public string Sid { get; }

    /// <summary>Who the handshake request said it was (its <c>Authorization</c> header, or the dashboard's cookie).</summary>
    public HandshakeAuth Auth { get; }

    /// <summary>What packets outside any connected namespace may cost (CONNECT attempts, strays): a flood closes.</summary>
    public MessageBudget Budget { get; }

    public EngineTransport Transport { get; private set; }

    public bool IsClosed => Volatile.Read(ref closed) is not null;

    // ---- Namespaces ----

    /// <summary>False when the namespace is connected already, or the connection is closing.</summary>
    public bool TryAttach(NamespaceSocket socketOfNamespace)
    {
        lock (gate)
        {
            if (closed is not null || !namespaces.TryAdd(socketOfNamespace.Namespace, socketOfNamespace))
            {
                return false;
            }
            everConnected = true;
            return true;
        }
    }

    public void Detach(NamespaceSocket socketOfNamespace)
    {
        lock (gate)
        {
            if (namespaces.TryGetValue(socketOfNamespace.Namespace, out var attached) && attached == socketOfNamespace)
            {
                namespaces.Remove(socketOfNamespace.Namespace);
            }
        }
    }

    public NamespaceSocket? Namespace(string ns)
    {
        lock (gate)
        {
            return namespaces.GetValueOrDefault(ns);
        }
    }

    public bool IsConnected(string ns)
    {
        lock (gate)
        {
            return namespaces.ContainsKey(ns);
        }
    }

    // ---- Writing ----

    /// <summary>A control packet (or batch): always queued while the connection is open.</summary>
    public void Send(ReadOnlyMemory<byte> batch)
    {
        lock (gate)
        {
            if (closed is not null)
            {
                return;
            }
            Enqueue(batch);
        }
        Wake();
    }

    /// <summary>
    /// A session's packet(s): queued once there is room; put on the network by <see cref="Wake"/> (the session's
    /// flush). Throws <see cref="WebSocketException"/> once the connection is closed, which ends the session.
    /// </summary>
    public async ValueTask WriteAsync(ReadOnlyMemory<byte> batch)
    {
        while (true)
        {
            TaskCompletionSource wait;
            lock (gate)
            {
                if (closed is not null)
                {
                    throw new WebSocketException(WebSocketError.ConnectionClosedPrematurely, "The Engine.IO connection is closed.");
                }
                if (queuedBytes < options.MaxBufferedBytes)
                {
                    Enqueue(batch);
                    return;
                }
                wait = room ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
            // Full: what is queued must leave before more fits. The source is this connection's own (completed
            // asynchronously), so awaiting it here cannot deadlock.
            Wake();
#pragma warning disable VSTHRD003
            await wait.Task;
#pragma warning restore VSTHRD003
        }
    }

    private void Enqueue(ReadOnlyMemory<byte> batch)
    {
        queued.Enqueue(batch);
        queuedBytes += batch.Length;
    }

    /// <summary>Puts what is queued on its way: a parked poll answers, or the WebSocket sender runs.</summary>
    public void Wake()
    {
        lock (gate)
        {
            if (Transport != EngineTransport.WebSocket)
            {
                parkedGet?.TrySetResult();
                return;
            }
            if (pumping || (queued.Count == 0 && closed is null))
            {
                return;
            }
            pumping = true;
        }
        _ = PumpAsync();
    }

    private void TookLocked()
    {
        queuedBytes = 0;
        foreach (var batch in queued)
        {
            queuedBytes += batch.Length;
        }
        room?.TrySetResult();
        room = null;
    }

    // ---- Long-polling ----

    /// <summary>
    /// A GET: what is queued, at once or when something comes (a ping comes within the ping interval). Null when the
    /// GET is not allowed: the connection is on a WebSocket, or another GET is open (then it is closed, as the protocol says).
    /// </summary>
    public async Task<ReadOnlyMemory<byte>?> PollAsync(CancellationToken aborted)
    {
        TaskCompletionSource? wait = null;
        NamespaceSocket[] ended = [];
        ReadOnlyMemory<byte>? now = null;
        lock (gate)
        {
            if (Transport == EngineTransport.WebSocket)
            {
                return null;
            }
            if (getActive)
            {
                ended = CloseLocked(new SessionClose(CloseReason.Normal, "overlapping poll"));
            }
            else if (queued.Count > 0 || closed is not null)
            {
                now = TakeAllLocked();
            }
            else if (Transport == EngineTransport.Upgrading)
            {
                // The probe was answered before this poll came: the client waits for it to return before it pauses
                // polling and sends the upgrade, so it must not park.
                now = EngineIo.Noop;
            }
            else
            {
                getActive = true;
                wait = parkedGet = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
        }
        if (wait is null)
        {
            End(ended);
            return now;
        }
        try
        {
            await wait.Task.WaitAsync(aborted);
        }
        finally
        {
            lock (gate)
            {
                getActive = false;
                parkedGet = null;
            }
        }
        lock (gate)
        {
            // Woken with nothing to say: the upgrade releases the poll with a noop.
            return queued.Count > 0 || closed is not null ? TakeAllLocked() : EngineIo.Noop;
        }
    }

    private ReadOnlyMemory<byte> TakeAllLocked()
    {
        var length = 0;
        foreach (var batch in queued)
        {
            length += batch.Length + 1;
        }
        var closing = closed is not null;
        if (closing)
        {
            length += EngineIo.Close.Length + 1;
        }
        var body = new byte[Math.Max(0, length - 1)];
        var at = 0;
        void Append(ReadOnlySpan<byte> bytes, byte[] body, ref int at)
        {
            if (at > 0)
            {
                body[at++] = EngineIo.Separator;
            }
            bytes.CopyTo(body.AsSpan(at));
            at += bytes.Length;
        }
        while (queued.TryDequeue(out var batch))
        {
            Append(batch.Span, body, ref at);
        }
        if (closing)
        {
            // The close packet ends the client's polling transport: it stops polling and reconnects.
            Append(EngineIo.Close.Span, body, ref at);
        }
        TookLocked();
        return body;
    }

    /// <summary>Only one POST at a time (the protocol's order guarantee); a second one closes the connection.</summary>
    public bool TryBeginPost()
    {
        NamespaceSocket[] ended;
        lock (gate)
        {
            if (!postActive)
            {
                postActive = true;
                return true;
            }
            ended = CloseLocked(new SessionClose(CloseReason.Normal, "overlapping post"));
        }
        End(ended);
        Wake();
        return false;
    }

    public void EndPost()
    {
        lock (gate)
        {
            postActive = false;
        }
    }

    // ---- WebSocket ----

    /// <summary>A WebSocket for this connection: the only one, and only while polling (an upgrade) or from the start.</summary>
    public bool TryBeginUpgrade(WebSocket webSocket, SocketStream? socketStream, bool fromStart)
    {
        lock (gate)
        {
            if (closed is not null || socket is not null || (Transport != EngineTransport.Polling && !fromStart))
            {
                return false;
            }
            socket = webSocket;
            stream = socketStream;
            Transport = fromStart ? EngineTransport.WebSocket : EngineTransport.Upgrading;
        }
        if (!fromStart)
        {
            // The probe answered: a poll still open returns (a noop if nothing waits), and the client pauses polling.
            Wake();
        }
        return true;
    }

    /// <summary>The client's <c>upgrade</c> packet: from now on everything goes over the WebSocket.</summary>
    public void CompleteUpgrade()
    {
        lock (gate)
        {
            Transport = EngineTransport.WebSocket;
            parkedGet?.TrySetResult();
        }
        Wake();
    }

    /// <summary>Sends the queue frame by frame in one corked write, then (once closed) the close frame.</summary>
    private async Task PumpAsync()
    {
        var ws = socket!;
        try
        {
            while (true)
            {
                ReadOnlyMemory<byte> batch;
                bool more;
                lock (gate)
                {
                    more = queued.TryDequeue(out batch);
                    if (more)
                    {
                        TookLocked();
                    }
                }
                if (!more)
                {
                    if (stream is not null)
                    {
                        await stream.UncorkAsync();
                    }
                    lock (gate)
                    {
                        if (queued.Count > 0)
                        {
                            continue;
                        }
                        pumping = false;
                        if (closed is null)
                        {
                            return;
                        }
                    }
                    await CloseSocketAsync(ws);
                    return;
                }
                stream?.Cork();
                var rest = batch;
                while (true)
                {
                    var end = rest.Span.IndexOf(EngineIo.Separator);
                    await ws.SendAsync(end < 0 ? rest : rest[..end], WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None);
                    if (end < 0)
                    {
                        break;
                    }
                    rest = rest[(end + 1)..];
                }
            }
        }
        catch (Exception e) when (e is WebSocketException or IOException or OperationCanceledException or ObjectDisposedException)
        {
            ws.Abort();
            Close(SessionClose.Bye);
        }
    }

    /// <summary>The close frame, then (as every protocol ends a socket, <see cref="SocketClose"/>) a cut-off for a client that never answers it.</summary>
    private async Task CloseSocketAsync(WebSocket ws)
    {
        var close = Volatile.Read(ref closed)!;
        var text = close.Text.Length > 120 ? close.Text[..120] : close.Text;
        var status = Volatile.Read(ref failed) ? WebSocketCloseStatus.ProtocolError : StatusOf(close.Reason);
        await SocketClose.SendAsync(ws, status, text, stream);
    }

    /// <summary>The JSON protocol's close codes, and 1002 for a packet the protocol does not allow.</summary>
    public static WebSocketCloseStatus StatusOf(CloseReason reason) =>
        reason == CloseReason.Normal ? WebSocketCloseStatus.NormalClosure : JsonSocket.StatusOf(reason);

    // ---- Heartbeat and ending ----

    /// <summary>The client answered a ping.</summary>
    public void OnPong()
    {
        lock (gate)
        {
            pongDeadline = 0;
            nextPingAt = Environment.TickCount64 + (long)options.PingInterval.TotalMilliseconds;
        }
    }

    /// <summary>
    /// One beat of the shared timer: pings when due, closes a connection whose ping went unanswered or that connected
    /// no namespace in time. False once the connection may leave the table (closed, and its last poll had its chance).
    /// </summary>
    public bool Tick(long now)
    {
        var ping = false;
        NamespaceSocket[] ended = [];
        lock (gate)
        {
            if (closed is not null)
            {
                return Transport == EngineTransport.Polling && now - closedAt < (long)options.PingTimeout.TotalMilliseconds && queued.Count > 0;
            }
            if (!everConnected && now > connectDeadline)
            {
                ended = CloseLocked(new SessionClose(CloseReason.Normal, "no namespace connected in time"));
            }
            else if (pongDeadline != 0 && now > pongDeadline)
            {
                ended = CloseLocked(new SessionClose(CloseReason.Normal, "ping timeout"));
            }
            else if (pongDeadline == 0 && now >= nextPingAt)
            {
                pongDeadline = now + (long)options.PingTimeout.TotalMilliseconds;
                Enqueue(EngineIo.Ping);
                ping = true;
            }
        }
        End(ended);
        if (ping || IsClosed)
        {
            Wake();
        }
        return true;
    }

    /// <summary>
    /// Ends the connection and every namespace session on it. <paramref name="farewell"/> (error events saying why)
    /// goes out first; then the WebSocket's close frame, or the close packet to the next poll.
    /// </summary>
    public void Close(SessionClose close, ReadOnlyMemory<byte> farewell = default)
    {
        NamespaceSocket[] ended;
        lock (gate)
        {
            if (closed is not null)
            {
                return;
            }
            if (!farewell.IsEmpty)
            {
                Enqueue(farewell);
            }
            ended = CloseLocked(close);
        }
        End(ended);
        Wake();
    }

    /// <summary>Marks the connection closed; returns its namespaces, which the caller ends once out of the lock.</summary>
    private NamespaceSocket[] CloseLocked(SessionClose close)
    {
        if (closed is not null)
        {
            return [];
        }
        closed = close;
        closedAt = Environment.TickCount64;
        var ended = namespaces.Values.ToArray();
        namespaces.Clear();
        room?.TrySetResult();
        room = null;
        parkedGet?.TrySetResult();
        return ended;
    }

    private static void End(NamespaceSocket[] ended)
    {
        foreach (var ns in ended)
        {
            ns.EndWithConnection();
        }
    }

    /// <summary>
    /// Abuse (a flood, an oversize packet): every connected namespace gets an <c>error</c> event saying why, then the
    /// connection closes with the JSON protocol's code (1008, 1009 on a WebSocket).
    /// </summary>
    public void Abuse(SessionClose close)
    {
        byte[][] farewell;
        lock (gate)
        {
            farewell = [.. namespaces.Keys.Select(ns => SocketIoReplies.Farewell(ns, close))];
        }
        Close(close, farewell.Length == 0 ? default : SocketIoPackets.Batch(farewell));
    }

    /// <summary>
    /// A packet the protocol does not allow: every connected namespace gets an <c>error</c> event saying what was
    /// wrong, then the connection closes (1002 on a WebSocket), as the reference server closes on a parse error.
    /// </summary>
    public void Fail(string why)
    {
        byte[][] farewell;
        lock (gate)
        {
            failed = true;
            farewell = [.. namespaces.Keys.Select(ns => SocketIoReplies.ErrorEvent(ns, "bad_packet", why))];
        }
        Close(new SessionClose(CloseReason.Normal, why), farewell.Length == 0 ? default : SocketIoPackets.Batch(farewell));
    }

    public SessionClose? ClosedWith => Volatile.Read(ref closed);
}

/// <summary>What the handshake request said about its caller: a valid header token, a refused one, or none.</summary>
public sealed record HandshakeAuth(Caller? Caller, DateTimeOffset Expires, string? Refusal)
{
    public static readonly HandshakeAuth None = new(null, DateTimeOffset.MaxValue, null);
}
