using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Serialization;
using GeoLogistics.Server.Redis;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace GeoLogistics.Server.Tracking;

/// <summary>
/// Drivers' latest positions beyond this node's memory (docs/adr/0005). The tracker always keeps the latest
/// position of the drivers that report to this node; this is where it also leaves them for other nodes, and
/// where it looks for a driver it has not heard from (served by another node, or before a restart).
/// </summary>
public interface ISharedPositions
{
    /// <summary>On the ping path: must not wait for any I/O.</summary>
    void Put(Guid driverId, Position position);

    /// <summary>The newest shared position of the driver, or null (unknown, expired, or not reachable now).</summary>
    ValueTask<Position?> GetAsync(Guid driverId, CancellationToken ct);
}

/// <summary>Without Redis: one node's memory is all there is, and the store behind it.</summary>
public sealed class NoSharedPositions : ISharedPositions
{
    public void Put(Guid driverId, Position position)
    {
    }

    public ValueTask<Position?> GetAsync(Guid driverId, CancellationToken ct) => ValueTask.FromResult<Position?>(null);
}

/// <summary>
/// Redis as the shared place: one key per driver (<c>{prefix}driver:{id}:position</c>) that expires
/// <see cref="RedisOptions.PositionTtl"/> after the position was taken. A ping only records the position here (the newest
/// per driver); every <see cref="RedisOptions.WriteInterval"/> the waiting ones go out as one pipelined batch. While
/// Redis is down they wait (at most one per driver) and go out when it is back; errors are logged at most every 30 s.
/// </summary>
public sealed partial class RedisPositions(
    IConnectionMultiplexer redis, IOptions<RedisOptions> options, TimeProvider clock, ILogger<RedisPositions> logger)
    : BackgroundService, ISharedPositions
{
    private static readonly TimeSpan ReportEvery = TimeSpan.FromSeconds(30);

    private readonly RedisOptions settings = options.Value;
    private readonly ConcurrentDictionary<Guid, Position> waiting = new();
    private long lastReport = long.MinValue;
    private long failuresSinceReport;

    public void Put(Guid driverId, Position position) =>
        waiting.AddOrUpdate(driverId, position, (_, held) => position.At >= held.At ? position : held);

    public async ValueTask<Position?> GetAsync(Guid driverId, CancellationToken ct)
    {
        if (!redis.IsConnected)
        {
            return null;
        }
        try
        {
            var value = await redis.GetDatabase().StringGetAsync(Key(driverId)).WaitAsync(ct);
            return value.IsNull ? null : JsonSerializer.Deserialize((byte[])value!, SharedPositionJson.Default.Position);
        }
        catch (Exception e) when (e is RedisException or TimeoutException or JsonException)
        {
            Report(e, "reading a driver's position");
            return null;
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(settings.WriteInterval, clock);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                await WriteAsync();
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>One pipelined batch of the positions waiting, each with what is left of its time to live.</summary>
    private async Task WriteAsync()
    {
        if (waiting.IsEmpty || !redis.IsConnected)
        {
            return;
        }
        var now = clock.GetUtcNow();
        var batch = redis.GetDatabase().CreateBatch();
        var writes = new List<Task>(waiting.Count);
        foreach (var driverId in waiting.Keys)
        {
            if (!waiting.TryRemove(driverId, out var position))
            {
                continue;
            }
            var ttl = position.At + settings.PositionTtl - now;
            if (ttl > TimeSpan.Zero)
            {
                var value = JsonSerializer.SerializeToUtf8Bytes(position, SharedPositionJson.Default.Position);
                writes.Add(batch.StringSetAsync(Key(driverId), value, ttl));
            }
        }
        batch.Execute();
        try
        {
            await Task.WhenAll(writes);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            // The positions are still in this node's memory and on their way to the store; the next ping brings them back.
            Report(e, $"writing {writes.Count} positions");
        }
    }

    private RedisKey Key(Guid driverId) => $"{settings.KeyPrefix}driver:{driverId}:position";

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

    [LoggerMessage(Level = LogLevel.Warning, Message = "Redis failed {Doing} ({Failures} failures since the last report); positions stay in memory and the store")]
    private static partial void LogFailed(ILogger logger, string doing, long failures, Exception exception);
}

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(Position))]
internal sealed partial class SharedPositionJson : JsonSerializerContext;
