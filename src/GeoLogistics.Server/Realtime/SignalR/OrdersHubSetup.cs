using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Http;
using GeoLogistics.Server.Realtime.Core;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.Options;

namespace GeoLogistics.Server.Realtime.SignalR;

/// <summary>
/// The orders hub's registration: SignalR with the JSON and MessagePack hub protocols, WebSockets only, the limits of
/// <see cref="RealtimeOptions"/>, and the handshake rules of the JSON protocol (token, Origin, the per-user socket cap).
/// </summary>
public static class OrdersHubSetup
{
    public const string Path = "/hubs/orders";
    public const string Json = "json";
    public const string MessagePack = "messagepack";

    // SignalR's clients take a server silent for 30 s for gone, so its keep-alive stays at SignalR's 15 s.
    private static readonly TimeSpan KeepAlive = TimeSpan.FromSeconds(15);

    public static IServiceCollection AddOrdersHub(this IServiceCollection services)
    {
        // AddHubOptions marks the hub's options as its own (else SignalR uses the global ones); they are set just below.
        services.AddSignalR().AddMessagePackProtocol().AddHubOptions<OrdersHub>(_ => { });
        services.AddSingleton<HubLifetimeManager<OrdersHub>, OrdersHubSessions>();
        services.AddSingleton<OrdersHubCalls>();
        // SignalR logs every exception a hub method throws as an error, with its stack. The hub's are refusals meant for
        // the client (a forbidden topic is no server fault), and OrdersHubCalls logs any other failure itself.
        services.AddLogging(logging => logging.AddFilter("Microsoft.AspNetCore.SignalR.Internal.DefaultHubDispatcher", LogLevel.Critical));
        services.AddOptions<HubOptions<OrdersHub>>().Configure<IOptions<RealtimeOptions>>((hub, realtime) =>
        {
            hub.SupportedProtocols = [Json, MessagePack];
            // Larger closes the connection with SignalR's error, as 1009 does on the JSON protocol.
            hub.MaximumReceiveMessageSize = realtime.Value.MaxMessageBytes;
            hub.KeepAliveInterval = KeepAlive < realtime.Value.KeepAliveInterval ? KeepAlive : realtime.Value.KeepAliveInterval;
            hub.ClientTimeoutInterval = realtime.Value.IdleTimeout;
            // One call at a time per connection: a subscribe's replay ends before the next call is read, as on the JSON protocol.
            hub.MaximumParallelInvocationsPerClient = 1;
            // No method takes a stream.
            hub.StreamBufferCapacity = 1;
            // Says why a call did not bind (argument count or types) or why the connection closed (too big); an
            // exception of the hub's own is never shown (OrdersHubCalls).
            hub.EnableDetailedErrors = true;
            hub.AddFilter<OrdersHubCalls>();
        });
        return services;
    }

    public static IEndpointRouteBuilder MapOrdersHub(this IEndpointRouteBuilder routes)
    {
        routes.MapHub<OrdersHub>(Path, o => o.Transports = HttpTransportType.WebSockets)
            .RequireAuthorization()
            .WithMetadata(new TagsAttribute("Realtime"))
            .Add(endpoint => endpoint.RequestDelegate = Admitting(endpoint.RequestDelegate!,
                negotiate: endpoint is RouteEndpointBuilder { RoutePattern.RawText: { } pattern } && pattern.EndsWith("/negotiate", StringComparison.Ordinal)));
        return routes;
    }

    /// <summary>
    /// The JSON protocol's handshake rules around SignalR's two requests: a browser Origin that is not allowed is refused
    /// (403); a user at <see cref="RealtimeOptions.MaxConnectionsPerUser"/> is refused (429) on <c>negotiate</c> already,
    /// and the connection itself counts from before the upgrade until it ends, together with every other protocol's.
    /// </summary>
    private static RequestDelegate Admitting(RequestDelegate inner, bool negotiate) => async http =>
    {
        if (!BrowserSession.OriginAllowed(http.Request, http.RequestServices.GetRequiredService<IOptions<AuthOptions>>().Value))
        {
            await Problems.Forbidden("This origin may not open a socket here.").ExecuteAsync(http);
            return;
        }
        var hub = http.RequestServices.GetRequiredService<LiveHub>();
        if (hub.IsDraining)
        {
            await Handshakes.NodeDraining(http).ExecuteAsync(http);
            return;
        }
        var caller = Caller.Of(http) ?? throw new InvalidOperationException("The orders hub requires authorization.");
        if (negotiate)
        {
            if (hub.AdmittedOf(caller.UserId) >= hub.Options.MaxConnectionsPerUser)
            {
                await Handshakes.TooManySockets(http, hub.Options).ExecuteAsync(http);
                return;
            }
            await inner(http);
            return;
        }
        using var admission = hub.TryAdmit(caller.UserId);
        if (admission is null)
        {
            await Handshakes.TooManySockets(http, hub.Options).ExecuteAsync(http);
            return;
        }
        Handshakes.ForgetToken(http);
        await inner(http);
    };
}
