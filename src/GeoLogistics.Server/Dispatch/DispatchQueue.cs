using Microsoft.Extensions.Options;

namespace GeoLogistics.Server.Dispatch;

/// <summary>
/// Orders waiting for a dispatch worker, highest priority first, then oldest first: bounded, and each order at most
/// once. When full, an order is left out; it is still dispatchable in the store, so the next sweep brings it back.
/// Memory stays bounded.
/// </summary>
public sealed class DispatchQueue(IOptions<DispatchOptions> options)
{
    private readonly Lock gate = new();
    private readonly PriorityQueue<Guid, (int Priority, DateTimeOffset CreatedAt, long Arrival)> waiting = new();
    private readonly HashSet<Guid> queued = [];
    private readonly SemaphoreSlim available = new(0);
    private long arrivals;
    private int inFlight;

    public int Count
    {
        get
        {
            lock (gate)
            {
                return queued.Count;
            }
        }
    }

    /// <summary>No order waiting and none taken by a reader that has not asked for the next one yet.</summary>
    public bool IsIdle
    {
        get
        {
            lock (gate)
            {
                return queued.Count == 0 && inFlight == 0;
            }
        }
    }

    public bool Enqueue(Guid orderId, int priority, DateTimeOffset createdAt)
    {
        lock (gate)
        {
            if (queued.Count >= options.Value.QueueCapacity || !queued.Add(orderId))
            {
                return false;
            }
            // The smallest key comes out first: negate the priority so the highest is taken first.
            waiting.Enqueue(orderId, (-priority, createdAt, arrivals++));
        }
        available.Release();
        return true;
    }

    public async IAsyncEnumerable<Guid> ReadAllAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        while (true)
        {
            await available.WaitAsync(ct);
            Guid id;
            lock (gate)
            {
                id = waiting.Dequeue();
                queued.Remove(id);
                inFlight++;
            }
            try
            {
                // The reader dispatches the order before it asks for the next one.
                yield return id;
            }
            finally
            {
                lock (gate)
                {
                    inFlight--;
                }
            }
        }
    }
}
