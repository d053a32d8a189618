using System.Text.Json;
using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Events;

namespace GeoLogistics.Server.Orders;

/// <summary>
/// The <c>order.*</c> events of SPEC §5: written from the order after the change, and read back once per event by the
/// feed (<see cref="Payload"/>) for its consumers, which find the order on <c>e.Order</c>.
/// </summary>
public static class OrderEvents
{
    /// <summary>Seen by admins, the order's tenant, its customer and its driver (the columns besides the payload).</summary>
    public static EventRecord ForOrder(this EventLog log, string type, Order order, Actor actor, IReadOnlyList<string> changed)
    {
        var e = log.Record(type, actor, changed, JsonSerializer.Serialize(order.ToDto(), OrdersJson.Default.OrderDto));
        e.TenantId = order.TenantId;
        e.OrderId = order.Id;
        e.DriverId = order.DriverId;
        e.CustomerId = order.CustomerId;
        return e;
    }

    public static readonly EventPayloadReader Payload = new("order.", static json =>
        JsonSerializer.Deserialize(json, OrdersJson.Default.OrderDto) is { } order
            ? new EventPayload(order, order.Status.Name(), order.Kind)
            : default);

    extension(CommittedEvent e)
    {
        /// <summary>The order after the change, for an <c>order.*</c> event.</summary>
        public OrderDto? Order => e.Payload as OrderDto;
    }
}
