using GeoLogistics.Server.Auth;

namespace GeoLogistics.Server.Realtime.Core;

/// <summary>
/// One client of the live core, whatever its protocol: who it is, its subscriptions, its outbox (bounded, with the
/// newest position per driver merged), the switch from replay to live, and why it ended. Nothing runs for a session
/// while nothing moves: a message offered schedules one sender on the thread pool, which writes until the outbox is
/// empty, hands the transport the lot to put on the network at once, and stops. Subscriptions change only inside <see cref="LiveHub.InStep"/>, so durable fan-out (which runs
/// there too) sees a consistent set; volatile fan-out reads a copy that is replaced, never changed.
/// </summary>
public sealed partial class LiveSession : IThreadPoolWorkItem
{
    private readonly ISessionTransport transport;
    private readonly LiveHub hub;
    private readonly Outbox outbox = new();
    // The session's lock (the outbox, the closing state) is the outbox itself, which is never handed out: a lock object
    // of its own would be one more allocation per socket held for the socket's life.
    private object gate => outbox;
    // 1 while a sender is scheduled or writing.
    private int sending;
    // Set once, by the first Close: the reason and the closing flag in one write, so a sender never sees one without the other.
    private SessionClose? closeWith;
    private TaskCompletionSource? closed;
    private bool ended;
    // A replay waiting for the client to read its outbox down to a depth: the sender (or closing) completes it.
    private DrainWait? drainWait;
    private long lastDropReport;
    // Written by the sender only; a counter per session, not one shared by every sender on every core.
    private long sent;

    private sealed record DrainWait(int Depth)
    {
        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    public LiveSession(ISessionTransport transport, Caller caller, DateTimeOffset tokenExpires, LiveHub hub, string protocol, CancellationToken aborted)
    {
        this.transport = transport;
        this.hub = hub;
        Caller = caller;
        TokenExpires = tokenExpires;
        Protocol = protocol;
        Aborted = aborted;
        Budget = new MessageBudget(hub.Options.MaxMessagesPerSecond);
    }

    private readonly Guid id = Guid.NewGuid();

    /// <summary>The session's id as the handshake tells it (made when asked: only the handshake asks).</summary>
    public string Id => id.ToString("N");

    /// <summary>The hub the session belongs to (its options, its counters).</summary>
    public LiveHub Hub => hub;

    public Caller Caller { get; private set; }

    public Guid UserId => Caller.UserId;

    public DateTimeOffset TokenExpires { get; private set; }

    /// <summary>The adapter's name for the stats: <c>json</c>, <c>stomp</c>, …</summary>
    public string Protocol { get; }

    /// <summary>The client went away.</summary>
    public CancellationToken Aborted { get; }

    /// <summary>What the client's messages (and the replays it asks for) may cost per second.</summary>
    public MessageBudget Budget { get; }

    /// <summary>Messages written to the transport.</summary>
    public long Sent => Volatile.Read(ref sent);

    public bool IsClosing => Volatile.Read(ref closeWith) is not null;

    public int QueueDepth
    {
        get
        {
            lock (gate)
            {
                return outbox.Queued + outbox.Positions;
            }
        }
    }

    /// <summary>One notice per second at most about dropped positions: the point is to tell, not to flood back.</summary>
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

    // ---- Delivery (the hub calls these) ----

    /// <summary>
    /// Enqueue or drop, never block. Durable events come under the hub's gate, in seq order; volatile messages from
    /// any thread, at the same time as others.
    /// </summary>
    public void Offer(LiveMessage message)
    {
        if (!message.IsDurable)
        {
            OfferVolatile(message);
            return;
        }
        var subscriptions = current;
        if (subscriptions.Length == 0 || !message.VisibleTo(Caller))
        {
            return;
        }
        var sentOnce = false;
        foreach (var subscription in subscriptions)
        {
            if (!subscription.Topic.Covers(message) || !subscription.Filters.Match(message))
            {
                continue;
            }
            if (subscription.Pending is { } pending)
            {
                // Still replaying from the store: hold live events until the replay has caught up with them.
                pending.Add(message);
                if (pending.Count > hub.Options.OutboundQueueLimit)
                {
                    Close(SessionClose.SlowConsumer);
                }
            }
            else if (!sentOnce || transport.DeliversPerSubscription)
            {
                Deliver(Outgoing.For(message, subscription.Id));
                sentOnce = true;
            }
        }
    }

    /// <summary>Not under the hub's gate: reads the copy of the subscriptions, and sends at most once.</summary>
    private void OfferVolatile(LiveMessage message)
    {
        if (IsClosing || !message.VisibleTo(Caller))
        {
            return;
        }
        foreach (var subscription in Volatile.Read(ref current))
        {
            if (subscription.Topic.Covers(message) && subscription.Filters.Match(message))
            {
                if (message.LatestOf is not null)
                {
                    OfferLatest(message, subscription.Id, replace: true);
                }
                else
                {
                    Deliver(Outgoing.For(message, subscription.Id));
                }
                if (!transport.DeliversPerSubscription)
                {
                    return;
                }
            }
        }
    }

