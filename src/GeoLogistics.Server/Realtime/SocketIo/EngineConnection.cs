using System.Net.WebSockets;
using GeoLogistics.Server.Realtime.Core;

namespace GeoLogistics.Server.Realtime.SocketIo;

/// <summary>
/// One Engine.IO connection (one <c>sid</c>): its namespaces, and one ordered queue of packets for the client that
/// whichever transport carries the connection drains: a long-polling GET takes all of it in one body, a WebSocket sends
/// it frame by frame. The queue is bounded in bytes for what sessions write (<see cref="WriteAsync"/> waits for room,
/// so a client that does not read fills its sessions' outboxes, whose bound closes it); control packets (pings,
/// CONNECT answers) always fit. The heartbeat is driven from outside, by one timer for every connection (<see cref="Tick"/>).
/// How the queue leaves, by long-polling or over a WebSocket, is in EngineConnection.Transports.cs.
/// </summary>
public sealed partial class EngineConnection
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
