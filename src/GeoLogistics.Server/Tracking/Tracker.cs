using System.Collections.Concurrent;
using System.Threading.RateLimiting;
using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Data;
using GeoLogistics.Server.Dispatch;
using GeoLogistics.Server.Drivers;
using GeoLogistics.Server.Http;
using GeoLogistics.Server.Orders;
using GeoLogistics.Server.Realtime.Core;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace GeoLogistics.Server.Tracking;

/// <summary>
/// Where a driver's positions go, over REST or the socket (docs/adr/0005): one rate limit per driver, one set of
/// checks, the latest position in memory (shared with other nodes through Redis when it is configured), the store at
/// a bounded rate, the active leg's track in batches, and the volatile <c>driver.location</c>, <c>order.eta</c> and
/// <c>order.driver_arriving</c> to whoever may see them.
/// A position over the rate is dropped before it costs anything.
/// </summary>
public sealed class Tracker(
    IServiceScopeFactory scopes,
    ILivePublisher publisher,
    ActiveOrders activeOrders,
    IEtaEstimator eta,
    ISharedPositions shared,
    IOptions<TrackingOptions> trackingOptions,
    IOptions<AuthOptions> authOptions,
    TimeProvider clock) : ILatestPositions, IDisposable
{
    private static readonly TimeSpan MaxFutureSkew = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan MaxLiveAge = TimeSpan.FromMinutes(10);
    // A driver heard from again after this long is treated like one who just came online: its position is urgent.
    private static readonly TimeSpan Silence = TimeSpan.FromSeconds(30);
    // How long an urgent position's ping waits for the writer before going on without it (the store is stuck).
    private static readonly TimeSpan UrgentPatience = TimeSpan.FromSeconds(5);

    private readonly TrackingOptions options = trackingOptions.Value;
    private readonly ConcurrentDictionary<Guid, DriverState> drivers = new();
    private readonly ConcurrentQueue<TrackPoint> pendingPoints = new();
    private readonly ConcurrentDictionary<Guid, double> pendingEtas = new();
    // Points taken by a flush stay visible here until its commit, so a reader never finds them in neither place.
    private IReadOnlyList<TrackPoint> inFlight = [];
    private int pendingPointCount;
    private long droppedPoints;
    private long acceptedPositions;
    private long rateLimitedPositions;
    private long storedPositions;
    private long storeFlushes;

    // Drivers whose position must reach the store now, not at the end of the interval, and the writer's doorbell.
    private readonly ConcurrentQueue<Guid> urgent = new();
    private readonly SemaphoreSlim due = new(0, 1);
    // Completed when the flush under way (or the next one) has committed: what an urgent position waits for.
    private TaskCompletionSource nextFlush = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private readonly PartitionedRateLimiter<Guid> limiter = PartitionedRateLimiter.Create<Guid, Guid>(driver =>
        RateLimitPartition.GetTokenBucketLimiter(driver, _ => new TokenBucketRateLimiterOptions
        {
            // Room for one second's positions more than the rate: an app sending at exactly the rate, whose
            // positions arrive with network jitter, loses none. The sustained rate stays the configured one.
            TokenLimit = 2 * authOptions.Value.LocationUpdatesPerSecond,
            TokensPerPeriod = authOptions.Value.LocationUpdatesPerSecond,
            ReplenishmentPeriod = TimeSpan.FromSeconds(1),
            QueueLimit = 0,
        }));

    /// <summary>Flagged positions in a row, each plausible from the one before, after which the newest is taken as live.</summary>
    public const int FlaggedRunToRelocate = 3;

    private sealed class DriverState
    {
        public Position? Latest;
        /// <summary>The newest flagged position, and how many flagged ones in a row led to it plausibly.</summary>
        public Position? Flagged;
        public int FlaggedRun;
        public double? RecentSpeed;
        public DateTimeOffset? HeardAt;
        public bool Dirty;
        public readonly Announcements Announced = new();
        public Guid? Fleet;
        public bool FleetKnown;
    }

    public long DroppedTrackPoints => Interlocked.Read(ref droppedPoints);

    /// <summary>Positions accepted since start-up (past the checks and the rate), live or history: the ingest count.</summary>
    public long AcceptedPositions => Interlocked.Read(ref acceptedPositions);

    /// <summary>Positions (or batches) dropped since start-up for coming faster than a driver's rate.</summary>
    public long RateLimitedPositions => Interlocked.Read(ref rateLimitedPositions);

    /// <summary>Driver positions written to the store by the writer since start-up.</summary>
    public long StoredPositions => Interlocked.Read(ref storedPositions);

    /// <summary>Transactions the writer committed since start-up (each holds every position, point and ETA it found due).</summary>
    public long StoreFlushes => Interlocked.Read(ref storeFlushes);

    /// <summary>The newest position this node has for the driver, or null.</summary>
    public Position? Latest(Guid driverId) => drivers.TryGetValue(driverId, out var s) ? Volatile.Read(ref s.Latest) : null;

    /// <summary>
    /// The newest position this node has for the driver, else the shared one (another node's, or from before a restart),
    /// else null: the store, at most one interval behind, is then the caller's fallback.
    /// </summary>
    public async ValueTask<Position?> LatestAsync(Guid driverId, CancellationToken ct) =>
        Latest(driverId) ?? await shared.GetAsync(driverId, ct);

    /// <summary>Track points of an order's leg not yet written to the store.</summary>
    public IReadOnlyList<RoutePoint> PendingPoints(Guid orderId, string leg) =>
        [.. pendingPoints.Concat(Volatile.Read(ref inFlight)).Where(p => p.OrderId == orderId && p.Leg == leg)
            .Select(p => new RoutePoint(p.Lat, p.Lng, p.At, p.Flagged))];

    /// <summary>The last ETA sent for the order its driver serves, or null.</summary>
    public double? LastEta(Guid driverId, Guid orderId) =>
        drivers.TryGetValue(driverId, out var s) ? s.Announced.LastEta(orderId) : null;

    /// <summary>A live position: within 30 s ahead of the server's clock and 10 minutes behind it.</summary>
    public async Task<LocationOutcome> ReportAsync(Guid driverId, LocationRequest request, CancellationToken ct)
    {
        if (PositionChecks.Check(request) is { } invalid)
        {
            return invalid;
        }
        var now = clock.Now();
        var at = request.RecordedAt is { } recorded ? Timestamps.Truncate(recorded) : now;
        if (at > now + MaxFutureSkew)
        {
            return new LocationOutcome.Invalid("recordedAt", "recordedAt is in the future.");
        }
        if (at < now - MaxLiveAge)
        {
            return new LocationOutcome.Invalid("recordedAt", $"recordedAt is older than {MaxLiveAge.TotalMinutes:0} minutes; upload older positions as a batch.");
        }
        if (!Acquire(driverId, out var retryAfter))
        {
            Interlocked.Increment(ref rateLimitedPositions);
            return new LocationOutcome.RateLimited(retryAfter);
        }
        await AcceptAsync(driverId, request, at, ct);
        return new LocationOutcome.Accepted();
    }

    /// <summary>
    /// Positions buffered while offline: sorted by time, each goes into the active leg's history; only one newer than
    /// the newest known moves the live position. The batch costs one token of the rate.
    /// </summary>
    public async Task<LocationOutcome> ReportBatchAsync(Guid driverId, IReadOnlyList<LocationRequest> batch, CancellationToken ct)
    {
        if (batch.Count == 0 || batch.Count > options.MaxBatchPositions)
        {
            return new LocationOutcome.Invalid("positions", $"Send 1 to {options.MaxBatchPositions} positions.");
        }
        var now = clock.Now();
        for (var i = 0; i < batch.Count; i++)
        {
            if (PositionChecks.Check(batch[i], $"positions[{i}].") is { } invalid)
            {
                return invalid;
            }
            if (batch[i].RecordedAt is not { } at || at > now + MaxFutureSkew || at < now - options.MaxBatchAge)
            {
                return new LocationOutcome.Invalid($"positions[{i}].recordedAt",
                    $"Each position needs its recordedAt, at most {options.MaxBatchAge.TotalHours:0} hours old and not in the future.");
            }
        }
        if (!Acquire(driverId, out var retryAfter))
        {
            Interlocked.Increment(ref rateLimitedPositions);
            return new LocationOutcome.RateLimited(retryAfter);
        }
        foreach (var position in batch.OrderBy(p => p.RecordedAt))
        {
            await AcceptAsync(driverId, position, Timestamps.Truncate(position.RecordedAt!.Value), ct);
        }
        return new LocationOutcome.Accepted();
    }

    private bool Acquire(Guid driverId, out TimeSpan retryAfter)
    {
        using var lease = limiter.AttemptAcquire(driverId);
        retryAfter = lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? wait : TimeSpan.FromSeconds(1);
        return lease.IsAcquired;
    }

    private async Task AcceptAsync(Guid driverId, LocationRequest request, DateTimeOffset at, CancellationToken ct)
    {
        Interlocked.Increment(ref acceptedPositions);
        var state = drivers.GetOrAdd(driverId, _ => new DriverState());
        var fleet = await FleetAsync(driverId, state, ct);
        var now = clock.Now();
        Position position;
        bool live, isUrgent = false;
        lock (state)
        {
            // Judged against the live position, never against a flagged one: a jump to the other side of the world goes
            // to history only, and the live position moves again with the next position plausible from where the
            // driver last really was. Time makes distance plausible, so a driver back after hours away is not stuck.
            // A run of flagged positions that agree with each other means the live one was the glitch (a wrong first
            // fix, a device that jumped back): after a few, the driver is where the run says, not stuck behind.
            var previous = state.Latest;
            var flagged = previous is not null && PositionChecks.IsJump(previous, request.Lat!.Value, request.Lng!.Value, at, options.MaxSpeedMps);
            if (flagged)
            {
                state.FlaggedRun = state.Flagged is { } run && at > run.At && !PositionChecks.IsJump(run, request.Lat!.Value, request.Lng!.Value, at, options.MaxSpeedMps) ? state.FlaggedRun + 1 : 1;
            }
            var relocated = flagged && state.FlaggedRun >= FlaggedRunToRelocate;
            position = new Position(request.Lat!.Value, request.Lng!.Value, request.Heading, request.Speed, at, flagged && !relocated);
            state.Flagged = position.Flagged ? position : null;
            if (!flagged || relocated)
            {
                state.FlaggedRun = 0;
            }
            live = (!flagged || relocated) && (previous is null || at > previous.At);
            if (live)
            {
                var measured = request.Speed ?? (previous is null || relocated ? null : PositionChecks.SpeedBetween(previous, position));
                state.RecentSpeed = measured is { } m ? (state.RecentSpeed is { } r ? (0.7 * r) + (0.3 * m) : m) : state.RecentSpeed;
                Volatile.Write(ref state.Latest, position);
                // The writer takes it to the store: at the end of the interval, or at once for a driver who just came
                // online (or back), so that it is a dispatch candidate now. The ping itself writes nothing.
                isUrgent = state.HeardAt is not { } heard || now - heard >= Silence;
                state.HeardAt = now;
                state.Dirty = true;
            }
        }
        // Watchers do not wait for the store: the position goes out first, the ping's answer waits.
        var stored = isUrgent ? StoredSoonAsync(driverId, ct) : Task.CompletedTask;

        var order = activeOrders.OfDriver(driverId);
        if (order is not null)
        {
            AddTrackPoint(new TrackPoint { OrderId = order.OrderId, Leg = order.Leg, Lat = position.Lat, Lng = position.Lng, At = at, Flagged = position.Flagged });
        }
        if (live)
        {
            publisher.Publish(LiveMessage.Volatile(
                new DriverLocation(driverId, order?.OrderId, position.Lat, position.Lng, position.Heading, position.Speed, at),
                TrackingJson.Default.DriverLocation, "driver.location",
                order?.TenantId ?? fleet, order?.OrderId, driverId, order?.CustomerId));
            if (order is not null)
            {
                Announce(order, state, position);
            }
        }
        await stored;
    }

    /// <summary>
    /// Rings the writer for an urgent position and waits until a flush holding it has committed: many urgent positions
    /// share one transaction. Marked dirty before the flush is read, so the flush read here is the one that takes it.
    /// </summary>
    private async Task StoredSoonAsync(Guid driverId, CancellationToken ct)
    {
        urgent.Enqueue(driverId);
        var flushed = Volatile.Read(ref nextFlush).Task;
        Ring();
        try
        {
            await flushed.WaitAsync(UrgentPatience, ct);
        }
        catch (TimeoutException)
        {
            // The store is stuck: the position stays due and goes with the next flush that works.
        }
    }

    private void Ring()
    {
        try
        {
            due.Release();
        }
        catch (SemaphoreFullException)
        {
            // Already rung and not yet answered: one flush takes both.
        }
    }

    /// <summary>For the writer: waits until an urgent position is waiting, or the timeout.</summary>
    public Task<bool> WaitUrgentAsync(TimeSpan timeout, CancellationToken ct) => due.WaitAsync(timeout, ct);

    /// <summary>ETA when it moved by a step or more; arrival once per leg.</summary>
    private void Announce(ActiveOrder order, DriverState state, Position position)
    {
        var (lat, lng) = order.Target;
        var distanceKm = GeoGrid.DistanceKm(position.Lat, position.Lng, lat, lng);
        var minutes = eta.Minutes(distanceKm, state.RecentSpeed);
        var (sendEta, arriving) = state.Announced.Decide(order.OrderId, order.Leg, minutes, distanceKm, options.EtaStepMinutes, options.ArrivalRadiusMeters);
        if (sendEta)
        {
            pendingEtas[order.OrderId] = minutes;
            publisher.Publish(LiveMessage.Volatile(new OrderEta(order.OrderId, minutes, Math.Round(distanceKm, 3)), TrackingJson.Default.OrderEta, "order.eta",
                order.TenantId, order.OrderId, order.DriverId, order.CustomerId));
        }
        if (arriving)
        {
            publisher.Publish(LiveMessage.Volatile(new DriverArriving(order.OrderId, order.DriverId, order.Leg, Math.Round(distanceKm * 1000)),
                TrackingJson.Default.DriverArriving, "order.driver_arriving", order.TenantId, order.OrderId, order.DriverId, order.CustomerId));
        }
    }

    private void AddTrackPoint(TrackPoint point)
    {
        if (Interlocked.Increment(ref pendingPointCount) > options.MaxPendingTrackPoints)
        {
            Interlocked.Decrement(ref pendingPointCount);
            Interlocked.Increment(ref droppedPoints);
            return;
        }
        pendingPoints.Enqueue(point);
    }

    /// <summary>Who may see a driver with no order: admins and its own fleet's dispatchers. Read once per driver.</summary>
    private async Task<Guid?> FleetAsync(Guid driverId, DriverState state, CancellationToken ct)
    {
        if (state.FleetKnown)
        {
            return state.Fleet;
        }
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDb>();
        state.Fleet = await db.Drivers.Where(d => d.Id == driverId).Select(d => d.TenantId).FirstOrDefaultAsync(ct);
        state.FleetKnown = true;
        return state.Fleet;
    }

    /// <summary>One statement, no version bump: a position never conflicts with a booking, and an older one never wins.</summary>
    private static Task<int> StoreAsync(AppDb db, Guid driverId, Position p, CancellationToken ct) =>
        db.Drivers
            .Where(d => d.Id == driverId && (d.LocationAt == null || d.LocationAt < p.At))
            .ExecuteUpdateAsync(s => s
                .SetProperty(d => d.Lat, p.Lat)
                .SetProperty(d => d.Lng, p.Lng)
                .SetProperty(d => d.Heading, p.Heading)
                .SetProperty(d => d.Speed, p.Speed)
                .SetProperty(d => d.LocationAt, p.At)
                .SetProperty(d => d.Cell, GeoGrid.CellOf(p.Lat, p.Lng)), ct);

    /// <summary>
    /// Writes what waited, in one transaction: the latest positions not yet stored (only the urgent ones when
    /// <paramref name="urgentOnly"/>), and with a full flush the track points and the ETAs.
    /// </summary>
    public async Task FlushAsync(CancellationToken ct, bool urgentOnly = false)
    {
        // A new generation first, then collect: a ping that marked its position before this point is in this flush.
        var generation = Interlocked.Exchange(ref nextFlush, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        var positions = new List<(Guid, DriverState, Position)>();
        void Take(Guid driverId, DriverState state)
        {
            lock (state)
            {
                if (state.Dirty && state.Latest is { } latest)
                {
                    positions.Add((driverId, state, latest));
                    state.Dirty = false;
                }
            }
        }
        if (urgentOnly)
        {
            while (urgent.TryDequeue(out var driverId))
            {
                if (drivers.TryGetValue(driverId, out var state))
                {
                    Take(driverId, state);
                }
            }
        }
        else
        {
            urgent.Clear();
            foreach (var (driverId, state) in drivers)
            {
                Take(driverId, state);
            }
        }
        TrackPoint[] points = [];
        var etas = new List<(Guid, double)>();
        if (!urgentOnly)
        {
            // Publish first, then dequeue exactly those (the writer is the only consumer, and the queue is FIFO):
            // for a moment a point is in both places, never in neither.
            points = pendingPoints.ToArray();
            Volatile.Write(ref inFlight, points);
            for (var i = 0; i < points.Length && pendingPoints.TryDequeue(out _); i++)
            {
                Interlocked.Decrement(ref pendingPointCount);
            }
            foreach (var orderId in pendingEtas.Keys)
            {
                if (pendingEtas.TryRemove(orderId, out var minutes))
                {
                    etas.Add((orderId, minutes));
                }
            }
        }
        try
        {
            if (positions.Count == 0 && points.Length == 0 && etas.Count == 0)
            {
                return;
            }
            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<AppDb>();
            await using var tx = await db.Database.BeginTransactionAsync(ct);
            foreach (var (driverId, _, position) in positions)
            {
                await StoreAsync(db, driverId, position, ct);
            }
            foreach (var (orderId, minutes) in etas)
            {
                await db.Orders.Where(o => o.Id == orderId).ExecuteUpdateAsync(s => s.SetProperty(o => o.EtaMinutes, minutes), ct);
            }
            if (points.Length > 0)
            {
                // Points of an order deleted meanwhile have nothing to belong to.
                var orderIds = points.Select(p => p.OrderId).Distinct().ToList();
                var existing = await db.Orders.Where(o => orderIds.Contains(o.Id)).Select(o => o.Id).ToListAsync(ct);
                db.TrackPoints.AddRange(points.Where(p => existing.Contains(p.OrderId)));
                await db.SaveChangesAsync(ct);
            }
            await tx.CommitAsync(ct);
            Interlocked.Add(ref storedPositions, positions.Count);
            Interlocked.Increment(ref storeFlushes);
        }
        catch
        {
            // Positions not replaced meanwhile are due again: the next flush retries them.
            foreach (var (_, state, position) in positions)
            {
                lock (state)
                {
                    state.Dirty |= ReferenceEquals(state.Latest, position);
                }
            }
            throw;
        }
        finally
        {
            Volatile.Write(ref inFlight, []);
            generation.TrySetResult();
        }
    }

    public void Dispose()
    {
        limiter.Dispose();
        due.Dispose();
    }
}
