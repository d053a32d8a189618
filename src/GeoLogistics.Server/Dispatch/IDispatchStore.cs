using GeoLogistics.Server.Orders;

namespace GeoLogistics.Server.Dispatch;

/// <summary>An order as dispatch needs it: where, and for whom.</summary>
public sealed record DispatchOrder(Guid Id, Guid TenantId, double Lat, double Lng);

/// <summary>A dispatchable order and what decides its turn: priority, then age.</summary>
public sealed record QueuedOrder(Guid Id, int Priority, DateTimeOffset CreatedAt);

/// <summary>A free driver at the version it was read, and how far from the pickup.</summary>
public sealed record Candidate(Guid DriverId, int Version, double DistanceKm);

/// <summary>Why dispatch found no driver: the codes an <c>order.dispatch_failed</c> carries.</summary>
public static class DispatchFailures
{
    public const string NoDriver = "no_free_driver";
    public const string AllTaken = "all_candidates_taken";
    public const string StoreUnavailable = "store_unavailable";
}

/// <summary>
/// Dispatch's view of the store. Every call stands alone (its own context and, for writes, its own short
/// transaction), and takes IDs rather than tracked entities, so each attempt reads the latest row.
/// The seam also lets a test make a booking fail and watch the retry.
/// </summary>
public interface IDispatchStore
{
    Task<DispatchOrder?> FindDispatchableAsync(Guid orderId, CancellationToken ct);

    /// <summary>The nearest free drivers allowed for the order's tenant, nearest first.</summary>
    Task<IReadOnlyList<Candidate>> FindCandidatesAsync(DispatchOrder order, CancellationToken ct);

    /// <summary>Books the driver for the order in one short transaction (Orders/Booking), if both are still as they were read.</summary>
    Task<BookingResult> TryBookAsync(DispatchOrder order, Candidate candidate, CancellationToken ct);

    /// <summary>Appends <c>order.dispatch_failed</c> unless the order already carries this failure.</summary>
    Task RecordFailureAsync(Guid orderId, string reason, CancellationToken ct);

    /// <summary>Dispatchable orders, highest priority first, then oldest first, with what orders them.</summary>
    Task<IReadOnlyList<QueuedOrder>> ListDispatchableAsync(int limit, CancellationToken ct);
}
