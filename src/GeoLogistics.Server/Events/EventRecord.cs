using System.Text.Json;
using System.Text.Json.Serialization;
using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Http;

namespace GeoLogistics.Server.Events;

/// <summary>The durable event types of SPEC §5.</summary>
public static class EventTypes
{
    public const string OrderCreated = "order.created";
    public const string OrderUpdated = "order.updated";
    public const string OrderStatusChanged = "order.status_changed";
    public const string OrderAssigned = "order.assigned";
    public const string OrderCancelled = "order.cancelled";
    public const string OrderDeleted = "order.deleted";
    public const string OrderDispatchFailed = "order.dispatch_failed";
    public const string DriverStatusChanged = "driver.status_changed";
}

/// <summary>
/// One row of the event log. Written in the same transaction as the change it records, without a seq; the
/// sequencer numbers committed rows afterwards, in commit order (docs/adr/0002). Readers read numbered rows only.
/// The columns besides the payload say who may see the event, so a reader filters in SQL.
/// </summary>
public sealed class EventRecord
{
    /// <summary>The insertion key: orders the rows of one numbering batch, nothing more.</summary>
    public long Id { get; set; }
    /// <summary>Null until the sequencer numbers the committed row.</summary>
    public long? Seq { get; set; }
    public string Type { get; set; } = "";
    public DateTimeOffset Ts { get; set; }
    public Guid? TenantId { get; set; }
    public Guid? OrderId { get; set; }
    public Guid? DriverId { get; set; }
    public Guid? CustomerId { get; set; }
    public Guid? ActorUserId { get; set; }
    public string ActorEmail { get; set; } = "";
    /// <summary>JSON array of the changed field names.</summary>
    public string Changed { get; set; } = "[]";
    /// <summary>JSON of the object after the change, serialized once at append.</summary>
    public string Data { get; set; } = "{}";
}

/// <summary>The event as clients receive it (SPEC §5).</summary>
public sealed record EventDto(
    string Type,
    long Seq,
    DateTimeOffset Ts,
    Guid? TenantId,
    Guid? OrderId,
    Guid? DriverId,
    Actor Actor,
    RawJson Changed,
    RawJson Data);

/// <summary>JSON text that is written as it is, never parsed again on the way out.</summary>
[JsonConverter(typeof(RawJsonConverter))]
public readonly record struct RawJson(string Json);

public sealed class RawJsonConverter : JsonConverter<RawJson>
{
    public override RawJson Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        using var doc = JsonDocument.ParseValue(ref reader);
        return new RawJson(doc.RootElement.GetRawText());
    }

    public override void Write(Utf8JsonWriter writer, RawJson value, JsonSerializerOptions options) =>
        writer.WriteRawValue(value.Json, skipInputValidation: true);
}

public static class EventMapping
{
    public static EventDto ToDto(this EventRecord e) => new(
        e.Type, e.Seq!.Value, e.Ts, e.TenantId, e.OrderId, e.DriverId, new Actor(e.ActorUserId, e.ActorEmail),
        new RawJson(e.Changed), new RawJson(e.Data));
}

/// <summary>Source-generated serialization of an event and its list of changed fields.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, Converters = [typeof(UtcTimestampConverter)])]
[JsonSerializable(typeof(EventDto))]
[JsonSerializable(typeof(IReadOnlyList<string>))]
public sealed partial class EventsJson : JsonSerializerContext;
