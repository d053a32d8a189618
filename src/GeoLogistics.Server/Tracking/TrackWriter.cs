using GeoLogistics.Server.Data;
using Microsoft.Extensions.Options;

namespace GeoLogistics.Server.Tracking;

/// <summary>
/// Flushes the tracker every <see cref="TrackingOptions.StoreInterval"/>, urgent positions as soon as they come (those of
/// the next 50 ms together), and once more on shutdown. The only one that writes positions: a ping never waits for the store (docs/adr/0005).
/// </summary>
public sealed partial class TrackWriter(Tracker tracker, IOptions<TrackingOptions> options, TimeProvider clock, ILogger<TrackWriter> logger) : BackgroundService
{
    // Urgent positions that come within this of each other share a transaction: at most 20 urgent flushes a second.
    private static readonly TimeSpan UrgentWindow = TimeSpan.FromMilliseconds(50);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = options.Value.StoreInterval;
        var last = clock.GetTimestamp();
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                var left = interval - clock.GetElapsedTime(last);
                if (left > TimeSpan.Zero && await tracker.WaitUrgentAsync(left, stoppingToken))
                {
                    await FlushSafelyAsync(urgentOnly: true, stoppingToken);
                    await Task.Delay(UrgentWindow, clock, stoppingToken);
                    continue;
                }
                last = clock.GetTimestamp();
                await FlushSafelyAsync(urgentOnly: false, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        await FlushSafelyAsync(urgentOnly: false, cancellationToken);
    }

    private async Task FlushSafelyAsync(bool urgentOnly, CancellationToken ct)
    {
        try
        {
            await tracker.FlushAsync(ct, urgentOnly);
        }
        catch (Exception e) when (e is not OperationCanceledException && StoreFailures.IsTransient(e))
        {
            // An outage is expected and says so in one line per flush, not a stack trace.
            LogStoreUnavailable(logger, e.Message);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogFlushFailed(logger, e);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Writing positions and tracks to the store failed, the store is unavailable: {Reason}; the next flush retries them")]
    private static partial void LogStoreUnavailable(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Writing positions and tracks to the store failed; the next flush retries them")]
    private static partial void LogFlushFailed(ILogger logger, Exception exception);
}
