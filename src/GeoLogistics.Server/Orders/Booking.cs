using System.Data.Common;
using System.Globalization;
using System.Text;
using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Data;
using GeoLogistics.Server.Drivers;
using GeoLogistics.Server.Events;
using GeoLogistics.Server.Http;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;

namespace GeoLogistics.Server.Orders;

public enum BookingResult
{
    Booked,
    /// <summary>The driver is no longer free at the version read: try the next one.</summary>
    DriverTaken,
    /// <summary>The order is no longer as read (no longer dispatchable, or at another version): stop.</summary>
    OrderGone,
}

/// <summary>A driver to book for an order, as the caller read them.</summary>
/// <param name="DriverVersion">The driver is booked only while free at this version.</param>
public sealed record BookingRequest(Guid OrderId, Guid DriverId, int DriverVersion, Actor Actor)
{
    /// <summary>The order's version the caller read and checked; null (dispatch): whatever version, while it is dispatchable.</summary>
    public int? OrderVersion { get; init; }

    /// <summary>The order is <c>ASSIGNED</c> already and gets another driver: no status change, no history entry.</summary>
    public bool Reassign { get; init; }

    /// <summary>On a reassign, the driver the order had: released in the same transaction.</summary>
    public Guid? PreviousDriverId { get; init; }

    /// <summary>A person is waiting: answer once this node's feed handed the events out, so they read back what they did.</summary>
    public bool ReadBack { get; init; }

    /// <summary>Dispatch: the order while it is dispatchable, a candidate at the version the search read.</summary>
    public static BookingRequest ForDispatch(Guid orderId, Guid driverId, int driverVersion) =>
        new(orderId, driverId, driverVersion, Actor.System);

    /// <summary>A dispatcher's assign, or reassign when the order is <c>ASSIGNED</c>: both as read and checked.</summary>
    public static BookingRequest ForAssign(Order order, Driver driver, Actor actor)
    {
        var reassign = order.Status == OrderStatus.Assigned;
        return new(order.Id, driver.Id, driver.Version, actor)
        {
            OrderVersion = order.Version,
            Reassign = reassign,
            PreviousDriverId = reassign ? order.DriverId : null,
            ReadBack = true,
        };
    }
}

/// <summary>The result, and when booked the order as stored now.</summary>
public sealed record BookingOutcome(BookingResult Result, Order? Order = null);

/// <summary>
/// Books a driver for an order (SPEC §4): the one place it is done, for dispatch's attempts and a dispatcher's assign.
/// One short transaction of two commands. The first moves the rows, each <c>UPDATE</c> conditional on the row being
/// as the caller read it (the driver free at its version; the order dispatchable, or at its version), and returns
/// them as stored; if any row was not as read, the transaction is rolled back and nothing changed. The second
/// inserts the history entry and the events (their payloads built from the returned rows, as <see cref="EventLog"/>
/// builds every payload), and commits. On PostgreSQL <c>BEGIN</c> travels with the first command and <c>COMMIT</c>
/// with the second: two round trips. On SQLite the transaction begins after this writer's turn at the write gate.
/// The unique indexes on a driver's current order and an active order's driver refuse a double booking whatever
/// happens here.
/// </summary>
public sealed class Booking(AppDb db, EventLog log, TimeProvider clock)
{
    private const string Busy = nameof(DriverStatus.Busy);
    private const string Available = nameof(DriverStatus.Available);
    private const string Assigned = nameof(OrderStatus.Assigned);

    /// <summary>As <see cref="Driver.Release"/>: off the order, and available unless it went offline meanwhile.</summary>
    private const string ReleasePrevious = $"""
        UPDATE "Drivers" SET "Status" = CASE WHEN "Status" = '{Busy}' THEN '{Available}' ELSE "Status" END,
            "CurrentOrderId" = NULL, "Version" = "Version" + 1, "UpdatedAt" = @now
        WHERE "Id" = @previous AND "CurrentOrderId" = @order
        RETURNING *;
        """;

    /// <summary>"Dispatchable" in SQL, from the same rule as <see cref="OrderLifecycle.IsDispatchable"/>.</summary>
    private static readonly string Dispatchable = "(" + string.Join(" OR ", Enum.GetValues<DispatchWhen>().Select(when =>
        $"(\"Status\" = '{OrderLifecycle.DispatchableStatus(when)}' AND \"DispatchWhen\" = '{when}')")) + ")";

