using System.Buffers;
using System.Buffers.Binary;
using System.Text.Json;

namespace GeoLogistics.Server.Realtime.SignalR;

/// <summary>
/// Writes JSON as the same value in MessagePack, in one pass over the UTF-8 and without building a document: objects
/// become maps, arrays arrays, integers the smallest integer that holds them, other numbers 64-bit floats. A map's or
/// an array's size is not known when it opens, so it gets a 32-bit size that is filled in when it closes (valid
/// MessagePack, which does not require the shortest header).
/// </summary>
internal static class JsonToMessagePack
{
    private const byte Map32 = 0xdf;
    private const byte Array32 = 0xdd;
    // Deeper than the events ever nest; deeper input is refused by the reader.
    private const int MaxDepth = 32;

    public static void Write(ReadOnlySpan<byte> json, PooledBuffer to)
    {
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = MaxDepth });
        Span<int> headerAt = stackalloc int[MaxDepth];
        Span<int> items = stackalloc int[MaxDepth];
        var depth = 0;
        while (reader.Read())
        {
            switch (reader.TokenType)
            {
                case JsonTokenType.StartObject or JsonTokenType.StartArray:
                    CountValue(to, headerAt, items, depth);
                    headerAt[depth] = to.Length;
                    items[depth] = 0;
                    depth++;
                    to.Write(reader.TokenType == JsonTokenType.StartObject ? Map32 : Array32);
                    to.Write([0, 0, 0, 0]);
                    break;
                case JsonTokenType.EndObject or JsonTokenType.EndArray:
                    depth--;
                    BinaryPrimitives.WriteUInt32BigEndian(to.WrittenSpan[(headerAt[depth] + 1)..], (uint)items[depth]);
                    break;
                case JsonTokenType.PropertyName:
                    items[depth - 1]++;
                    WriteString(ref reader, to);
                    break;
                case JsonTokenType.String:
                    CountValue(to, headerAt, items, depth);
                    WriteString(ref reader, to);
                    break;
                case JsonTokenType.Number:
                    CountValue(to, headerAt, items, depth);
                    if (reader.TryGetInt64(out var integer))
                    {
                        WriteInteger(integer, to);
                    }
                    else
                    {
                        to.Write(0xcb);
                        BinaryPrimitives.WriteDoubleBigEndian(to.GetSpan(8), reader.GetDouble());
                        to.Advance(8);
                    }
                    break;
                case JsonTokenType.True:
                    CountValue(to, headerAt, items, depth);
                    to.Write(0xc3);
                    break;
                case JsonTokenType.False:
                    CountValue(to, headerAt, items, depth);
                    to.Write(0xc2);
                    break;
                case JsonTokenType.Null:
                    CountValue(to, headerAt, items, depth);
                    to.Write(0xc0);
                    break;
            }
        }
    }

    /// <summary>A value inside an array is one of its items; inside a map, its property name counted already.</summary>
    private static void CountValue(PooledBuffer to, Span<int> headerAt, Span<int> items, int depth)
    {
        if (depth > 0 && to.WrittenSpan[headerAt[depth - 1]] == Array32)
        {
            items[depth - 1]++;
        }
    }

    public static void WriteString(ReadOnlySpan<byte> utf8, PooledBuffer to)
    {
        var length = utf8.Length;
        switch (length)
        {
            case < 32:
                to.Write((byte)(0xa0 | length));
                break;
            case <= byte.MaxValue:
                to.Write(0xd9);
                to.Write((byte)length);
                break;
            case <= ushort.MaxValue:
                to.Write(0xda);
                BinaryPrimitives.WriteUInt16BigEndian(to.GetSpan(2), (ushort)length);
                to.Advance(2);
                break;
            default:
                to.Write(0xdb);
                BinaryPrimitives.WriteUInt32BigEndian(to.GetSpan(4), (uint)length);
                to.Advance(4);
                break;
        }
        to.Write(utf8);
    }

    private static void WriteString(ref Utf8JsonReader reader, PooledBuffer to)
    {
        if (!reader.ValueIsEscaped)
        {
            WriteString(reader.ValueSpan, to);
            return;
        }
        // Unescaped text is never longer than its escaped form.
        var rented = ArrayPool<byte>.Shared.Rent(reader.ValueSpan.Length);
        try
        {
            var length = reader.CopyString(rented);
            WriteString(rented.AsSpan(0, length), to);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private static void WriteInteger(long value, PooledBuffer to)
    {
        var span = to.GetSpan(9);
        int written;
        switch (value)
        {
            case >= 0 and <= 0x7f:
                span[0] = (byte)value;
                written = 1;
                break;
            case < 0 and >= -32:
                span[0] = (byte)(sbyte)value;
                written = 1;
                break;
            case >= 0 and <= uint.MaxValue:
                span[0] = 0xce;
                BinaryPrimitives.WriteUInt32BigEndian(span[1..], (uint)value);
                written = 5;
                break;
            case < 0 and >= int.MinValue:
                span[0] = 0xd2;
                BinaryPrimitives.WriteInt32BigEndian(span[1..], (int)value);
                written = 5;
                break;
            default:
                span[0] = 0xd3;
                BinaryPrimitives.WriteInt64BigEndian(span[1..], value);
                written = 9;
                break;
        }
        to.Advance(written);
    }
}
