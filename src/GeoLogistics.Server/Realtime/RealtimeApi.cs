using System.Net.WebSockets;
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

namespace GeoLogistics.Server.Realtime;

public static class RealtimeApi
{
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
        routes.MapGet(JsonSockets.Path, Connect).WithTags("Realtime").WithName("WebSocket")
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
            return Handshakes.NodeDraining(http);
        }
        if (sockets.FindUser(caller) is not { } user)
        {
            return TypedResults.Unauthorized();
        }
        // Counted before the upgrade, so a user at the cap costs the server no socket (docs/realtime.md).
        if (hub.TryAdmit(caller.UserId) is not { } admission)
        {
            return Handshakes.TooManySockets(http, options.Value);
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
        var expires = Handshakes.ExpiryOf(http);
        Handshakes.ForgetToken(http);
        await sockets.ServeAsync(socket, CorkedUpgrade.StreamOf(http), caller, expires, user, admission, http.RequestAborted);
        return Results.Empty;
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
