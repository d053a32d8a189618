using System.Buffers;
using System.Globalization;
using System.Text;

namespace GeoLogistics.Server.Realtime.Stomp;

/// <summary>
/// Writes STOMP 1.2 frames: command, headers escaped as 1.2 says (not in CONNECTED, whose readers may be 1.0 clients),
/// a <c>content-length</c> for every body, the body, NUL.
/// </summary>
public static class StompWriter
{
    /// <summary>A heart-beat: one EOL.</summary>
    public static readonly ReadOnlyMemory<byte> HeartBeat = "\n"u8.ToArray();

    public static byte[] Frame(string command, IEnumerable<KeyValuePair<string, string>> headers, string? body = null, string contentType = "text/plain")
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        var bytes = body is null ? [] : Encoding.UTF8.GetBytes(body);
        Write(buffer, command, headers, bytes, bytes.Length > 0 ? contentType : null);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>A whole frame into <paramref name="buffer"/>; the body gets its <c>content-length</c> (and a content-type when given).</summary>
    public static void Write(IBufferWriter<byte> buffer, string command, IEnumerable<KeyValuePair<string, string>> headers, ReadOnlySpan<byte> body, string? contentType)
    {
        var escape = command != "CONNECTED";
        Text(buffer, command, escape: false);
        buffer.Write("\n"u8);
        foreach (var (name, value) in headers)
        {
            Header(buffer, name, value, escape);
        }
        if (contentType is not null)
        {
            Header(buffer, "content-type", contentType, escape);
        }
        if (!body.IsEmpty || command is "MESSAGE" or "ERROR")
        {
            Header(buffer, "content-length", body.Length.ToString(CultureInfo.InvariantCulture), escape);
        }
        buffer.Write("\n"u8);
        buffer.Write(body);
        buffer.Write<byte>([0]);
    }

    /// <summary>
    /// The start of a MESSAGE frame to one subscription, up to the value of its <c>message-id</c>: written once per
    /// subscription and kept, since every event to it starts the same way.
    /// </summary>
    public static byte[] MessageHead(string destination, string subscriptionId)
    {
        var buffer = new ArrayBufferWriter<byte>(64 + destination.Length + subscriptionId.Length);
        buffer.Write("MESSAGE\n"u8);
        Header(buffer, "destination", destination, escape: true);
        Header(buffer, "subscription", subscriptionId, escape: true);
        Text(buffer, "message-id:", escape: false);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>
    /// The rest of a MESSAGE frame carrying an event, after the <c>message-id</c>'s value: the same for every recipient,
    /// so written once per event (<c>event-type</c>, a durable event's <c>seq</c>, the body's type and length, the body, NUL).
    /// </summary>
    public static byte[] MessageTail(string eventType, long seq, ReadOnlySpan<byte> body)
    {
        var buffer = new ArrayBufferWriter<byte>(body.Length + 128);
        buffer.Write("\n"u8);
        Header(buffer, "event-type", eventType, escape: true);
        if (seq > 0)
        {
            Header(buffer, "seq", seq.ToString(CultureInfo.InvariantCulture), escape: true);
        }
        Header(buffer, "content-type", "application/json", escape: true);
        Header(buffer, "content-length", body.Length.ToString(CultureInfo.InvariantCulture), escape: true);
        buffer.Write("\n"u8);
        buffer.Write(body);
        buffer.Write<byte>([0]);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>A MESSAGE frame from its subscription's head, its id and its event's tail.</summary>
    public static void Message(IBufferWriter<byte> buffer, ReadOnlySpan<byte> head, long messageId, ReadOnlySpan<byte> tail)
    {
        buffer.Write(head);
        var digits = buffer.GetSpan(20);
        messageId.TryFormat(digits, out var written, provider: CultureInfo.InvariantCulture);
        buffer.Advance(written);
        buffer.Write(tail);
    }

    public static byte[] Receipt(string receiptId) => Frame("RECEIPT", [new("receipt-id", receiptId)]);

    /// <summary>An ERROR: <c>message</c> says what went wrong in a line, the body explains; <c>receipt-id</c> names the frame that caused it.</summary>
    public static byte[] Error(string message, string? detail = null, string? receiptId = null)
    {
        List<KeyValuePair<string, string>> headers = [new("message", message)];
        if (receiptId is not null)
        {
            headers.Add(new("receipt-id", receiptId));
        }
        return Frame("ERROR", headers, detail ?? message);
    }

    private static void Header(IBufferWriter<byte> buffer, string name, string value, bool escape)
    {
        Text(buffer, name, escape);
        buffer.Write(":"u8);
        Text(buffer, value, escape);
        buffer.Write("\n"u8);
    }

    private static void Text(IBufferWriter<byte> buffer, string text, bool escape)
    {
        if (!escape || text.AsSpan().IndexOfAny("\\\r\n:") < 0)
        {
            Encoding.UTF8.GetBytes(text, buffer);
            return;
        }
        var escaped = new StringBuilder(text.Length + 8);
        foreach (var c in text)
        {
            escaped.Append(c switch
            {
                '\\' => @"\\",
                '\r' => @"\r",
                '\n' => @"\n",
                ':' => @"\c",
                _ => c.ToString(),
            });
        }
        Encoding.UTF8.GetBytes(escaped.ToString(), buffer);
    }
}
