using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text.Json;
using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Http;
using GeoLogistics.Server.Realtime.Core;
using GeoLogistics.Server.Realtime.Json;
using Microsoft.Extensions.Options;

namespace GeoLogistics.Server.Realtime.Stomp;

/// <summary>
/// STOMP at <c>/ws-registry</c> (SPEC §9): a plain WebSocket there, and SockJS's <c>info</c> and <c>websocket</c>
/// transport under it (https://github.com/sockjs/sockjs-protocol, 0.3.3). The handshake is the JSON endpoint's: the
/// Origin rule, the per-user cap, a token on the handshake refused before the upgrade. Unlike there, the token may
/// also come in the CONNECT frame (browsers using SockJS can set no header): then the socket is opened first, and
/// the token and the cap are checked at CONNECT, answered by an ERROR frame.
/// </summary>
public static class StompApi
{
    public const string Path = "/ws-registry";

    public static IServiceCollection AddStomp(this IServiceCollection services, IConfiguration config)
    {
        services.AddOptions<StompOptions>().Bind(config.GetSection("Realtime:Stomp"))
            .Validate(o => o.HeartBeat >= TimeSpan.Zero && o.HeartBeat <= TimeSpan.FromHours(1), "Realtime:Stomp:HeartBeat is between 0 and 1 hour.")
            .Validate(o => o.ConnectTimeout > TimeSpan.Zero, "Realtime:Stomp:ConnectTimeout is positive.")
            .ValidateOnStart();
        services.AddSingleton<StompHeartbeats>();
        services.AddHostedService(sp => sp.GetRequiredService<StompHeartbeats>());
        services.AddSingleton<StompProtocol>();
        services.AddSingleton<StompSockets>();
        return services;
    }

    public static IEndpointRouteBuilder MapStomp(this IEndpointRouteBuilder routes)
    {
        var stomp = routes.MapGroup(Path).WithTags("Realtime").AllowAnonymous();
        stomp.MapGet("", Plain).WithName("Stomp")
            .WithSummary("Upgrade to STOMP 1.2 over WebSocket (docs/realtime.md#stomp); without an upgrade, SockJS's greeting.");
        stomp.MapGet("/info", Info).WithName("SockJsInfo").WithSummary("SockJS: what the server offers (websocket only).");
        stomp.MapMethods("/info", [HttpMethods.Options], InfoPreflight).ExcludeFromDescription();
        stomp.MapGet("/{server}/{session}/websocket", SockJs).WithName("SockJsWebSocket")
            .WithSummary("SockJS's websocket transport, carrying STOMP.");
        return routes;
    }

    private static Task<IResult> Plain(HttpContext http, StompSockets sockets, BearerTokens tokens, LiveHub hub, IOptions<AuthOptions> auth) =>
        http.WebSockets.IsWebSocketRequest
            ? ConnectAsync(http, new StompWire(sockJs: false), sockets, tokens, hub, auth.Value)
            : Task.FromResult<IResult>(TypedResults.Text("Welcome to SockJS!\n", "text/plain; charset=UTF-8"));

