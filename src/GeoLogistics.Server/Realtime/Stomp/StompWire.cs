using System.Buffers;
using System.Net.WebSockets;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace GeoLogistics.Server.Realtime.Stomp;

/// <summary>
/// How STOMP frames ride on the WebSocket. Plain: each WebSocket text message holds whole frames. SockJS
/// (https://github.com/sockjs/sockjs-protocol, its <c>websocket</c> transport): the server opens with <c>o</c>, sends
/// <c>a["frame", …]</c> (JSON strings), ends with <c>c[code,"reason"]</c>; the client sends JSON arrays of strings.
/// </summary>
public sealed class StompWire(bool sockJs)
{
    private static readonly JsonWriterOptions Quoting = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, SkipValidation = true };

    public bool IsSockJs { get; } = sockJs;

    /// <summary>The largest WebSocket message read: a frame, or over SockJS a frame in JSON quotes (up to twice as long).</summary>
    public int MaxMessageBytes(int maxFrameBytes) => IsSockJs ? (2 * maxFrameBytes) + 16 : maxFrameBytes;

    /// <summary>SockJS's open frame; nothing on a plain socket.</summary>
    public ValueTask OpenAsync(WebSocket socket, CancellationToken ct) =>
        IsSockJs ? socket.SendAsync("o"u8.ToArray().AsMemory(), WebSocketMessageType.Text, endOfMessage: true, ct) : ValueTask.CompletedTask;

    /// <summary>One frame (or heart-beat) as the WebSocket message to send: itself, or over SockJS <c>a["…"]</c> written into <paramref name="scratch"/>.</summary>
    public ReadOnlyMemory<byte> Encode(ReadOnlyMemory<byte> frame, ArrayBufferWriter<byte> scratch)
    {
        if (!IsSockJs)
        {
            return frame;
        }
        scratch.Write("a"u8);
        using (var json = new Utf8JsonWriter(scratch, Quoting))
        {
            json.WriteStartArray();
            json.WriteStringValue(frame.Span);
            json.WriteEndArray();
        }
        return scratch.WrittenMemory;
    }

    /// <summary>SockJS's close frame, before the WebSocket's own; nothing on a plain socket.</summary>
    public ValueTask CloseFrameAsync(WebSocket socket, int code, string reason, CancellationToken ct)
    {
        if (!IsSockJs)
        {
            return ValueTask.CompletedTask;
        }
        var frame = "c" + JsonSerializer.Serialize(new object[] { code, reason }, StompJson.Default.ObjectArray);
        return socket.SendAsync(Encoding.UTF8.GetBytes(frame).AsMemory(), WebSocketMessageType.Text, endOfMessage: true, ct);
    }

    /// <summary>
    /// The STOMP bytes a client message carries: the message itself, or over SockJS its strings one after another
    /// (SockJS also accepts one bare string). Null for a SockJS message that is not that.
    /// </summary>
    public ReadOnlyMemory<byte>? Decode(ReadOnlyMemory<byte> message)
    {
        if (!IsSockJs)
        {
            return message;
        }
        if (message.IsEmpty)
        {
            return ReadOnlyMemory<byte>.Empty;
        }
        try
        {
            var reader = new Utf8JsonReader(message.Span, new JsonReaderOptions { MaxDepth = 2 });
            var stomp = new ArrayBufferWriter<byte>(message.Length);
            reader.Read();
            var array = reader.TokenType == JsonTokenType.StartArray;
            if (array)
            {
                reader.Read();
            }
            while (reader.TokenType == JsonTokenType.String)
            {
                Encoding.UTF8.GetBytes(reader.GetString()!, stomp);
                if (!array)
                {
                    break;
                }
                reader.Read();
            }
            var complete = array ? reader.TokenType == JsonTokenType.EndArray : reader.TokenType == JsonTokenType.String;
            if (!complete || reader.Read())
            {
                return null;
            }
            return stomp.WrittenMemory;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

[System.Text.Json.Serialization.JsonSerializable(typeof(object[]))]
[System.Text.Json.Serialization.JsonSerializable(typeof(int))]
[System.Text.Json.Serialization.JsonSerializable(typeof(string))]
[System.Text.Json.Serialization.JsonSerializable(typeof(SockJsInfo))]
internal sealed partial class StompJson : System.Text.Json.Serialization.JsonSerializerContext;

/// <summary>SockJS's <c>/info</c> answer.</summary>
public sealed record SockJsInfo(
    [property: System.Text.Json.Serialization.JsonPropertyName("websocket")] bool WebSocket,
    [property: System.Text.Json.Serialization.JsonPropertyName("origins")] string[] Origins,
    [property: System.Text.Json.Serialization.JsonPropertyName("cookie_needed")] bool CookieNeeded,
    [property: System.Text.Json.Serialization.JsonPropertyName("entropy")] uint Entropy);
