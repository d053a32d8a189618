using System.Buffers;
using System.Net.WebSockets;
using System.Text.Json;
using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Realtime.Core;
using GeoLogistics.Server.Realtime.Json;
using Microsoft.Extensions.Options;

namespace GeoLogistics.Server.Realtime.SocketIo;

/// <summary>
/// Engine.IO 4 at <c>/socket.io/</c>: the handshake, HTTP long-polling (GET receives, POST sends), the upgrade to a
/// WebSocket, and WebSocket-only clients. The handshake admits anonymous requests, because Socket.IO carries its token
/// inside the namespace CONNECT (<c>auth.token</c>); what a connection may do is decided there (<see cref="SocketIoProtocol"/>).
/// </summary>
public static class SocketIoApi
{
    public const string Path = "/socket.io/";

    public static IServiceCollection AddSocketIo(this IServiceCollection services)
    {
        services.AddOptions<SocketIoOptions>().BindConfiguration("SocketIo").ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<SocketIoProtocol>();
        services.AddSingleton<EngineConnections>();
        services.AddSingleton<EngineSockets>();
        services.AddHostedService(sp => sp.GetRequiredService<EngineConnections>());
        return services;
    }

    public static IEndpointRouteBuilder MapSocketIo(this IEndpointRouteBuilder routes)
    {
        routes.MapMethods(Path, [HttpMethods.Get, HttpMethods.Post], Handle).WithTags("Realtime").WithName("SocketIo")
            .WithSummary("Socket.IO v4 (Engine.IO 4): long-polling and WebSocket (docs/realtime.md, \"Socket.IO\").");
        return routes;
    }

    private sealed record Services(EngineConnections Connections, EngineSockets Sockets, SocketIoProtocol Protocol, RealtimeOptions Realtime);

    private static async Task<IResult> Handle(
        HttpContext http, EngineConnections connections, EngineSockets sockets, SocketIoProtocol protocol, IOptions<RealtimeOptions> realtime,
        IOptions<AuthOptions> auth, LiveHub hub)
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
        var services = new Services(connections, sockets, protocol, realtime.Value);
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
            return new HandshakeAuth(caller, Handshakes.ExpiryOf(http), null);
        }
        return http.Request.Headers.Authorization.Count > 0 || http.Request.Query.ContainsKey("access_token")
            ? new HandshakeAuth(null, DateTimeOffset.MaxValue, "The token is not valid.")
            : HandshakeAuth.None;
    }

    private static IResult OpenPolling(HttpContext http, Services services)
    {
        var connection = services.Connections.Create(AuthOf(http));
        services.Connections.Add(connection);
        return Results.Bytes(services.Connections.OpenPacket(connection, upgrades: true), "text/plain; charset=UTF-8");
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
        // The body is read into an array from the pool: a packet that outlives the request copies what it keeps (SocketPacket).
        var max = services.Realtime.MaxMessageBytes;
        var buffer = ArrayPool<byte>.Shared.Rent(max + 1);
        try
        {
            if (await ReadBodyAsync(http.Request, buffer, max, http.RequestAborted) is not { } length)
            {
                connection.Abuse(new SessionClose(CloseReason.TooBig, $"a payload is limited to {max} bytes"));
                return Refuse(StatusCodes.Status413PayloadTooLarge, 3, $"Payload too large: at most {max} bytes.");
            }
            var packets = new List<EnginePacket>();
            var parsed = EngineIo.TrySplitPayload(buffer.AsMemory(0, length), max, packets, out var error);
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
            ArrayPool<byte>.Shared.Return(buffer);
            connection.EndPost();
        }
    }

    /// <summary>Reads the body into <paramref name="buffer"/> (at least <paramref name="max"/> + 1 bytes): its length, or null when it is over <paramref name="max"/> bytes.</summary>
    private static async Task<int?> ReadBodyAsync(HttpRequest request, byte[] buffer, int max, CancellationToken ct)
    {
        if (request.ContentLength > max)
        {
            return null;
        }
        var length = 0;
        int read;
        while ((read = await request.Body.ReadAsync(buffer.AsMemory(length, max + 1 - length), ct)) > 0)
        {
            length += read;
            if (length > max)
            {
                return null;
            }
        }
        return length;
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
        var socket = await http.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext { KeepAliveInterval = EngineSockets.KeepAliveInterval });
        var stream = CorkedUpgrade.StreamOf(http);
        await (upgrading is null
            ? services.Sockets.ServeAsync(socket, stream, AuthOf(http), http.RequestAborted)
            : services.Sockets.UpgradeAsync(socket, stream, upgrading, http.RequestAborted));
        return Results.Empty;
    }
}
