using System.Text.Json;
using System.Text.Json.Serialization;
using GeoLogistics.Server.Http;

namespace GeoLogistics.Server.Realtime.SocketIo;

// What the adapter says besides the events themselves, serialized by source generation.

/// <summary>The Engine.IO open packet's payload.</summary>
public sealed record Handshake(string Sid, IReadOnlyList<string> Upgrades, long PingInterval, long PingTimeout, int MaxPayload);

/// <summary>The payload of a namespace's CONNECT answer.</summary>
public sealed record ConnectData(string Sid);

/// <summary>The payload of a CONNECT_ERROR: the client's <c>connect_error</c> carries <see cref="Message"/>.</summary>
public sealed record ConnectErrorData(string Message);

/// <summary>An HTTP error of the Engine.IO transport, in the reference server's shape.</summary>
public sealed record TransportError(int Code, string Message);

/// <summary><c>connected</c> on <c>/realtime</c>.</summary>
public sealed record Connected(Guid UserId, string Role, long HeadSeq);

/// <summary><c>joined</c> on <c>/orders</c>: a hospital room is a tenant's topic.</summary>
public sealed record Joined(string Room, Guid HospitalId, int Replayed);

public sealed record Left(string Room, Guid HospitalId);

/// <summary><c>subscribed</c> / <c>unsubscribed</c> on <c>/realtime</c>.</summary>
public sealed record OrderRoom(string Room, Guid? OrderId, int? Replayed);

public sealed record ReplayUnavailableData(string Room, long Since, long OldestSeq);

public sealed record LocationAcknowledged(DateTimeOffset Ts);

/// <summary>The <c>error</c> event, and an acknowledgement's <c>error</c>: the JSON protocol's codes (docs/realtime.md).</summary>
public sealed record ErrorData(string Code, string Message, IReadOnlyDictionary<string, string>? Details = null);

public sealed record AckError(ErrorData Error);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, Converters = [typeof(UtcTimestampConverter)],
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(Handshake))]
[JsonSerializable(typeof(ConnectData))]
[JsonSerializable(typeof(ConnectErrorData))]
[JsonSerializable(typeof(TransportError))]
[JsonSerializable(typeof(Connected))]
[JsonSerializable(typeof(Joined))]
[JsonSerializable(typeof(Left))]
[JsonSerializable(typeof(OrderRoom))]
[JsonSerializable(typeof(ReplayUnavailableData))]
[JsonSerializable(typeof(LocationAcknowledged))]
[JsonSerializable(typeof(ErrorData))]
[JsonSerializable(typeof(AckError))]
public sealed partial class SocketIoJson : JsonSerializerContext;