    private static Task<IResult> SockJs(string server, string session, HttpContext http, StompSockets sockets, BearerTokens tokens, LiveHub hub,
        IOptions<AuthOptions> auth)
    {
        // SockJS: the server and session ids are path segments without dots.
        if (server.Length is 0 or > 64 || session.Length is 0 or > 64 || server.Contains('.') || session.Contains('.'))
        {
            return Task.FromResult<IResult>(TypedResults.NotFound());
        }
        if (!http.WebSockets.IsWebSocketRequest)
        {
            return Task.FromResult<IResult>(TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest,
                title: "WebSocket upgrade required", detail: "Can \"Upgrade\" only to \"WebSocket\"."));
        }
        return ConnectAsync(http, new StompWire(sockJs: true), sockets, tokens, hub, auth.Value);
    }

    private static async Task<IResult> ConnectAsync(HttpContext http, StompWire wire, StompSockets sockets, BearerTokens tokens, LiveHub hub,
        AuthOptions auth)
    {
        if (!BrowserSession.OriginAllowed(http.Request, auth))
        {
            return Problems.Forbidden("This origin may not open a socket here.");
        }
        if (hub.IsDraining)
        {
            return Handshakes.NodeDraining(http);
        }
        var (caller, expires, refused) = await HandshakeCallerAsync(http, tokens);
        if (refused)
        {
            return TypedResults.Unauthorized();
        }
        // With a token on the handshake, the cap is checked before the upgrade (429), as on /api/ws.
        var admission = caller is null ? null : hub.TryAdmit(caller.UserId);
        if (caller is not null && admission is null)
        {
            return Handshakes.TooManySockets(http, hub.Options);
        }

        WebSocket socket;
        try
        {
            socket = await http.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext
            {
                SubProtocol = StompSockets.SubProtocolFor(http.WebSockets.WebSocketRequestedProtocols, wire.IsSockJs),
                // The server's one keep-alive sweep pings it (SocketKeepAlive), not a timer of its own.
                KeepAliveInterval = TimeSpan.Zero,
            });
        }
        catch
        {
            admission?.Dispose();
            throw;
        }
        await sockets.ServeAsync(socket, CorkedUpgrade.StreamOf(http), wire, caller, expires, admission, http.RequestAborted);
        return Results.Empty;
    }

    /// <summary>
    /// The handshake's caller: the bearer handler's (an <c>Authorization</c> header, or the dashboard's cookie), or a
    /// <c>?access_token=</c>. A header or query token that is not valid is refused (401); none at all leaves it to CONNECT.
    /// </summary>
    private static async Task<(Caller? Caller, DateTimeOffset Expires, bool Refused)> HandshakeCallerAsync(HttpContext http, BearerTokens tokens)
    {
        if (Caller.Of(http) is { } caller)
        {
            return (caller, Handshakes.ExpiryOf(http), false);
        }
        if (!string.IsNullOrEmpty(http.Request.Headers.Authorization))
        {
            return (null, default, true);
        }
        if (http.Request.Query["access_token"].FirstOrDefault() is { Length: > 0 } token)
        {
            return await tokens.CheckAsync(token, http.RequestAborted) is TokenCheck.Valid valid
                ? (valid.Caller, valid.Expires, false)
                : (null, default, true);
        }
        return (null, DateTimeOffset.MaxValue, false);
    }

    /// <summary>SockJS's <c>info</c>: websocket only, no cookie needed; readable cross-origin by the allowed origins.</summary>
    private static IResult Info(HttpContext http, IOptions<AuthOptions> auth)
    {
        NoCache(http);
        AllowOrigin(http, auth.Value);
        var info = new SockJsInfo(WebSocket: true, Origins: ["*:*"], CookieNeeded: false, Entropy: BitConverter.ToUInt32(RandomNumberGenerator.GetBytes(4)));
        return TypedResults.Text(JsonSerializer.Serialize(info, StompJson.Default.SockJsInfo), "application/json; charset=UTF-8");
    }

    private static IResult InfoPreflight(HttpContext http, IOptions<AuthOptions> auth)
    {
        AllowOrigin(http, auth.Value);
        http.Response.Headers.AccessControlAllowMethods = "OPTIONS, GET";
        http.Response.Headers.AccessControlMaxAge = "31536000";
        http.Response.Headers.CacheControl = "public, max-age=31536000";
        return TypedResults.NoContent();
    }

    private static void NoCache(HttpContext http) =>
        http.Response.Headers.CacheControl = "no-store, no-cache, no-transform, must-revalidate, max-age=0";

    /// <summary>CORS for SockJS's XHR, to the origins that may open a socket at all (<see cref="BrowserSession.OriginAllowed"/>).</summary>
    private static void AllowOrigin(HttpContext http, AuthOptions auth)
    {
        var origin = http.Request.Headers.Origin.ToString();
        if (origin.Length > 0 && BrowserSession.OriginAllowed(http.Request, auth))
        {
            http.Response.Headers.AccessControlAllowOrigin = origin;
            http.Response.Headers.AccessControlAllowCredentials = "true";
            http.Response.Headers.Vary = "Origin";
        }
    }
}
