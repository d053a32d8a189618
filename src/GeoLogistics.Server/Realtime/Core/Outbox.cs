namespace GeoLogistics.Server.Realtime.Core;

/// <summary>
/// A session's messages waiting for its socket: a queue, and beside it the newest unsent position per driver (and
/// subscription). Taken in the order they were offered, except that a newer position of a driver replaces the one
/// waiting (and keeps its place in line), so a client that is behind on positions gets the newest of each driver and
/// positions never count against the queue's bound. An order's ETA is held the same way, under the order's id (ids of
/// drivers and orders never meet). Holds nothing while empty: an idle session costs no buffers. Not thread-safe: the session locks.
/// </summary>
public sealed class Outbox
{
    private Queue<Ticketed>? queue;
    private Dictionary<(Guid Driver, string? Subscription), Ticketed>? positions;
    private Queue<(Guid Driver, string? Subscription)>? positionOrder;
    private long tickets;
    // The most held at once since the collections were made: past a few, an emptied outbox gives their memory back.
    private int peak;
    private const int KeptWhenEmpty = 32;

    /// <summary>Queued messages, positions not counted: what the slow-consumer bound applies to.</summary>
    public int Queued => queue?.Count ?? 0;

    public int Positions => positions?.Count ?? 0;

    public bool IsEmpty => Queued == 0 && Positions == 0;

    public void Enqueue(Outgoing message)
    {
        (queue ??= new Queue<Ticketed>()).Enqueue(new Ticketed(++tickets, message));
        peak = Math.Max(peak, queue.Count);
    }

    /// <summary>
    /// Holds a driver's position (or an order's ETA, <paramref name="of"/> the order) for one subscription, replacing one
    /// of the same driver for the same subscription not yet sent when <paramref name="replace"/> (the positions sent on
    /// subscribing do not replace a live one).
    /// </summary>
    public void OfferPosition(Guid of, Outgoing message, bool replace)
    {
        positions ??= [];
        var key = (of, message.SubscriptionId);
        if (positions.TryAdd(key, new Ticketed(++tickets, message)))
        {
            (positionOrder ??= new Queue<(Guid, string?)>()).Enqueue(key);
            peak = Math.Max(peak, positions.Count);
        }
        else if (replace)
        {
            positions[key] = positions[key] with { Message = message };
        }
    }

    /// <summary>The message offered first, queued or a position.</summary>
    public bool TryTake(out Outgoing message)
    {
        var queued = queue is { Count: > 0 };
        if (positionOrder is not null && positionOrder.TryPeek(out var key) &&
            (!queued || positions![key].Ticket < queue!.Peek().Ticket))
        {
            positionOrder.Dequeue();
            positions!.Remove(key, out var position);
            message = position.Message;
            ReleaseIfEmpty();
            return true;
        }
        if (queued)
        {
            message = queue!.Dequeue().Message;
            ReleaseIfEmpty();
            return true;
        }
        message = default;
        return false;
    }

    public void Clear()
    {
        queue = null;
        positions = null;
        positionOrder = null;
        peak = 0;
    }

    /// <summary>A burst may have grown the collections: once they are empty, an idle session gives that memory back.</summary>
    private void ReleaseIfEmpty()
    {
        if (peak > KeptWhenEmpty && IsEmpty)
        {
            Clear();
        }
    }

    private readonly record struct Ticketed(long Ticket, Outgoing Message);
}

/// <summary>
/// One thing for a session's transport to write: an event (durable or volatile) for one of the client's
/// subscriptions, which the protocol frames in its own way, or a reply the protocol has framed already.
/// </summary>
public readonly record struct Outgoing
{
    private Outgoing(LiveMessage? message, string? subscriptionId, ReadOnlyMemory<byte> reply)
    {
        Event = message;
        SubscriptionId = subscriptionId;
        Reply = reply;
    }

    /// <summary>The event, or null for a reply.</summary>
    public LiveMessage? Event { get; }

    /// <summary>The subscription the event is delivered for (the client's id for it).</summary>
    public string? SubscriptionId { get; }

    /// <summary>A reply, framed by the protocol that made it.</summary>
    public ReadOnlyMemory<byte> Reply { get; }

    /// <summary>The JSON protocol's form: the event's own JSON (SPEC §5), or the reply.</summary>
    public ReadOnlyMemory<byte> Utf8 => Event?.Utf8 ?? Reply;

    public static Outgoing For(LiveMessage message, string subscriptionId) => new(message, subscriptionId, default);

    public static Outgoing Framed(ReadOnlyMemory<byte> reply) => new(null, null, reply);
}
