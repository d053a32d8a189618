using System.Net.WebSockets;
using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Http;
using GeoLogistics.Server.Realtime.Core;
using GeoLogistics.Server.Users;

namespace GeoLogistics.Server.Realtime.Json;

/// <summary>
/// Serves an accepted JSON-protocol socket for its life, whichever way it was upgraded: through the HTTP endpoint
/// (<see cref="RealtimeApi"/>) or straight off the connection (<see cref="Direct.DirectSockets"/>). Both check the
/// same things before the upgrade; from here on a socket is a session in the hub and nothing else.
/// </summary>
public sealed class JsonSockets(LiveHub hub, JsonProtocol protocol, SocketKeepAlive keepAlive, Sessions sessions, TimeProvider clock)
{
    /// <summary>The JSON protocol's address (SPEC §7).</summary>
    public const string Path = "/api/ws";

    // One delegate for every socket, not one each.
    private readonly Func<LiveSession, ReadOnlyMemory<byte>, Task<bool>> handle = protocol.HandleAsync;

    /// <summary>
    /// The user a socket's <c>connection_ack</c> describes, as <c>GET /api/me</c> does; null when the token's session
    /// has ended meanwhile. From the session the token stands for, which the node holds (<see cref="Sessions"/>): a
    /// handshake reads nothing from the store.
    /// </summary>
    public UserDto? FindUser(Caller caller) =>
        sessions.TryGetName(caller, out var name)
            ? new UserDto(caller.UserId, caller.Email, name, caller.Role, caller.TenantId, caller.DriverId)
            : null;

    /// <summary>Acknowledges the connection, then reads and answers the client until the session ends.</summary>
    /// <param name="stream">The socket's stream, so a burst leaves in one write and the keep-alive pings it; null writes each message through, unpinged.</param>
    /// <param name="admission">The socket's place under the per-user cap, given back when the session ends.</param>
    public Task ServeAsync(
        WebSocket socket, SocketStream? stream, Caller caller, DateTimeOffset expires, UserDto user, IDisposable admission, CancellationToken aborted)
    {
        // Not async itself: what only the acknowledgement needs (the user) is not kept for the socket's life.
        var json = new JsonSocket(socket, stream, caller, expires, hub, aborted);
        hub.Add(json.Session);
        try
        {
            json.Session.Send(JsonProtocol.Serialize(new ConnectionAck(json.Session.Id, user, clock.Now(), hub.Head), RealtimeJson.Default.ConnectionAck));
        }
        catch
        {
            hub.Remove(json.Session);
            admission.Dispose();
            throw;
        }
        return json.RunAsync(handle, keepAlive, admission, aborted);
    }
}
