using System.Globalization;
using System.Text;
using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Data;
using GeoLogistics.Server.Events;
using GeoLogistics.Server.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace GeoLogistics.Server.Orders;

/// <summary>The reads: a page of orders, the board, one order, an order's events.</summary>
internal static class OrderQueries
{
    internal static async Task<Results<Ok<OrderPage>, ValidationProblem>> List(
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

    internal static async Task<Results<Ok<BoardSnapshot>, ValidationProblem>> Board(
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

    internal static async Task<IResult> Get(Guid id, Caller caller, AppDb db, HttpContext http, CancellationToken ct)
    {
        var order = await db.Orders.AsNoTracking().VisibleTo(caller).Include(o => o.History).FirstOrDefaultAsync(o => o.Id == id, ct);
        if (order is null)
        {
            return Problems.NotFound("The order");
        }
        var etag = OrderVersions.ETag(order.Version);
        http.Response.Headers.ETag = etag;
        if (http.Request.Headers.IfNoneMatch.Any(v => v == etag))
        {
            return TypedResults.StatusCode(StatusCodes.Status304NotModified);
        }
        return TypedResults.Ok(order.ToDto(withHistory: true));
    }

    internal static async Task<IResult> Events(
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
}

/// <summary>The filters and the page of GET /api/orders, bound from the query string.</summary>
public sealed record OrderQuery(string? Status, string? Kind, Guid? DriverId, Guid? TenantId, string? Cursor, int? Limit);
