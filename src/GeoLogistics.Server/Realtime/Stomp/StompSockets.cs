using System.Net.WebSockets;
using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Realtime.Core;
using GeoLogistics.Server.Realtime.Json;
using Microsoft.Extensions.Options;

namespace GeoLogistics.Server.Realtime.Stomp;

/// <summary>
/// Serves an accepted STOMP socket (plain or SockJS) for its life, whichever way it was upgraded: through the HTTP
/// endpoint (<see cref="StompApi"/>) or straight off the connection (<see cref="Direct.DirectSockets"/>). Both check
/// the same things before the upgrade and answer the same subprotocol; from here on the socket waits for CONNECT.
/// </summary>
public sealed class StompSockets(StompProtocol protocol, LiveHub hub, SocketKeepAlive keepAlive, IOptions<StompOptions> options)
{
    // In the server's order of preference; a client that asks for none gets a plain socket, as STOMP over WebSocket allows.
    private static readonly string[] SubProtocols = ["v12.stomp", "v11.stomp", "v10.stomp"];

    /// <summary>The subprotocol the upgrade answers: the server's first choice among those asked for; none over SockJS.</summary>
    public static string? SubProtocolFor(IEnumerable<string> requested, bool sockJs) =>
        sockJs ? null : SubProtocols.FirstOrDefault(p => requested.Contains(p, StringComparer.OrdinalIgnoreCase));

    /// <summary>Reads and answers the client until the socket ends, and keeps it alive meanwhile.</summary>
    /// <param name="stream">The socket's stream, so a burst leaves in one write and the keep-alive pings it; null writes each frame through, unpinged.</param>
    /// <param name="caller">Who the handshake's token says the client is; null when CONNECT must say it.</param>
    /// <param name="admission">The socket's place under the per-user cap when the handshake had a token; given back when it ends.</param>
    public async Task ServeAsync(WebSocket socket, SocketStream? stream, StompWire wire, Caller? caller, DateTimeOffset expires,
        IDisposable? admission, CancellationToken aborted)
    {
        StompConnection? connection = null;
        keepAlive.Add(stream);
        try
        {
            connection = new StompConnection(socket, stream, wire, hub.Options.MaxMessageBytes, caller, expires, aborted) { Admission = admission };
            await connection.RunAsync(protocol.ConnectAsync, protocol.HandleAsync, options.Value.ConnectTimeout, aborted);
        }
        finally
        {
            keepAlive.Remove(stream);
            if (connection is not null)
            {
                protocol.Forget(connection);
            }
            (connection?.Admission ?? admission)?.Dispose();
            socket.Dispose();
        }
    }
}
