using System.Text.Json;
using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Events;
using GeoLogistics.Server.Http;
using GeoLogistics.Server.Orders;

namespace GeoLogistics.Server.Realtime;

/// <summary>
/// One message on its way to subscribers: serialized once (<see cref="Utf8"/>), with the few facts the hub needs to
/// route it and to decide who may see it. The same columns as the event log's, so the rules are the same.
/// </summary>
public sealed class Envelope
{
    public required string Type { get; init; }
    /// <summary>The durable event's seq; 0 for a volatile message.</summary>
    public long Seq { get; init; }
    public Guid? TenantId { get; init; }
    public Guid? OrderId { get; init; }
    public Guid? DriverId { get; init; }
    public Guid? CustomerId { get; init; }
    public OrderStatus? Status { get; init; }
    public string? Kind { get; init; }
    public required ReadOnlyMemory<byte> Utf8 { get; init; }

    public bool IsDurable => Seq > 0;

    public bool IsOrderEvent => Type.StartsWith("order.", StringComparison.Ordinal);

    public bool IsDriverEvent => Type.StartsWith("driver.", StringComparison.Ordinal);

    /// <summary>A driver's position: volatile, and only the newest per driver matters to a subscriber that is behind.</summary>
    public bool IsLocation => Seq == 0 && DriverId is not null && Type == "driver.location";

    /// <summary>SPEC §2, as <see cref="EventVisibility"/> says it for the log.</summary>
    public bool VisibleTo(Caller caller) => caller.Role switch
    {
        Role.Admin => true,
        Role.Dispatcher => caller.TenantId is { } tenant && TenantId == tenant,
        Role.Customer => CustomerId == caller.UserId,
        Role.Driver => caller.DriverId is { } driver && DriverId == driver,
        _ => false,
    };

    public static Envelope FromRecord(EventRecord record)
    {
        OrderStatus? status = null;
        string? kind = null;
        if (record.Type.StartsWith("order.", StringComparison.Ordinal))
        {
            var reader = new Utf8JsonReader(System.Text.Encoding.UTF8.GetBytes(record.Data));
            using var doc = JsonDocument.ParseValue(ref reader);
            if (doc.RootElement.TryGetProperty("status", out var s) && OrdersApi.TryParseStatus(s.GetString() ?? "", out var parsed))
            {
                status = parsed;
            }
            if (doc.RootElement.TryGetProperty("kind", out var k) && k.ValueKind == JsonValueKind.String)
            {
                kind = k.GetString();
            }
        }
        return new Envelope
        {
            Type = record.Type,
            Seq = record.Seq!.Value,
            TenantId = record.TenantId,
            OrderId = record.OrderId,
            DriverId = record.DriverId,
            CustomerId = record.CustomerId,
            Status = status,
            Kind = kind,
            Utf8 = JsonSerializer.SerializeToUtf8Bytes(record.ToDto(), AppJson.Default.EventDto),
        };
    }
}
