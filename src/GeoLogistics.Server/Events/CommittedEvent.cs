using System.Text.Json;
using GeoLogistics.Server.Drivers;
using GeoLogistics.Server.Http;
using GeoLogistics.Server.Orders;

namespace GeoLogistics.Server.Events;

/// <summary>
/// A numbered event as the feed hands it out, decoded once: the columns that say who may see it, the object it carries
/// as a typed record (<see cref="Order"/> or <see cref="Driver"/>), and its wire form (<see cref="Utf8"/>, SPEC §5)
/// serialized once for every subscriber on every protocol. Consumers read these; none parses the JSON again.
/// </summary>
public sealed class CommittedEvent
{
    public required long Seq { get; init; }
    public required string Type { get; init; }
    public DateTimeOffset Ts { get; init; }
    public Guid? TenantId { get; init; }
    public Guid? OrderId { get; init; }
    public Guid? DriverId { get; init; }
    public Guid? CustomerId { get; init; }
    /// <summary>The order after the change, for <c>order.*</c> events.</summary>
    public OrderDto? Order { get; init; }
    /// <summary>The driver after the change, for <c>driver.*</c> events.</summary>
    public DriverDto? Driver { get; init; }
    /// <summary>The event as clients receive it.</summary>
    public required ReadOnlyMemory<byte> Utf8 { get; init; }

    /// <summary>The order's status as clients name it (<c>PENDING</c>), for an <c>order.*</c> event.</summary>
    public string? OrderStatus => Order?.Status.Name();

    /// <summary>The order's kind, for an <c>order.*</c> event: the live core filters on it without knowing orders.</summary>
    public string? OrderKind => Order?.Kind;

    public bool IsOrderEvent => Type.StartsWith("order.", StringComparison.Ordinal);

    public bool IsDriverEvent => Type.StartsWith("driver.", StringComparison.Ordinal);

    /// <summary>Decodes a numbered row; without <paramref name="withObject"/> only its wire form (a replay with no filters).</summary>
    public static CommittedEvent Decode(EventRecord record, bool withObject = true)
    {
        var isOrder = withObject && record.Type.StartsWith("order.", StringComparison.Ordinal);
        var isDriver = withObject && record.Type.StartsWith("driver.", StringComparison.Ordinal);
        return new CommittedEvent
        {
            Seq = record.Seq!.Value,
            Type = record.Type,
            Ts = record.Ts,
            TenantId = record.TenantId,
            OrderId = record.OrderId,
            DriverId = record.DriverId,
            CustomerId = record.CustomerId,
            Order = isOrder ? Read(record.Data, OrdersJson.Default.OrderDto) : null,
            Driver = isDriver ? Read(record.Data, DriversJson.Default.DriverDto) : null,
            Utf8 = JsonSerializer.SerializeToUtf8Bytes(record.ToDto(), EventsJson.Default.EventDto),
        };
    }

    /// <summary>The log is written by this code only, but a row of an older shape must not stop the feed.</summary>
    private static T? Read<T>(string json, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type) where T : class
    {
        try
        {
            return JsonSerializer.Deserialize(json, type);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
