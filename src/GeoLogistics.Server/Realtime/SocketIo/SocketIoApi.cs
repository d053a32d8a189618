using System.Buffers;
using System.Net.WebSockets;
using System.Text.Json;
using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Realtime.Core;
using GeoLogistics.Server.Realtime.Json;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;

namespace GeoLogistics.Server.Realtime.SocketIo;

/// <summary>
/// Engine.IO 4 at <c>/socket.io/</c>: the handshake, HTTP long-polling (GET receives, POST sends), the upgrade to a
/// WebSocket, and WebSocket-only clients. The handshake admits anonymous requests, because Socket.IO carries its token
/// inside the namespace CONNECT (<c>auth.token</c>); what a connection may do is decided there (<see cref="SocketIoProtocol"/>).
/// </summary>
public static class SocketIoApi
{
    public static IServiceCollection AddSocketIo(this IServiceCollection services)
    {
        services.AddOptions<SocketIoOptions>().BindConfiguration("SocketIo").ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<SocketIoProtocol>();
        services.AddSingleton<EngineConnections>();
        services.AddHostedService(sp => sp.GetRequiredService<EngineConnections>());
        return services;
    }

    public static IEndpointRouteBuilder MapSocketIo(this IEndpointRouteBuilder routes)
    {
        routes.MapMethods("/socket.io/", [HttpMethods.Get, HttpMethods.Post], Handle).WithTags("Realtime").WithName("SocketIo")
            .WithSummary("Socket.IO v4 (Engine.IO 4): long-polling and WebSocket (docs/realtime.md, \"Socket.IO\").");
        return routes;
    }

    private sealed record Services(
        EngineConnections Connections, SocketIoProtocol Protocol, SocketIoOptions Options, RealtimeOptions Realtime, AuthOptions Auth);

    private static async Task<IResult> Handle(
        HttpContext http, EngineConnections connections, SocketIoProtocol protocol, IOptions<SocketIoOptions> options,
        IOptions<RealtimeOptions> realtime, IOptions<AuthOptions> auth, LiveHub hub)
    {
        var request = http.Request;
        if (!BrowserSession.OriginAllowed(request, auth.Value))
        {
            return Refuse(StatusCodes.Status403Forbidden, 4, "Forbidden: this origin may not open a socket here.");
        }
        // A stopping node takes no new connection: the client's reconnection goes to another node (and resumes with since).
        if (hub.IsDraining && string.IsNullOrEmpty(request.Query["sid"]))
        {
            http.Response.Headers.RetryAfter = "1";
            return Refuse(StatusCodes.Status503ServiceUnavailable, 3, "This node is stopping; connect again, and resume with since.");
        }
        if (request.Query["EIO"] != "4")
        {
            return Refuse(StatusCodes.Status400BadRequest, 5, "Unsupported protocol version: this server speaks EIO=4.");
        }
        var services = new Services(connections, protocol, options.Value, realtime.Value, auth.Value);
        var sid = request.Query["sid"].ToString();
        switch (request.Query["transport"].ToString())
        {
            case "websocket":
                return await WebSocketAsync(http, services, sid.Length == 0 ? null : sid);
            case "polling" when sid.Length == 0 && HttpMethods.IsGet(request.Method):
                return OpenPolling(http, services);
            case "polling":
                return await PollingAsync(http, services, connections.Find(sid));
            default:
                return Refuse(StatusCodes.Status400BadRequest, 0, "Transport unknown: polling or websocket.");
        }
    }

    private static async Task<IResult> PollingAsync(HttpContext http, Services services, EngineConnection? connection)
    {
        if (connection is null)
        {
            return Refuse(StatusCodes.Status400BadRequest, 1, "Session ID unknown");
        }
        if (HttpMethods.IsPost(http.Request.Method))
        {
            return await PostAsync(http, services, connection);
        }
        return await connection.PollAsync(http.RequestAborted) is { } body
            ? Results.Bytes(body, "text/plain; charset=UTF-8")
            : Refuse(StatusCodes.Status400BadRequest, 3, "Bad request: a poll is open already, or the connection is on a WebSocket.");
    }

    private static IResult Refuse(int status, int code, string message) =>
        Results.Json(new TransportError(code, message), SocketIoJson.Default.TransportError, statusCode: status);

    // ---- Handshake ----

    /// <summary>The handshake's own token (header or cookie): a namespace CONNECT without <c>auth.token</c> uses it.</summary>
    private static HandshakeAuth AuthOf(HttpContext http)
    {
        if (Caller.Of(http) is { } caller)
        {
            var exp = http.User.FindFirst(JwtRegisteredClaimNames.Exp)?.Value;
            return new HandshakeAuth(caller, long.TryParse(exp, out var seconds) ? DateTimeOffset.FromUnixTimeSeconds(seconds) : DateTimeOffset.MaxValue, null);
        }
        return http.Request.Headers.Authorization.Count > 0 || http.Request.Query.ContainsKey("access_token")
            ? new HandshakeAuth(null, DateTimeOffset.MaxValue, "The token is not valid.")
            : HandshakeAuth.None;
    }

