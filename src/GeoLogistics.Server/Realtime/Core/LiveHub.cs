using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using GeoLogistics.Server.Events;
using Microsoft.Extensions.Options;

namespace GeoLogistics.Server.Realtime.Core;

/// <summary>
/// The fan-out of the live core, protocol-neutral: takes committed events from the feed and volatile messages from
/// producers (<see cref="ILivePublisher"/>), and offers each, serialized once, to the sessions filed under the routes
/// it names (<see cref="Route"/>): a message costs the sessions that may want it, not every session. A session then
/// decides by its subscriptions and its user's visibility, and only enqueues (nothing here awaits a socket).
/// Durable events are offered under one lock that also orders them against subscribing, so a subscription switching
/// from replay to live sees each seq exactly once. Volatile messages have no order to keep and take no lock.
/// </summary>
public sealed class LiveHub : ILivePublisher
{
    private readonly Lock gate = new();
    private readonly HashSet<LiveSession> sessions = [];
    // Route → its sessions: changed under the gate, read by volatile fan-out without it (FiledSessions says how).
    private readonly ConcurrentDictionary<Route, FiledSessions> routes = new();
    // The sessions of each user, whatever their protocol, under the gate: what closing a user's sockets looks up.
    private readonly Dictionary<Guid, List<LiveSession>> sessionsOf = [];
    // Sockets admitted per user, counted from before the upgrade until the connection ends (Realtime:MaxConnectionsPerUser).
    private readonly Lock admissionGate = new();
    private readonly Dictionary<Guid, int> admitted = [];
    [ThreadStatic]
    private static HashSet<LiveSession>? recipients;
    private readonly ConcurrentDictionary<Guid, LiveMessage> latestPositions = new();
    // The newest ETA of each order under way on this node's view (ActiveOrders says which): null until one comes.
    private readonly ConcurrentDictionary<Guid, LiveMessage?> latestEtas = new();
    private readonly EventFeed feed;
    private long delivered;
    private long messagesSentByEnded;
    private long sessionsDropped;
    private long replayed;

    public LiveHub(EventFeed feed, IOptions<RealtimeOptions> options)
    {
        this.feed = feed;
        Options = options.Value;
        feed.Subscribe((events, _) =>
        {
            OfferCommitted(events);
            return Task.CompletedTask;
        });
    }

    public RealtimeOptions Options { get; }

    /// <summary>The newest seq offered to sessions. Read it under the gate to pair it with a registration.</summary>
    private long HeadUnderGate => Math.Max(delivered, feed.Head);

    public long Head
    {
        get
        {
            lock (gate)
            {
                return HeadUnderGate;
            }
        }
    }

    public long Replayed => Interlocked.Read(ref replayed);

    /// <summary>Messages written to every session since start-up.</summary>
    public long MessagesSent
    {
        get
        {
            lock (gate)
            {
                return messagesSentByEnded + sessions.Sum(s => s.Sent);
            }
        }
    }

    public long SessionsDropped => Interlocked.Read(ref sessionsDropped);

    private long received;

    /// <summary>Messages clients sent, on every protocol, since start-up.</summary>
    public long MessagesReceived => Interlocked.Read(ref received);

    /// <summary>Each protocol counts every message a client sends it, whatever becomes of it.</summary>
    public void CountReceived() => Interlocked.Increment(ref received);

    public void CountReplayed(int count) => Interlocked.Add(ref replayed, count);

    public void CountDropped() => Interlocked.Increment(ref sessionsDropped);

    public IReadOnlyList<LiveSession> Sessions
    {
        get
        {
            lock (gate)
            {
                return [.. sessions];
            }
        }
    }

    /// <summary>The sessions of one user, on every protocol.</summary>
    public IReadOnlyList<LiveSession> SessionsOf(Guid userId)
    {
        lock (gate)
        {
            return [.. sessionsOf.GetValueOrDefault(userId) ?? []];
        }
    }

    // ---- Draining ----

    private volatile bool draining;

    /// <summary>The node is stopping: no new connection is admitted (each protocol answers "try another node").</summary>
    public bool IsDraining => draining;

