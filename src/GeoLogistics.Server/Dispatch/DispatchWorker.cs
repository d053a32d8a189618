using GeoLogistics.Server.Data;
using GeoLogistics.Server.Drivers;
using GeoLogistics.Server.Events;
using GeoLogistics.Server.Orders;
using Microsoft.Extensions.Options;

namespace GeoLogistics.Server.Dispatch;

/// <summary>
/// Runs dispatch in the background: an order event that leaves an order dispatchable queues it; a driver coming
/// free, the start-up and a periodic timer sweep every dispatchable order from the store back into the queue,
/// which also picks up whatever a crash or a full queue left behind. Workers take orders off the queue.
/// </summary>
public sealed partial class DispatchWorker : BackgroundService
{
    private readonly DispatchQueue queue;
    private readonly DispatchService dispatch;
    private readonly IDispatchStore store;
    private readonly DispatchOptions options;
    private readonly ILogger<DispatchWorker> logger;
    private readonly DispatchMetrics metrics;
    private readonly SemaphoreSlim sweepRequested = new(0, 1);

    public DispatchWorker(
        EventFeed feed, DispatchQueue queue, DispatchService dispatch, IDispatchStore store,
        IOptions<DispatchOptions> options, DispatchMetrics metrics, ILogger<DispatchWorker> logger)
    {
        this.metrics = metrics;
        this.queue = queue;
        this.dispatch = dispatch;
        this.store = store;
        this.options = options.Value;
        this.logger = logger;
        if (this.options.Enabled)
        {
            feed.Subscribe(OnCommittedAsync);
        }
    }

    private Task OnCommittedAsync(IReadOnlyList<CommittedEvent> events, CancellationToken ct)
    {
        foreach (var e in events)
        {
            switch (e.Type)
            {
                case EventTypes.OrderCreated or EventTypes.OrderStatusChanged or EventTypes.OrderUpdated
                    when e.Order is { } order && OrderLifecycle.IsDispatchable(order.Status, order.DispatchWhen):
                    queue.Enqueue(order.Id, order.Priority, order.CreatedAt);
                    break;
                case EventTypes.DriverStatusChanged when e.Driver?.Status == DriverStatus.Available:
                    RequestSweep();
                    break;
            }
        }
        return Task.CompletedTask;
    }

    private void RequestSweep()
    {
        try
        {
            sweepRequested.Release();
        }
        catch (SemaphoreFullException)
        {
            // A sweep is already due.
        }
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Enabled)
        {
            return Task.CompletedTask;
        }
        var workers = Enumerable.Range(0, options.Workers).Select(_ => Task.Run(() => WorkAsync(stoppingToken), stoppingToken));
        return Task.WhenAll(workers.Append(Task.Run(() => SweepAsync(stoppingToken), stoppingToken)));
    }

    private async Task WorkAsync(CancellationToken ct)
    {
        try
        {
            await foreach (var orderId in queue.ReadAllAsync(ct))
            {
                var started = System.Diagnostics.Stopwatch.GetTimestamp();
                try
                {
                    metrics.Record(await dispatch.DispatchAsync(orderId, ct), started);
                }
                catch (Exception e) when (StoreFailures.IsTransient(e) && !ct.IsCancellationRequested)
                {
                    metrics.Record(DispatchOutcome.StoreUnavailable, started);
                    // An outage is expected now and then: one line, no stack trace. The order is still dispatchable.
                    LogDispatchStoreDown(logger, orderId, e.GetType().Name);
                }
                catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
                {
                    // The order is still dispatchable in the store; a later sweep tries it again.
                    LogDispatchError(logger, e, orderId);
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    private async Task SweepAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                foreach (var order in await store.ListDispatchableAsync(options.QueueCapacity / 2, ct))
                {
                    queue.Enqueue(order.Id, order.Priority, order.CreatedAt);
                }
                await sweepRequested.WaitAsync(options.SweepInterval, ct);
                // Let a burst of drivers coming free end in one sweep.
                await Task.Delay(TimeSpan.FromMilliseconds(100), ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (StoreFailures.IsTransient(e))
            {
                LogSweepStoreDown(logger, e.GetType().Name);
                await Task.Delay(options.SweepInterval, ct);
            }
            catch (Exception e)
            {
                LogSweepError(logger, e);
                await Task.Delay(options.SweepInterval, ct);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Dispatch of order {OrderId} failed; the next sweep retries it")]
    private static partial void LogDispatchError(ILogger logger, Exception exception, Guid orderId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Dispatch of order {OrderId} stopped: the store is unavailable ({Error}); the next sweep retries it")]
    private static partial void LogDispatchStoreDown(ILogger logger, Guid orderId, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Sweeping dispatchable orders failed: the store is unavailable ({Error}); retrying")]
    private static partial void LogSweepStoreDown(ILogger logger, string error);

    [LoggerMessage(Level = LogLevel.Error, Message = "Sweeping dispatchable orders failed")]
    private static partial void LogSweepError(ILogger logger, Exception exception);
}
