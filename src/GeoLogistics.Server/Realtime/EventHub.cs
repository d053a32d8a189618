using System.Collections.Concurrent;
using System.Text.Json;
using GeoLogistics.Server.Events;

namespace GeoLogistics.Server.Realtime;

/// <summary>
/// The protocol-neutral core: takes committed events from the feed and volatile messages from the API, and offers
/// each, serialized once, to every connection. A connection decides by its subscriptions and its user's visibility.
/// Fan-out only enqueues (never awaits a socket), under one lock that also orders it against subscribing, so that
/// a subscription switching from replay to live sees each seq exactly once.
/// </summary>
public sealed class EventHub
{
    private readonly Lock gate = new();
    private readonly HashSet<IHubClient> clients = [];
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

    public void Add(IHubClient client)
    {
        lock (gate)
        {
            clients.Add(client);
        }
    }

    public void Remove(IHubClient client)
    {
        lock (gate)
        {
            clients.Remove(client);
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

    /// <summary>A volatile message: offered to whoever is subscribed now, never logged.</summary>
    public void Publish(Envelope envelope)
    {
        if (envelope.Type == "driver.location" && envelope.DriverId is { } driverId)
        {
            latestLocations[driverId] = envelope;
        }
        lock (gate)
        {
            foreach (var client in clients)
            {
                client.Offer(envelope);
            }
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
    /// <summary>Called under the hub's gate, in seq order for durable events: enqueue or drop, never block.</summary>
    void Offer(Envelope envelope);
}
