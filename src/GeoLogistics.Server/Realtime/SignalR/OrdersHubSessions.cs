using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Realtime.Core;
using Microsoft.AspNetCore.SignalR;

namespace GeoLogistics.Server.Realtime.SignalR;

/// <summary>
/// Gives each connection of the orders hub its <see cref="LiveSession"/> once SignalR's handshake is done, and takes
/// it away when the connection ends. Done here and not in the hub: only a lifetime manager is handed the
/// <see cref="HubConnectionContext"/>, which the session writes to. SignalR's own groups and <c>Clients</c> are not used:
/// every event goes through the live core.
/// </summary>
public sealed class OrdersHubSessions(LiveHub hub, ILogger<DefaultHubLifetimeManager<OrdersHub>> logger)
    : DefaultHubLifetimeManager<OrdersHub>(logger)
{
    private static readonly object TransportKey = new();

    /// <summary>The transport (and so the session) of the connection a hub call came on.</summary>
    public static HubTransport TransportOf(HubCallerContext context) =>
        context.Items[TransportKey] as HubTransport ?? throw new InvalidOperationException("The connection has no live session.");

    public override async Task OnConnectedAsync(HubConnectionContext connection)
    {
        // The handshake request passed the bearer handler (the hub's endpoints require it), which set the caller.
        var http = connection.GetHttpContext() ?? throw new InvalidOperationException("The orders hub runs over HTTP.");
        var caller = Caller.Of(http) ?? throw new InvalidOperationException("The orders hub requires an authenticated caller.");
        var transport = new HubTransport(connection, caller, Handshakes.ExpiryOf(http), hub);
        connection.Items[TransportKey] = transport;
        hub.Add(transport.Session);
        await base.OnConnectedAsync(connection);
    }

    public override async Task OnDisconnectedAsync(HubConnectionContext connection)
    {
        if (connection.Items.TryGetValue(TransportKey, out var value) && value is HubTransport transport)
        {
            transport.Session.Close(SessionClose.Bye);
            hub.Remove(transport.Session);
        }
        await base.OnDisconnectedAsync(connection);
    }
}
