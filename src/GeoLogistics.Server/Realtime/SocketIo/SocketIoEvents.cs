using System.Runtime.CompilerServices;
using System.Text.Json;
using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Realtime.Core;

namespace GeoLogistics.Server.Realtime.SocketIo;

/// <summary>
/// The seeds' Socket.IO events (SPEC §9) as translations of the core's messages (SPEC §5). A durable event's payload
/// carries its <c>seq</c> as a field of the payload object. Each message is translated once per namespace, whatever the
/// number of recipients, and only framed (the namespace in front) per recipient.
/// </summary>
public static class SocketIoEvents
{
    public const string OrdersNamespace = "/orders";
    public const string RealtimeNamespace = "/realtime";

    private sealed class Translation
    {
        public byte[]? Orders;
        public byte[]? Realtime;
        public byte[]? Assignment;
    }

    // Keyed by the message itself: gone with it, and shared by every session it is offered to.
    private static readonly ConditionalWeakTable<LiveMessage, Translation> Translated = [];

    /// <summary>
    /// The Engine.IO packet(s) that say <paramref name="message"/> on namespace <paramref name="ns"/> to
    /// <paramref name="caller"/>: on <c>/realtime</c> the driver an order is assigned to also gets <c>driver:new_assignment</c>.
    /// </summary>
    public static byte[] Frame(LiveMessage message, string ns, Caller caller)
    {
        var translation = Translated.GetValue(message, _ => new Translation());
        if (ns == OrdersNamespace)
        {
            return SocketIoPackets.EventWithBody(ns, translation.Orders ??= Body(message, ns));
        }
        var packet = SocketIoPackets.EventWithBody(ns, translation.Realtime ??= Body(message, ns));
        if (message.IsDurable && message.Type == "order.assigned" && caller.DriverId is { } driver && message.DriverId == driver)
        {
            return SocketIoPackets.Batch(packet, SocketIoPackets.EventWithBody(ns, translation.Assignment ??= Body(message, ns, assignment: true)));
        }
        return packet;
    }

    /// <summary><c>["name", payload]</c> for a message.</summary>
    public static byte[] Body(LiveMessage message, string ns, bool assignment = false)
    {
        using var doc = JsonDocument.Parse(message.Utf8);
        var root = doc.RootElement;
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(message.Utf8.Length + 64);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartArray();
            if (message.IsDurable && message.IsOrderEvent)
            {
                WriteOrderEvent(json, message, root, ns, assignment);
            }
            else if (message.IsDurable)
            {
                json.WriteStringValue("driver:status_update");
                WriteDataWithSeq(json, root, message.Seq, "driverId");
            }
            else if (message.Type == "driver.location")
            {
                json.WriteStringValue("driver:location_update");
                json.WriteStartObject();
                foreach (var property in root.EnumerateObject())
                {
                    var name = property.Name switch
                    {
                        "type" => null,
                        "lat" => "latitude",
                        "lng" => "longitude",
                        _ => property.Name,
                    };
                    if (name is not null)
                    {
                        json.WritePropertyName(name);
                        property.Value.WriteTo(json);
                    }
                }
                json.WriteEndObject();
            }
            else
            {
                // order.eta → order:eta_update; the others keep their fields under the type's words (order:conflict, …).
                json.WriteStringValue(message.Type == "order.eta" ? "order:eta_update" : message.Type.Replace('.', ':'));
                json.WriteStartObject();
                foreach (var property in root.EnumerateObject())
                {
                    if (property.Name != "type")
                    {
                        property.WriteTo(json);
                    }
                }
                json.WriteEndObject();
            }
            json.WriteEndArray();
        }
        return buffer.WrittenSpan.ToArray();
    }

    private static void WriteOrderEvent(Utf8JsonWriter json, LiveMessage message, JsonElement root, string ns, bool assignment)
    {
        if (ns == OrdersNamespace || assignment || message.Type == "order.created")
        {
            // The seeds' order:updated, order:new and driver:new_assignment carry the order itself.
            json.WriteStringValue(ns == OrdersNamespace ? "order:updated" : assignment ? "driver:new_assignment" : "order:new");
            WriteDataWithSeq(json, root, message.Seq, "orderId");
            return;
        }
        json.WriteStringValue("order:status_update");
        json.WriteStartObject();
        json.WriteString("orderId", message.OrderId?.ToString());
        if (root.TryGetProperty("data", out var data) && data.ValueKind == JsonValueKind.Object && data.TryGetProperty("status", out var status))
        {
            json.WritePropertyName("status");
            status.WriteTo(json);
        }
        json.WriteString("type", message.Type);
        json.WriteNumber("seq", message.Seq);
        foreach (var name in (ReadOnlySpan<string>)["ts", "changed", "actor"])
        {
            if (root.TryGetProperty(name, out var value))
            {
                json.WritePropertyName(name);
                value.WriteTo(json);
            }
        }
        if (data.ValueKind == JsonValueKind.Object)
        {
            json.WritePropertyName("order");
            data.WriteTo(json);
        }
        json.WriteEndObject();
    }

    /// <summary>The event's <c>data</c> object with <c>seq</c> added; an event without one says at least its object's id.</summary>
    private static void WriteDataWithSeq(Utf8JsonWriter json, JsonElement root, long seq, string idName)
    {
        json.WriteStartObject();
        if (root.TryGetProperty("data", out var data) && data.ValueKind == JsonValueKind.Object)
        {
            foreach (var property in data.EnumerateObject())
            {
                if (property.Name != "seq")
                {
                    property.WriteTo(json);
                }
            }
        }
        else if (root.TryGetProperty(idName, out var id))
        {
            json.WritePropertyName(idName);
            id.WriteTo(json);
        }
        json.WriteNumber("seq", seq);
        json.WriteEndObject();
    }
}
