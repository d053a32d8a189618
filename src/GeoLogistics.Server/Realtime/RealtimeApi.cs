using System.Net.WebSockets;
using System.Security.Claims;
using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Data;
using GeoLogistics.Server.Events;
using GeoLogistics.Server.Http;
using GeoLogistics.Server.Nodes;
using GeoLogistics.Server.Realtime.Core;
using GeoLogistics.Server.Realtime.Direct;
using GeoLogistics.Server.Realtime.Json;
using GeoLogistics.Server.Realtime.SignalR;
using GeoLogistics.Server.Realtime.Stomp;
using GeoLogistics.Server.Tracking;
using GeoLogistics.Server.Users;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;

namespace GeoLogistics.Server.Realtime;

public static class RealtimeApi
{
    public const string Path = "/api/ws";

    public static IServiceCollection AddRealtime(this IServiceCollection services, IConfiguration config)
    {
        services.AddOptions<RealtimeOptions>().Bind(config.GetSection("Realtime")).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<LiveHub>();
        // ILivePublisher: the hub alone, or the backplane in front of it (Nodes/NodesSetup.cs).
        services.AddSingleton<ITopicAccess, TopicAccess>();
        services.AddSingleton<Subscriptions>();
        // Retention prunes no further than a replay in progress here has read.
        services.AddSingleton<IReplayFloor>(sp => sp.GetRequiredService<Subscriptions>());
        services.AddSingleton<JsonProtocol>();
        services.AddSingleton<JsonSockets>();
        services.AddSingleton<DirectSockets>();
        services.AddHostedService<TokenExpiry>();
        services.AddSingleton<SocketKeepAlive>();
        services.AddHostedService(sp => sp.GetRequiredService<SocketKeepAlive>());
        services.AddStomp(config);
        services.AddOrdersHub();
        return services;
    }

    public static IEndpointRouteBuilder MapRealtime(this IEndpointRouteBuilder routes)
    {
        routes.MapGet(Path, Connect).WithTags("Realtime").WithName("WebSocket")
            .WithSummary("Upgrade to the JSON WebSocket protocol (docs/realtime.md).").RequireAuthorization();
        routes.MapGet("/api/ws/stats", Stats).WithTags("Realtime").WithName("WebSocketStats")
            .WithSummary("Connections, subscriptions per topic, queue depths, messages sent and dropped, positions accepted (admin).").RequireAuthorization();
        routes.MapStomp();
        routes.MapOrdersHub();
        return routes;
    }

    private static async Task<IResult> Connect(
        HttpContext http, Caller caller, LiveHub hub, JsonSockets sockets, IOptions<RealtimeOptions> options, IOptions<AuthOptions> auth)
    {
        if (!http.WebSockets.IsWebSocketRequest)
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "WebSocket upgrade required",
                detail: "Open this address with a WebSocket client.");
        }
        if (!BrowserSession.OriginAllowed(http.Request, auth.Value))
        {
            return Problems.Forbidden("This origin may not open a socket here.");
        }
        if (hub.IsDraining)
        {
            return NodeDraining(http);
        }
        if (sockets.FindUser(caller) is not { } user)
        {
            return TypedResults.Unauthorized();
        }
        // Counted before the upgrade, so a user at the cap costs the server no socket (docs/realtime.md).
        if (hub.TryAdmit(caller.UserId) is not { } admission)
        {
            return TooManySockets(http, options.Value);
        }
        WebSocket socket;
        try
        {
            socket = await http.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext
            {
                // The server's one keep-alive sweep pings it (SocketKeepAlive), not a timer of its own.
                KeepAliveInterval = TimeSpan.Zero,
            });
        }
        catch
        {
            admission.Dispose();
            throw;
        }
        var expires = ExpiryOf(http);
        ForgetToken(http);
        await sockets.ServeAsync(socket, CorkedUpgrade.StreamOf(http), caller, expires, user, admission, http.RequestAborted);
        return Results.Empty;
    }

    /// <summary>503 while the node stops: the client connects again (to another node, behind a balancer) at once.</summary>
    public static IResult NodeDraining(HttpContext http)
    {
        http.Response.Headers.RetryAfter = "1";
        return TypedResults.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "Node stopping",
            detail: "This node is stopping; connect again, and resume with since.");
    }

    /// <summary>429 for a user at <see cref="RealtimeOptions.MaxConnectionsPerUser"/>, on every protocol's handshake.</summary>
    internal static IResult TooManySockets(HttpContext http, RealtimeOptions options)
    {
        http.Response.Headers.RetryAfter = "5";
        return TypedResults.Problem(statusCode: StatusCodes.Status429TooManyRequests, title: "Too many sockets",
            detail: $"A user may hold {options.MaxConnectionsPerUser} sockets at once; close one before opening another.",
            extensions: new Dictionary<string, object?> { ["limit"] = options.MaxConnectionsPerUser });
    }

    /// <summary>When the handshake's token expires: the session is closed then (<see cref="TokenExpiry"/>).</summary>
    internal static DateTimeOffset ExpiryOf(HttpContext http)
    {
        var exp = http.User.FindFirst(JwtRegisteredClaimNames.Exp)?.Value;
        return long.TryParse(exp, out var seconds) ? DateTimeOffset.FromUnixTimeSeconds(seconds) : DateTimeOffset.MaxValue;
    }

    /// <summary>
    /// A request upgraded to a socket lives as long as the socket. Once the session has what it reads from the request
    /// (the <see cref="Caller"/> in its items, the token's expiry), the token's principal is let go: its
    /// <c>JsonWebToken</c> and claims are about 4 KiB per connection. Setting the user also drops the authentication
    /// result that held the same principal.
    /// </summary>
    internal static void ForgetToken(HttpContext http)
    {
        var exp = http.User.FindFirst(JwtRegisteredClaimNames.Exp);
        http.User = new ClaimsPrincipal(new ClaimsIdentity(exp is null ? [] : [new Claim(exp.Type, exp.Value)], http.User.Identity?.AuthenticationType));
    }

    private static IResult Stats(Caller caller, LiveHub hub, Tracker tracker, NodeIdentity node)
    {
        if (!caller.IsAdmin)
        {
            return Problems.Forbidden("Only admins read the socket statistics.");
        }
        var sessions = hub.Sessions;
        var depths = sessions.Select(s => s.QueueDepth).ToList();
        return TypedResults.Ok(new
        {
            node = node.Name,
            connections = sessions.Count,
            connectionsByProtocol = sessions.GroupBy(s => s.Protocol).ToDictionary(g => g.Key, g => g.Count()),
            subscriptions = sessions.SelectMany(s => s.Subscriptions).GroupBy(s => s.Topic.Kind.ToString().ToLowerInvariant())
                .ToDictionary(g => g.Key, g => g.Count()),
            queueDepth = new { total = depths.Sum(), max = depths.DefaultIfEmpty().Max() },
            headSeq = hub.Head,
            messagesSent = hub.MessagesSent,
            eventsReplayed = hub.Replayed,
            slowConsumersClosed = hub.SessionsDropped,
            positionsAccepted = tracker.AcceptedPositions,
            positionsStored = tracker.StoredPositions,
            storeFlushes = tracker.StoreFlushes,
            trackPointsDropped = tracker.DroppedTrackPoints,
        });
    }
}
