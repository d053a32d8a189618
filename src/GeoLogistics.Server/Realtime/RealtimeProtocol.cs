using System.Security.Claims;
using System.Text.Json;
using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Data;
using GeoLogistics.Server.Drivers;
using GeoLogistics.Server.Events;
using GeoLogistics.Server.Http;
using GeoLogistics.Server.Orders;
using GeoLogistics.Server.Tracking;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;

namespace GeoLogistics.Server.Realtime;

/// <summary>
/// The JSON protocol of SPEC §7 over a <see cref="Connection"/>: every client message is answered, a bad one with
/// <c>error</c> (and the connection kept); subscriptions are authorized, replayed from the store and switched to live.
/// </summary>
public sealed partial class RealtimeProtocol(
    IServiceScopeFactory scopes,
    EventHub hub,
    Tracker tracker,
    IOptionsMonitor<JwtBearerOptions> bearer,
    Sessions sessions,
    TimeProvider clock,
    ILogger<RealtimeProtocol> logger)
{
    private static readonly JsonDocumentOptions Parsing = new() { MaxDepth = 8 };

    /// <summary>Handles one client message; false for one that does not count toward the flood limit (an accepted position).</summary>
    public async Task<bool> HandleAsync(Connection connection, ReadOnlyMemory<byte> message)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(message, Parsing);
        }
        catch (JsonException)
        {
            connection.SendError("bad_json", "The message is not JSON (or nests deeper than 8 levels).");
            return true;
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String)
            {
                connection.SendError("bad_request", "A message is an object with a string \"type\".");
                return true;
            }
            try
            {
                switch (type.GetString())
                {
                    case "ping":
                        connection.Send(new Pong(clock.Now()), RealtimeJson.Default.Pong);
                        break;
                    case "subscribe":
                        await SubscribeAsync(connection, root);
                        break;
                    case "unsubscribe":
                        Unsubscribe(connection, root);
                        break;
                    case "auth":
                        await ReauthenticateAsync(connection, root);
                        break;
                    case "driver.location":
                        return !await ReportLocationAsync(connection, root);
                    default:
                        connection.SendError("unknown_type", $"Unknown message type '{type.GetString()}'.",
                            Detail("known", "subscribe, unsubscribe, ping, auth, driver.location"));
                        break;
                }
            }
            catch (BadMessage bad)
            {
                connection.SendError("bad_request", bad.Message, Detail("field", bad.Field));
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // The message failed, not the connection: say so and go on reading.
                LogHandlerError(logger, e);
                connection.SendError("internal_error", "The message could not be handled; nothing was changed.");
            }
            return true;
        }
    }

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

    private static double? OptionalNumber(JsonElement root, string name)
    {
        if (!root.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        return value.ValueKind == JsonValueKind.Number && value.TryGetDouble(out var number)
            ? number
            : throw new BadMessage(name, $"{name} is a number.");
    }

    private async Task SubscribeAsync(Connection connection, JsonElement root)
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
        var id = OptionalString(root, "id", 64) ?? $"s{connection.SubscriptionCount + 1}-{Guid.NewGuid().ToString("N")[..6]}";
        if (connection.HasSubscription(id))
        {
            throw new BadMessage("id", $"A subscription '{id}' exists on this connection.");
        }
        if (connection.SubscriptionCount >= hub.Options.MaxSubscriptions)
        {
            connection.SendError("too_many_subscriptions", $"At most {hub.Options.MaxSubscriptions} subscriptions per connection.");
            return;
        }

        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDb>();
        var caller = connection.Caller;
        if (!await MaySubscribeAsync(db, caller, topic))
        {
            // Nothing of a topic the user may not see is sent, and its existence is not told either.
            connection.SendError("forbidden", $"You may not subscribe to {topic}.", Detail("topic", topicText));
            return;
        }

        var head = connection.AddReplaying(new Subscription(id, topic, filters, Pending: []));
        var replayed = 0;
        var upTo = head;
        try
        {
            if (since is { } after)
            {
                var oldest = await db.Events.MinAsync(e => e.Seq) ?? 0;
                if (oldest > 1 && after + 1 < oldest)
                {
                    connection.Send(new ReplayUnavailable(id, after, oldest), RealtimeJson.Default.ReplayUnavailable);
                }
                else
                {
                    replayed = await ReplayAsync(db, connection, caller, topic, filters, after, head);
                }
            }
        }
        catch
        {
            // A replay that failed (the store went away) leaves no half-made subscription holding live events.
            connection.RemoveSubscription(id);
            throw;
        }
        await connection.GoLiveAsync(id, upTo, JsonSerializer.SerializeToUtf8Bytes(
            new Subscribed(id, topic.ToString(), new FiltersDto([.. filters.Statuses.Select(OrdersApi.StatusName)], filters.Kind), replayed),
            RealtimeJson.Default.Subscribed));

        // The latest positions, so a map is not empty until each driver's next ping. Held like live positions (the
        // newest per driver), so a map of more drivers than the outbound queue holds does not close the subscriber.
        foreach (var location in hub.LatestLocations)
        {
            if (topic.Covers(location) && location.VisibleTo(caller))
            {
                connection.OfferLocation(location.DriverId!.Value, location.Utf8, replace: false);
            }
        }
    }

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
        var statuses = new HashSet<OrderStatus>();
        string? kind = null;
        foreach (var filter in filters.EnumerateObject())
        {
            switch (filter.Name)
            {
                case "status":
                    var values = filter.Value.ValueKind == JsonValueKind.Array ? filter.Value.EnumerateArray().ToList() : [filter.Value];
                    foreach (var value in values)
                    {
                        if (value.ValueKind != JsonValueKind.String || !OrdersApi.TryParseStatus(value.GetString()!, out var status))
                        {
                            throw new BadMessage("filters.status", "filters.status holds order statuses such as \"PENDING\".");
                        }
                        statuses.Add(status);
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

    /// <summary>SPEC §2 for topics: checked on every subscribe, against the store.</summary>
    private static async Task<bool> MaySubscribeAsync(AppDb db, Caller caller, Topic topic) => topic.Kind switch
    {
        TopicKind.Orders or TopicKind.Drivers => true,
        TopicKind.Order => await db.Orders.VisibleTo(caller).AnyAsync(o => o.Id == topic.Id),
        TopicKind.Tenant => caller.IsAdmin || (caller.Role == Role.Dispatcher && caller.TenantId == topic.Id),
        // A driver's topic carries its order and route: only for those who see the driver whole.
        TopicKind.Driver => caller.IsAdmin || caller.DriverId == topic.Id || await db.Drivers.WhollyVisibleTo(db, caller).AnyAsync(d => d.Id == topic.Id),
        _ => false,
    };

    /// <summary>
    /// Every matching event in (after, head], from the store, in seq order, a page at a time: the next page only once
    /// the client has read the previous one down to half, each paid from its message budget. One replay at a time per
    /// connection: the connection reads its next message only when this is done.
    /// </summary>
    private async Task<int> ReplayAsync(AppDb db, Connection connection, Caller caller, Topic topic, Filters filters, long after, long head)
    {
        var events = db.Events.AsNoTracking().VisibleTo(caller);
        events = topic.Kind switch
        {
            TopicKind.Orders => events.Where(e => e.Type.StartsWith("order.")),
            TopicKind.Order => events.Where(e => e.OrderId == topic.Id),
            TopicKind.Tenant => events.Where(e => e.TenantId == topic.Id),
            TopicKind.Driver => events.Where(e => e.DriverId == topic.Id),
            _ => events.Where(e => e.Type.StartsWith("driver.")),
        };
        var sent = 0;
        var cursor = after;
        var pageSize = hub.Options.ReplayPageSize;
        while (cursor < head && await connection.BeforeReplayPageAsync(pageSize / 2))
        {
            var from = cursor;
            var page = await events.Where(e => e.Seq > from && e.Seq <= head).OrderBy(e => e.Seq).Take(pageSize).ToListAsync(connection.Aborted);
            if (page.Count == 0)
            {
                break;
            }
            foreach (var record in page)
            {
                var envelope = Envelope.FromRecord(record);
                if (filters.Match(envelope) && await connection.EnqueueReplayedAsync(envelope.Utf8))
                {
                    sent++;
                }
            }
            cursor = page[^1].Seq!.Value;
        }
        hub.CountReplayed(sent);
        return sent;
    }

    private static void Unsubscribe(Connection connection, JsonElement root)
    {
        var id = OptionalString(root, "id", 64) ?? throw new BadMessage("id", "id is required.");
        if (connection.RemoveSubscription(id))
        {
            connection.Send(new Unsubscribed(id), RealtimeJson.Default.Unsubscribed);
        }
        else
        {
            connection.SendError("not_found", $"No subscription '{id}' on this connection.");
        }
    }

    private async Task ReauthenticateAsync(Connection connection, JsonElement root)
    {
        var token = OptionalString(root, "token", 8192) ?? throw new BadMessage("token", "token is required.");
        var parameters = bearer.Get(JwtBearerDefaults.AuthenticationScheme).TokenValidationParameters;
        var result = await new JsonWebTokenHandler { MapInboundClaims = false }.ValidateTokenAsync(token, parameters);
        if (!result.IsValid)
        {
            connection.SendError("unauthorized", "The token is not valid.");
            return;
        }
        if (await sessions.AuthenticateAsync(new ClaimsPrincipal(result.ClaimsIdentity), connection.Aborted) is not { } caller)
        {
            connection.SendError("unauthorized", "The token's session has ended.");
            return;
        }
        if (caller.UserId != connection.Caller.UserId)
        {
            connection.SendError("unauthorized", "The token is for another user.");
            return;
        }
        var expires = ExpiryOf(result.SecurityToken);
        connection.Reauthenticate(caller, expires);
        connection.Send(new Authenticated(expires), RealtimeJson.Default.Authenticated);
    }

    public static DateTimeOffset ExpiryOf(Microsoft.IdentityModel.Tokens.SecurityToken token) =>
        new(DateTime.SpecifyKind(token.ValidTo, DateTimeKind.Utc));

    /// <summary>True when the position was accepted.</summary>
    private async Task<bool> ReportLocationAsync(Connection connection, JsonElement root)
    {
        if (connection.Caller.DriverId is not { } driverId)
        {
            connection.SendError("forbidden", "Only drivers report locations.");
            return false;
        }
        DateTimeOffset? recordedAt = null;
        var when = OptionalString(root, "recordedAt", 40) ?? OptionalString(root, "ts", 40);
        if (when is not null)
        {
            recordedAt = DateTimeOffset.TryParse(when, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal, out var parsed)
                ? parsed
                : throw new BadMessage("recordedAt", "recordedAt is an ISO 8601 time.");
        }
        var request = new LocationRequest(
            OptionalNumber(root, "lat"), OptionalNumber(root, "lng"), OptionalNumber(root, "heading"),
            OptionalNumber(root, "speed"), OptionalNumber(root, "accuracy"), recordedAt);
        var outcome = await tracker.ReportAsync(driverId, request, connection.Aborted);
        switch (outcome)
        {
            case LocationOutcome.Invalid invalid:
                connection.SendError("bad_request", invalid.Message, Detail("field", invalid.Field));
                break;
            case LocationOutcome.RateLimited limited when connection.ShouldReportDrop():
                connection.SendError("rate_limited", "Positions above your rate are dropped.", Detail("retryAfterMs", ((int)limited.RetryAfter.TotalMilliseconds).ToString(System.Globalization.CultureInfo.InvariantCulture)));
                break;
        }
        return outcome is LocationOutcome.Accepted;
    }
}