    private static readonly Statements WhileDispatchable = new(Dispatchable);

    private static readonly Statements AtVersionRead = new("\"Version\" = @orderVersion");

    /// <summary>The statements for one way the order must still be as read: dispatchable (dispatch), or at its version (assign).</summary>
    private sealed class Statements(string orderAsRead)
    {
        /// <summary>
        /// As <see cref="Driver.Book"/>, while free at the version read and while the order is as read: an order that
        /// another booking took meanwhile takes no driver (and tells itself apart from a lost driver, see <see cref="OrderStillAsRead"/>).
        /// </summary>
        public string BookDriver { get; } = $"""
            UPDATE "Drivers" SET "Status" = '{Busy}', "CurrentOrderId" = @order, "Version" = "Version" + 1, "UpdatedAt" = @now
            WHERE "Id" = @driver AND "Version" = @driverVersion AND "Status" = '{Available}' AND "CurrentOrderId" IS NULL
                AND EXISTS (SELECT 1 FROM "Orders" WHERE "Id" = @order AND {orderAsRead})
            RETURNING *;
            """;

        /// <summary>As <see cref="OrderLifecycle.Apply"/> to ASSIGNED (on a reassign the status stays), once the driver is on it.</summary>
        public string AssignOrder { get; } = $"""
            UPDATE "Orders" SET "Status" = '{Assigned}', "DriverId" = @driver, "DispatchFailure" = NULL,
                "Version" = "Version" + 1, "UpdatedAt" = @now, "AssignedAt" = @now
            WHERE "Id" = @order AND {orderAsRead}
                AND EXISTS (SELECT 1 FROM "Drivers" WHERE "Id" = @driver AND "CurrentOrderId" = @order)
            RETURNING *;
            """;

        /// <summary>Asked only when the driver was not booked: was it the driver (try another) or the order (stop)?</summary>
        public string OrderStillAsRead { get; } = $"""
            SELECT COUNT(*) FROM "Orders" WHERE "Id" = @order AND {orderAsRead};
            """;
    }

    private const string History = $"""
        INSERT INTO "OrderHistory" ("OrderId", "Status", "At", "ActorUserId", "ActorEmail")
        VALUES (@order, '{Assigned}', @now, @actorUserId, @actorEmail);
        """;

    public async Task<BookingOutcome> TryBookAsync(BookingRequest request, CancellationToken ct)
    {
        var outcome = await BookAsync(request, ct);
        if (outcome.Result == BookingResult.Booked && request.ReadBack)
        {
            await log.PublishedAsync(ct);
        }
        return outcome;
    }

    private async Task<BookingOutcome> BookAsync(BookingRequest request, CancellationToken ct)
    {
        var now = clock.Now();
        var postgres = db.Database.IsNpgsql();
        await db.Database.OpenConnectionAsync(ct);
        IDbContextTransaction? sqlite = null;
        try
        {
            // SQLite: BEGIN IMMEDIATE once it is this writer's turn (StoreWriteGate is EF Core's interceptor).
            sqlite = postgres ? null : await db.Database.BeginTransactionAsync(ct);
            var (previous, driver, order) = await MoveAsync(request, now, postgres, sqlite, ct);
            if (driver is null)
            {
                return new BookingOutcome(await GiveUpAsync(request, postgres, sqlite, ct));
            }
            if (order is null || (request.PreviousDriverId is not null && previous is null))
            {
                await RollbackAsync(postgres, sqlite, ct);
                return new BookingOutcome(BookingResult.OrderGone);
            }

            List<EventRecord> events = [log.ForOrder(EventTypes.OrderAssigned, order, request.Actor, ["status", "driverId", "version"])];
            if (previous is not null)
            {
                events.Add(log.ForDriver(previous, request.Actor));
            }
            events.Add(log.ForDriver(driver, request.Actor));
            var lastEventId = await AppendAsync(request, now, events, postgres, sqlite, ct);
            if (sqlite is not null)
            {
                // Its commit numbers the events (Events/CommitSignal).
                db.WroteEvents = true;
                await sqlite.CommitAsync(ct);
            }
            log.Committed(lastEventId, request.ReadBack);
            return new BookingOutcome(BookingResult.Booked, order);
        }
        catch (DbException e) when (StoreFailures.IsUniqueViolation(e))
        {
            // A booking not yet committed when this one read got there first, and the index refused this one: on the
            // drivers' current order, another driver has this order; else (an active order's driver) this driver is taken.
            await RollbackAsync(postgres, sqlite, ct);
            return new BookingOutcome(e.Message.Contains(nameof(Driver.CurrentOrderId), StringComparison.Ordinal)
                ? BookingResult.OrderGone
                : BookingResult.DriverTaken);
        }
        catch (Exception) when (postgres)
        {
            await TryRollbackAsync();
            throw;
        }
        finally
        {
            if (sqlite is not null)
            {
                await sqlite.DisposeAsync();
            }
            await db.Database.CloseConnectionAsync();
        }
    }

