using System.Buffers;
using System.Net.WebSockets;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using System.Threading.Channels;
using GeoLogistics.Server.Auth;

namespace GeoLogistics.Server.Realtime;

/// <summary>
/// One client socket: a bounded outbound queue and the newest unsent position per driver, drained by its own send loop;
/// a receive loop that reads one message at a time; and the subscriptions. Subscriptions change only inside
/// <see cref="EventHub.InStep"/>, so durable fan-out (which runs there too) always sees a consistent set; volatile
/// fan-out reads a copy that is replaced, never changed.
/// </summary>
public sealed partial class Connection : IHubClient
{
    public const WebSocketCloseStatus TryAgainLater = (WebSocketCloseStatus)1013;

    private readonly WebSocket socket;
    private readonly EventHub hub;
    private readonly RealtimeOptions options;
    private readonly Channel<Outgoing> outbound;
    private readonly Dictionary<string, Subscription> subscriptions = new(StringComparer.Ordinal);
    // The subscriptions as volatile fan-out reads them, without the hub's gate: replaced whenever they change.
    private Subscription[] current = [];
    // Positions not yet sent, the newest per driver, in the order drivers first got one in: a client that is behind
    // on positions gets the newest of each driver, and positions never count against the outbound queue's bound.
    private readonly Lock locationsGate = new();
    private readonly Dictionary<Guid, Outgoing> locations = [];
    // Numbers what is offered, so the send loop takes the queue and the positions in the order they were offered.
    private long tickets;
    private readonly Queue<Guid> locationOrder = new();
    // Wakes the send loop; rung is 1 from a ring until the loop looks again, so a busy loop costs producers no wake-up.
    private readonly SemaphoreSlim ready = new(0);
    private int rung;
    // Cancelled once the close frame is out (or could not be sent): ends the receive loop.
    private readonly CancellationTokenSource receiveStop = new();
    private (WebSocketCloseStatus Status, string Reason)? closeWith;

    private long lastDropReport;
    private int aborting;
    private readonly MessageBudget budget;
    // A replay waiting for the client to read its queue down to a depth: the send loop (or closing) completes it.
    private DrainWait? drainWait;

    private sealed record DrainWait(int Depth)
    {
        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    public Connection(WebSocket socket, Caller caller, DateTimeOffset tokenExpires, EventHub hub, RealtimeOptions options, CancellationToken aborted)
    {
        this.socket = socket;
        Aborted = aborted;
        this.hub = hub;
        this.options = options;
        Caller = caller;
        UserId = caller.UserId;
        TokenExpires = tokenExpires;
        budget = new MessageBudget(options.MaxMessagesPerSecond);
        outbound = Channel.CreateBounded<Outgoing>(new BoundedChannelOptions(options.OutboundQueueLimit)
        {
            FullMode = BoundedChannelFullMode.Wait,
        });
    }

    public string Id { get; } = Guid.NewGuid().ToString("N");

    public Caller Caller { get; private set; }

    public Guid UserId { get; }

    public DateTimeOffset TokenExpires { get; private set; }

    public int QueueDepth => outbound.Reader.Count + Volatile.Read(ref locationCount);

    private int locationCount;

    public bool IsClosing => closeWith is not null;

    /// <summary>The request's abort token: the client went away.</summary>
    public CancellationToken Aborted { get; }

    /// <summary>One error per second at most about dropped positions: the point is to tell, not to flood back.</summary>
    public bool ShouldReportDrop()
    {
        var now = Environment.TickCount64;
        if (now - Interlocked.Read(ref lastDropReport) < 1000)
        {
            return false;
        }
        Interlocked.Exchange(ref lastDropReport, now);
        return true;
    }

    /// <summary>Topic kinds of the current subscriptions, for the stats.</summary>
    public IReadOnlyList<TopicKind> Topics
    {
        get
        {
            var topics = new List<TopicKind>();
            hub.InStep(() => topics.AddRange(subscriptions.Values.Select(s => s.Topic.Kind)));
            return topics;
        }
    }