    private static EngineConnection Open(HttpContext http, Services services) =>
        new(EngineConnections.NewSid(), AuthOf(http), services.Options, services.Realtime);

    private static byte[] OpenPacket(EngineConnection connection, Services services, bool upgrades) => EngineIo.Encode(EngineType.Open,
        JsonSerializer.SerializeToUtf8Bytes(new Handshake(connection.Sid, upgrades ? ["websocket"] : [],
            (long)services.Options.PingInterval.TotalMilliseconds, (long)services.Options.PingTimeout.TotalMilliseconds,
            services.Realtime.MaxMessageBytes), SocketIoJson.Default.Handshake));

    private static IResult OpenPolling(HttpContext http, Services services)
    {
        var connection = Open(http, services);
        services.Connections.Add(connection);
        return Results.Bytes(OpenPacket(connection, services, upgrades: true), "text/plain; charset=UTF-8");
    }

    // ---- Long-polling POST ----

    /// <summary>
    /// The client's packets, in order. A body is at most <c>maxPayload</c> (<see cref="RealtimeOptions.MaxMessageBytes"/>,
    /// as the handshake told the client): larger closes the connection (413), like an oversize WebSocket message.
    /// </summary>
    private static async Task<IResult> PostAsync(HttpContext http, Services services, EngineConnection connection)
    {
        if (connection.Transport == EngineTransport.WebSocket || !connection.TryBeginPost())
        {
            return Refuse(StatusCodes.Status400BadRequest, 3, "Bad request: a post is open already, or the connection is on a WebSocket.");
        }
        try
        {
            var max = services.Realtime.MaxMessageBytes;
            var body = await ReadBodyAsync(http.Request, max, http.RequestAborted);
            if (body is null)
            {
                connection.Abuse(new SessionClose(CloseReason.TooBig, $"a payload is limited to {max} bytes"));
                return Refuse(StatusCodes.Status413PayloadTooLarge, 3, $"Payload too large: at most {max} bytes.");
            }
            var packets = new List<EnginePacket>();
            var parsed = EngineIo.TrySplitPayload(body.Value, max, packets, out var error);
            foreach (var packet in packets)
            {
                if (connection.IsClosed)
                {
                    break;
                }
                await services.Protocol.HandleAsync(connection, packet, http.RequestAborted);
            }
            if (!parsed && !connection.IsClosed)
            {
                connection.Fail($"parse error: {error}");
            }
            // Closed by the server for what the client sent (not by its own close packet): the POST says why.
            return connection.ClosedWith is { } closed && closed != SessionClose.Bye
                ? Refuse(StatusCodes.Status400BadRequest, 3, $"Bad request: {closed.Text}")
                : Results.Text("ok", "text/html");
        }
        finally
        {
            connection.EndPost();
        }
    }

    /// <summary>The body, or null when it is over <paramref name="max"/> bytes.</summary>
    private static async Task<ReadOnlyMemory<byte>?> ReadBodyAsync(HttpRequest request, int max, CancellationToken ct)
    {
        if (request.ContentLength > max)
        {
            return null;
        }
        var buffer = new byte[max + 1];
        var length = 0;
        int read;
        while ((read = await request.Body.ReadAsync(buffer.AsMemory(length), ct)) > 0)
        {
            length += read;
            if (length > max)
            {
                return null;
            }
        }
        return buffer.AsMemory(0, length);
    }

    // ---- WebSocket ----

