using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using GeoLogistics.Server.Realtime.Core;

namespace GeoLogistics.Server.Realtime.SocketIo;

/// <summary>
/// The adapter's own answers, framed. An answer goes as its named event and, when the client passed an
/// acknowledgement callback, to that callback too (with the same payload); an error goes as the <c>error</c> event
/// and to the callback as <c>{error:{code,message}}</c>.
/// </summary>
public static class SocketIoReplies
{
    public static byte[] Event<T>(string ns, string name, T payload, JsonTypeInfo<T> type) =>
        SocketIoPackets.Event(ns, name, json => JsonSerializer.Serialize(json, payload, type));

    public static byte[] Reply<T>(string ns, int? ackId, string name, T payload, JsonTypeInfo<T> type)
    {
        var evt = Event(ns, name, payload, type);
        return ackId is { } id ? SocketIoPackets.Batch(evt, SocketIoPackets.Ack(ns, id, json => JsonSerializer.Serialize(json, payload, type))) : evt;
    }

    public static byte[] ErrorEvent(string ns, string code, string message, IReadOnlyDictionary<string, string>? details = null) =>
        Event(ns, "error", new ErrorData(code, message, details), SocketIoJson.Default.ErrorData);

    public static byte[] Error(string ns, int? ackId, string code, string message, IReadOnlyDictionary<string, string>? details = null)
    {
        var error = new ErrorData(code, message, details);
        var evt = Event(ns, "error", error, SocketIoJson.Default.ErrorData);
        return ackId is { } id
            ? SocketIoPackets.Batch(evt, SocketIoPackets.Ack(ns, id, json => JsonSerializer.Serialize(json, new AckError(error), SocketIoJson.Default.AckError)))
            : evt;
    }

    /// <summary>Why the server ends a namespace session, in the words of the JSON protocol's error codes.</summary>
    public static byte[] Farewell(string ns, SessionClose close) => ErrorEvent(ns, close.Reason switch
    {
        CloseReason.SlowConsumer => "slow_consumer",
        CloseReason.Flood => "flood",
        CloseReason.TooBig => "too_big",
        CloseReason.Unauthorized => "unauthorized",
        CloseReason.Restart => "restarting",
        _ => "closed",
    }, close.Text);
}
