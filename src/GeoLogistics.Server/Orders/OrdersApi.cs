using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Data;
using GeoLogistics.Server.Drivers;
using GeoLogistics.Server.Events;
using GeoLogistics.Server.Http;
using GeoLogistics.Server.Realtime.Core;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace GeoLogistics.Server.Orders;

public static class OrdersApi
{
    public static RouteGroupBuilder MapOrders(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/orders").WithTags("Orders").RequireAuthorization();

        group.MapPost("/", Create).WithName("CreateOrder").WithSummary("Create an order; dispatch follows in the background.")
            .Produces<OrderDto>(StatusCodes.Status201Created);
        group.MapGet("/", List).WithName("ListOrders").WithSummary("Orders the caller may see, newest first, a page at a time.");
        group.MapGet("/board", Board).WithName("OrderBoard")
            .WithSummary("The dashboard's first state: how many visible orders each status has, and the newest of each, read at one instant.");
        group.MapGet("/{id:guid}", Get).WithName("GetOrder").WithSummary("One order with its status history; ETag is its version.");
        group.MapPatch("/{id:guid}", Update).WithName("UpdateOrder").WithSummary("Edit an order at the version read (If-Match or version).");
        group.MapPost("/{id:guid}/status", ChangeStatus).WithName("ChangeOrderStatus").WithSummary("Move an order along its lifecycle.");
        group.MapPost("/{id:guid}/cancel", Cancel).WithName("CancelOrder").WithSummary("Cancel an order before pickup.");
        group.MapPost("/{id:guid}/assign", Assign).WithName("AssignOrder").WithSummary("Book a driver for an order by hand (or reassign it).");
        group.MapDelete("/{id:guid}", Delete).WithName("DeleteOrder").WithSummary("Delete an order (admin).");
        group.MapGet("/{id:guid}/events", Events).WithName("OrderEvents").WithSummary("The order's durable events in seq order.");
        return group;
    }

    private static async Task<IResult> Create(
        CreateOrderRequest request,
        Caller caller,
        [FromHeader(Name = "Idempotency-Key")] string? idempotencyKey,
        AppDb db,
        EventLog log,
        OrderCreationLimit limit,
        HttpResponse response,
        TimeProvider clock,
        CancellationToken ct)
    {
        if (caller.Role == Role.Driver)
        {
            return Problems.Forbidden("Drivers do not create orders.");
        }
        if (idempotencyKey is { Length: 0 or > 200 })
        {
            return Problems.Invalid("Idempotency-Key", "The Idempotency-Key header must be 1 to 200 characters.");
        }

        Guid tenantId;
        switch (caller.Role)
        {
            case Role.Dispatcher:
                if (request.TenantId is { } other && other != caller.TenantId)
                {
                    return Problems.Forbidden("Dispatchers create orders for their own tenant only.");
                }
                tenantId = caller.TenantId!.Value;
                break;
            default:
                if (request.TenantId is not { } named)
                {
                    return Problems.Invalid("tenantId", "Name the tenant the order is for.");
                }
                tenantId = named;
                break;
        }

        var requestHash = idempotencyKey is null ? "" : Hash(JsonSerializer.Serialize(request with { TenantId = tenantId }));
        if (idempotencyKey is not null && await Replay(db, caller, idempotencyKey, requestHash, ct) is { } earlier)
        {
            return earlier;
        }
        // Only a new order counts against the limit, and it is checked before anything else touches the store.
        if (!limit.TryAcquire(caller, out var retryAfter))
        {
            return Problems.TooManyRequests(response, retryAfter, "Too many new orders from this account; retry after the Retry-After delay.");
        }
        if (caller.Role != Role.Dispatcher && !await db.Tenants.AnyAsync(t => t.Id == tenantId, ct))
        {
            return Problems.Invalid("tenantId", "There is no such tenant.");
        }

        var now = clock.Now();
        var serial = await OrderNumbers.NextAsync(db, ct);
        var order = new Order
        {
            Id = Guid.CreateVersion7(now),
            Serial = serial,
            Number = Order.FormatNumber(now, serial),
            TenantId = tenantId,
            CustomerId = caller.Role == Role.Customer ? caller.UserId : null,
            Status = OrderStatus.Pending,
            Version = 1,
            Pickup = Place.From(request.Pickup!),
            Dropoff = Place.From(request.Dropoff!),
            Priority = request.Priority ?? 0,
            Kind = request.Kind,
            Notes = request.Notes,
            DispatchWhen = request.DispatchWhen ?? DispatchWhen.Created,
            CreatedAt = now,
            UpdatedAt = now,
        };
        order.History.Add(new OrderStatusChange { OrderId = order.Id, Status = OrderStatus.Pending, At = now, ActorUserId = caller.UserId, ActorEmail = caller.Email });
        db.Orders.Add(order);

        var dto = order.ToDto();
        var body = JsonSerializer.Serialize(dto, AppJson.Default.OrderDto);
        if (idempotencyKey is not null)
        {
            db.IdempotencyRecords.Add(new IdempotencyRecord
            {
                UserId = caller.UserId,
                Key = idempotencyKey,
                RequestHash = requestHash,
                OrderId = order.Id,
                Response = body,
                CreatedAt = now,
            });
        }

        try
        {
            // The order, its history, its event and the idempotency record: one batch, one round trip.
            await log.SaveAsync([log.ForOrder(EventTypes.OrderCreated, order, caller.Actor, [])], ct);
        }
        catch (DbUpdateException) when (idempotencyKey is not null)
        {
            // A concurrent retry with the same key won the insert: answer what it answered.
            db.ChangeTracker.Clear();
            return await Replay(db, caller, idempotencyKey, requestHash, ct) ?? throw new InvalidOperationException("Idempotency record vanished.");
        }
        return Created(order.Id, body);
    }

