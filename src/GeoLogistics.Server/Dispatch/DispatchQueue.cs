using System.Collections.Concurrent;
using System.Threading.Channels;
using Microsoft.Extensions.Options;

namespace GeoLogistics.Server.Dispatch;

/// <summary>
/// Orders waiting for a dispatch worker: bounded, and each order at most once. When full, an order is left out;
/// it is still dispatchable in the store, so the next sweep brings it back. Memory stays bounded.
/// </summary>
public sealed class DispatchQueue
{
    private readonly Channel<Guid> channel;
    private readonly ConcurrentDictionary<Guid, byte> queued = new();

    public DispatchQueue(IOptions<DispatchOptions> options) =>
        channel = Channel.CreateBounded<Guid>(new BoundedChannelOptions(options.Value.QueueCapacity)
        {
            FullMode = BoundedChannelFullMode.Wait,
        });

    public int Count => queued.Count;

    public bool Enqueue(Guid orderId)
    {
        if (!queued.TryAdd(orderId, 0))
        {
            return false;
        }
        if (!channel.Writer.TryWrite(orderId))
        {
            queued.TryRemove(orderId, out _);
            return false;
        }
        return true;
    }

    public async IAsyncEnumerable<Guid> ReadAllAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        await foreach (var id in channel.Reader.ReadAllAsync(ct))
        {
            queued.TryRemove(id, out _);
            yield return id;
        }
    }
}
