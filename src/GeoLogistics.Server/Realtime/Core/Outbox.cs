namespace GeoLogistics.Server.Realtime.Core;

/// <summary>
/// A session's messages waiting for its socket: a queue, and beside it the newest unsent position per driver. Taken in
/// the order they were offered, except that a newer position of a driver replaces the one waiting (and keeps its place
/// in line), so a client that is behind on positions gets the newest of each driver and positions never count against
/// the queue's bound. Holds nothing while empty: an idle session costs no buffers. Not thread-safe: the session locks.
/// </summary>
public sealed class Outbox
{
    private Queue<Outgoing>? queue;
    private Dictionary<Guid, Outgoing>? positions;
    private Queue<Guid>? positionOrder;
    private long tickets;
    // The most held at once since the collections were made: past a few, an emptied outbox gives their memory back.
    private int peak;
    private const int KeptWhenEmpty = 32;

    /// <summary>Queued messages, positions not counted: what the slow-consumer bound applies to.</summary>
    public int Queued => queue?.Count ?? 0;

    public int Positions => positions?.Count ?? 0;

    public bool IsEmpty => Queued == 0 && Positions == 0;

    public void Enqueue(ReadOnlyMemory<byte> message)
    {
        (queue ??= new Queue<Outgoing>()).Enqueue(new Outgoing(++tickets, message));
        peak = Math.Max(peak, queue.Count);
    }

    /// <summary>
    /// Holds a driver's position, replacing one of the same driver not yet sent when <paramref name="replace"/> (the
    /// positions sent on subscribing do not replace a live one).
    /// </summary>
    public void OfferPosition(Guid driverId, ReadOnlyMemory<byte> message, bool replace)
    {
        positions ??= [];
        if (positions.TryAdd(driverId, new Outgoing(++tickets, message)))
        {
            (positionOrder ??= new Queue<Guid>()).Enqueue(driverId);
            peak = Math.Max(peak, positions.Count);
        }
        else if (replace)
        {
            positions[driverId] = positions[driverId] with { Utf8 = message };
        }
    }

    /// <summary>The message offered first, queued or a position.</summary>
    public bool TryTake(out ReadOnlyMemory<byte> message)
    {
        var queued = queue is { Count: > 0 };
        if (positionOrder is not null && positionOrder.TryPeek(out var driverId) &&
            (!queued || positions![driverId].Ticket < queue!.Peek().Ticket))
        {
            positionOrder.Dequeue();
            positions!.Remove(driverId, out var position);
            message = position.Utf8;
            ReleaseIfEmpty();
            return true;
        }
        if (queued)
        {
            message = queue!.Dequeue().Utf8;
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

    private readonly record struct Outgoing(long Ticket, ReadOnlyMemory<byte> Utf8);
}
