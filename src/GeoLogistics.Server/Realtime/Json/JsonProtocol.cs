using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Drivers;
using GeoLogistics.Server.Http;
using GeoLogistics.Server.Orders;
using GeoLogistics.Server.Realtime.Core;
using GeoLogistics.Server.Tracking;
using Microsoft.Extensions.Options;

namespace GeoLogistics.Server.Realtime.Json;

/// <summary>
/// The JSON protocol of SPEC §7, a thin adapter over the live core: every client message is parsed into a typed call
/// (subscribe, unsubscribe, auth, a position) and answered, a bad one with <c>error</c> (and the connection kept).
/// </summary>
public sealed partial class JsonProtocol(
    Subscriptions subscriptions,
    LiveHub hub,
    Tracker tracker,
    BearerTokens tokens,
    TimeProvider clock,
    ILogger<JsonProtocol> logger) : ISubscribeReplies
{
    private static readonly JsonDocumentOptions Parsing = new() { MaxDepth = 8 };

    /// <summary>Handles one client message; false for one that does not count toward the flood limit (an accepted position).</summary>
    public async Task<bool> HandleAsync(LiveSession session, ReadOnlyMemory<byte> message)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(message, Parsing);
        }
        catch (JsonException)
        {
            SendError(session, "bad_json", "The message is not JSON (or nests deeper than 8 levels).");
            return true;
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String)
            {
                SendError(session, "bad_request", "A message is an object with a string \"type\".");
                return true;
            }
            try
            {
                switch (type.GetString())
                {
                    case "ping":
                        session.Send(Serialize(new Pong(clock.Now()), RealtimeJson.Default.Pong));
                        break;
                    case "subscribe":
                        await SubscribeAsync(session, root);
                        break;
                    case "unsubscribe":
                        Unsubscribe(session, root);
                        break;
                    case "auth":
                        await ReauthenticateAsync(session, root);
                        break;
                    case "driver.location":
                        return !await ReportLocationAsync(session, root);
                    default:
                        SendError(session, "unknown_type", $"Unknown message type '{type.GetString()}'.",
                            Detail("known", "subscribe, unsubscribe, ping, auth, driver.location"));
                        break;
                }
            }
            catch (BadMessage bad)
            {
                SendError(session, "bad_request", bad.Message, Detail("field", bad.Field));
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // The message failed, not the connection: say so and go on reading.
                LogHandlerError(logger, e);
                SendError(session, "internal_error", "The message could not be handled; nothing was changed.");
            }
            return true;
        }
    }

    public static ReadOnlyMemory<byte> Serialize<T>(T message, JsonTypeInfo<T> type) => JsonSerializer.SerializeToUtf8Bytes(message, type);

    public static ReadOnlyMemory<byte> Error(string code, string message, IReadOnlyDictionary<string, string>? details = null) =>
        Serialize(new ErrorMessage(code, message, details), RealtimeJson.Default.ErrorMessage);

    private static void SendError(LiveSession session, string code, string message, IReadOnlyDictionary<string, string>? details = null) =>
        session.Send(Error(code, message, details));

    private static Dictionary<string, string> Detail(string key, string value) => new() { [key] = value };

    [LoggerMessage(Level = LogLevel.Error, Message = "A socket message failed")]
    private static partial void LogHandlerError(ILogger logger, Exception exception);

    private sealed class BadMessage(string field, string message) : Exception(message)
    {
        public string Field { get; } = field;
    }

    private static string? OptionalString(JsonElement root, string name, int maxLength)
    {
        if (!root.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        if (value.ValueKind != JsonValueKind.String || value.GetString()!.Length is 0 || value.GetString()!.Length > maxLength)
        {
            throw new BadMessage(name, $"{name} is a string of 1 to {maxLength} characters.");
        }
        return value.GetString();
    }

    private async Task SubscribeAsync(LiveSession session, JsonElement root)
    {
        var topicText = OptionalString(root, "topic", 100) ?? throw new BadMessage("topic", "topic is required.");
        if (!Topic.TryParse(topicText, out var topic))
        {
            throw new BadMessage("topic", "topic is orders, drivers, order:{id}, tenant:{id} or driver:{id}.");
        }
        var filters = ParseFilters(root);
        long? since = null;
        if (root.TryGetProperty("since", out var sinceValue) && sinceValue.ValueKind != JsonValueKind.Null)
        {
            since = sinceValue.ValueKind == JsonValueKind.Number && sinceValue.TryGetInt64(out var s) && s >= 0
                ? s
                : throw new BadMessage("since", "since is a seq: an integer of 0 or more.");
        }
        var id = OptionalString(root, "id", 64) ?? $"s{session.SubscriptionCount + 1}-{Guid.NewGuid().ToString("N")[..6]}";
        switch (await subscriptions.SubscribeAsync(session, new SubscribeRequest(id, topic, filters, since), this))
        {
            case SubscribeOutcome.DuplicateId:
                throw new BadMessage("id", $"A subscription '{id}' exists on this connection.");
            case SubscribeOutcome.TooMany:
                SendError(session, "too_many_subscriptions", $"At most {hub.Options.MaxSubscriptions} subscriptions per connection.");
                break;
            case SubscribeOutcome.Forbidden:
                // Nothing of a topic the user may not see is sent, and its existence is not told either.
                SendError(session, "forbidden", $"You may not subscribe to {topic}.", Detail("topic", topicText));
                break;
        }
    }

    public ReadOnlyMemory<byte> Subscribed(SubscribeRequest request, int replayed) => Serialize(
        new Subscribed(request.Id, request.Topic.ToString(), new FiltersDto([.. request.Filters.Statuses], request.Filters.Kind), replayed),
        RealtimeJson.Default.Subscribed);

    public ReadOnlyMemory<byte> ReplayUnavailable(SubscribeRequest request, long oldestSeq) => Serialize(
        new ReplayUnavailable(request.Id, request.Since ?? 0, oldestSeq), RealtimeJson.Default.ReplayUnavailable);

    private static Filters ParseFilters(JsonElement root)
    {
        if (!root.TryGetProperty("filters", out var filters) || filters.ValueKind == JsonValueKind.Null)
        {
            return Filters.None;
        }
        if (filters.ValueKind != JsonValueKind.Object)
        {
            throw new BadMessage("filters", "filters is an object: {\"status\":[…],\"kind\":\"…\"}.");
        }
        var statuses = new HashSet<string>(StringComparer.Ordinal);
        string? kind = null;
        foreach (var filter in filters.EnumerateObject())
        {
            switch (filter.Name)
            {
                case "status":
                    var values = filter.Value.ValueKind == JsonValueKind.Array ? filter.Value.EnumerateArray().ToList() : [filter.Value];
                    foreach (var value in values)
                    {
                        if (value.ValueKind != JsonValueKind.String || !OrderStatuses.TryParse(value.GetString()!, out var status))
                        {
                            throw new BadMessage("filters.status", "filters.status holds order statuses such as \"PENDING\".");
                        }
                        statuses.Add(status.Name());
                    }
                    break;
                case "kind":
                    kind = filter.Value.ValueKind == JsonValueKind.String && filter.Value.GetString()!.Length is > 0 and <= 32
                        ? filter.Value.GetString()
                        : throw new BadMessage("filters.kind", "filters.kind is a string of 1 to 32 characters.");
                    break;
                default:
                    throw new BadMessage($"filters.{filter.Name}", "The filters are status and kind.");
            }
        }
        return new Filters(statuses, kind);
    }

    private static void Unsubscribe(LiveSession session, JsonElement root)
    {
        var id = OptionalString(root, "id", 64) ?? throw new BadMessage("id", "id is required.");
        if (session.RemoveSubscription(id))
        {
            session.Send(Serialize(new Unsubscribed(id), RealtimeJson.Default.Unsubscribed));
        }
        else
        {
            SendError(session, "not_found", $"No subscription '{id}' on this session.");
        }
    }

    private async Task ReauthenticateAsync(LiveSession session, JsonElement root)
    {
        var token = OptionalString(root, "token", 8192) ?? throw new BadMessage("token", "token is required.");
        switch (await tokens.CheckAsync(token, session.Aborted))
        {
            case TokenCheck.Refused refused:
                SendError(session, "unauthorized", refused.Reason);
                return;
            case TokenCheck.Valid valid when valid.Caller.UserId != session.Caller.UserId:
                SendError(session, "unauthorized", "The token is for another user.");
                return;
            case TokenCheck.Valid valid:
                session.Reauthenticate(valid.Caller, valid.Expires);
                session.Send(Serialize(new Authenticated(valid.Expires), RealtimeJson.Default.Authenticated));
                return;
        }
    }

    /// <summary>True when the position was accepted.</summary>
    private async Task<bool> ReportLocationAsync(LiveSession session, JsonElement root)
    {
        if (!LocationMessage.TryRead(root, out var request, out var bad))
        {
            throw new BadMessage(bad.Field, bad.Message);
        }
        var outcome = await tracker.ReportAsync(session, request);
        switch (outcome)
        {
            case null:
                SendError(session, "forbidden", SocketPositions.NotADriver);
                break;
            case LocationOutcome.Invalid invalid:
                SendError(session, "bad_request", invalid.Message, Detail("field", invalid.Field));
                break;
            case LocationOutcome.RateLimited limited when session.ShouldReportDrop():
                SendError(session, "rate_limited", SocketPositions.Dropped, Detail("retryAfterMs", ((int)limited.RetryAfter.TotalMilliseconds).ToString(System.Globalization.CultureInfo.InvariantCulture)));
                break;
        }
        return outcome is LocationOutcome.Accepted;
    }
}
