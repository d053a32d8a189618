using System.Globalization;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Orders;
using GeoLogistics.Server.Realtime.Core;
using GeoLogistics.Server.Tracking;
using Microsoft.Extensions.Options;

namespace GeoLogistics.Server.Realtime.Stomp;

/// <summary>
/// STOMP 1.2 (SPEC §9) as a thin adapter over the live core: CONNECT authenticates and opens the session, SUBSCRIBE
/// and UNSUBSCRIBE are the core's subscriptions (destinations are topics), SEND to <c>/app/drivers/location</c> is a
/// position report, DISCONNECT ends. STOMP has one way to say something went wrong, ERROR, after which the server
/// closes the connection: so every bad frame ends it, with a <c>message</c> header that says why.
/// </summary>
public sealed partial class StompProtocol(
    Subscriptions subscriptions,
    LiveHub hub,
    Tracker tracker,
    BearerTokens tokens,
    StompHeartbeats heartbeats,
    IOptions<StompOptions> options,
    ILogger<StompProtocol> logger)
{
    private static readonly string[] Versions = ["1.2", "1.1", "1.0"];
    private static readonly JsonDocumentOptions Parsing = new() { MaxDepth = 8 };

    public static string ServerName { get; } = $"GeoLogistics/{typeof(StompProtocol).Assembly.GetName().Version?.ToString(3) ?? "1"}";

    // ---- CONNECT ----

    /// <summary>The first frame: checks it, the token and the admission, then opens the session and answers CONNECTED (or ERROR, closed).</summary>
    public async Task ConnectAsync(StompConnection connection, StompFrame frame)
    {
        if (frame.Command is not ("CONNECT" or "STOMP"))
        {
            await connection.RefuseAsync("CONNECT expected", $"The first frame on a STOMP connection is CONNECT (or STOMP), not {frame.Command}.",
                WebSocketCloseStatus.ProtocolError, frame.Header("receipt"));
            return;
        }
        var accepted = (frame.Header("accept-version") ?? "1.0").Split(',', StringSplitOptions.TrimEntries);
        if (Versions.FirstOrDefault(accepted.Contains) is not { } version)
        {
            await connection.RefuseAsync("unsupported version", "This server speaks STOMP 1.2, 1.1 and 1.0.", WebSocketCloseStatus.ProtocolError);
            return;
        }
        if (!TryHeartBeat(frame.Header("heart-beat"), out var clientSends, out var clientWants))
        {
            await connection.RefuseAsync("bad heart-beat", "heart-beat is two numbers of milliseconds: cx,cy.", WebSocketCloseStatus.ProtocolError);
            return;
        }

        var caller = connection.HandshakeCaller;
        var expires = connection.HandshakeExpires;
        if (TokenOf(frame) is { } token)
        {
            switch (await tokens.CheckAsync(token, connection.Aborted))
            {
                case TokenCheck.Refused refused:
                    await connection.RefuseAsync("unauthorized", refused.Reason, WebSocketCloseStatus.PolicyViolation);
                    return;
                case TokenCheck.Valid valid when caller is not null && valid.Caller.UserId != caller.UserId:
                    await connection.RefuseAsync("unauthorized", "The CONNECT token is for another user than the handshake's.", WebSocketCloseStatus.PolicyViolation);
                    return;
                case TokenCheck.Valid valid:
                    (caller, expires) = (valid.Caller, valid.Expires);
                    break;
            }
        }
        if (caller is null)
        {
            await connection.RefuseAsync("unauthorized",
                "Send the access token in CONNECT: a header Authorization:Bearer <token>, or passcode:<token>.", WebSocketCloseStatus.PolicyViolation);
            return;
        }
        if (connection.Admission is null)
        {
            // A token that came with CONNECT is counted now: the cap covers every protocol (docs/realtime.md).
            connection.Admission = hub.TryAdmit(caller.UserId);
            if (connection.Admission is null)
            {
                await connection.RefuseAsync("too many connections",
                    $"A user may hold {hub.Options.MaxConnectionsPerUser} sockets at once; close one before opening another.", WebSocketCloseStatus.PolicyViolation);
                return;
            }
        }

        var offer = (long)options.Value.HeartBeat.TotalMilliseconds;
        // STOMP 1.2 "Heart-beating": each way runs at the slower of what one side can do and the other wants; 0 is off.
        var sendEvery = offer == 0 || clientWants == 0 ? 0 : Math.Max(offer, clientWants);
        var expectEvery = offer == 0 || clientSends == 0 ? 0 : Math.Max(offer, clientSends);
        var session = connection.Open(caller, expires, hub, sendEvery, expectEvery);
        hub.Add(session);
        heartbeats.Add(connection);
        session.Send(StompWriter.Frame("CONNECTED",
        [
            new("version", version),
            new("heart-beat", $"{offer},{offer}"),
            new("server", ServerName),
            new("session", session.Id),
            new("user-name", caller.Email),
        ]));
    }

    /// <summary>The connection ended: out of the hub and the heart-beat walk.</summary>
    public void Forget(StompConnection connection)
    {
        heartbeats.Remove(connection);
        if (connection.Session is { } session)
        {
            hub.Remove(session);
        }
    }

    private static string? TokenOf(StompFrame frame)
    {
        var authorization = frame.Header("Authorization") ?? frame.Header("authorization");
        if (authorization is not null && authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return authorization["Bearer ".Length..].Trim();
        }
        return frame.Header("passcode") is { Length: > 0 } passcode ? passcode : null;
    }

    private static bool TryHeartBeat(string? header, out long sends, out long wants)
    {
        sends = wants = 0;
        if (header is null)
        {
            return true;
        }
        var parts = header.Split(',', StringSplitOptions.TrimEntries);
        return parts.Length == 2 &&
            long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out sends) &&
            long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out wants) &&
            sends <= int.MaxValue && wants <= int.MaxValue;
    }

    // ---- After CONNECT ----

    /// <summary>Handles one frame; false for one that does not count toward the flood limit (an accepted position).</summary>
    public async Task<bool> HandleAsync(StompConnection connection, StompFrame frame)
    {
        var session = connection.Session!;
        try
        {
            switch (frame.Command)
            {
                case "SUBSCRIBE":
                    await SubscribeAsync(connection, session, frame);
                    return true;
                case "UNSUBSCRIBE":
                    Unsubscribe(connection, session, frame);
                    return true;
                case "SEND":
                    return !await SendAsync(connection, session, frame);
                case "DISCONNECT":
                    connection.EndWith(frame.Header("receipt") is { } receipt ? StompWriter.Receipt(receipt) : null);
                    return true;
                case "ACK" or "NACK":
                    // Every subscription is ack:auto: a message counts as delivered once written.
                    Receipt(session, frame);
                    return true;
                case "BEGIN" or "COMMIT" or "ABORT":
                    Bad(connection, frame, "transactions not supported", "This server has no STOMP transactions.");
                    return true;
                case "CONNECT" or "STOMP":
                    Bad(connection, frame, "already connected", "CONNECT comes once, first.");
                    return true;
                default:
                    Bad(connection, frame, "unknown command",
                        $"Unknown command '{frame.Command}': SUBSCRIBE, UNSUBSCRIBE, SEND, ACK, NACK or DISCONNECT.");
                    return true;
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogHandlerError(logger, e);
            connection.Fail("internal error", "The frame could not be handled; nothing was changed.", frame.Header("receipt"),
                WebSocketCloseStatus.InternalServerError);
            return true;
        }
    }

    private static void Bad(StompConnection connection, StompFrame frame, string message, string detail,
        WebSocketCloseStatus status = WebSocketCloseStatus.ProtocolError) =>
        connection.Fail(message, detail, frame.Header("receipt"), status);

    private static void Receipt(LiveSession session, StompFrame frame)
    {
        if (frame.Header("receipt") is { } receipt)
        {
            session.Send(StompWriter.Receipt(receipt));
        }
    }

    private async Task SubscribeAsync(StompConnection connection, LiveSession session, StompFrame frame)
    {
        var destination = frame.Header("destination");
        if (destination is null)
        {
            Bad(connection, frame, "destination required", "SUBSCRIBE names a destination.");
            return;
        }
        if (!StompDestinations.TryParse(destination, out var topic))
        {
            Bad(connection, frame, "unknown destination", $"Unknown destination '{destination}': {StompDestinations.Known}.");
            return;
        }
        // 1.0 clients may leave the id out; 1.1 and 1.2 send one.
        var id = frame.Header("id") ?? destination;
        if (id.Length is 0 or > 64)
        {
            Bad(connection, frame, "bad id", "id is 1 to 64 characters.");
            return;
        }
        long? since = null;
        if (frame.Header("since") is { } sinceText)
        {
            if (!long.TryParse(sinceText, NumberStyles.None, CultureInfo.InvariantCulture, out var s))
            {
                Bad(connection, frame, "bad since", "since is a seq: an integer of 0 or more.");
                return;
            }
            since = s;
        }
        if (!TryFilters(frame, out var filters, out var filterError))
        {
            Bad(connection, frame, "bad filter", filterError);
            return;
        }
        if (session.HasSubscription(id))
        {
            Bad(connection, frame, "duplicate subscription", $"A subscription '{id}' exists on this connection.");
            return;
        }

        // Known before the first MESSAGE of the replay is framed.
        connection.AddDestination(id, destination);
        var outcome = SubscribeOutcome.Subscribed;
        try
        {
            outcome = await subscriptions.SubscribeAsync(session, new SubscribeRequest(id, topic, filters, since), new Replies(destination, frame.Header("receipt")));
        }
        finally
        {
            if (outcome != SubscribeOutcome.Subscribed)
            {
                connection.RemoveDestination(id);
            }
        }
        switch (outcome)
        {
            case SubscribeOutcome.DuplicateId:
                Bad(connection, frame, "duplicate subscription", $"A subscription '{id}' exists on this connection.");
                break;
            case SubscribeOutcome.TooMany:
                Bad(connection, frame, "too many subscriptions", $"At most {hub.Options.MaxSubscriptions} subscriptions per connection.",
                    WebSocketCloseStatus.PolicyViolation);
                break;
            case SubscribeOutcome.Forbidden:
                // Nothing of a topic the user may not see is sent, and whether it exists is not told either.
                Bad(connection, frame, "forbidden", $"You may not subscribe to {destination}.", WebSocketCloseStatus.PolicyViolation);
                break;
        }
    }

    /// <summary><c>status</c> (a comma list of order statuses) and <c>kind</c>, as the JSON protocol's filters.</summary>
    private static bool TryFilters(StompFrame frame, out Filters filters, out string error)
    {
        filters = Filters.None;
        error = "";
        var statuses = new HashSet<string>(StringComparer.Ordinal);
        foreach (var name in (frame.Header("status") ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!OrderStatuses.TryParse(name, out var status))
            {
                error = $"status holds order statuses such as PENDING,ASSIGNED; '{name}' is not one.";
                return false;
            }
            statuses.Add(status.Name());
        }
        var kind = frame.Header("kind");
        if (kind is { Length: 0 or > 32 })
        {
            error = "kind is 1 to 32 characters.";
            return false;
        }
        filters = statuses.Count == 0 && kind is null ? Filters.None : new Filters(statuses, kind);
        return true;
    }

    private static void Unsubscribe(StompConnection connection, LiveSession session, StompFrame frame)
    {
        if (frame.Header("id") is not { } id)
        {
            Bad(connection, frame, "id required", "UNSUBSCRIBE names the subscription's id.");
            return;
        }
        // An id this connection does not hold (any more) is no error: the client wants it gone, and it is.
        session.RemoveSubscription(id);
        connection.RemoveDestination(id);
        Receipt(session, frame);
    }

    /// <summary>True when a position was accepted.</summary>
    private async Task<bool> SendAsync(StompConnection connection, LiveSession session, StompFrame frame)
    {
        var destination = frame.Header("destination");
        if (destination != StompDestinations.DriverLocation)
        {
            Bad(connection, frame, "unknown destination", $"SEND goes to {StompDestinations.DriverLocation} (a driver's position), not '{destination}'.");
            return false;
        }
        if (session.Caller.DriverId is not { } driverId)
        {
            Bad(connection, frame, "forbidden", "Only drivers report locations.", WebSocketCloseStatus.PolicyViolation);
            return false;
        }
        JsonDocument body;
        try
        {
            body = JsonDocument.Parse(frame.Body, Parsing);
        }
        catch (JsonException)
        {
            Bad(connection, frame, "bad body", "The body is a JSON position: {\"lat\":52.37,\"lng\":4.89,\"heading\":90,\"speed\":11.5}.");
            return false;
        }
        using (body)
        {
            if (!LocationMessage.TryRead(body.RootElement, out var request, out var bad))
            {
                Bad(connection, frame, "bad position", bad.Message);
                return false;
            }
            var outcome = await tracker.ReportAsync(driverId, request, session.Aborted);
            if (outcome is LocationOutcome.Invalid invalid)
            {
                Bad(connection, frame, "bad position", invalid.Message);
                return false;
            }
            // A position over the driver's rate is dropped without a word: STOMP's only word, ERROR, would end the connection.
            Receipt(session, frame);
            return outcome is LocationOutcome.Accepted;
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "A STOMP frame failed")]
    private static partial void LogHandlerError(ILogger logger, Exception exception);

    /// <summary>
    /// A subscription's replies. Acknowledged with a RECEIPT when the SUBSCRIBE asked for one (after the replay, before
    /// the first live MESSAGE), else with nothing, as STOMP does. A <c>since</c> older than the log keeps is told with a
    /// MESSAGE of <c>event-type:replay_unavailable</c> on that subscription, not an ERROR, which would end the connection.
    /// </summary>
    private sealed class Replies(string destination, string? receipt) : ISubscribeReplies
    {
        public ReadOnlyMemory<byte> Subscribed(SubscribeRequest request, int replayed) =>
            receipt is null ? ReadOnlyMemory<byte>.Empty : StompWriter.Receipt(receipt);

        public ReadOnlyMemory<byte> ReplayUnavailable(SubscribeRequest request, long oldestSeq)
        {
            var body = $"{{\"type\":\"replay_unavailable\",\"id\":{JsonSerializer.Serialize(request.Id, StompJson.Default.String)},\"since\":{request.Since ?? 0},\"oldestSeq\":{oldestSeq}}}";
            var buffer = new System.Buffers.ArrayBufferWriter<byte>(256);
            StompWriter.Write(buffer, "MESSAGE",
            [
                new("destination", destination),
                new("message-id", $"replay-{request.Id}"),
                new("subscription", request.Id),
                new("event-type", "replay_unavailable"),
            ], Encoding.UTF8.GetBytes(body), "application/json");
            return buffer.WrittenMemory;
        }
    }
}
