using System.Text.Json;

namespace GeoLogistics.Server.Events;

/// <summary>
/// What an event carries, read from its JSON by the module that wrote it: the object (an order, a driver), and the
/// order's status and kind as clients name them, which the live core filters on without knowing orders.
/// </summary>
public readonly record struct EventPayload(object? Value, string? OrderStatus = null, string? OrderKind = null);

/// <summary>Reads the payload of the events whose type starts with <paramref name="TypePrefix"/> (<c>order.</c>).</summary>
public sealed record EventPayloadReader(string TypePrefix, Func<string, EventPayload> Read);

/// <summary>
/// Decodes numbered rows into <see cref="CommittedEvent"/>s with the readers registered by the modules that write
/// them (orders, drivers): the log names no payload type, since those modules sit above it and write through it.
/// </summary>
public sealed class EventPayloads(IEnumerable<EventPayloadReader> readers)
{
    private readonly EventPayloadReader[] readers = [.. readers];

    /// <summary>Decodes a numbered row; without <paramref name="withObject"/> only its wire form (a replay with no filters).</summary>
    public CommittedEvent Decode(EventRecord record, bool withObject = true)
    {
        var payload = withObject ? Read(record) : default;
        return new CommittedEvent
        {
            Seq = record.Seq!.Value,
            Type = record.Type,
            Ts = record.Ts,
            TenantId = record.TenantId,
            OrderId = record.OrderId,
            DriverId = record.DriverId,
            CustomerId = record.CustomerId,
            Payload = payload.Value,
            OrderStatus = payload.OrderStatus,
            OrderKind = payload.OrderKind,
            Utf8 = JsonSerializer.SerializeToUtf8Bytes(record.ToDto(), EventsJson.Default.EventDto),
        };
    }

    private EventPayload Read(EventRecord record)
    {
        foreach (var reader in readers)
        {
            if (record.Type.StartsWith(reader.TypePrefix, StringComparison.Ordinal))
            {
                try
                {
                    return reader.Read(record.Data);
                }
                catch (JsonException)
                {
                    // The log is written by this code only, but a row of an older shape must not stop the feed.
                    return default;
                }
            }
        }
        return default;
    }
}
