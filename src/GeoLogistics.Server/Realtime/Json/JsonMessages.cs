using System.Text.Json;
using System.Text.Json.Serialization;
using GeoLogistics.Server.Http;
using GeoLogistics.Server.Users;

namespace GeoLogistics.Server.Realtime.Json;

// Server → client messages of SPEC §7 besides the events themselves. Each is serialized once, by source generation.

public sealed record ConnectionAck(string ClientId, UserDto User, DateTimeOffset ServerTime, long HeadSeq)
{
    public string Type => "connection_ack";
}

public sealed record FiltersDto(IReadOnlyList<string> Status, string? Kind);

public sealed record Subscribed(string Id, string Topic, FiltersDto Filters, int Replayed)
{
    public string Type => "subscribed";
}

public sealed record Unsubscribed(string Id)
{
    public string Type => "unsubscribed";
}

public sealed record Pong(DateTimeOffset Ts)
{
    public string Type => "pong";
}

public sealed record ErrorMessage(string Code, string Message, IReadOnlyDictionary<string, string>? Details = null)
{
    public string Type => "error";
}

public sealed record ReplayUnavailable(string Id, long Since, long OldestSeq)
{
    public string Type => "replay_unavailable";
}

public sealed record Authenticated(DateTimeOffset ExpiresAt)
{
    public string Type => "authenticated";
}

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, Converters = [typeof(UtcTimestampConverter)])]
[JsonSerializable(typeof(ConnectionAck))]
[JsonSerializable(typeof(Subscribed))]
[JsonSerializable(typeof(Unsubscribed))]
[JsonSerializable(typeof(Pong))]
[JsonSerializable(typeof(ErrorMessage))]
[JsonSerializable(typeof(ReplayUnavailable))]
[JsonSerializable(typeof(Authenticated))]
public sealed partial class RealtimeJson : JsonSerializerContext;