    /// <summary>The first command: the previous driver released (reassign), the driver booked, the order assigned.</summary>
    private async Task<(Driver? Previous, Driver? Driver, Order? Order)> MoveAsync(
        BookingRequest request, DateTimeOffset now, bool postgres, IDbContextTransaction? sqlite, CancellationToken ct)
    {
        var sql = new StringBuilder(postgres ? "BEGIN;\n" : "");
        if (request.PreviousDriverId is not null)
        {
            sql.Append(ReleasePrevious);
        }
        var statements = StatementsFor(request);
        sql.Append(statements.BookDriver);
        sql.Append(statements.AssignOrder);

        await using var command = Command(sql.ToString(), sqlite);
        AddOrderParameters(command, request);
        command.AddParameter<Driver>(db, "@driver", nameof(Driver.Id), request.DriverId);
        command.AddParameter<Driver>(db, "@driverVersion", nameof(Driver.Version), request.DriverVersion);
        command.AddParameter<Order>(db, "@now", nameof(Order.UpdatedAt), now);
        if (request.PreviousDriverId is { } previousId)
        {
            command.AddParameter<Driver>(db, "@previous", nameof(Driver.Id), previousId);
        }

        await using var reader = await command.ExecuteReaderAsync(ct);
        Driver? previous = null;
        if (request.PreviousDriverId is not null)
        {
            previous = await SingleAsync<Driver>(reader, ct);
            await reader.NextResultAsync(ct);
        }
        var driver = await SingleAsync<Driver>(reader, ct);
        await reader.NextResultAsync(ct);
        var order = await SingleAsync<Order>(reader, ct);
        return (previous, driver, order);
    }

    /// <summary>The second command: the history entry (unless a reassign) and the events, then (PostgreSQL) the commit.</summary>
    private async Task<long> AppendAsync(
        BookingRequest request, DateTimeOffset now, List<EventRecord> events, bool postgres, IDbContextTransaction? sqlite, CancellationToken ct)
    {
        var sql = new StringBuilder(request.Reassign ? "" : History);
        sql.Append("""INSERT INTO "Events" ("Type", "Ts", "TenantId", "OrderId", "DriverId", "CustomerId", "ActorUserId", "ActorEmail", "Changed", "Data") VALUES """);
        sql.AppendJoin(", ", events.Select((_, i) => $"(@type{i}, @ts{i}, @tenant{i}, @orderOf{i}, @driverOf{i}, @customer{i}, @actor{i}, @email{i}, @changed{i}, @data{i})"));
        sql.Append(""" RETURNING "Id";""");
        if (postgres)
        {
            sql.Append("\nCOMMIT;");
        }

        await using var command = Command(sql.ToString(), sqlite);
        if (!request.Reassign)
        {
            command.AddParameter<OrderStatusChange>(db, "@order", nameof(OrderStatusChange.OrderId), request.OrderId);
            command.AddParameter<OrderStatusChange>(db, "@now", nameof(OrderStatusChange.At), now);
            command.AddParameter<OrderStatusChange>(db, "@actorUserId", nameof(OrderStatusChange.ActorUserId), request.Actor.UserId);
            command.AddParameter<OrderStatusChange>(db, "@actorEmail", nameof(OrderStatusChange.ActorEmail), request.Actor.Email);
        }
        for (var i = 0; i < events.Count; i++)
        {
            var e = events[i];
            command.AddParameter<EventRecord>(db, $"@type{i}", nameof(EventRecord.Type), e.Type);
            command.AddParameter<EventRecord>(db, $"@ts{i}", nameof(EventRecord.Ts), e.Ts);
            command.AddParameter<EventRecord>(db, $"@tenant{i}", nameof(EventRecord.TenantId), e.TenantId);
            command.AddParameter<EventRecord>(db, $"@orderOf{i}", nameof(EventRecord.OrderId), e.OrderId);
            command.AddParameter<EventRecord>(db, $"@driverOf{i}", nameof(EventRecord.DriverId), e.DriverId);
            command.AddParameter<EventRecord>(db, $"@customer{i}", nameof(EventRecord.CustomerId), e.CustomerId);
            command.AddParameter<EventRecord>(db, $"@actor{i}", nameof(EventRecord.ActorUserId), e.ActorUserId);
            command.AddParameter<EventRecord>(db, $"@email{i}", nameof(EventRecord.ActorEmail), e.ActorEmail);
            command.AddParameter<EventRecord>(db, $"@changed{i}", nameof(EventRecord.Changed), e.Changed);
            command.AddParameter<EventRecord>(db, $"@data{i}", nameof(EventRecord.Data), e.Data);
        }

        var last = 0L;
        await using (var reader = await command.ExecuteReaderAsync(ct))
        {
            // Rows of one VALUES list get their keys in order; the last key is what the feed is awaited by.
            while (await reader.ReadAsync(ct))
            {
                last = Math.Max(last, reader.GetInt64(0));
            }
            // Reads on through the COMMIT, so that a failing commit throws here.
            while (await reader.NextResultAsync(ct))
            {
            }
        }
        return last;
    }

