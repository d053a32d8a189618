using System.Buffers;
using System.Text;
using System.Text.Json;

namespace GeoLogistics.Server.Realtime.SocketIo;

/// <summary>The Socket.IO 5 packet types (socket.io-protocol, "Exchange protocol").</summary>
public enum SocketType : byte
{
    Connect = 0,
    Disconnect = 1,
    Event = 2,
    Ack = 3,
    ConnectError = 4,
    BinaryEvent = 5,
    BinaryAck = 6,
}

/// <summary>
/// A Socket.IO packet a client sent, decoded: its namespace, its acknowledgement id, and its JSON payload (which the
/// receiver disposes). For an <see cref="SocketType.Event"/>, <see cref="EventName"/> is the first element.
/// </summary>
/// <remarks>
/// The packet owns the bytes its payload reads from (<paramref name="json"/>, from the pool, given back on
/// <see cref="Dispose"/>): a client's event waits in its namespace's queue after the receive buffer it came in has gone
/// back to the pool and been filled with another packet.
/// </remarks>
public sealed class SocketPacket(SocketType type, string ns, int? ackId, JsonDocument? data, byte[]? json) : IDisposable
{
    private int disposed;

    public SocketType Type { get; } = type;
    public string Namespace { get; } = ns;
    public int? AckId { get; } = ackId;
    public JsonDocument? Data { get; } = data;

    public string? EventName => Type == SocketType.Event ? Data!.RootElement[0].GetString() : null;

    /// <summary>The event's first argument after its name, or an undefined element when there is none.</summary>
    public JsonElement FirstArgument => Type == SocketType.Event && Data!.RootElement.GetArrayLength() > 1 ? Data.RootElement[1] : default;

    /// <summary>Once: the bytes go back to the pool exactly once, or two packets would read one array.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref disposed, 1) == 0)
        {
            Data?.Dispose();
            if (json is not null)
            {
                ArrayPool<byte>.Shared.Return(json);
            }
        }
    }
}

/// <summary>
/// Socket.IO 5 framing over Engine.IO message packets: <c>&lt;type&gt;[&lt;namespace&gt;,][&lt;ack id&gt;][JSON]</c>.
/// The parser is strict and total: a packet the protocol does not allow comes back as an error in words, never as an
/// exception. The writers give whole Engine.IO packets (the <c>4</c> in front).
/// </summary>
public static class SocketIoPackets
{
    /// <summary>Names the client library keeps for itself; an event by one of them is not an event.</summary>
    private static readonly string[] Reserved = ["connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"];
    private const int MaxNamespaceLength = 64;
    private static readonly JsonDocumentOptions Parsing = new() { MaxDepth = 8 };

    public static bool TryParse(ReadOnlyMemory<byte> message, out SocketPacket? packet, out string? error)
    {
        packet = null;
        var span = message.Span;
        if (span.IsEmpty || span[0] is < (byte)'0' or > (byte)'6')
        {
            error = "unknown packet type";
            return false;
        }
        var type = (SocketType)(span[0] - '0');
        if (type is SocketType.BinaryEvent or SocketType.BinaryAck)
        {
            error = "binary packets are not supported";
            return false;
        }
        if (type == SocketType.ConnectError)
        {
            error = "CONNECT_ERROR is sent by servers only";
            return false;
        }
        var at = 1;
        var ns = "/";
        if (at < span.Length && span[at] == '/')
        {
            var comma = span[at..].IndexOf((byte)',');
            var end = comma < 0 ? span.Length : at + comma;
            if (end - at > MaxNamespaceLength || span[at..end].ContainsAnyExceptInRange((byte)0x21, (byte)0x7e))
            {
                error = $"a namespace is up to {MaxNamespaceLength} printable ASCII characters";
                return false;
            }
            ns = Encoding.ASCII.GetString(span[at..end]);
            at = comma < 0 ? end : end + 1;
        }
        int? ackId = null;
        var digits = 0;
        while (at + digits < span.Length && span[at + digits] is >= (byte)'0' and <= (byte)'9')
        {
            digits++;
        }
        if (digits > 0)
        {
            if (digits > 9)
            {
                error = "an acknowledgement id is at most 9 digits";
                return false;
            }
            ackId = int.Parse(span.Slice(at, digits), provider: System.Globalization.CultureInfo.InvariantCulture);
            at += digits;
        }
        JsonDocument? data = null;
        byte[]? json = null;
        if (at < span.Length)
        {
            // A document reads the bytes it was parsed from for its life: these are the packet's own (see SocketPacket).
            var length = span.Length - at;
            json = ArrayPool<byte>.Shared.Rent(length);
            span[at..].CopyTo(json);
            try
            {
                data = JsonDocument.Parse(json.AsMemory(0, length), Parsing);
            }
            catch (JsonException)
            {
                ArrayPool<byte>.Shared.Return(json);
                error = "the payload is not JSON (or nests deeper than 8 levels)";
                return false;
            }
        }
        packet = new SocketPacket(type, ns, ackId, data, json);
        if (Invalid(type, ackId, data?.RootElement) is { } invalid)
        {
            packet.Dispose();
            packet = null;
            error = invalid;
            return false;
        }
        error = null;
        return true;
    }

