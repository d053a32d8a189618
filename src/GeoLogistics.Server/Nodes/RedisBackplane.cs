using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Serialization;
using GeoLogistics.Server.Drivers;
using GeoLogistics.Server.Realtime.Core;
using GeoLogistics.Server.Redis;
using GeoLogistics.Server.Tracking;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace GeoLogistics.Server.Nodes;

/// <summary>
/// The volatile half of several nodes acting as one (docs/adr/0009): every volatile message (a position, an ETA, a
/// conflict) is delivered on this node at once and published once on a Redis channel, and every other node delivers
/// it to its own subscribers entitled to it. The newest position of each driver and ETA of each order are also kept in
/// Redis (one key each, expiring), so a node that starts later fills a map at once, and the tracker of a node a driver
/// does not stream to knows where the driver is. Durable events do not pass here: a node learns of events numbered elsewhere
/// from the store itself (PostgreSQL's NOTIFY, then a read of the log), so Redis never decides what is durable.
/// Nothing waits on Redis: a publish is handed to the multiplexer and forgotten (and fails at once while Redis is
/// down: best effort across nodes then); the latest values for the keys wait in memory, one per driver or order, and
/// go out in one pipelined batch every <see cref="RedisOptions.WriteInterval"/>.
/// </summary>
public sealed partial class RedisBackplane(
    LiveHub hub, IConnectionMultiplexer redis, NodeIdentity node, ActiveOrders activeOrders, IOptions<RedisOptions> options,
    TimeProvider clock, ILogger<RedisBackplane> logger) : BackgroundService, ILivePublisher, ISharedPositions
{
    private static readonly TimeSpan ReportEvery = TimeSpan.FromSeconds(30);
    private const byte Separator = (byte)'\n';

    private readonly RedisOptions settings = options.Value;
    // The newest position of each driver and ETA of each order not yet in Redis, by key, with when it was made.
    private readonly ConcurrentDictionary<string, (byte[] Envelope, DateTimeOffset At)> waiting = new();
    private long lastReport = long.MinValue;
    private long failuresSinceReport;
    private long published;
    private long received;

    private RedisChannel Channel => RedisChannel.Literal($"{settings.KeyPrefix}live");

    private string PositionKeys => $"{settings.KeyPrefix}live:position:";

    private string EtaKeys => $"{settings.KeyPrefix}live:eta:";

    /// <summary>Volatile messages this node sent to the others, and received from them, since start-up.</summary>
    public (long Published, long Received) Counts => (Interlocked.Read(ref published), Interlocked.Read(ref received));

    public void Publish(LiveMessage message)
    {
        hub.Publish(message);
        var envelope = Envelope.Write(node.Instance, message);
        if (message.IsLocation && PositionAt(message) is { } at)
        {
            Wait(PositionKeys + message.DriverId!.Value.ToString("N"), envelope, at);
        }
        else if (message.IsEta)
        {
            Wait(EtaKeys + message.OrderId!.Value.ToString("N"), envelope, clock.GetUtcNow());
        }
        try
        {
            redis.GetSubscriber().Publish(Channel, envelope, CommandFlags.FireAndForget);
            Interlocked.Increment(ref published);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            Report(e, "publishing a volatile message");
        }
    }

    private void Wait(string key, byte[] envelope, DateTimeOffset at) =>
        waiting.AddOrUpdate(key, (envelope, at), (_, held) => at >= held.At ? (envelope, at) : held);

    /// <summary>The newest position of a driver this node heard from another node (or found in Redis at start-up).</summary>
    public ValueTask<Position?> GetAsync(Guid driverId, CancellationToken ct) =>
        ValueTask.FromResult(hub.LatestPosition(driverId) is { } message ? ReadPosition(message) : null);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Subscribed once; the multiplexer subscribes again by itself after a reconnect. One queue, so messages are
        // delivered in the order Redis relays them (a driver's positions stay in order).
        var queue = await SubscribeAsync(stoppingToken);
        queue.OnMessage(Receive);
        // What another node published before this one subscribed reaches Redis within that node's write interval:
        // read the keys after two, or a position published just before would be missed and an older one shown until
        // the driver moves again. What is published from now on arrives on the channel, and a key never overwrites it.
        await Task.Delay(2 * settings.WriteInterval, clock, stoppingToken);
        await LoadLatestAsync(PositionKeys, hub.RememberPosition, stoppingToken);
        // An ETA is kept only for an order under way, so the orders under way are known first.
        await activeOrders.WhenLoadedAsync(stoppingToken);
        await LoadLatestAsync(EtaKeys, hub.RememberEta, stoppingToken);
        using var timer = new PeriodicTimer(settings.WriteInterval, clock);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                await WritePositionsAsync();
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            await UnsubscribeAsync(queue);
        }
    }

    /// <summary>Redis may be down at start-up: keep trying, without holding the start of the host.</summary>
    private async Task<ChannelMessageQueue> SubscribeAsync(CancellationToken ct)
    {
        while (true)
        {
            try
            {
                return await redis.GetSubscriber().SubscribeAsync(Channel);
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                Report(e, "subscribing to the other nodes");
                await Task.Delay(TimeSpan.FromSeconds(1), ct);
            }
        }
    }

    /// <summary>A stopping node leaves the channel if it can; Redis drops the subscription with the connection anyway.</summary>
    private async Task UnsubscribeAsync(ChannelMessageQueue queue)
    {
        try
        {
            await queue.UnsubscribeAsync();
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            Report(e, "leaving the other nodes' channel");
        }
    }

    private void Receive(ChannelMessage delivery)
    {
        if (Envelope.Read((byte[]?)delivery.Message, out var from) is not { } message || from == node.Instance)
        {
            return;
        }
        Interlocked.Increment(ref received);
        hub.Publish(message);
    }

    /// <summary>The positions (or ETAs) other nodes left in Redis before this node started: remembered, not delivered.</summary>
    private async Task LoadLatestAsync(string keysPrefix, Action<LiveMessage> remember, CancellationToken ct)
    {
        try
        {
            var server = redis.GetServers().FirstOrDefault(s => s.IsConnected);
            if (server is null)
            {
                return;
            }
            var keys = new List<RedisKey>();
            await foreach (var key in server.KeysAsync(pattern: keysPrefix + "*", pageSize: 1000).WithCancellation(ct))
            {
                keys.Add(key);
            }
            foreach (var chunk in keys.Chunk(1000))
            {
                foreach (var value in await redis.GetDatabase().StringGetAsync(chunk))
                {
                    if (Envelope.Read((byte[]?)value, out _) is { } message)
                    {
                        remember(message);
                    }
                }
            }
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            Report(e, "reading the latest positions and ETAs");
        }
    }

    /// <summary>
    /// One pipelined batch of the positions and ETAs waiting, each with what is left of its time to live. An ETA's key is
    /// not deleted when its order ends: it expires, and a node reads the ETAs of the orders under way only.
    /// </summary>
    private async Task WritePositionsAsync()
    {
        if (waiting.IsEmpty || !redis.IsConnected)
        {
            return;
        }
        var now = clock.GetUtcNow();
        var batch = redis.GetDatabase().CreateBatch();
        var writes = new List<Task>(waiting.Count);
        foreach (var key in waiting.Keys)
        {
            if (!waiting.TryRemove(key, out var latest))
            {
                continue;
            }
            var ttl = latest.At + settings.PositionTtl - now;
            if (ttl > TimeSpan.Zero)
            {
                writes.Add(batch.StringSetAsync(key, latest.Envelope, ttl));
            }
        }
        try
        {
            // Execute throws at once when the multiplexer has lost its connection since IsConnected was read.
            batch.Execute();
            await Task.WhenAll(writes);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            // The next position of each driver brings it back; the other nodes had it live meanwhile.
            Report(e, $"writing {writes.Count} positions and ETAs");
        }
    }

    private static DateTimeOffset? PositionAt(LiveMessage message) => ReadLocation(message)?.Ts;

    private static Position? ReadPosition(LiveMessage message) =>
        ReadLocation(message) is { } l ? new Position(l.Lat, l.Lng, l.Heading, l.Speed, l.Ts, Flagged: false) : null;

    private static DriverLocation? ReadLocation(LiveMessage message)
    {
        try
        {
            return JsonSerializer.Deserialize(message.Utf8.Span, TrackingJson.Default.DriverLocation);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private void Report(Exception e, string doing)
    {
        var now = clock.GetTimestamp();
        var last = Interlocked.Read(ref lastReport);
        var failures = Interlocked.Increment(ref failuresSinceReport);
        if (last != long.MinValue && clock.GetElapsedTime(last, now) < ReportEvery)
        {
            return;
        }
        if (Interlocked.CompareExchange(ref lastReport, now, last) == last)
        {
            Interlocked.Exchange(ref failuresSinceReport, 0);
            LogFailed(logger, doing, failures, e);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Redis failed {Doing} ({Failures} failures since the last report); this node goes on alone until it is back")]
    private static partial void LogFailed(ILogger logger, string doing, long failures, Exception exception);

    /// <summary>
    /// A volatile message between nodes: one line of JSON with the sending node and the facts the live core routes and
    /// checks visibility by, a newline, then the message as clients receive it (its JSON has no raw newline).
    /// </summary>
    internal static class Envelope
    {
        public static byte[] Write(Guid from, LiveMessage message)
        {
            var head = JsonSerializer.SerializeToUtf8Bytes(
                new Head(from, message.Type, message.TenantId, message.OrderId, message.DriverId, message.CustomerId),
                BackplaneJson.Default.Head);
            var envelope = new byte[head.Length + 1 + message.Utf8.Length];
            head.CopyTo(envelope, 0);
            envelope[head.Length] = Separator;
            message.Utf8.Span.CopyTo(envelope.AsSpan(head.Length + 1));
            return envelope;
        }

        /// <summary>The message, or null for anything that is not an envelope (another program on the channel).</summary>
        public static LiveMessage? Read(byte[]? envelope, out Guid from)
        {
            from = Guid.Empty;
            var split = envelope is null ? -1 : Array.IndexOf(envelope, Separator);
            if (split <= 0)
            {
                return null;
            }
            Head? head;
            try
            {
                head = JsonSerializer.Deserialize(envelope.AsSpan(0, split), BackplaneJson.Default.Head);
            }
            catch (JsonException)
            {
                return null;
            }
            if (head is null || string.IsNullOrEmpty(head.Type))
            {
                return null;
            }
            from = head.From;
            return new LiveMessage
            {
                Type = head.Type,
                TenantId = head.TenantId,
                OrderId = head.OrderId,
                DriverId = head.DriverId,
                CustomerId = head.CustomerId,
                Utf8 = envelope.AsMemory(split + 1),
            };
        }
    }

    internal sealed record Head(Guid From, string Type, Guid? TenantId, Guid? OrderId, Guid? DriverId, Guid? CustomerId);
}

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(RedisBackplane.Head))]
internal sealed partial class BackplaneJson : JsonSerializerContext;