    private static Statements StatementsFor(BookingRequest request) => request.OrderVersion is null ? WhileDispatchable : AtVersionRead;

    private void AddOrderParameters(DbCommand command, BookingRequest request)
    {
        command.AddParameter<Order>(db, "@order", nameof(Order.Id), request.OrderId);
        if (request.OrderVersion is { } orderVersion)
        {
            command.AddParameter<Order>(db, "@orderVersion", nameof(Order.Version), orderVersion);
        }
    }

    /// <summary>
    /// The driver was not booked: rolls back, and tells whether the order is still as read (the driver was lost: try
    /// another) or not (stop). On PostgreSQL the question travels with the ROLLBACK, so a lost race costs no more.
    /// </summary>
    private async Task<BookingResult> GiveUpAsync(BookingRequest request, bool postgres, IDbContextTransaction? sqlite, CancellationToken ct)
    {
        await using var command = Command(StatementsFor(request).OrderStillAsRead + (postgres ? "\nROLLBACK;" : ""), sqlite);
        AddOrderParameters(command, request);
        var orderAsRead = Convert.ToInt64(await command.ExecuteScalarAsync(ct), CultureInfo.InvariantCulture) > 0;
        if (sqlite is not null)
        {
            await sqlite.RollbackAsync(ct);
        }
        return orderAsRead ? BookingResult.DriverTaken : BookingResult.OrderGone;
    }

    private DbCommand Command(string sql, IDbContextTransaction? transaction)
    {
        var command = db.Database.GetDbConnection().CreateCommand();
        command.CommandText = sql;
        command.Transaction = transaction?.GetDbTransaction();
        return command;
    }

    private async Task<T?> SingleAsync<T>(DbDataReader reader, CancellationToken ct) where T : class, new() =>
        await reader.ReadAsync(ct) ? reader.ReadEntity<T>(db) : null;

    private async Task RollbackAsync(bool postgres, IDbContextTransaction? sqlite, CancellationToken ct)
    {
        if (postgres)
        {
            await using var rollback = Command("ROLLBACK", null);
            await rollback.ExecuteNonQueryAsync(ct);
        }
        else if (sqlite is not null)
        {
            await sqlite.RollbackAsync(ct);
        }
    }

    /// <summary>After a failure on PostgreSQL: end the transaction if the connection still can (else the pool resets it).</summary>
    private async Task TryRollbackAsync()
    {
        try
        {
            await RollbackAsync(postgres: true, null, CancellationToken.None);
        }
        catch (Exception e) when (e is DbException or InvalidOperationException or OperationCanceledException)
        {
            // The connection is broken or closing; Npgsql rolls back whatever is left when it returns to the pool.
        }
    }
}