    private static async Task<IResult?> Replay(AppDb db, Caller caller, string key, string requestHash, CancellationToken ct)
    {
        var earlier = await db.IdempotencyRecords.AsNoTracking()
            .FirstOrDefaultAsync(r => r.UserId == caller.UserId && r.Key == key, ct);
        if (earlier is null)
        {
            return null;
        }
        if (earlier.RequestHash != requestHash)
        {
            return TypedResults.Problem(
                statusCode: StatusCodes.Status422UnprocessableEntity,
                title: "Idempotency-Key reused",
                detail: "This Idempotency-Key was already used for a different request.");
        }
        return Created(earlier.OrderId, earlier.Response);
    }

    private static IResult Created(Guid id, string body) =>
        new CreatedJson($"/api/orders/{id}", body);

    private static string Hash(string text) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text)));

    private static async Task<Results<Ok<BoardSnapshot>, ValidationProblem>> Board(
        [FromQuery] int? limit, Caller caller, AppDb db, IOptions<ApiOptions> options, CancellationToken ct)
    {
        var perStatus = limit ?? options.Value.DefaultPageSize;
        if (perStatus < 1 || perStatus > options.Value.MaxPageSize)
        {
            return Problems.Invalid("limit", $"limit must be between 1 and {options.Value.MaxPageSize}.");
        }
        // One read transaction: counts and cards agree with each other, so events after it apply exactly once by version.
        await using var tx = await db.BeginReadAsync(ct);
        var visible = db.Orders.AsNoTracking().VisibleTo(caller);
        var counts = await visible.GroupBy(o => o.Status)
            .Select(g => new { Status = g.Key, Count = g.Count() })
            .ToDictionaryAsync(g => g.Status, g => g.Count, ct);
        var orders = new List<OrderDto>();
        foreach (var status in Enum.GetValues<OrderStatus>().Where(counts.ContainsKey))
        {
            var newest = await visible.Where(o => o.Status == status).OrderByDescending(o => o.Serial).Take(perStatus).ToListAsync(ct);
            orders.AddRange(newest.Select(o => o.ToDto()));
        }
        await tx.CommitAsync(ct);
        return TypedResults.Ok(new BoardSnapshot(
            [.. Enum.GetValues<OrderStatus>().Select(s => new StatusCount(s, counts.GetValueOrDefault(s)))], orders));
    }

    private static async Task<Results<Ok<OrderPage>, ValidationProblem>> List(
        [AsParameters] OrderQuery query,
        Caller caller,
        AppDb db,
        IOptions<ApiOptions> options,
        CancellationToken ct)
    {
        var limit = query.Limit ?? options.Value.DefaultPageSize;
        if (limit < 1 || limit > options.Value.MaxPageSize)
        {
            return Problems.Invalid("limit", $"limit must be between 1 and {options.Value.MaxPageSize}.");
        }
        var statuses = new List<OrderStatus>();
        foreach (var name in (query.Status ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!OrderStatuses.TryParse(name, out var status))
            {
                return Problems.Invalid("status", $"'{name}' is not an order status.");
            }
            statuses.Add(status);
        }
        long? after = null;
        if (query.Cursor is { Length: > 0 } cursor)
        {
            if (!TryDecodeCursor(cursor, out var serial))
            {
                return Problems.Invalid("cursor", "The cursor is not one this API gave out.");
            }
            after = serial;
        }

        var orders = db.Orders.AsNoTracking().VisibleTo(caller);
        if (statuses.Count > 0)
        {
            orders = orders.Where(o => statuses.Contains(o.Status));
        }
        if (query.Kind is { } kind)
        {
            orders = orders.Where(o => o.Kind == kind);
        }
        if (query.DriverId is { } driverId)
        {
            orders = orders.Where(o => o.DriverId == driverId);
        }
        if (query.TenantId is { } tenantId)
        {
            orders = orders.Where(o => o.TenantId == tenantId);
        }
        if (after is { } before)
        {
            orders = orders.Where(o => o.Serial < before);
        }
        var page = await orders.OrderByDescending(o => o.Serial).Take(limit + 1).ToListAsync(ct);
        var next = page.Count > limit ? EncodeCursor(page[limit - 1].Serial) : null;
        return TypedResults.Ok(new OrderPage([.. page.Take(limit).Select(o => o.ToDto())], next));
    }

    public sealed record OrderQuery(string? Status, string? Kind, Guid? DriverId, Guid? TenantId, string? Cursor, int? Limit);

    private static async Task<IResult> Get(Guid id, Caller caller, AppDb db, HttpContext http, CancellationToken ct)
    {
        var order = await db.Orders.AsNoTracking().VisibleTo(caller).Include(o => o.History).FirstOrDefaultAsync(o => o.Id == id, ct);
        if (order is null)
        {
            return Problems.NotFound("The order");
        }
        var etag = ETag(order.Version);
        http.Response.Headers.ETag = etag;
        if (http.Request.Headers.IfNoneMatch.Any(v => v == etag))
        {
            return TypedResults.StatusCode(StatusCodes.Status304NotModified);
        }
        return TypedResults.Ok(order.ToDto(withHistory: true));
    }

    private static async Task<IResult> Update(
        Guid id,
        UpdateOrderRequest request,
        Caller caller,
        AppDb db,
        EventLog log,
        ILivePublisher live,
        TimeProvider clock,
        HttpContext http,
        CancellationToken ct)
    {
        var order = await db.Orders.VisibleTo(caller).FirstOrDefaultAsync(o => o.Id == id, ct);
        if (order is null)
        {
            return Problems.NotFound("The order");
        }
        if (!caller.MayManage())
        {
            return Problems.Forbidden("Only dispatchers and admins edit orders.");
        }
        if (!TryReadExpectedVersion(http.Request, request.Version, out var expected, out var versionError))
        {
            return versionError!;
        }
        if (expected != order.Version)
        {
            return Stale(live, order, expected);
        }
        if (OrderLifecycle.IsFinal(order.Status))
        {
            return Problems.Conflict($"A {order.Status.Name()} order cannot be edited.");
        }
        if ((request.Pickup is not null || request.Dropoff is not null || request.DispatchWhen is not null) &&
            order.Status is OrderStatus.Assigned or OrderStatus.PickedUp or OrderStatus.InTransit)
        {
            return Problems.Conflict("Pickup, dropoff and dispatchWhen cannot change once a driver is on the order.");
        }

        var changed = new List<string>();
        if (request.Pickup is { } pickup && Place.From(pickup) is var newPickup && !SamePlace(order.Pickup, newPickup))
        {
            order.Pickup = newPickup;
            changed.Add("pickup");
        }
        if (request.Dropoff is { } dropoff && Place.From(dropoff) is var newDropoff && !SamePlace(order.Dropoff, newDropoff))
        {
            order.Dropoff = newDropoff;
            changed.Add("dropoff");
        }
        // An empty string clears a text field; clearing what is already empty is no change.
        if (request.Kind is { } kind && NullIfEmpty(kind) != order.Kind)
        {
            order.Kind = NullIfEmpty(kind);
            changed.Add("kind");
        }
        if (request.Priority is { } priority && priority != order.Priority)
        {
            order.Priority = priority;
            changed.Add("priority");
        }
        if (request.Notes is { } notes && NullIfEmpty(notes) != order.Notes)
        {
            order.Notes = NullIfEmpty(notes);
            changed.Add("notes");
        }
        if (request.DispatchWhen is { } when && when != order.DispatchWhen)
        {
            order.DispatchWhen = when;
            changed.Add("dispatchWhen");
        }
        if (changed.Count == 0)
        {
            http.Response.Headers.ETag = ETag(order.Version);
            return TypedResults.Ok(order.ToDto());
        }

        order.Version++;
        order.UpdatedAt = clock.Now();
        changed.Add("version");
        try
        {
            await log.SaveAsync([log.ForOrder(EventTypes.OrderUpdated, order, caller.Actor, changed)], ct);
        }
        catch (DbUpdateConcurrencyException)
        {
            return await StaleAfterRace(db, live, id, expected, ct);
        }
        http.Response.Headers.ETag = ETag(order.Version);
        return TypedResults.Ok(order.ToDto());
    }

    private static string? NullIfEmpty(string text) => text.Length == 0 ? null : text;

    private static bool SamePlace(Place a, Place b) => a.Lat == b.Lat && a.Lng == b.Lng && a.Address == b.Address;

    /// <summary>The version the client read: <c>If-Match: "7"</c> (weak or strong) or <c>version</c> in the body.</summary>
    private static bool TryReadExpectedVersion(HttpRequest request, int? bodyVersion, out int version, out IResult? error)
    {
        error = null;
        version = 0;
        var ifMatch = request.Headers.IfMatch.ToString();
        if (ifMatch.Length > 0)
        {
            var text = ifMatch.StartsWith("W/", StringComparison.Ordinal) ? ifMatch[2..] : ifMatch;
            if (!int.TryParse(text.Trim('"'), NumberStyles.None, CultureInfo.InvariantCulture, out version))
            {
                error = Problems.Invalid("If-Match", "If-Match must be the ETag of the order, e.g. \"3\".");
                return false;
            }
            if (bodyVersion is { } v && v != version)
            {
                error = Problems.Invalid("version", "version and If-Match disagree.");
                return false;
            }
            return true;
        }
        if (bodyVersion is { } fromBody)
        {
            version = fromBody;
            return true;
        }
        error = TypedResults.Problem(
            statusCode: StatusCodes.Status428PreconditionRequired,
            title: "Precondition required",
            detail: "Send the version you read: an If-Match header with the ETag, or version in the body.");
        return false;
    }

    /// <summary>409 with the current order, and an <c>order.conflict</c> to whoever watches the order.</summary>
    private static ProblemHttpResult Stale(ILivePublisher live, Order current, int attempted)
    {
        live.Publish(LiveMessage.Volatile(
            new OrderConflict(current.Id, current.Version, attempted, current.ToDto()), OrdersJson.Default.OrderConflict, "order.conflict",
            current.TenantId, current.Id, current.DriverId, current.CustomerId));
        return Problems.Conflict(
            $"The order changed since version {attempted}; it is now at version {current.Version}.",
            new Dictionary<string, object?>
            {
                ["currentVersion"] = current.Version,
                ["attemptedVersion"] = attempted,
                ["current"] = current.ToDto(),
            });
    }

    private static async Task<IResult> StaleAfterRace(AppDb db, ILivePublisher live, Guid id, int attempted, CancellationToken ct)
    {
        db.ChangeTracker.Clear();
        var current = await db.Orders.AsNoTracking().FirstOrDefaultAsync(o => o.Id == id, ct);
        return current is null ? Problems.NotFound("The order") : Stale(live, current, attempted);
    }

    private static async Task<IResult> ChangeStatus(
        Guid id, StatusRequest request, Caller caller, AppDb db, EventLog log, TimeProvider clock, CancellationToken ct)
    {
        if (request.Status is OrderStatus.Assigned)
        {
            return Problems.Invalid("status", "ASSIGNED is reached by dispatch or POST /api/orders/{id}/assign.");
        }
        return await Move(id, request.Status!.Value, caller, db, log, clock, ct);
    }

    private static Task<IResult> Cancel(Guid id, Caller caller, AppDb db, EventLog log, TimeProvider clock, CancellationToken ct) =>
        Move(id, OrderStatus.Cancelled, caller, db, log, clock, ct);

    private static async Task<IResult> Move(
        Guid id, OrderStatus to, Caller caller, AppDb db, EventLog log, TimeProvider clock, CancellationToken ct)
    {
        var order = await db.Orders.VisibleTo(caller).FirstOrDefaultAsync(o => o.Id == id, ct);
        if (order is null)
        {
            return Problems.NotFound("The order");
        }
        var transition = OrderLifecycle.Find(order.Status, to, order.DispatchWhen);
        if (transition is null)
        {
            return Problems.Conflict($"An order cannot go from {order.Status.Name()} to {to.Name()}.");
        }
        if (!OrderLifecycle.MayTake(caller.Role, transition.Kind))
        {
            return Problems.Forbidden($"A {caller.Role.ToString().ToLowerInvariant()} may not move an order to {to.Name()}.");
        }

        var now = clock.Now();
        var events = new List<EventRecord>();
        var changed = new List<string> { "status", "version" };
        Driver? released = null;
        if (!OrderLifecycle.HoldsDriver(to) && order.DriverId is { } driverId)
        {
            released = await db.Drivers.FirstOrDefaultAsync(d => d.Id == driverId, ct);
            released?.Release(now);
            if (transition.Kind == StepKind.Unassign)
            {
                if (caller.Role == Role.Driver)
                {
                    // A decline: dispatch will not offer this order to this driver again.
                    db.OrderDeclines.Add(new OrderDecline { OrderId = order.Id, DriverId = driverId, At = now });
                }
                order.DriverId = null;
                changed.Add("driverId");
            }
        }
        OrderLifecycle.Apply(order, to, caller.Actor, now);
        events.Add(log.ForOrder(to == OrderStatus.Cancelled ? EventTypes.OrderCancelled : EventTypes.OrderStatusChanged, order, caller.Actor, changed));
        if (released is not null)
        {
            events.Add(log.ForDriver(released, caller.Actor));
        }
        try
        {
            await log.SaveAsync(events, ct);
        }
        catch (DbUpdateConcurrencyException)
        {
            return Problems.Conflict("The order changed meanwhile; read it again.");
        }
        return TypedResults.Ok(order.ToDto());
    }

    private static async Task<IResult> Assign(Guid id, AssignRequest request, Caller caller, AppDb db, Booking booking, CancellationToken ct)
    {
        var order = await db.Orders.AsNoTracking().VisibleTo(caller).FirstOrDefaultAsync(o => o.Id == id, ct);
        if (order is null)
        {
            return Problems.NotFound("The order");
        }
        if (!caller.MayManage())
        {
            return Problems.Forbidden("Only dispatchers and admins assign drivers.");
        }
        var reassign = order.Status == OrderStatus.Assigned;
        if (!reassign && OrderLifecycle.Find(order.Status, OrderStatus.Assigned, order.DispatchWhen) is null)
        {
            return Problems.Conflict($"A {order.Status.Name()} order cannot be assigned.");
        }
        var driver = await db.Drivers.AsNoTracking().FirstOrDefaultAsync(d => d.Id == request.DriverId, ct);
        if (driver is null || !driver.MayServe(order.TenantId))
        {
            return Problems.NotFound("The driver");
        }
        if (reassign && order.DriverId == driver.Id)
        {
            return TypedResults.Ok(order.ToDto());
        }
        if (!driver.IsFree)
        {
            return Problems.Conflict($"The driver is {driver.Status.ToString().ToLowerInvariant()}, not available.");
        }

        // Booked only if both are still as read here; a reassign releases the previous driver in the same transaction.
        var booked = await booking.TryBookAsync(BookingRequest.ForAssign(order, driver, caller.Actor), ct);
        return booked is { Result: BookingResult.Booked, Order: { } assigned }
            ? TypedResults.Ok(assigned.ToDto())
            : Problems.Conflict("The driver or the order changed meanwhile; read them again.");
    }

    private static async Task<IResult> Delete(Guid id, Caller caller, AppDb db, EventLog log, TimeProvider clock, CancellationToken ct)
    {
        var order = await db.Orders.VisibleTo(caller).FirstOrDefaultAsync(o => o.Id == id, ct);
        if (order is null)
        {
            return Problems.NotFound("The order");
        }
        if (!caller.IsAdmin)
        {
            return Problems.Forbidden("Only admins delete orders.");
        }
        var events = new List<EventRecord> { log.ForOrder(EventTypes.OrderDeleted, order, caller.Actor, []) };
        if (OrderLifecycle.HoldsDriver(order.Status) && order.DriverId is { } driverId &&
            await db.Drivers.FirstOrDefaultAsync(d => d.Id == driverId, ct) is { } driver)
        {
            driver.Release(clock.Now());
            events.Add(log.ForDriver(driver, caller.Actor));
        }
        db.Orders.Remove(order);
        try
        {
            await log.SaveAsync(events, ct);
        }
        catch (DbUpdateConcurrencyException)
        {
            return Problems.Conflict("The order changed meanwhile; read it again.");
        }
        return TypedResults.NoContent();
    }

    private static async Task<IResult> Events(
        Guid id, Caller caller, AppDb db, long? since, int? limit, IOptions<ApiOptions> options, CancellationToken ct)
    {
        if (!await db.Orders.VisibleTo(caller).AnyAsync(o => o.Id == id, ct))
        {
            return Problems.NotFound("The order");
        }
        var take = limit ?? options.Value.MaxEventPageSize;
        if (take < 1 || take > options.Value.MaxEventPageSize)
        {
            return Problems.Invalid("limit", $"limit must be between 1 and {options.Value.MaxEventPageSize}.");
        }
        var after = since ?? 0;
        var events = await db.Events.AsNoTracking()
            .Where(e => e.OrderId == id && e.Seq > after)
            .OrderBy(e => e.Seq)
            .Take(take)
            .ToListAsync(ct);
        return TypedResults.Ok(new EventPage([.. events.Select(e => e.ToDto())], events.Count > 0 ? events[^1].Seq!.Value : after));
    }

    private static string ETag(int version) => $"\"{version}\"";

    private static string EncodeCursor(long serial) =>
        Convert.ToBase64String(Encoding.UTF8.GetBytes(serial.ToString(CultureInfo.InvariantCulture))).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static bool TryDecodeCursor(string cursor, out long serial)
    {
        serial = 0;
        if (cursor.Length > 32)
        {
            return false;
        }
        var base64 = cursor.Replace('-', '+').Replace('_', '/');
        base64 = base64.PadRight(base64.Length + ((4 - (base64.Length % 4)) % 4), '=');
        Span<byte> bytes = stackalloc byte[32];
        return Convert.TryFromBase64String(base64, bytes, out var written) &&
            long.TryParse(Encoding.UTF8.GetString(bytes[..written]), NumberStyles.None, CultureInfo.InvariantCulture, out serial);
    }

    /// <summary>A 201 whose body is JSON already serialized (and, for an idempotent retry, stored).</summary>
    private sealed class CreatedJson(string location, string body) : IResult
    {
        public async Task ExecuteAsync(HttpContext httpContext)
        {
            httpContext.Response.StatusCode = StatusCodes.Status201Created;
            httpContext.Response.Headers.Location = location;
            httpContext.Response.ContentType = "application/json; charset=utf-8";
            await httpContext.Response.WriteAsync(body, httpContext.RequestAborted);
        }
    }
}