    private static async Task<IResult> WebSocketAsync(HttpContext http, Services services, string? sid)
    {
        if (!http.WebSockets.IsWebSocketRequest)
        {
            return Refuse(StatusCodes.Status400BadRequest, 3, "Bad request: open this address with a WebSocket client.");
        }
        EngineConnection? upgrading = null;
        if (sid is not null && (upgrading = services.Connections.Find(sid)) is null)
        {
            return Refuse(StatusCodes.Status400BadRequest, 1, "Session ID unknown");
        }
        // Engine.IO pings over the socket itself: no WebSocket keep-alive timer besides.
        using var socket = await http.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext { KeepAliveInterval = TimeSpan.Zero });
        var stream = CorkedUpgrade.StreamOf(http);
        var connection = upgrading;
        if (connection is null)
        {
            connection = Open(http, services);
            connection.TryBeginUpgrade(socket, stream, fromStart: true);
            services.Connections.Add(connection);
            connection.Send(OpenPacket(connection, services, upgrades: false));
        }
        await ReceiveAsync(socket, stream, connection, services, upgrade: upgrading is not null, http.RequestAborted);
        return Results.Empty;
    }

    /// <summary>
    /// Reads the socket's packets one at a time. An upgrade first answers the probe (<c>2probe</c> → <c>3probe</c>)
    /// and waits for <c>5</c>; a packet over <see cref="RealtimeOptions.MaxMessageBytes"/> closes with 1009, a
    /// packet the protocol does not allow with 1002.
    /// </summary>
    private static async Task ReceiveAsync(
        WebSocket socket, CorkableStream? stream, EngineConnection connection, Services services, bool upgrade, CancellationToken ct)
    {
        var max = services.Realtime.MaxMessageBytes;
        var upgraded = !upgrade;
        try
        {
            while (socket.State == WebSocketState.Open && !connection.IsClosed)
            {
                // Wait for data without a buffer: an idle connection holds none.
                if ((await socket.ReceiveAsync(Memory<byte>.Empty, ct)).MessageType == WebSocketMessageType.Close || connection.IsClosed)
                {
                    break;
                }
                var buffer = ArrayPool<byte>.Shared.Rent(max);
                try
                {
                    var (type, length) = await ReadMessageAsync(socket, buffer, max, ct);
                    if (type == WebSocketMessageType.Close)
                    {
                        break;
                    }
                    if (length > max)
                    {
                        if (upgraded)
                        {
                            connection.Abuse(new SessionClose(CloseReason.TooBig, $"packets are limited to {max} bytes"));
                        }
                        await CloseProbeAsync(socket, upgraded, WebSocketCloseStatus.MessageTooBig, "packet too big");
                        break;
                    }
                    var frame = buffer.AsMemory(0, length);
                    var packet = default(EnginePacket);
                    string? error = "binary frames are not supported";
                    if (type == WebSocketMessageType.Binary || !EngineIo.TryParse(frame, out packet, out error))
                    {
                        Refuse(connection, upgraded, error!);
                        await CloseProbeAsync(socket, upgraded, WebSocketCloseStatus.ProtocolError, "bad packet");
                        break;
                    }
                    if (upgraded)
                    {
                        await services.Protocol.HandleAsync(connection, packet, ct);
                    }
                    else if (packet.Type == EngineType.Ping && packet.IsProbe && connection.TryBeginUpgrade(socket, stream, fromStart: false))
                    {
                        // Straight onto the socket: until the upgrade completes, the queue belongs to polling.
                        await socket.SendAsync(EngineIo.ProbeAnswer, WebSocketMessageType.Text, endOfMessage: true, ct);
                    }
                    else if (packet.Type == EngineType.Upgrade && connection.Transport == EngineTransport.Upgrading)
                    {
                        connection.CompleteUpgrade();
                        upgraded = true;
                    }
                    else
                    {
                        // A second WebSocket, or anything but the probe and the upgrade before it: this socket is closed.
                        await CloseProbeAsync(socket, upgraded: false, WebSocketCloseStatus.PolicyViolation, "unexpected packet during the upgrade");
                        break;
                    }
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
            }
            if (upgraded)
            {
                connection.Close(SessionClose.Bye);
            }
            else
            {
                await CloseProbeAsync(socket, upgraded: false, WebSocketCloseStatus.NormalClosure, "the connection closed");
            }
            await DiscardUntilClosedAsync(socket, ct);
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException or IOException)
        {
        }
        finally
        {
            if (upgraded)
            {
                connection.Close(SessionClose.Bye);
            }
        }
    }

    private static void Refuse(EngineConnection connection, bool upgraded, string why)
    {
        if (upgraded)
        {
            connection.Fail(why);
        }
    }

    /// <summary>A socket that is not (yet) the connection's transport closes itself; the connection's own close frame is sent by its sender.</summary>
    private static async Task CloseProbeAsync(WebSocket socket, bool upgraded, WebSocketCloseStatus status, string text)
    {
        if (upgraded || socket.State != WebSocketState.Open)
        {
            return;
        }
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await socket.CloseOutputAsync(status, text, timeout.Token);
    }

    /// <summary>One whole message; a length over <paramref name="max"/> means it was larger (the rest is not read).</summary>
    private static async Task<(WebSocketMessageType Type, int Length)> ReadMessageAsync(WebSocket socket, byte[] buffer, int max, CancellationToken ct)
    {
        var length = 0;
        ValueWebSocketReceiveResult result;
        do
        {
            if (length == max)
            {
                return (WebSocketMessageType.Text, max + 1);
            }
            result = await socket.ReceiveAsync(buffer.AsMemory(length, max - length), ct);
            length += result.Count;
        }
        while (!result.EndOfMessage && result.MessageType != WebSocketMessageType.Close);
        return (result.MessageType, length);
    }

    /// <summary>After the close frame went out, reads on (handling nothing) until the client answers it, or 10 s: see <see cref="JsonSocket"/>.</summary>
    private static async Task DiscardUntilClosedAsync(WebSocket socket, CancellationToken ct)
    {
        using var patience = CancellationTokenSource.CreateLinkedTokenSource(ct);
        patience.CancelAfter(TimeSpan.FromSeconds(10));
        var buffer = ArrayPool<byte>.Shared.Rent(4096);
        try
        {
            while (socket.State is WebSocketState.Open or WebSocketState.CloseSent)
            {
                if ((await socket.ReceiveAsync(buffer.AsMemory(), patience.Token)).MessageType == WebSocketMessageType.Close)
                {
                    return;
                }
            }
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            socket.Abort();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
