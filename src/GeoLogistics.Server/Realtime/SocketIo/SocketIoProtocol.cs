using System.Globalization;
using System.Text.Json;
using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Drivers;
using GeoLogistics.Server.Http;
using GeoLogistics.Server.Realtime.Core;
using GeoLogistics.Server.Tracking;
using static GeoLogistics.Server.Realtime.SocketIo.SocketIoEvents;

namespace GeoLogistics.Server.Realtime.SocketIo;

/// <summary>
/// Socket.IO 5 over the live core (SPEC §9): a namespace CONNECT authenticates (<c>auth.token</c>, else the handshake's
/// <c>Authorization</c> header) and opens a <see cref="LiveSession"/>; the seeds' events become subscriptions, position
/// reports and their answers. <c>/orders</c> (seed 03): <c>join:hospital</c> is the <c>tenant:{id}</c> topic.
/// <c>/realtime</c> (seed 05): the automatic rooms <c>user:{id}</c> and <c>role:{role}</c> are one subscription to
/// <c>orders</c>, which is every order the user's role lets it see; <c>subscribe:order</c> is <c>order:{id}</c>.
/// </summary>
public sealed partial class SocketIoProtocol(
    LiveHub hub,
    Subscriptions subscriptions,
    Tracker tracker,
    BearerTokens tokens,
    TimeProvider clock,
    ILogger<SocketIoProtocol> logger)
{
    /// <summary>One Engine.IO packet from the client, in order; whatever it holds, this never throws.</summary>
    public async Task HandleAsync(EngineConnection engine, EnginePacket packet, CancellationToken ct)
    {
        if (packet.Type != EngineType.Message && !engine.Budget.TrySpend())
        {
            engine.Abuse(new SessionClose(CloseReason.Flood, "too many messages"));
            return;
        }
        switch (packet.Type)
        {
            case EngineType.Pong:
                engine.OnPong();
                return;
            case EngineType.Noop:
                return;
            case EngineType.Close:
                engine.Close(SessionClose.Bye);
                return;
            case EngineType.Message:
                await HandleMessageAsync(engine, packet.Data, ct);
                return;
            default:
                // Engine.IO 4: the server pings, and open and upgrade belong to the handshake and the probe.
                engine.Fail($"unexpected {packet.Type.ToString().ToLowerInvariant()} packet");
                return;
        }
    }

    private async Task HandleMessageAsync(EngineConnection engine, ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        if (!SocketIoPackets.TryParse(data, out var packet, out var error))
        {
            engine.Fail($"parse error: {error}");
            return;
        }
        if (packet!.Type == SocketType.Event && engine.Namespace(packet.Namespace) is { } socket)
        {
            if (!socket.TryReceive(packet))
            {
                packet.Dispose();
                socket.Session.Close(new SessionClose(CloseReason.Flood, "too many messages"));
            }
            return;
        }
        using (packet)
        {
            // Everything outside a connected namespace is paid from the connection's own budget.
            if (!engine.Budget.TrySpend())
            {
                engine.Abuse(new SessionClose(CloseReason.Flood, "too many messages"));
                return;
            }
            switch (packet.Type)
            {
                case SocketType.Connect:
                    await ConnectAsync(engine, packet, ct);
                    break;
                case SocketType.Disconnect when engine.Namespace(packet.Namespace) is { } leaving:
                    // The client left the namespace: nothing is said back (socket.io-protocol).
                    engine.Detach(leaving);
                    leaving.Session.Close(SessionClose.Bye);
                    break;
                    // An event for a namespace not connected, and acknowledgements (this server asks for none), are dropped.
            }
        }
    }

    // ---- Connecting a namespace ----

    private async Task ConnectAsync(EngineConnection engine, SocketPacket packet, CancellationToken ct)
    {
        var ns = packet.Namespace;
        if (ns is not (OrdersNamespace or RealtimeNamespace))
        {
            engine.Send(SocketIoPackets.ConnectError(ns, "Invalid namespace"));
            return;
        }
        if (engine.IsConnected(ns))
        {
            engine.Send(SocketIoPackets.ConnectError(ns, $"Already connected to {ns}."));
            return;
        }
        var auth = packet.Data?.RootElement ?? default;
        string? token = null;
        long? since = null;
        if (auth.ValueKind == JsonValueKind.Object)
        {
            if (auth.TryGetProperty("token", out var t) && t.ValueKind != JsonValueKind.Null)
            {
                if (t.ValueKind != JsonValueKind.String || t.GetString()!.Length is 0 or > 8192)
                {
                    engine.Send(SocketIoPackets.ConnectError(ns, "auth.token is a string: the access token."));
                    return;
                }
                token = t.GetString()!;
                token = token.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? token[7..] : token;
            }
            if (auth.TryGetProperty("since", out var s) && s.ValueKind != JsonValueKind.Null)
            {
                if (s.ValueKind != JsonValueKind.Number || !s.TryGetInt64(out var seq) || seq < 0)
                {
                    engine.Send(SocketIoPackets.ConnectError(ns, "auth.since is a seq: an integer of 0 or more."));
                    return;
                }
                since = seq;
            }
        }

        Caller caller;
        DateTimeOffset expires;
        if (token is not null)
        {
            switch (await tokens.CheckAsync(token, ct))
            {
                case TokenCheck.Refused refused:
                    engine.Send(SocketIoPackets.ConnectError(ns, refused.Reason));
                    return;
                case TokenCheck.Valid valid:
                    (caller, expires) = (valid.Caller, valid.Expires);
                    break;
                default:
                    return;
            }
        }
        else if (engine.Auth.Caller is { } fromHeader)
        {
            (caller, expires) = (fromHeader, engine.Auth.Expires);
        }
        else
        {
            engine.Send(SocketIoPackets.ConnectError(ns, engine.Auth.Refusal ?? "Authentication required: pass auth.token, or an Authorization header."));
            return;
        }

        // Each namespace socket is one of the user's sockets (Realtime:MaxConnectionsPerUser), as on every protocol.
        if (hub.TryAdmit(caller.UserId) is not { } admission)
        {
            engine.Send(SocketIoPackets.ConnectError(ns, $"Too many sockets: a user may hold {hub.Options.MaxConnectionsPerUser} at once."));
            return;
        }
        var socket = new NamespaceSocket(engine, ns, caller, expires, hub, admission, since);
        hub.Add(socket.Session);
        if (!engine.TryAttach(socket))
        {
            hub.Remove(socket.Session);
            admission.Dispose();
            return;
        }
        var session = socket.Session;
        session.Send(SocketIoPackets.Packet(SocketType.Connect, ns, null,
            JsonSerializer.SerializeToUtf8Bytes(new ConnectData(session.Id), SocketIoJson.Default.ConnectData)));
        if (ns == RealtimeNamespace)
        {
            session.Send(SocketIoReplies.Event(ns, "connected",
                new Connected(caller.UserId, Caller.RoleName(caller.Role), hub.Head), SocketIoJson.Default.Connected));
        }
        _ = socket.RunAsync(ns == RealtimeNamespace ? JoinAutomaticRoomsAsync : null, HandleEventAsync);
    }

    /// <summary><c>user:{id}</c> and <c>role:{role}</c>: every order the user may see, from <c>auth.since</c> if given.</summary>
    private async Task JoinAutomaticRoomsAsync(NamespaceSocket socket)
    {
        var room = $"user:{socket.Session.UserId}";
        var request = new SubscribeRequest(room, new Topic(TopicKind.Orders, Guid.Empty), Filters.None, socket.Since);
        await subscriptions.SubscribeAsync(socket.Session, request, new RoomReplies(socket.Namespace, null, room,
            replayed => SocketIoReplies.Event(socket.Namespace, "subscribed", new OrderRoom(room, null, replayed), SocketIoJson.Default.OrderRoom)));
    }

    // ---- The client's events ----

    /// <summary>False for an event that does not count toward the flood budget (an accepted position, as on the JSON protocol).</summary>
    private async Task<bool> HandleEventAsync(NamespaceSocket socket, SocketPacket packet)
    {
        var ns = socket.Namespace;
        var argument = packet.FirstArgument;
        try
        {
            switch ((ns, packet.EventName))
            {
                case (_, "driver:location"):
                    return !await ReportLocationAsync(socket, argument, packet.AckId);
                case (OrdersNamespace, "join:hospital"):
                    await JoinHospitalAsync(socket, argument, packet.AckId);
                    break;
                case (OrdersNamespace, "leave:hospital"):
                    LeaveHospital(socket, argument, packet.AckId);
                    break;
                case (RealtimeNamespace, "subscribe:order"):
                    await SubscribeOrderAsync(socket, argument, packet.AckId);
                    break;
                case (RealtimeNamespace, "unsubscribe:order"):
                    UnsubscribeOrder(socket, argument, packet.AckId);
                    break;
                default:
                    Error(socket, packet.AckId, "unknown_event", $"Unknown event '{packet.EventName}' on {ns}.", Detail("known", ns == OrdersNamespace
                        ? "join:hospital, leave:hospital, driver:location"
                        : "subscribe:order, unsubscribe:order, driver:location"));
                    break;
            }
        }
        catch (BadMessage bad)
        {
            Error(socket, packet.AckId, "bad_request", bad.Message, Detail("field", bad.Field));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The event failed, not the connection: say so and go on.
            LogHandlerError(logger, e);
            Error(socket, packet.AckId, "internal_error", "The event could not be handled; nothing was changed.");
        }
        return true;
    }

    private async Task JoinHospitalAsync(NamespaceSocket socket, JsonElement argument, int? ackId)
    {
        var hospitalId = RequiredId(argument, "hospitalId", "the hospital's tenant id");
        var room = $"hospital:{hospitalId}";
        var request = new SubscribeRequest(room, new Topic(TopicKind.Tenant, hospitalId), Filters.None, OptionalSince(argument) ?? socket.Since);
        byte[] Joined(int replayed) => SocketIoReplies.Reply(socket.Namespace, ackId, "joined", new Joined(room, hospitalId, replayed), SocketIoJson.Default.Joined);
        await SubscribeAsync(socket, request, ackId, new RoomReplies(socket.Namespace, ackId, room, Joined));
    }

    private static void LeaveHospital(NamespaceSocket socket, JsonElement argument, int? ackId)
    {
        var hospitalId = RequiredId(argument, "hospitalId", "the hospital's tenant id");
        var room = $"hospital:{hospitalId}";
        if (!socket.Session.RemoveSubscription(room))
        {
            Error(socket, ackId, "not_found", $"Not in {room}.");
            return;
        }
        socket.Session.Send(SocketIoReplies.Reply(socket.Namespace, ackId, "left", new Left(room, hospitalId), SocketIoJson.Default.Left));
    }

    private async Task SubscribeOrderAsync(NamespaceSocket socket, JsonElement argument, int? ackId)
    {
        var orderId = RequiredId(argument, "orderId", "the order's id");
        var room = $"order:{orderId}";
        var request = new SubscribeRequest(room, new Topic(TopicKind.Order, orderId), Filters.None, OptionalSince(argument));
        byte[] Subscribed(int replayed) =>
            SocketIoReplies.Reply(socket.Namespace, ackId, "subscribed", new OrderRoom(room, orderId, replayed), SocketIoJson.Default.OrderRoom);
        await SubscribeAsync(socket, request, ackId, new RoomReplies(socket.Namespace, ackId, room, Subscribed));
    }

    private static void UnsubscribeOrder(NamespaceSocket socket, JsonElement argument, int? ackId)
    {
        var orderId = RequiredId(argument, "orderId", "the order's id");
        var room = $"order:{orderId}";
        if (!socket.Session.RemoveSubscription(room))
        {
            Error(socket, ackId, "not_found", $"Not subscribed to {room}.");
            return;
        }
        socket.Session.Send(SocketIoReplies.Reply(socket.Namespace, ackId, "unsubscribed", new OrderRoom(room, orderId, null), SocketIoJson.Default.OrderRoom));
    }

    private async Task SubscribeAsync(NamespaceSocket socket, SubscribeRequest request, int? ackId, RoomReplies replies)
    {
        switch (await subscriptions.SubscribeAsync(socket.Session, request, replies))
        {
            case SubscribeOutcome.DuplicateId:
                // Joining a room twice is joining it: the same answer, nothing replayed again.
                socket.Session.Send(replies.Subscribed(request, 0));
                break;
            case SubscribeOutcome.TooMany:
                Error(socket, ackId, "too_many_subscriptions", $"At most {hub.Options.MaxSubscriptions} rooms per namespace socket.");
                break;
            case SubscribeOutcome.Forbidden:
                // Nothing of a room the user may not see is sent, and whether it exists is not told either.
                Error(socket, ackId, "forbidden", $"You may not join {request.Id}.", Detail("room", request.Id));
                break;
        }
    }

    /// <summary>A driver's position, as the JSON protocol's <c>driver.location</c>: true when the tracker accepted it.</summary>
    private async Task<bool> ReportLocationAsync(NamespaceSocket socket, JsonElement argument, int? ackId)
    {
        var session = socket.Session;
        if (session.Caller.DriverId is not { } driverId)
        {
            Error(socket, ackId, "forbidden", "Only drivers report locations.");
            return false;
        }
        RequireObject(argument);
        DateTimeOffset? recordedAt = null;
        if ((OptionalString(argument, "recordedAt") ?? OptionalString(argument, "ts")) is { } when)
        {
            recordedAt = DateTimeOffset.TryParse(when, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed)
                ? parsed
                : throw new BadMessage("recordedAt", "recordedAt is an ISO 8601 time.");
        }
        // orderId, which seed 05's drivers send, is not needed: the server knows the order a driver serves.
        var request = new LocationRequest(
            OptionalNumber(argument, "latitude"), OptionalNumber(argument, "longitude"), OptionalNumber(argument, "heading"),
            OptionalNumber(argument, "speed"), OptionalNumber(argument, "accuracy"), recordedAt);
        var outcome = await tracker.ReportAsync(driverId, request, session.Aborted);
        switch (outcome)
        {
            case LocationOutcome.Accepted:
                session.Send(SocketIoReplies.Reply(socket.Namespace, ackId, "driver:location_acknowledged",
                    new LocationAcknowledged(clock.Now()), SocketIoJson.Default.LocationAcknowledged));
                break;
            case LocationOutcome.Invalid invalid:
                var field = invalid.Field switch { "lat" => "latitude", "lng" => "longitude", _ => invalid.Field };
                Error(socket, ackId, "bad_request", invalid.Message.Replace("lat ", "latitude ").Replace("lng ", "longitude "), Detail("field", field));
                break;
            case LocationOutcome.RateLimited limited when ackId is not null || session.ShouldReportDrop():
                Error(socket, ackId, "rate_limited", "Positions above your rate are dropped.",
                    Detail("retryAfterMs", ((int)limited.RetryAfter.TotalMilliseconds).ToString(CultureInfo.InvariantCulture)));
                break;
        }
        return outcome is LocationOutcome.Accepted;
    }

    // ---- Replies and arguments ----

    /// <summary>The answers to a subscribe, placed by the core after the replay and before the first live event.</summary>
    private sealed class RoomReplies(string ns, int? ackId, string room, Func<int, byte[]> subscribed) : ISubscribeReplies
    {
        public ReadOnlyMemory<byte> Subscribed(SubscribeRequest request, int replayed) => subscribed(replayed);

        public ReadOnlyMemory<byte> ReplayUnavailable(SubscribeRequest request, long oldestSeq) => SocketIoReplies.Reply(ns, ackId, "replay_unavailable",
            new ReplayUnavailableData(room, request.Since ?? 0, oldestSeq), SocketIoJson.Default.ReplayUnavailableData);
    }

    private static void Error(NamespaceSocket socket, int? ackId, string code, string message, IReadOnlyDictionary<string, string>? details = null) =>
        socket.Session.Send(SocketIoReplies.Error(socket.Namespace, ackId, code, message, details));

    private static Dictionary<string, string> Detail(string key, string value) => new() { [key] = value };

    private sealed class BadMessage(string field, string message) : Exception(message)
    {
        public string Field { get; } = field;
    }

    private static void RequireObject(JsonElement argument)
    {
        if (argument.ValueKind != JsonValueKind.Object)
        {
            throw new BadMessage("0", "The event's argument is an object.");
        }
    }

    private static Guid RequiredId(JsonElement argument, string name, string what)
    {
        RequireObject(argument);
        return argument.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String && Guid.TryParse(value.GetString(), out var id)
            ? id
            : throw new BadMessage(name, $"{name} is {what}, a UUID.");
    }

    private static long? OptionalSince(JsonElement argument)
    {
        if (!argument.TryGetProperty("since", out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        return value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var since) && since >= 0
            ? since
            : throw new BadMessage("since", "since is a seq: an integer of 0 or more.");
    }

    private static string? OptionalString(JsonElement argument, string name)
    {
        if (!argument.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        return value.ValueKind == JsonValueKind.String && value.GetString()!.Length is > 0 and <= 40
            ? value.GetString()
            : throw new BadMessage(name, $"{name} is a string of 1 to 40 characters.");
    }

    private static double? OptionalNumber(JsonElement argument, string name)
    {
        if (!argument.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        return value.ValueKind == JsonValueKind.Number && value.TryGetDouble(out var number)
            ? number
            : throw new BadMessage(name, $"{name} is a number.");
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "A Socket.IO event failed")]
    private static partial void LogHandlerError(ILogger logger, Exception exception);
}
