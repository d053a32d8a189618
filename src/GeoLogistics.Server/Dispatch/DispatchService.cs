using GeoLogistics.Server.Data;
using GeoLogistics.Server.Orders;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Retry;

namespace GeoLogistics.Server.Dispatch;

public enum DispatchOutcome
{
    Assigned,
    NotDispatchable,
    NoDriver,
    StoreUnavailable,
}

/// <summary>
/// The best-effort loop: try the nearest free drivers in turn, each booking its own short transaction; a lost race
/// moves on, a transient store failure retries the same booking with backoff. Holds no transaction itself.
/// </summary>
public sealed partial class DispatchService
{
    private readonly IDispatchStore store;
    private readonly DispatchOptions options;
    private readonly ResiliencePipeline<BookingResult> retry;
    private readonly ILogger<DispatchService> logger;

    public DispatchService(IDispatchStore store, IOptions<DispatchOptions> options, ILogger<DispatchService> logger)
    {
        this.store = store;
        this.options = options.Value;
        this.logger = logger;
        retry = new ResiliencePipelineBuilder<BookingResult>()
            .AddRetry(new RetryStrategyOptions<BookingResult>
            {
                ShouldHandle = new PredicateBuilder<BookingResult>().Handle<Exception>(StoreFailures.IsTransient),
                MaxRetryAttempts = Math.Max(1, this.options.BookingRetries),
                Delay = this.options.BookingRetryDelay,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                OnRetry = args =>
                {
                    LogRetry(logger, args.AttemptNumber + 1, args.Outcome.Exception?.GetType().Name ?? "?");
                    return ValueTask.CompletedTask;
                },
            })
            .Build();
    }

    public async Task<DispatchOutcome> DispatchAsync(Guid orderId, CancellationToken ct)
    {
        var order = await store.FindDispatchableAsync(orderId, ct);
        if (order is null)
        {
            return DispatchOutcome.NotDispatchable;
        }
        for (var round = 0; round < options.MaxRounds; round++)
        {
            var candidates = await store.FindCandidatesAsync(order, ct);
            if (candidates.Count == 0)
            {
                await store.RecordFailureAsync(order.Id, DispatchFailures.NoDriver, ct);
                return DispatchOutcome.NoDriver;
            }
            foreach (var candidate in candidates)
            {
                BookingResult result;
                try
                {
                    result = options.BookingRetries == 0
                        ? await store.TryBookAsync(order, candidate, ct)
                        : await retry.ExecuteAsync(async token => await store.TryBookAsync(order, candidate, token), ct);
                }
                catch (Exception e) when (StoreFailures.IsTransient(e))
                {
                    LogGaveUp(logger, e, order.Id);
                    await store.RecordFailureAsync(order.Id, DispatchFailures.StoreUnavailable, ct);
                    return DispatchOutcome.StoreUnavailable;
                }
                switch (result)
                {
                    case BookingResult.Booked:
                        LogAssigned(logger, order.Id, candidate.DriverId, candidate.DistanceKm);
                        return DispatchOutcome.Assigned;
                    case BookingResult.OrderGone:
                        return DispatchOutcome.NotDispatchable;
                }
            }
        }
        await store.RecordFailureAsync(order.Id, DispatchFailures.AllTaken, ct);
        return DispatchOutcome.NoDriver;
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Order {OrderId} assigned to driver {DriverId} at {DistanceKm:0.00} km")]
    private static partial void LogAssigned(ILogger logger, Guid orderId, Guid driverId, double distanceKm);

    [LoggerMessage(Level = LogLevel.Information, Message = "Booking attempt {Attempt} after a transient store failure ({Error})")]
    private static partial void LogRetry(ILogger logger, int attempt, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Dispatch of order {OrderId} gave up after retries; it stays dispatchable")]
    private static partial void LogGaveUp(ILogger logger, Exception exception, Guid orderId);
}
