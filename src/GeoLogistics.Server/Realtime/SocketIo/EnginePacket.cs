using System.Text;

namespace GeoLogistics.Server.Realtime.SocketIo;

/// <summary>The Engine.IO 4 packet types (engine.io-protocol, "Protocol").</summary>
public enum EngineType : byte
{
    Open = 0,
    Close = 1,
    Ping = 2,
    Pong = 3,
    Message = 4,
    Upgrade = 5,
    Noop = 6,
}

/// <summary>One Engine.IO packet: its type and what follows the type character (UTF-8 text; binary is not spoken here).</summary>
public readonly record struct EnginePacket(EngineType Type, ReadOnlyMemory<byte> Data)
{
    /// <summary>The probe of an upgrade: <c>2probe</c> from the client, <c>3probe</c> back.</summary>
    public bool IsProbe => Data.Span.SequenceEqual("probe"u8);
}

/// <summary>
/// Engine.IO 4 framing, strict and total: a WebSocket frame is one packet; a long-polling body is packets joined by
/// the record separator <c>\x1e</c>. Parsing returns an error in words, never throws.
/// </summary>
public static class EngineIo
{
    public const byte Separator = 0x1e;

    /// <summary>One packet: a type digit 0–6 and its data. Base64 binary (<c>b…</c>) is refused: this server speaks text only.</summary>
    public static bool TryParse(ReadOnlyMemory<byte> frame, out EnginePacket packet, out string? error)
    {
        packet = default;
        if (frame.IsEmpty)
        {
            error = "empty packet";
            return false;
        }
        var type = frame.Span[0];
        if (type == (byte)'b')
        {
            error = "binary packets are not supported";
            return false;
        }
        if (type is < (byte)'0' or > (byte)'6')
        {
            error = "unknown packet type";
            return false;
        }
        packet = new EnginePacket((EngineType)(type - '0'), frame[1..]);
        error = null;
        return true;
    }

    /// <summary>
    /// The packets of a long-polling body, at most <paramref name="maxPacketBytes"/> each. On an error the packets
    /// before it are in <paramref name="packets"/> and the rest is not read.
    /// </summary>
    public static bool TrySplitPayload(ReadOnlyMemory<byte> body, int maxPacketBytes, List<EnginePacket> packets, out string? error)
    {
        var rest = body;
        while (true)
        {
            var end = rest.Span.IndexOf(Separator);
            var frame = end < 0 ? rest : rest[..end];
            if (frame.Length > maxPacketBytes)
            {
                error = $"a packet is limited to {maxPacketBytes} bytes";
                return false;
            }
            if (!TryParse(frame, out var packet, out error))
            {
                return false;
            }
            packets.Add(packet);
            if (end < 0)
            {
                return true;
            }
            rest = rest[(end + 1)..];
        }
    }

    /// <summary>A packet of <paramref name="type"/> carrying <paramref name="data"/>.</summary>
    public static byte[] Encode(EngineType type, ReadOnlySpan<byte> data = default)
    {
        var bytes = new byte[data.Length + 1];
        bytes[0] = (byte)('0' + (byte)type);
        data.CopyTo(bytes.AsSpan(1));
        return bytes;
    }

    public static byte[] Encode(EngineType type, string data) => Encode(type, Encoding.UTF8.GetBytes(data));

    public static readonly ReadOnlyMemory<byte> Ping = Encode(EngineType.Ping);
    public static readonly ReadOnlyMemory<byte> ProbeAnswer = Encode(EngineType.Pong, "probe"u8);
    public static readonly ReadOnlyMemory<byte> Noop = Encode(EngineType.Noop);
    public static readonly ReadOnlyMemory<byte> Close = Encode(EngineType.Close);
}
