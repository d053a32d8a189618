using System.ComponentModel.DataAnnotations;
using GeoLogistics.Server.Auth;

namespace GeoLogistics.Server.Orders;

public sealed record CreateOrderRequest(
    Guid? TenantId,
    [property: Required] GeoPoint? Pickup,
    [property: Required] GeoPoint? Dropoff,
    [property: StringLength(32)] string? Kind,
    [property: Range(0, 10)] int? Priority,
    [property: StringLength(2000)] string? Notes,
    DispatchWhen? DispatchWhen);

public sealed record UpdateOrderRequest(
    [property: Range(1, int.MaxValue)] int? Version,
    GeoPoint? Pickup,
    GeoPoint? Dropoff,
    [property: StringLength(32)] string? Kind,
    [property: Range(0, 10)] int? Priority,
    [property: StringLength(2000)] string? Notes,
    DispatchWhen? DispatchWhen);

public sealed record StatusRequest([property: Required] OrderStatus? Status);

public sealed record AssignRequest([property: Required] Guid? DriverId);

public sealed record OrderPage(IReadOnlyList<OrderDto> Items, string? NextCursor);

/// <summary>Who sees which orders (SPEC §2). Anything else answers 404, never 403.</summary>
public static class OrderVisibility
{
    public static IQueryable<Order> VisibleTo(this IQueryable<Order> orders, Caller caller) => caller.Role switch
    {
        Role.Admin => orders,
        Role.Dispatcher when caller.TenantId is { } tenant => orders.Where(o => o.TenantId == tenant),
        Role.Customer => orders.Where(o => o.CustomerId == caller.UserId),
        Role.Driver when caller.DriverId is { } driver => orders.Where(o => o.DriverId == driver),
        _ => orders.Where(_ => false),
    };

    /// <summary>Editing, assigning and deleting are the back office's; customers and drivers only move their own.</summary>
    public static bool MayManage(this Caller caller) => caller.Role is Role.Admin or Role.Dispatcher;
}

/// <summary>One column of the board: a status and how many visible orders are in it.</summary>
public sealed record StatusCount(OrderStatus Status, int Count);

/// <summary>Every status's count and its newest orders, as of one instant.</summary>
public sealed record BoardSnapshot(IReadOnlyList<StatusCount> Counts, IReadOnlyList<OrderDto> Orders);
