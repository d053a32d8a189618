using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Events;

namespace GeoLogistics.Server.Realtime.Core;

/// <summary>
/// One message on its way to live subscribers, on any protocol: serialized once (<see cref="Utf8"/>), with the few
/// facts the core needs to route it, filter it and decide who may see it. A durable event carries its seq; a volatile
/// message (a position, an ETA, a conflict) has none and is never logged.
/// </summary>
public sealed class LiveMessage
{
    public required string Type { get; init; }
    /// <summary>The durable event's seq; 0 for a volatile message.</summary>
    public long Seq { get; init; }
    public Guid? TenantId { get; init; }
    public Guid? OrderId { get; init; }
    public Guid? DriverId { get; init; }
    public Guid? CustomerId { get; init; }
    /// <summary>The order's status as clients name it (<c>PENDING</c>), for the status filter.</summary>
    public string? Status { get; init; }
    public string? Kind { get; init; }
    public required ReadOnlyMemory<byte> Utf8 { get; init; }

    public bool IsDurable => Seq > 0;

    public bool IsOrderEvent => Type.StartsWith("order.", StringComparison.Ordinal);

    public bool IsDriverEvent => Type.StartsWith("driver.", StringComparison.Ordinal);

    /// <summary>A driver's position: volatile, and only the newest per driver matters to a subscriber that is behind.</summary>
    public bool IsLocation => Seq == 0 && DriverId is not null && Type == "driver.location";

    /// <summary>An order's ETA: volatile, and only the newest per order matters.</summary>
    public bool IsEta => Seq == 0 && OrderId is not null && Type == "order.eta";

    /// <summary>
    /// What a newer message of the same kind replaces, for a subscriber that is behind and for a map that subscribes
    /// late: the driver of a position, the order of an ETA; null for every other message.
    /// </summary>
    public Guid? LatestOf => IsLocation ? DriverId : IsEta ? OrderId : null;

    /// <summary>SPEC §2, as <see cref="EventVisibility"/> says it for the log.</summary>
    public bool VisibleTo(Caller caller) => caller.Role switch
    {
        Role.Admin => true,
        Role.Dispatcher => caller.TenantId is { } tenant && TenantId == tenant,
        Role.Customer => CustomerId == caller.UserId,
        Role.Driver => caller.DriverId is { } driver && DriverId == driver,
        _ => false,
    };

    public static LiveMessage Of(CommittedEvent e) => new()
    {
        Type = e.Type,
        Seq = e.Seq,
        TenantId = e.TenantId,
        OrderId = e.OrderId,
        DriverId = e.DriverId,
        CustomerId = e.CustomerId,
        Status = e.OrderStatus,
        Kind = e.OrderKind,
        Utf8 = e.Utf8,
    };

    /// <summary>A volatile message, serialized here once; the ids say whom it concerns (and so who may see it).</summary>
    public static LiveMessage Volatile<T>(T message, JsonTypeInfo<T> type, string typeName,
        Guid? tenantId, Guid? orderId, Guid? driverId, Guid? customerId) => new()
        {
            Type = typeName,
            TenantId = tenantId,
            OrderId = orderId,
            DriverId = driverId,
            CustomerId = customerId,
            Utf8 = JsonSerializer.SerializeToUtf8Bytes(message, type),
        };
}

/// <summary>
/// How producers (orders, dispatch, tracking) hand volatile messages to everyone entitled, on every protocol (and, with
/// a backplane, on every node). Durable events need no publishing: the core reads them from the event feed.
/// </summary>
public interface ILivePublisher
{
    void Publish(LiveMessage message);
}