    public void Offer(Envelope envelope)
    {
        if (!envelope.IsDurable)
        {
            OfferVolatile(envelope);
            return;
        }
        if (subscriptions.Count == 0 || !envelope.VisibleTo(Caller))
        {
            return;
        }
        var send = false;
        foreach (var subscription in subscriptions.Values)
        {
            if (!subscription.Topic.Covers(envelope) || !subscription.Filters.Match(envelope))
            {
                continue;
            }
            if (subscription.Pending is { } pending && envelope.IsDurable)
            {
                // Still replaying from the store: hold live events until the replay has caught up with them.
                pending.Add(envelope);
                if (pending.Count > options.OutboundQueueLimit)
                {
                    Abort(TryAgainLater, "slow consumer: resume with since");
                }
            }
            else
            {
                send = true;
            }
        }
        if (send)
        {
            Enqueue(envelope.Utf8);
        }
    }

    /// <summary>Not under the hub's gate: reads the copy of the subscriptions, and sends at most once.</summary>
    private void OfferVolatile(Envelope envelope)
    {
        if (closeWith is not null || !envelope.VisibleTo(Caller))
        {
            return;
        }
        foreach (var subscription in Volatile.Read(ref current))
        {
            if (subscription.Topic.Covers(envelope) && subscription.Filters.Match(envelope))
            {
                if (envelope.IsLocation)
                {
                    OfferLocation(envelope.DriverId!.Value, envelope.Utf8, replace: true);
                }
                else
                {
                    Enqueue(envelope.Utf8);
                }
                return;
            }
        }
    }

    /// <summary>
    /// Holds a driver's position for sending, replacing one of the same driver not yet sent (when
    /// <paramref name="replace"/>; the positions sent on subscribing do not replace a live one). Never closes the client.
    /// </summary>
    public void OfferLocation(Guid driverId, ReadOnlyMemory<byte> message, bool replace)
    {
        if (closeWith is not null)
        {
            return;
        }
        lock (locationsGate)
        {
            if (locations.TryAdd(driverId, new Outgoing(Interlocked.Increment(ref tickets), message)))
            {
                locationOrder.Enqueue(driverId);
                locationCount++;
            }
            else if (replace)
            {
                // The newest takes the place in line of the one it replaces.
                locations[driverId] = locations[driverId] with { Utf8 = message };
            }
        }
        Ring();
    }

    /// <summary>The next message to send, queued or a position, whichever was offered first. Only the send loop calls it.</summary>
    private bool TryTakeNext(out ReadOnlyMemory<byte> message)
    {
        var queued = outbound.Reader.TryPeek(out var head);
        lock (locationsGate)
        {
            if (locationOrder.TryPeek(out var driverId) && (!queued || locations[driverId].Ticket < head.Ticket))
            {
                locationOrder.Dequeue();
                locations.Remove(driverId, out var location);
                locationCount--;
                message = location.Utf8;
                return true;
            }
        }
        if (queued && outbound.Reader.TryRead(out head))
        {
            message = head.Utf8;
            return true;
        }
        message = default;
        return false;
    }

    private void Ring()
    {
        if (Interlocked.Exchange(ref rung, 1) == 0)
        {
            ready.Release();
        }
    }

    /// <summary>Queues a message; a client whose queue is full is closed (1013) and resumes with <c>since</c>.</summary>
    public bool Enqueue(ReadOnlyMemory<byte> message)
    {
        if (outbound.Writer.TryWrite(new Outgoing(Interlocked.Increment(ref tickets), message)))
        {
            Ring();
            return true;
        }
        Abort(TryAgainLater, "slow consumer: resume with since");
        return false;
    }

