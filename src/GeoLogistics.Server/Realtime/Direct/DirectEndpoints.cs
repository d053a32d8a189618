using System.Net.WebSockets;
using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Realtime.Core;
using GeoLogistics.Server.Realtime.Json;
using GeoLogistics.Server.Realtime.SocketIo;
using GeoLogistics.Server.Realtime.Stomp;
using Microsoft.Extensions.Primitives;

namespace GeoLogistics.Server.Realtime.Direct;

/// <summary>What a direct endpoint's handshake must carry, as its HTTP endpoint reads it.</summary>
public enum HandshakeToken
{
    /// <summary>A valid bearer token, in <c>Authorization</c> or <c>?access_token=</c> (the JSON protocol).</summary>
    Required,

    /// <summary>A valid bearer token there, or none at all: the protocol carries it later (STOMP's CONNECT).</summary>
    Optional,

    /// <summary>
    /// A valid bearer token in <c>Authorization</c>, or none at all (Engine.IO: the namespace CONNECT's <c>auth.token</c>).
    /// Its endpoint does not read <c>?access_token=</c>, so a request with one is HTTP's.
    /// </summary>
    OptionalInHeader,
}

/// <summary>
/// An address whose WebSocket upgrades are served off the connection, as its HTTP endpoint would serve them.
/// <see cref="DirectSockets"/> makes the checks every endpoint shares (the token as <see cref="Token"/> says, Origin,
/// the node not draining); the endpoint adds its own and says what its 101 answers and what serves the socket.
/// </summary>
public abstract class DirectEndpoint(string path, HandshakeToken token)
{
    /// <summary>The path, exactly; <c>*</c> stands for one segment (<see cref="UpgradePaths"/>).</summary>
    public string Path { get; } = path;

    public HandshakeToken Token { get; } = token;

    /// <summary>Whether the query is one served here (beyond the token); a request with any other is HTTP's.</summary>
    public virtual bool Takes(Dictionary<string, StringValues> query) => true;

    /// <summary>
    /// The endpoint's own checks once the shared ones passed, in its HTTP endpoint's order; null when any fails (HTTP
    /// then answers the request). <paramref name="caller"/> is null when the handshake carried no token.
    /// </summary>
    public abstract Task<DirectUpgrade?> AcceptAsync(UpgradeHead head, Caller? caller, DateTimeOffset expires, CancellationToken ct);
}

/// <summary>
/// An upgrade an endpoint took: the subprotocol its 101 names, the place under the per-user cap it holds (given back if
/// the upgrade fails before <see cref="Serve"/>), and what serves the socket from then on (and keeps it alive).
/// </summary>
public sealed record DirectUpgrade(string? SubProtocol, IDisposable? Admission, Func<WebSocket, SocketStream, CancellationToken, Task> Serve);

/// <summary>The JSON protocol at <c>/api/ws</c> (<see cref="RealtimeApi"/>): a token, a known user, a place under the cap.</summary>
public sealed class JsonEndpoint(JsonSockets sockets, LiveHub hub) : DirectEndpoint(JsonSockets.Path, HandshakeToken.Required)
{
    public override Task<DirectUpgrade?> AcceptAsync(UpgradeHead head, Caller? caller, DateTimeOffset expires, CancellationToken ct)
    {
        if (caller is null || sockets.FindUser(caller) is not { } user || hub.TryAdmit(caller.UserId) is not { } admission)
        {
            return Task.FromResult<DirectUpgrade?>(null);
        }
        return Task.FromResult<DirectUpgrade?>(new DirectUpgrade(null, admission,
            (socket, stream, aborted) => sockets.ServeAsync(socket, stream, caller, expires, user, admission, aborted)));
    }
}

/// <summary>
/// STOMP at <c>/ws-registry</c>, or SockJS's websocket transport under it (<see cref="StompApi"/>): with a token on the
/// handshake, a place under the cap is taken now; without, CONNECT brings the token. A plain socket answers the
/// subprotocol the client asked for that the server prefers.
/// </summary>
public sealed class StompEndpoint(StompSockets sockets, LiveHub hub, bool sockJs)
    : DirectEndpoint(sockJs ? StompApi.Path + "/*/*/websocket" : StompApi.Path, HandshakeToken.Optional)
{
    public override Task<DirectUpgrade?> AcceptAsync(UpgradeHead head, Caller? caller, DateTimeOffset expires, CancellationToken ct)
    {
        var admission = caller is null ? null : hub.TryAdmit(caller.UserId);
        if (caller is not null && admission is null)
        {
            return Task.FromResult<DirectUpgrade?>(null);
        }
        return Task.FromResult<DirectUpgrade?>(new DirectUpgrade(
            StompSockets.SubProtocolFor(head.SubProtocols, sockJs), admission,
            (socket, stream, aborted) => sockets.ServeAsync(socket, stream, new StompWire(sockJs), caller, expires, admission, aborted)));
    }
}

/// <summary>
/// Engine.IO's WebSocket-only handshake at <c>/socket.io/</c> (<see cref="SocketIoApi"/>): <c>EIO=4</c>,
/// <c>transport=websocket</c>, no <c>sid</c> (an upgrade of a polling connection is HTTP's). Nothing is checked here
/// beyond the shared checks: each namespace CONNECT brings its token and takes its place under the cap.
/// </summary>
public sealed class EngineIoEndpoint(EngineSockets sockets) : DirectEndpoint(SocketIoApi.Path, HandshakeToken.OptionalInHeader)
{
    public override bool Takes(Dictionary<string, StringValues> query) =>
        query.GetValueOrDefault("EIO") is ["4"] && query.GetValueOrDefault("transport") is ["websocket"] && !query.ContainsKey("sid");

    public override Task<DirectUpgrade?> AcceptAsync(UpgradeHead head, Caller? caller, DateTimeOffset expires, CancellationToken ct) =>
        Task.FromResult<DirectUpgrade?>(new DirectUpgrade(null, null,
            (socket, stream, aborted) => sockets.ServeAsync(socket, stream, new HandshakeAuth(caller, expires, null), aborted)));
}
