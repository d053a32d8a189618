using System.ComponentModel.DataAnnotations;
using GeoLogistics.Server.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace GeoLogistics.Server.Events;

/// <summary>How long the event log keeps events (section <c>Events:Retention</c>); unset limits keep everything.</summary>
public sealed class RetentionOptions
{
    /// <summary>Events older than this are pruned.</summary>
    public TimeSpan? MaxAge { get; set; }

    /// <summary>Only the newest this many events are kept.</summary>
    [Range(1, long.MaxValue)]
    public long? MaxEvents { get; set; }

    /// <summary>How often the log is pruned.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Events deleted per statement, so a prune never holds the log for long.</summary>
    [Range(1, 1_000_000)]
    public int DeleteBatch { get; set; } = 10_000;
}

/// <summary>The oldest seq a replay in progress on this node still reads after (it may be pruned up to there, no further).</summary>
public interface IReplayFloor
{
    long? Lowest { get; }
}

/// <summary>
/// Prunes the numbered event log in the background (SPEC §8): events beyond <see cref="RetentionOptions.MaxAge"/> or
/// <see cref="RetentionOptions.MaxEvents"/> are deleted, oldest first, in short batches, but never one that a replay in
/// progress on this node has still to read. A client asking for events before the oldest kept gets
/// <c>replay_unavailable</c>; a replay on another node that finds its next events pruned says so too, never a gap.
/// Unnumbered events are never touched.
/// </summary>
public sealed partial class EventRetention(
    IServiceScopeFactory scopes, IEnumerable<IReplayFloor> floors, IOptions<RetentionOptions> options, TimeProvider clock,
    ILogger<EventRetention> logger) : BackgroundService
{
    private long pruned;

    /// <summary>Events deleted since start-up.</summary>
    public long Pruned => Interlocked.Read(ref pruned);

    public bool Enabled => options.Value.MaxAge is not null || options.Value.MaxEvents is not null;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!Enabled)
        {
            return;
        }
        using var timer = new PeriodicTimer(options.Value.Interval, clock);
        while (true)
        {
            try
            {
                await PruneAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (StoreFailures.IsTransient(e))
            {
                LogStoreDown(logger, e.GetType().Name);
            }
            catch (Exception e)
            {
                LogFailed(logger, e);
            }
            try
            {
                await timer.WaitForNextTickAsync(stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Prunes once, now; returns the number of events deleted.</summary>
    public async Task<long> PruneAsync(CancellationToken ct)
    {
        var settings = options.Value;
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDb>();
        var numbered = db.Events.Where(e => e.Seq != null);
        var cutoff = 0L;
        if (settings.MaxEvents is { } keep && await numbered.MaxAsync(e => e.Seq, ct) is { } head)
        {
            cutoff = Math.Max(cutoff, head - keep);
        }
        if (settings.MaxAge is { } age)
        {
            var before = clock.GetUtcNow() - age;
            cutoff = Math.Max(cutoff, await numbered.Where(e => e.Ts < before).MaxAsync(e => e.Seq, ct) ?? 0);
        }
        foreach (var floor in floors)
        {
            if (floor.Lowest is { } lowest)
            {
                cutoff = Math.Min(cutoff, lowest);
            }
        }
        var deleted = 0L;
        while (await numbered.MinAsync(e => e.Seq, ct) is { } oldest && oldest <= cutoff)
        {
            var to = Math.Min(cutoff, oldest + settings.DeleteBatch - 1);
            deleted += await db.Events.Where(e => e.Seq >= oldest && e.Seq <= to).ExecuteDeleteAsync(ct);
        }
        if (deleted > 0)
        {
            Interlocked.Add(ref pruned, deleted);
            LogPruned(logger, deleted, cutoff);
        }
        return deleted;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Pruned {Deleted} events from the log, up to seq {Cutoff}")]
    private static partial void LogPruned(ILogger logger, long deleted, long cutoff);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Pruning the event log failed: the store is unavailable ({Error}); the next round retries")]
    private static partial void LogStoreDown(ILogger logger, string error);

    [LoggerMessage(Level = LogLevel.Error, Message = "Pruning the event log failed; the next round retries")]
    private static partial void LogFailed(ILogger logger, Exception exception);
}
