using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using System.Text.Json;
using GeoLogistics.Server.Events;

namespace GeoLogistics.Server.Realtime;

/// <summary>
/// The protocol-neutral core: takes committed events from the feed and volatile messages from the API, and offers
/// each, serialized once, to the connections that may want it; a connection decides by its subscriptions and its
/// user's visibility. Fan-out only enqueues (never awaits a socket).
/// Durable events go to every connection under one lock that also orders them against subscribing, so that a
/// subscription switching from replay to live sees each seq exactly once. Volatile messages (a position, an ETA) have
/// no order to keep: they take no lock, and go only to the subscribers filed under the routes they name.
/// </summary>
public sealed class EventHub
{
    private readonly Lock gate = new();
    private readonly HashSet<IHubClient> clients = [];
    // Route → its subscribers, copy-on-write: changed under the gate, read by volatile fan-out without it.
    private readonly ConcurrentDictionary<Route, IHubClient[]> routes = new();
    private readonly Dictionary<IHubClient, List<Route>> routesOf = [];
    // The connections of each user, whatever their protocol, under the gate: what closing a user's sockets looks up.
    private readonly Dictionary<Guid, List<IHubClient>> clientsOf = [];
    // Sockets admitted per user, counted from before the upgrade until the connection ends (Realtime:MaxConnectionsPerUser).
    private readonly Lock admissionGate = new();
    private readonly Dictionary<Guid, int> admitted = [];
    [ThreadStatic]
    private static HashSet<IHubClient>? recipients;
    private readonly ConcurrentDictionary<Guid, Envelope> latestLocations = new();
    private readonly EventFeed feed;
    private long delivered;
    private long messagesSent;
    private long clientsDropped;
    private long replayed;

    public EventHub(EventFeed feed, Microsoft.Extensions.Options.IOptions<RealtimeOptions> options)
    {
        this.feed = feed;
        Options = options.Value;
        feed.Subscribe(OnCommittedAsync);
    }

    public RealtimeOptions Options { get; }

    public long Replayed => Interlocked.Read(ref replayed);

    public void CountReplayed(int count) => Interlocked.Add(ref replayed, count);

    /// <summary>The newest seq offered to clients. Read it under the gate to pair it with a registration.</summary>
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

    public long MessagesSent => Interlocked.Read(ref messagesSent);

    public long ClientsDropped => Interlocked.Read(ref clientsDropped);

    public void CountSent() => Interlocked.Increment(ref messagesSent);

    public void CountDropped() => Interlocked.Increment(ref clientsDropped);

    public IReadOnlyList<IHubClient> Clients
    {
        get
        {
            lock (gate)
            {
                return [.. clients];
            }
        }
    }

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
    public sealed class Admission(EventHub hub, Guid userId) : IDisposable
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

    /// <summary>The connections of one user, on every protocol.</summary>
    public IReadOnlyList<IHubClient> ClientsOf(Guid userId)
    {
        lock (gate)
        {
            return [.. clientsOf.GetValueOrDefault(userId) ?? []];
        }
    }

    public void Add(IHubClient client)
    {
        lock (gate)
        {
            if (clients.Add(client))
            {
                (CollectionsMarshal.GetValueRefOrAddDefault(clientsOf, client.UserId, out _) ??= []).Add(client);
            }
        }
    }

    public void Remove(IHubClient client)
    {
        lock (gate)
        {
            if (clients.Remove(client) && clientsOf.GetValueOrDefault(client.UserId) is { } ofUser)
            {
                ofUser.Remove(client);
                if (ofUser.Count == 0)
                {
                    clientsOf.Remove(client.UserId);
                }
            }
            foreach (var route in routesOf.GetValueOrDefault(client) ?? [])
            {
                Unfile(client, route);
            }
            routesOf.Remove(client);
        }
    }

