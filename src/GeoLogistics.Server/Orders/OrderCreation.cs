using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Data;
using GeoLogistics.Server.Events;
using GeoLogistics.Server.Http;
using GeoLogistics.Server.Tenants;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;

namespace GeoLogistics.Server.Orders;

/// <summary>POST /api/orders: a new order, at most once per Idempotency-Key.</summary>
internal static class OrderCreation
{
    internal static async Task<IResult> Create(
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
        // SQLite: the serial and the order in one write transaction, one turn of the store's one writer. PostgreSQL:
        // the serial from a sequence, and the order's save a transaction of its own.
        await using var write = db.Database.IsNpgsql() ? null : await db.Database.BeginTransactionAsync(ct);
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
        var body = JsonSerializer.Serialize(dto, OrdersJson.Default.OrderDto);
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
            if (write is not null)
            {
                await write.CommitAsync(ct);
                await log.PublishedAsync(ct);
            }
        }
        catch (DbUpdateException) when (idempotencyKey is not null)
        {
            // A concurrent retry with the same key won the insert: answer what it answered.
            if (write is not null)
            {
                await write.RollbackAsync(ct);
            }
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