    /// <summary>
    /// Holds a driver's position or an order's ETA for sending to a subscription, the newest of each (see
    /// <see cref="Outbox.OfferPosition"/>). Never closes the client.
    /// </summary>
    public void OfferLatest(LiveMessage message, string subscriptionId, bool replace)
    {
        lock (gate)
        {
            if (IsClosing)
            {
                return;
            }
            outbox.OfferPosition(message.LatestOf!.Value, Outgoing.For(message, subscriptionId), replace);
        }
        Schedule();
    }

    /// <summary>Queues a reply the protocol has framed; see <see cref="Deliver"/>.</summary>
    public bool Send(ReadOnlyMemory<byte> reply) => Deliver(Outgoing.Framed(reply));

    /// <summary>Queues a message; a client whose queue is full is closed (slow consumer) and resumes with <c>since</c>.</summary>
    private bool Deliver(Outgoing message)
    {
        bool queued;
        lock (gate)
        {
            if (IsClosing)
            {
                return false;
            }
            queued = outbox.Queued < hub.Options.OutboundQueueLimit;
            if (queued)
            {
                outbox.Enqueue(message);
            }
        }
        if (!queued)
        {
            Close(SessionClose.SlowConsumer);
            return false;
        }
        Schedule();
        return true;
    }

    // ---- Ending ----

    /// <summary>Ends the session with a reason; what is queued is dropped. The first reason given wins.</summary>
    public void Close(SessionClose close)
    {
        if (Interlocked.CompareExchange(ref closeWith, close, null) is not null)
        {
            return;
        }
        if (close.Reason == CloseReason.SlowConsumer)
        {
            hub.CountDropped();
        }
        lock (gate)
        {
            outbox.Clear();
        }
        Volatile.Read(ref drainWait)?.Done.TrySetResult();
        // A sender that is writing closes once its write returns; otherwise one is scheduled to close.
        Schedule();
    }

    /// <summary>Closes the transport, once, and completes <see cref="WhenEndedAsync"/>.</summary>
    private async Task EndAsync()
    {
        try
        {
            await transport.CloseAsync(Volatile.Read(ref closeWith) ?? SessionClose.Bye);
        }
        finally
        {
            TaskCompletionSource? waiting;
            lock (gate)
            {
                ended = true;
                waiting = closed;
            }
            waiting?.TrySetResult();
        }
    }

    /// <summary>Completes once the transport was closed (the reason sent, or the connection found gone).</summary>
    public Task WhenEndedAsync()
    {
        lock (gate)
        {
            return ended ? Task.CompletedTask : (closed ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
        }
    }

    // ---- Replay pacing ----

    /// <summary>
    /// Before a replay reads its next page from the store: the client has read the previous one down to
    /// <paramref name="depth"/> queued messages, and the page is paid from its message budget (waiting for it, if need
    /// be). So a replay is paced by the client's reading, and replays again and again cost like a flood. False when the
    /// session is ending.
    /// </summary>
    public async ValueTask<bool> BeforeReplayPageAsync(int depth)
    {
        if (!await WaitUntilQueuedAtMostAsync(depth))
        {
            return false;
        }
        await Budget.SpendForReplayAsync(Aborted);
        return !IsClosing;
    }

    /// <summary>
    /// Queues a replayed page at once, so the sender writes it in a run (and the transport in few writes). The replay
    /// waited for the client to read the previous page down before reading this one (<see cref="BeforeReplayPageAsync"/>),
    /// and a page is at most half the outbox, so the bound holds without counting each message against it.
    /// </summary>
    public bool SendReplayed(IReadOnlyList<LiveMessage> page, string subscriptionId)
    {
        lock (gate)
        {
            if (IsClosing)
            {
                return false;
            }
            foreach (var message in page)
            {
                outbox.Enqueue(Outgoing.For(message, subscriptionId));
            }
        }
        Schedule();
        return true;
    }

    /// <summary>
    /// Waits until at most <paramref name="depth"/> messages wait in the queue: the client reads at its pace. False when
    /// the session ends meanwhile, or the client read nothing for 30 s (then it is closed as slow).
    /// </summary>
    private async ValueTask<bool> WaitUntilQueuedAtMostAsync(int depth)
    {
        if (QueuedCount() <= depth)
        {
            return !IsClosing;
        }
        var wait = new DrainWait(depth);
        Volatile.Write(ref drainWait, wait);
        using var patience = CancellationTokenSource.CreateLinkedTokenSource(Aborted);
        patience.CancelAfter(TimeSpan.FromSeconds(30));
        try
        {
            // Look again once registered: the sender may have passed the mark in between.
            if (QueuedCount() > depth && !IsClosing)
            {
                await wait.Done.Task.WaitAsync(patience.Token);
            }
            return !IsClosing;
        }
        catch (OperationCanceledException) when (!Aborted.IsCancellationRequested)
        {
            Close(SessionClose.SlowConsumer);
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
}