    /// <summary>What socket.io-parser's <c>isPayloadValid</c> checks, and an event name that is a string.</summary>
    private static string? Invalid(SocketType type, int? ackId, JsonElement? data) => type switch
    {
        SocketType.Connect when data is { ValueKind: not JsonValueKind.Object } => "a CONNECT payload is an object",
        SocketType.Connect or SocketType.Disconnect when ackId is not null => "only EVENT and ACK carry an id",
        SocketType.Disconnect when data is not null => "a DISCONNECT has no payload",
        SocketType.Event when data is not { ValueKind: JsonValueKind.Array } || data.Value.GetArrayLength() == 0 =>
            "an EVENT payload is a non-empty array",
        SocketType.Event when data.Value[0].ValueKind != JsonValueKind.String => "an event name is a string",
        SocketType.Event when Reserved.Contains(data.Value[0].GetString()) => $"'{data.Value[0].GetString()}' is a reserved event name",
        SocketType.Ack when ackId is null => "an ACK carries an id",
        SocketType.Ack when data is not { ValueKind: JsonValueKind.Array } => "an ACK payload is an array",
        _ => null,
    };

    // ---- Writers: whole Engine.IO message packets ----

    /// <summary><c>4</c>, the Socket.IO type, the namespace unless it is the main one, the id, then the JSON.</summary>
    public static byte[] Packet(SocketType type, string ns, int? ackId, ReadOnlySpan<byte> json)
    {
        var buffer = new ArrayBufferWriter<byte>(json.Length + ns.Length + 16);
        WriteHeader(buffer, type, ns, ackId);
        buffer.Write(json);
        return buffer.WrittenSpan.ToArray();
    }

    private static void WriteHeader(ArrayBufferWriter<byte> buffer, SocketType type, string ns, int? ackId)
    {
        buffer.Write([(byte)'4', (byte)('0' + (byte)type)]);
        if (ns != "/")
        {
            buffer.Write(Encoding.ASCII.GetBytes(ns));
            buffer.Write(","u8);
        }
        if (ackId is { } id)
        {
            buffer.Write(Encoding.ASCII.GetBytes(id.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }
    }

    /// <summary>An EVENT <c>["name", payload]</c> whose payload <paramref name="write"/> writes.</summary>
    public static byte[] Event(string ns, string name, Action<Utf8JsonWriter> write) => Arguments(SocketType.Event, ns, null, name, write);

    /// <summary>An ACK <c>[payload]</c> for <paramref name="ackId"/>.</summary>
    public static byte[] Ack(string ns, int ackId, Action<Utf8JsonWriter> write) => Arguments(SocketType.Ack, ns, ackId, null, write);

    private static byte[] Arguments(SocketType type, string ns, int? ackId, string? name, Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        WriteHeader(buffer, type, ns, ackId);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartArray();
            if (name is not null)
            {
                json.WriteStringValue(name);
            }
            write(json);
            json.WriteEndArray();
        }
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>An EVENT whose <c>["name", payload]</c> is already serialized (<paramref name="body"/>).</summary>
    public static byte[] EventWithBody(string ns, ReadOnlySpan<byte> body) => Packet(SocketType.Event, ns, null, body);

    public static byte[] ConnectError(string ns, string message) =>
        Packet(SocketType.ConnectError, ns, null, JsonSerializer.SerializeToUtf8Bytes(new ConnectErrorData(message), SocketIoJson.Default.ConnectErrorData));

    public static byte[] Disconnect(string ns) => Packet(SocketType.Disconnect, ns, null, []);

    /// <summary>Several Engine.IO packets as one reply: the transport sends them as separate frames, or in one long-polling body.</summary>
    public static byte[] Batch(params ReadOnlySpan<byte[]> packets)
    {
        var length = packets.Length - 1;
        foreach (var p in packets)
        {
            length += p.Length;
        }
        var bytes = new byte[length];
        var at = 0;
        for (var i = 0; i < packets.Length; i++)
        {
            if (i > 0)
            {
                bytes[at++] = EngineIo.Separator;
            }
            packets[i].CopyTo(bytes.AsSpan(at));
            at += packets[i].Length;
        }
        return bytes;
    }
}