    /// <summary>Files a subscription of <paramref name="client"/> under <paramref name="route"/>. Inside <see cref="InStep"/>.</summary>
    public void AddRoute(IHubClient client, Route route)
    {
        lock (gate)
        {
            if (!clients.Contains(client))
            {
                return;
            }
            (CollectionsMarshal.GetValueRefOrAddDefault(routesOf, client, out _) ??= []).Add(route);
            routes[route] = [.. routes.GetValueOrDefault(route) ?? [], client];
        }
    }

    /// <summary>Takes one subscription of <paramref name="client"/> off <paramref name="route"/>. Inside <see cref="InStep"/>.</summary>
    public void RemoveRoute(IHubClient client, Route route)
    {
        lock (gate)
        {
            if (routesOf.GetValueOrDefault(client)?.Remove(route) == true)
            {
                Unfile(client, route);
            }
        }
    }

    private void Unfile(IHubClient client, Route route)
    {
        if (routes.GetValueOrDefault(route) is not { } filed)
        {
            return;
        }
        var at = Array.IndexOf(filed, client);
        if (at < 0)
        {
            return;
        }
        if (filed.Length == 1)
        {
            routes.TryRemove(route, out _);
        }
        else
        {
            routes[route] = [.. filed[..at], .. filed[(at + 1)..]];
        }
    }

    /// <summary>Runs <paramref name="change"/> in step with fan-out and returns the head at that moment.</summary>
    public long InStep(Action change)
    {
        lock (gate)
        {
            change();
            return HeadUnderGate;
        }
    }

    private Task OnCommittedAsync(IReadOnlyList<EventRecord> events, CancellationToken ct)
    {
        // Serialize before taking the gate: once per event, whatever the number of recipients.
        var envelopes = events.Select(Envelope.FromRecord).ToList();
        lock (gate)
        {
            foreach (var envelope in envelopes)
            {
                foreach (var client in clients)
                {
                    client.Offer(envelope);
                }
            }
            delivered = envelopes[^1].Seq;
        }
        return Task.CompletedTask;
    }

    /// <summary>
    /// A volatile message: offered, once each, to the subscribers filed under the routes it names, never logged. No
    /// lock: a subscription made at the same moment may or may not get it (it gets the latest position on subscribing).
    /// </summary>
    public void Publish(Envelope envelope)
    {
        if (envelope.IsLocation)
        {
            latestLocations[envelope.DriverId!.Value] = envelope;
        }
        Span<Route> named = stackalloc Route[Route.MaxPerMessage];
        var count = Route.Of(envelope, named);
        var once = recipients ??= new HashSet<IHubClient>(ReferenceEqualityComparer.Instance);
        try
        {
            foreach (var route in named[..count])
            {
                if (routes.TryGetValue(route, out var filed))
                {
                    foreach (var client in filed)
                    {
                        if (once.Add(client))
                        {
                            client.Offer(envelope);
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

    /// <summary>The last position of every driver that reported one since start-up.</summary>
    public IEnumerable<Envelope> LatestLocations => latestLocations.Values;

    public static Envelope Volatile<T>(T message, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type, string typeName,
        Guid? tenantId, Guid? orderId, Guid? driverId, Guid? customerId) => new()
        {
            Type = typeName,
            TenantId = tenantId,
            OrderId = orderId,
            DriverId = driverId,
            CustomerId = customerId,
            Utf8 = JsonSerializer.SerializeToUtf8Bytes(message, type),
        };
}

/// <summary>What the hub offers messages to: a WebSocket connection now, the SignalR and STOMP adapters later.</summary>
public interface IHubClient
{
    /// <summary>The user it authenticated as; fixed for its life (a fresh token must be for the same user).</summary>
    Guid UserId { get; }

    /// <summary>
    /// Enqueue or drop, never block. Durable events come under the hub's gate, in seq order; volatile messages from
    /// any thread, at the same time as others.
    /// </summary>
    void Offer(Envelope envelope);
}
