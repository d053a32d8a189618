using System.ComponentModel.DataAnnotations;
using System.Text.Json;
using System.Text.Json.Serialization;
using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Http;

namespace GeoLogistics.Server.Orders;

[JsonConverter(typeof(UpperSnakeEnumConverter<OrderStatus>))]
public enum OrderStatus
{
    Pending,
    Confirmed,
    Accepted,
    ReadyForPickup,
    Assigned,
    PickedUp,
    InTransit,
    Delivered,
    Cancelled,
}

/// <summary>The wire names of <see cref="OrderStatus"/> (<c>READY_FOR_PICKUP</c>), in one place for every protocol.</summary>
public static class OrderStatuses
{
    private static readonly string[] Names = [.. Enum.GetValues<OrderStatus>().Select(s => JsonNamingPolicy.SnakeCaseUpper.ConvertName(s.ToString()))];

    public static string Name(this OrderStatus status) => Names[(int)status];

    /// <summary>Case-insensitive, as clients type them in filters and query strings.</summary>
    public static bool TryParse(string name, out OrderStatus status)
    {
        var at = Array.FindIndex(Names, n => string.Equals(n, name, StringComparison.OrdinalIgnoreCase));
        status = at < 0 ? default : (OrderStatus)at;
        return at >= 0;
    }
}

[JsonConverter(typeof(LowerSnakeEnumConverter<DispatchWhen>))]
public enum DispatchWhen
{
    Created,
    Ready,
}

/// <summary>A place on the map. Also the request shape: ranges are checked by the validation filter.</summary>
public sealed record GeoPoint(
    [property: Required, Range(-90.0, 90.0)] double? Lat,
    [property: Required, Range(-180.0, 180.0)] double? Lng,
    [property: StringLength(300)] string? Address = null);

public sealed class Order
{
    public Guid Id { get; set; }
    /// <summary>Monotonic per store: the human number and the list cursor are derived from it.</summary>
    public long Serial { get; set; }
    public string Number { get; set; } = "";
    public Guid TenantId { get; set; }
    public Guid? CustomerId { get; set; }
    public OrderStatus Status { get; set; }
    public int Version { get; set; }
    public Place Pickup { get; set; } = new();
    public Place Dropoff { get; set; } = new();
    public Guid? DriverId { get; set; }
    public double? EtaMinutes { get; set; }
    public int Priority { get; set; }
    public string? Kind { get; set; }
    public string? Notes { get; set; }
    public DispatchWhen DispatchWhen { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }
    public DateTimeOffset? ConfirmedAt { get; set; }
    public DateTimeOffset? AcceptedAt { get; set; }
    public DateTimeOffset? ReadyAt { get; set; }
    public DateTimeOffset? AssignedAt { get; set; }
    public DateTimeOffset? PickedUpAt { get; set; }
    public DateTimeOffset? InTransitAt { get; set; }
    public DateTimeOffset? DeliveredAt { get; set; }
    public DateTimeOffset? CancelledAt { get; set; }
    /// <summary>Why the last dispatch found no driver (<see cref="Dispatch.DispatchFailures"/>); null once assigned.</summary>
    public string? DispatchFailure { get; set; }
    public List<OrderStatusChange> History { get; set; } = [];

    public static string FormatNumber(DateTimeOffset createdAt, long serial) =>
        $"GLO-{createdAt.UtcDateTime:yyyyMMdd}-{serial:D6}";
}

/// <summary>The stored form of a <see cref="GeoPoint"/>: a complex type, columns on the order row.</summary>
public sealed class Place
{
    public double Lat { get; set; }
    public double Lng { get; set; }
    public string? Address { get; set; }

    public static Place From(GeoPoint p) => new() { Lat = p.Lat!.Value, Lng = p.Lng!.Value, Address = p.Address };

    public GeoPoint ToDto() => new(Lat, Lng, Address);
}

public sealed class OrderStatusChange
{
    public long Id { get; set; }
    public Guid OrderId { get; set; }
    public OrderStatus Status { get; set; }
    public DateTimeOffset At { get; set; }
    public Guid? ActorUserId { get; set; }
    public string? ActorEmail { get; set; }
}

public sealed record StatusChangeDto(OrderStatus Status, DateTimeOffset At, Actor Actor);

public sealed record OrderDto(
    Guid Id,
    string Number,
    Guid TenantId,
    Guid? CustomerId,
    OrderStatus Status,
    int Version,
    GeoPoint Pickup,
    GeoPoint Dropoff,
    Guid? DriverId,
    double? EtaMinutes,
    int Priority,
    string? Kind,
    string? Notes,
    DispatchWhen DispatchWhen,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    DateTimeOffset? ConfirmedAt,
    DateTimeOffset? AcceptedAt,
    DateTimeOffset? ReadyAt,
    DateTimeOffset? AssignedAt,
    DateTimeOffset? PickedUpAt,
    DateTimeOffset? InTransitAt,
    DateTimeOffset? DeliveredAt,
    DateTimeOffset? CancelledAt,
    string? DispatchFailure)
{
    /// <summary>Present on a single order's read; left out of lists and of event payloads.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<StatusChangeDto>? History { get; init; }
}

public static class OrderMapping
{
    public static OrderDto ToDto(this Order o, bool withHistory = false) => new(
        o.Id, o.Number, o.TenantId, o.CustomerId, o.Status, o.Version, o.Pickup.ToDto(), o.Dropoff.ToDto(),
        o.DriverId, o.EtaMinutes, o.Priority, o.Kind, o.Notes, o.DispatchWhen, o.CreatedAt, o.UpdatedAt,
        o.ConfirmedAt, o.AcceptedAt, o.ReadyAt, o.AssignedAt, o.PickedUpAt, o.InTransitAt, o.DeliveredAt, o.CancelledAt,
        o.DispatchFailure)
    {
        History = withHistory
            ? [.. o.History.OrderBy(h => h.Id).Select(h => new StatusChangeDto(h.Status, h.At, new Actor(h.ActorUserId, h.ActorEmail ?? "system")))]
            : null,
    };
}

/// <summary>A driver declined this order: dispatch does not offer it to that driver again.</summary>
public sealed class OrderDecline
{
    public Guid OrderId { get; set; }
    public Guid DriverId { get; set; }
    public DateTimeOffset At { get; set; }
}

/// <summary>Source-generated serialization of an order: in answers, event payloads and <c>order.conflict</c>.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, Converters = [typeof(UtcTimestampConverter)])]
[JsonSerializable(typeof(OrderDto))]
[JsonSerializable(typeof(OrderConflict))]
public sealed partial class OrdersJson : JsonSerializerContext;