    /// <summary>
    /// Queues a replayed message, waiting for room: a replay goes at the pace the client reads. Live events meanwhile
    /// wait in the subscription's bounded buffer. A client that reads nothing for long is closed (1013).
    /// </summary>
    public async ValueTask<bool> EnqueueReplayedAsync(ReadOnlyMemory<byte> message)
    {
        if (outbound.Writer.TryWrite(new Outgoing(Interlocked.Increment(ref tickets), message)))
        {
            Ring();
            return true;
        }
        using var patience = CancellationTokenSource.CreateLinkedTokenSource(Aborted);
        patience.CancelAfter(TimeSpan.FromSeconds(30));
        try
        {
            await outbound.Writer.WriteAsync(new Outgoing(Interlocked.Increment(ref tickets), message), patience.Token);
            Ring();
            return true;
        }
        catch (ChannelClosedException)
        {
            return false;
        }
        catch (OperationCanceledException) when (!Aborted.IsCancellationRequested)
        {
            Abort(TryAgainLater, "slow consumer: resume with since");
            return false;
        }
    }

    public bool Send<T>(T message, JsonTypeInfo<T> type) => Enqueue(JsonSerializer.SerializeToUtf8Bytes(message, type));

    public bool SendError(string code, string message, IReadOnlyDictionary<string, string>? details = null) =>
        Send(new ErrorMessage(code, message, details), RealtimeJson.Default.ErrorMessage);

    /// <summary>Ends the connection with a close code; queued messages are not sent.</summary>
    public void Abort(WebSocketCloseStatus status, string reason)
    {
        // Volatile fan-out may find the queue full on several threads at once: the first one closes.
        if (Interlocked.Exchange(ref aborting, 1) == 1)
        {
            return;
        }
        closeWith = (status, reason);
        if (status == TryAgainLater)
        {
            hub.CountDropped();
        }
        // What is queued is dropped, so memory is freed at once; a send already under way may finish.
        outbound.Writer.TryComplete();
        while (outbound.Reader.TryRead(out _))
        {
        }
        lock (locationsGate)
        {
            locations.Clear();
            locationOrder.Clear();
            locationCount = 0;
        }
        Volatile.Read(ref drainWait)?.Done.TrySetResult();
        ready.Release();
    }

