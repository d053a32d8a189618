using System.Collections.Concurrent;
using System.ComponentModel.DataAnnotations;
using GeoLogistics.Server.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace GeoLogistics.Server.Events;

/// <summary>Event feed settings (section <c>Events</c>).</summary>
public sealed class EventFeedOptions
{
    /// <summary>How often the log is read when no local commit wakes the feed (events written by other nodes).</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromMilliseconds(250);

    [Range(1, 100_000)]
    public int BatchSize { get; set; } = 1000;

    /// <summary>How long a change made over the API waits for its events to be numbered and handed out before it answers.</summary>
    public TimeSpan PublishWait { get; set; } = TimeSpan.FromSeconds(5);
}

/// <summary>
/// Tails the numbered event log in seq order and hands each batch, decoded once (<see cref="CommittedEvent"/>), to the
/// in-process consumers (the live hub, dispatch, the active orders). The sequencer numbers committed events in commit order and a batch at a time, so reading
/// <c>seq &gt; last</c> misses nothing (docs/adr/0002). The sequencer wakes the feed when it numbered something;
/// a poll covers a lost wake-up.
/// </summary>
public sealed partial class EventFeed(
    IServiceScopeFactory scopes, EventPayloads payloads, IOptions<EventFeedOptions> options, ILogger<EventFeed> logger, TimeProvider? clock = null) : BackgroundService
{
    private readonly TimeProvider clock = clock ?? TimeProvider.System;
    private readonly List<Func<IReadOnlyList<CommittedEvent>, CancellationToken, Task>> consumers = [];
    private readonly SemaphoreSlim signal = new(0, 1);
    private readonly ConcurrentDictionary<long, Expected> expected = new();
    private readonly Lock handedOutGate = new();
    private readonly HashSet<long> handedOut = [];
    private readonly Queue<long> handedOutOrder = new();
    private const int RememberedHandOuts = 100_000;
    private long head;

    /// <summary>A writer waiting for its event (by insertion key) to be handed out.</summary>
    public sealed class Expected(long id)
    {
        public long Id { get; } = id;
        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>
    /// Registered right after the event's commit. The feed may have handed it out already (the sequencer and the feed
    /// can be quicker than the writer's thread): the insertion keys handed out lately are remembered for that.
    /// </summary>
    public Expected Expect(long id)
    {
        lock (handedOutGate)
        {
            var waiting = expected.GetOrAdd(id, static id => new Expected(id));
            if (handedOut.Contains(id))
            {
                expected.TryRemove(id, out _);
                waiting.Done.TrySetResult();
            }
            return waiting;
        }
    }

    public void Forget(Expected e) => expected.TryRemove(new KeyValuePair<long, Expected>(e.Id, e));

    private void HandedOut(IReadOnlyList<EventRecord> batch)
    {
        lock (handedOutGate)
        {
            foreach (var e in batch)
            {
                if (handedOut.Add(e.Id))
                {
                    handedOutOrder.Enqueue(e.Id);
                }
                if (expected.TryRemove(e.Id, out var waiting))
                {
                    waiting.Done.TrySetResult();
                }
            }
            while (handedOutOrder.Count > RememberedHandOuts)
            {
                handedOut.Remove(handedOutOrder.Dequeue());
            }
        }
    }

    /// <summary>Something was numbered (here or on another node): read the log now.</summary>
    public void Wake()
    {
        try
        {
            signal.Release();
        }
        catch (SemaphoreFullException)
        {
            // Already woken and not yet read.
        }
    }

    private double handOutDelay;

    /// <summary>From the append of the newest event handed out to its hand-out, in seconds: how far the live path lags the log.</summary>
    public double HandOutDelaySeconds => Volatile.Read(ref handOutDelay);

    /// <summary>The newest seq handed to consumers.</summary>
    public long Head => Interlocked.Read(ref head);

    /// <summary>Register before the host starts; consumers run one batch at a time, in order.</summary>
    public void Subscribe(Func<IReadOnlyList<CommittedEvent>, CancellationToken, Task> consumer) => consumers.Add(consumer);

    /// <summary>
    /// Starts at the present, before the server listens: what was written earlier is for replay from the store (and
    /// dispatch's sweeps), so a subscriber's replay up to <see cref="Head"/> and the live feed after it meet exactly.
    /// </summary>
    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        await using (var scope = scopes.CreateAsyncScope())
        {
            head = await scope.ServiceProvider.GetRequiredService<AppDb>().Events.MaxAsync(e => e.Seq, cancellationToken) ?? 0;
        }
        await base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                try
                {
                    await signal.WaitAsync(options.Value.PollInterval, stoppingToken);
                    await DrainAsync(stoppingToken);
                }
                catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception e)
                {
                    if (StoreFailures.IsTransient(e))
                    {
                        // An outage is expected now and then: one line per retry, no stack trace.
                        LogFeedStoreDown(logger, e.GetType().Name);
                    }
                    else
                    {
                        LogFeedError(logger, e);
                    }
                    await CloseReaderAsync();
                    await Task.Delay(options.Value.PollInterval, stoppingToken);
                }
            }
        }
        finally
        {
            await CloseReaderAsync();
        }
    }

    private async Task DrainAsync(CancellationToken ct)
    {
        var db = await ReaderAsync(ct);
        while (true)
        {
            var batch = new List<EventRecord>();
            await foreach (var e in After(db, Head, options.Value.BatchSize).WithCancellation(ct))
            {
                batch.Add(e);
            }
            if (batch.Count == 0)
            {
                return;
            }
            var decoded = batch.ConvertAll(e => payloads.Decode(e));
            foreach (var consumer in consumers)
            {
                try
                {
                    await consumer(decoded, ct);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // One consumer's failure must not stall the others, nor the feed on this batch forever.
                    LogConsumerError(logger, e, batch[0].Seq!.Value, batch[^1].Seq!.Value);
                }
            }
            Interlocked.Exchange(ref head, batch[^1].Seq!.Value);
            Volatile.Write(ref handOutDelay, Math.Max(0, (clock.GetUtcNow() - batch[^1].Ts).TotalSeconds));
            HandedOut(batch);
        }
    }

    /// <summary>The events after a seq, in seq order: compiled once, as the feed runs it several times a second.</summary>
    private static readonly Func<AppDb, long, int, IAsyncEnumerable<EventRecord>> After = EF.CompileAsyncQuery(
        (AppDb db, long after, int take) => db.Set<EventRecord>().AsNoTracking().Where(e => e.Seq > after).OrderBy(e => e.Seq).Take(take));

    // The feed's own context, its connection kept open between reads (no round through the pool, no per-open
    // settings each time): it reads the log for every commit, for the life of the process. Closed after a failure,
    // opened again at the next read.
    private AsyncServiceScope? reading;
    private AppDb? reader;

    private async Task<AppDb> ReaderAsync(CancellationToken ct)
    {
        if (reader is { } open)
        {
            return open;
        }
        var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDb>();
        try
        {
            await db.Database.OpenConnectionAsync(ct);
        }
        catch
        {
            await scope.DisposeAsync();
            throw;
        }
        (reading, reader) = (scope, db);
        return db;
    }

    private async Task CloseReaderAsync()
    {
        if (reading is { } scope)
        {
            (reading, reader) = (null, null);
            await scope.DisposeAsync();
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "A consumer of the event feed failed on seq {First}..{Last}")]
    private static partial void LogConsumerError(ILogger logger, Exception exception, long first, long last);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reading the event log failed: the store is unavailable ({Error}); retrying")]
    private static partial void LogFeedStoreDown(ILogger logger, string error);

    [LoggerMessage(Level = LogLevel.Error, Message = "Reading the event log failed; retrying")]
    private static partial void LogFeedError(ILogger logger, Exception exception);
}