    /// <summary>
    /// Stops admitting connections and closes every session with <paramref name="close"/> (what is queued is dropped:
    /// the clients resume with <c>since</c>, on another node); completes when they have all ended or
    /// <paramref name="patience"/> has passed.
    /// </summary>
    public async Task DrainAsync(SessionClose close, TimeSpan patience)
    {
        draining = true;
        var open = Sessions;
        foreach (var session in open)
        {
            session.Close(close);
        }
        await Task.WhenAll(open.Select(s => s.WhenEndedAsync())).WaitAsync(patience).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    // ---- Admission ----

    /// <summary>
    /// Admits one more connection of <paramref name="userId"/>, or null when the user holds
    /// <see cref="RealtimeOptions.MaxConnectionsPerUser"/> already. Every protocol asks here before its upgrade, so the
    /// count covers them all; dispose the admission when the connection ends.
    /// </summary>
    public Admission? TryAdmit(Guid userId)
    {
        lock (admissionGate)
        {
            var held = admitted.GetValueOrDefault(userId);
            if (held >= Options.MaxConnectionsPerUser)
            {
                return null;
            }
            admitted[userId] = held + 1;
        }
        return new Admission(this, userId);
    }

    /// <summary>Sockets the user holds now (admitted, and not yet ended).</summary>
    public int AdmittedOf(Guid userId)
    {
        lock (admissionGate)
        {
            return admitted.GetValueOrDefault(userId);
        }
    }

    private void Release(Guid userId)
    {
        lock (admissionGate)
        {
            if (admitted.GetValueOrDefault(userId) <= 1)
            {
                admitted.Remove(userId);
            }
            else
            {
                admitted[userId]--;
            }
        }
    }

    /// <summary>One admitted connection; disposing it gives the place back (once).</summary>
    public sealed class Admission(LiveHub hub, Guid userId) : IDisposable
    {
        private int released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref released, 1) == 0)
            {
                hub.Release(userId);
            }
        }
    }

    // ---- Sessions and their routes ----

    public void Add(LiveSession session)
    {
        lock (gate)
        {
            if (sessions.Add(session))
            {
                (CollectionsMarshal.GetValueRefOrAddDefault(sessionsOf, session.UserId, out _) ??= []).Add(session);
            }
        }
    }

    public void Remove(LiveSession session)
    {
        lock (gate)
        {
            if (!sessions.Remove(session))
            {
                return;
            }
            messagesSentByEnded += session.Sent;
            if (sessionsOf.GetValueOrDefault(session.UserId) is { } ofUser)
            {
                ofUser.Remove(session);
                if (ofUser.Count == 0)
                {
                    sessionsOf.Remove(session.UserId);
                }
            }
            foreach (var filing in session.TakeFilings())
            {
                Unfile(filing.Route, filing.Slot);
            }
        }
    }

    /// <summary>Files a subscription of <paramref name="session"/> under <paramref name="route"/>. Inside <see cref="InStep"/>.</summary>
    internal void AddRoute(LiveSession session, Route route)
    {
        // Two subscriptions on one route (orders with two filters) file the session once: it is offered a message once.
        if (!sessions.Contains(session) || session.FileAgain(route))
        {
            return;
        }
        var filed = routes.GetOrAdd(route, static r => new FiledSessions(r));
        session.Filed(route, filed.Add(session));
    }

    /// <summary>Takes one subscription of <paramref name="session"/> off <paramref name="route"/>. Inside <see cref="InStep"/>.</summary>
    internal void RemoveRoute(LiveSession session, Route route)
    {
        if (session.Unfile(route) is { } slot)
        {
            Unfile(route, slot);
        }
    }

    private void Unfile(Route route, int slot)
    {
        if (!routes.TryGetValue(route, out var filed))
        {
            return;
        }
        filed.RemoveAt(slot);
        if (filed.Count == 0)
        {
            routes.TryRemove(route, out _);
        }
    }

    /// <summary>Runs <paramref name="change"/> in step with durable fan-out.</summary>
    public void InStep(Action change)
    {
        lock (gate)
        {
            change();
        }
    }

    /// <summary>Runs <paramref name="change"/> in step with durable fan-out.</summary>
    public T InStep<T>(Func<T> change)
    {
        lock (gate)
        {
            return change();
        }
    }

    /// <summary>Runs <paramref name="change"/> in step with durable fan-out and returns the head at that moment.</summary>
    public long InStepHead(Action change)
    {
        lock (gate)
        {
            change();
            return HeadUnderGate;
        }
    }

    // ---- Fan-out ----

    /// <summary>A batch of committed events from the feed, in seq order.</summary>
    internal void OfferCommitted(IReadOnlyList<CommittedEvent> events)
    {
        var messages = new LiveMessage[events.Count];
        for (var i = 0; i < messages.Length; i++)
        {
            messages[i] = LiveMessage.Of(events[i]);
        }
        LiveSession.RunWokenSenders(static x =>
        {
            lock (x.Hub.gate)
            {
                foreach (var message in x.Messages)
                {
                    x.Hub.Deliver(message);
                }
                x.Hub.delivered = x.Messages[^1].Seq;
            }
        }, (Hub: this, Messages: messages));
    }

    /// <summary>
    /// A volatile message: offered, once each, to the sessions filed under the routes it names, never logged. No lock:
    /// a subscription made at the same moment may or may not get it (it gets the latest position and ETAs on subscribing).
    /// </summary>
    public void Publish(LiveMessage message)
    {
        if (message.IsLocation)
        {
            latestPositions[message.DriverId!.Value] = message;
        }
        else if (message.IsEta)
        {
            KeepEta(message, overNewer: true);
        }
        Deliver(message);
    }

    private void Deliver(LiveMessage message)
    {
        Span<Route> named = stackalloc Route[Route.MaxPerMessage];
        var count = Route.Of(message, named);
        FiledSessions? only = null;
        var several = false;
        foreach (var route in named[..count])
        {
            if (routes.TryGetValue(route, out var filed))
            {
                several |= only is not null;
                only ??= filed;
            }
        }
        if (only is null)
        {
            return;
        }
        if (!several)
        {
            // The common case (every dashboard on one route): a session is filed under a route once, so it is met once.
            foreach (var session in only.Slots)
            {
                session?.Offer(message);
            }
            return;
        }
        // A session filed under two of the routes gets the message once.
        var once = recipients ??= new HashSet<LiveSession>(ReferenceEqualityComparer.Instance);
        try
        {
            foreach (var route in named[..count])
            {
                if (routes.TryGetValue(route, out var filed))
                {
                    foreach (var session in filed.Slots)
                    {
                        if (session is not null && once.Add(session))
                        {
                            session.Offer(message);
                        }
                    }
                }
            }
        }
        finally
        {
            once.Clear();
        }
    }

    /// <summary>The last position of every driver that reported one since start-up (on any node, with a backplane).</summary>
    public IEnumerable<LiveMessage> LatestPositions => latestPositions.Values;

    public LiveMessage? LatestPosition(Guid driverId) => latestPositions.GetValueOrDefault(driverId);

    /// <summary>A position from before this node started (another node's): remembered for maps, not delivered, and never over a live one.</summary>
    public void RememberPosition(LiveMessage position)
    {
        if (position.IsLocation)
        {
            latestPositions.TryAdd(position.DriverId!.Value, position);
        }
    }

    // ---- The latest ETAs ----

    /// <summary>The newest ETA of every order under way (made on any node, with a backplane).</summary>
    public IEnumerable<LiveMessage> LatestEtas => latestEtas.Values.OfType<LiveMessage>();

    public LiveMessage? LatestEta(Guid orderId) => latestEtas.GetValueOrDefault(orderId);

    /// <summary>A driver is on its way for the order (a new leg, or a new driver): its ETAs are kept from now on, none yet.</summary>
    public void KeepEtasOf(Guid orderId) => latestEtas[orderId] = null;

    /// <summary>The order ended: its ETA is forgotten, and one that comes after (a ping in flight, another node's) is not kept.</summary>
    public void ForgetEtasOf(Guid orderId) => latestEtas.TryRemove(orderId, out _);

    /// <summary>An ETA from before this node started (another node's): remembered for maps, not delivered, and never over a live one.</summary>
    public void RememberEta(LiveMessage eta)
    {
        if (eta.IsEta)
        {
            KeepEta(eta, overNewer: false);
        }
    }

    /// <summary>Only for an order under way: the order's entry is the permission, so a late ETA cannot outlive its order.</summary>
    private void KeepEta(LiveMessage eta, bool overNewer)
    {
        var orderId = eta.OrderId!.Value;
        while (latestEtas.TryGetValue(orderId, out var held) && (overNewer || held is null))
        {
            if (latestEtas.TryUpdate(orderId, eta, held))
            {
                return;
            }
        }
    }
}