    /// <summary>
    /// Waits until at most <paramref name="depth"/> messages wait in the queue: the client reads at its pace. False when
    /// the connection ends meanwhile, or the client read nothing for 30 s (then it is closed, 1013).
    /// </summary>
    private async ValueTask<bool> WaitUntilQueuedAtMostAsync(int depth)
    {
        if (outbound.Reader.Count <= depth)
        {
            return !IsClosing;
        }
        var wait = new DrainWait(depth);
        Volatile.Write(ref drainWait, wait);
        using var patience = CancellationTokenSource.CreateLinkedTokenSource(Aborted);
        patience.CancelAfter(TimeSpan.FromSeconds(30));
        try
        {
            // Look again once registered: the send loop may have passed the mark in between.
            if (outbound.Reader.Count > depth && !IsClosing)
            {
                await wait.Done.Task.WaitAsync(patience.Token);
            }
            return !IsClosing;
        }
        catch (OperationCanceledException) when (!Aborted.IsCancellationRequested)
        {
            Abort(TryAgainLater, "slow consumer: resume with since");
            return false;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
        finally
        {
            Volatile.Write(ref drainWait, null);
        }
    }

    /// <summary>
    /// Before a replay reads its next page from the store: the client has read the previous one down to
    /// <paramref name="depth"/> queued messages, and the page is paid from its message budget (waiting for it, if need
    /// be). So a replay is paced by the client's reading, and replays again and again cost like a flood. False when the
    /// connection is ending.
    /// </summary>
    public async ValueTask<bool> BeforeReplayPageAsync(int depth)
    {
        if (!await WaitUntilQueuedAtMostAsync(depth))
        {
            return false;
        }
        await budget.SpendForReplayAsync(Aborted);
        return !IsClosing;
    }

    public void Reauthenticate(Caller caller, DateTimeOffset expires)
    {
        hub.InStep(() =>
        {
            // What the user may see can change with the token: file the subscriptions again under the new one.
            Unfile(subscriptions.Values);
            Caller = caller;
            TokenExpires = expires;
            File(subscriptions.Values);
        });
    }

    public bool HasSubscription(string id) => subscriptions.ContainsKey(id);

    public int SubscriptionCount => subscriptions.Count;

    /// <summary>Adds a subscription that holds live events until <see cref="GoLiveAsync"/>; returns the head to replay up to.</summary>
    public long AddReplaying(Subscription subscription) =>
        hub.InStep(() =>
        {
            subscriptions[subscription.Id] = subscription with { Pending = subscription.Pending ?? [] };
            File([subscription]);
            Changed();
        });

    // The three below run inside the hub's gate.
    private void File(IEnumerable<Subscription> added)
    {
        foreach (var subscription in added)
        {
            if (Route.Of(subscription.Topic, Caller) is { } route)
            {
                hub.AddRoute(this, route);
            }
        }
    }

    private void Unfile(IEnumerable<Subscription> removed)
    {
        foreach (var subscription in removed)
        {
            if (Route.Of(subscription.Topic, Caller) is { } route)
            {
                hub.RemoveRoute(this, route);
            }
        }
    }

    private void Changed() => Volatile.Write(ref current, [.. subscriptions.Values]);

    /// <summary>
    /// Sends what arrived during the replay (after <paramref name="replayedUpTo"/>), then lets live events through.
    /// A replay may leave the queue full: first the client reads it down to half, at its pace as during the replay,
    /// so the answer and the held events do not find a reader that is still catching up and close it as slow.
    /// </summary>
    public async ValueTask GoLiveAsync(string id, long replayedUpTo, ReadOnlyMemory<byte> subscribedMessage)
    {
        if (!await WaitUntilQueuedAtMostAsync(options.OutboundQueueLimit / 2))
        {
            return;
        }
        hub.InStep(() =>
        {
            if (!subscriptions.TryGetValue(id, out var subscription))
            {
                return;
            }
            Enqueue(subscribedMessage);
            foreach (var envelope in subscription.Pending ?? [])
            {
                if (envelope.Seq > replayedUpTo)
                {
                    Enqueue(envelope.Utf8);
                }
            }
            subscriptions[id] = subscription with { Pending = null };
            Changed();
        });
    }

    public bool RemoveSubscription(string id)
    {
        var removed = false;
        hub.InStep(() =>
        {
            if (subscriptions.Remove(id, out var subscription))
            {
                removed = true;
                Unfile([subscription]);
                Changed();
            }
        });
        return removed;
    }

    public IReadOnlyList<Subscription> Subscriptions
    {
        get
        {
            var copy = new List<Subscription>();
            hub.InStep(() => copy.AddRange(subscriptions.Values));
            return copy;
        }
    }

    /// <summary>
    /// Drains the queue to the socket until the connection ends, then closes with the reason given. The queue goes
    /// first; a position waits only for what was queued before the loop looked.
    /// </summary>
    public async Task SendLoopAsync(CancellationToken ct)
    {
        try
        {
            while (closeWith is null)
            {
                if (!TryTakeNext(out var message))
                {
                    // Look once more after clearing the bell: whatever comes later rings it again.
                    Volatile.Write(ref rung, 0);
                    if (!TryTakeNext(out message))
                    {
                        await ready.WaitAsync(ct);
                        continue;
                    }
                }
                await socket.SendAsync(message, WebSocketMessageType.Text, endOfMessage: true, ct);
                hub.CountSent();
                if (Volatile.Read(ref drainWait) is { } wait && outbound.Reader.Count <= wait.Depth)
                {
                    wait.Done.TrySetResult();
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException)
        {
        }
        await CloseAsync();
        // The client answers the close frame, which ends the receive loop; one that does not is cut off.
        receiveStop.CancelAfter(TimeSpan.FromSeconds(10));
    }

    /// <summary>
    /// Sends the close frame. A client that reads nothing gets it once it reads again; one that never does is cut
    /// off after a while. Either way nothing more is queued for it meanwhile.
    /// </summary>
    private async Task CloseAsync()
    {
        if (socket.State is not (WebSocketState.Open or WebSocketState.CloseReceived))
        {
            return;
        }
        var (status, reason) = closeWith ?? (WebSocketCloseStatus.NormalClosure, "bye");
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await socket.CloseOutputAsync(status, reason, timeout.Token);
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException)
        {
            socket.Abort();
        }
    }

    /// <summary>
    /// Reads whole messages of at most <see cref="RealtimeOptions.MaxMessageBytes"/>; a larger one closes with 1009,
    /// more messages than the rate allows close with 1008. <paramref name="handle"/> says whether a message counts
    /// toward that rate: a position the tracker accepted does not (it has its own rate, per driver), so a driver's
    /// backlog that arrives at once after a stall is not taken for a flood. Returns when either side ends the connection.
    /// </summary>
    public async Task ReceiveLoopAsync(Func<Connection, ReadOnlyMemory<byte>, Task<bool>> handle, CancellationToken requestAborted)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(requestAborted, receiveStop.Token);
        var ct = stop.Token;
        try
        {
            while (socket.State == WebSocketState.Open && closeWith is null)
            {
                // Wait for data without a buffer: an idle connection holds none (most connections are idle).
                var ready = await socket.ReceiveAsync(Memory<byte>.Empty, ct);
                if (ready.MessageType == WebSocketMessageType.Close)
                {
                    Abort(WebSocketCloseStatus.NormalClosure, "bye");
                    return;
                }
                if (closeWith is not null)
                {
                    break;
                }
                var buffer = ArrayPool<byte>.Shared.Rent(options.MaxMessageBytes);
                try
                {
                    if (await ReadMessageAsync(buffer, ct) is not { } message)
                    {
                        break;
                    }

                    var counts = true;
                    if (message.Type == WebSocketMessageType.Binary)
                    {
                        SendError("bad_request", "Messages are JSON text frames.");
                    }
                    else
                    {
                        counts = await handle(this, buffer.AsMemory(0, message.Length));
                    }

                    if (counts && !budget.TrySpend())
                    {
                        Abort(WebSocketCloseStatus.PolicyViolation, "too many messages");
                        break;
                    }
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
            }
            await DiscardUntilClosedAsync(ct);
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException)
        {
        }
        finally
        {
            Abort(WebSocketCloseStatus.NormalClosure, "bye");
        }
    }

    /// <summary>
    /// The server is closing (flood, oversize, slow consumer, expired token): the send loop sends the close frame, and
    /// this reads on, handling nothing, until the client answers it (or the send loop gives up on it). A socket closed
    /// with unread input is reset, and a client still writing then loses the close frame and sees 1006, not why.
    /// </summary>
    private async Task DiscardUntilClosedAsync(CancellationToken ct)
    {
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
                Abort(WebSocketCloseStatus.MessageTooBig, $"messages are limited to {options.MaxMessageBytes} bytes");
                return null;
            }
            result = await socket.ReceiveAsync(buffer.AsMemory(length, options.MaxMessageBytes - length), ct);
            length += result.Count;
        }
        while (!result.EndOfMessage && result.MessageType != WebSocketMessageType.Close);
        if (result.MessageType == WebSocketMessageType.Close)
        {
            Abort(WebSocketCloseStatus.NormalClosure, "bye");
            return null;
        }
        return (result.MessageType, length);
    }
}

/// <summary>A subscription; <see cref="Pending"/> holds live events while its replay runs.</summary>
public sealed record Subscription(string Id, Topic Topic, Filters Filters, List<Envelope>? Pending);

/// <summary>A message waiting for the socket, numbered in the order it was offered.</summary>
internal readonly record struct Outgoing(long Ticket, ReadOnlyMemory<byte> Utf8);
