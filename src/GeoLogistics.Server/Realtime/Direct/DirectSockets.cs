using System.IO.Pipelines;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Realtime.Core;
using GeoLogistics.Server.Realtime.Json;
using GeoLogistics.Server.Realtime.SocketIo;
using GeoLogistics.Server.Realtime.Stomp;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;

namespace GeoLogistics.Server.Realtime.Direct;

/// <summary>
/// Serves WebSockets straight off Kestrel's connections, without the HTTP pipeline (docs/adr/0011). A socket upgraded
/// through HTTP keeps, for its whole life, the request it was upgraded on: Kestrel's HTTP/1.1 connection and header
/// tables, the <see cref="HttpContext"/>, its services scope and activity, the authenticated principal, and the
/// middleware's parked tasks, more than the socket and its session need. So this connection middleware reads the first
/// request of each plain-HTTP connection itself: a well-formed WebSocket upgrade of one of the direct endpoints (the
/// JSON protocol, STOMP and SockJS's websocket transport, Engine.IO's WebSocket-only handshake) that passes every check
/// its HTTP endpoint makes is answered 101 here, and the socket keeps only Kestrel's connection, the WebSocket and its
/// session. Anything else (another path, a cookie, a refused token, an odd request) goes on to HTTP with its bytes
/// untouched, and the endpoint answers it as it always did; a refused upgrade therefore gets the same answer either way.
/// </summary>
public sealed partial class DirectSockets
{
    private static readonly byte[] SocketGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"u8.ToArray();

    private readonly DirectEndpoint[] endpoints;
    private readonly UpgradePaths paths;
    private readonly BearerTokens tokens;
    private readonly LiveHub hub;
    private readonly IOptions<AuthOptions> auth;
    private readonly IOptions<KestrelServerOptions> kestrel;
    private readonly ILogger<DirectSockets> logger;

    public DirectSockets(
        JsonSockets json, StompSockets stomp, EngineSockets engineIo, BearerTokens tokens, LiveHub hub, IOptions<AuthOptions> auth,
        IOptions<KestrelServerOptions> kestrel, ILogger<DirectSockets> logger)
    {
        endpoints =
        [
            new JsonEndpoint(json, hub),
            new StompEndpoint(stomp, hub, sockJs: false),
            new StompEndpoint(stomp, hub, sockJs: true),
            new EngineIoEndpoint(engineIo),
        ];
        paths = new UpgradePaths([.. endpoints.Select(e => e.Path)]);
        this.tokens = tokens;
        this.hub = hub;
        this.auth = auth;
        this.kestrel = kestrel;
        this.logger = logger;
    }

    /// <summary>
    /// The connection's task is the running socket's, or HTTP's: nothing of the handshake is kept for the socket's life,
    /// not even a method of this class parked on it (the unwrapped task is a 72-byte proxy, or the socket's own task when
    /// the upgrade completed at once; an awaiting method's box is 128).
    /// </summary>
    public Task OnConnectedAsync(ConnectionContext connection, ConnectionDelegate next) => ServeAsync(connection, next).Unwrap();

    private async Task<Task> ServeAsync(ConnectionContext connection, ConnectionDelegate next) =>
        await UpgradeAsync(connection) ?? next(connection);

    /// <summary>The running socket when the connection's first request was an upgrade served here; null for HTTP.</summary>
    private async Task<Task?> UpgradeAsync(ConnectionContext connection)
    {
        var input = connection.Transport.Input;
        // Set when the server stops (after the node's drain has told every session to go): hand on, or cut off.
        var stopping = connection.Features.Get<IConnectionLifetimeNotificationFeature>()?.ConnectionClosedRequested ?? CancellationToken.None;
        if (await ReadHeadAsync(input, stopping) is not var (read, head, length))
        {
            return null;
        }
        DirectUpgrade? upgrade = null;
        try
        {
            upgrade = await CheckAsync(head, connection.ConnectionClosed);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // A store outage, say: HTTP answers the same request with its own problem details.
            LogCheckFailed(logger, e);
        }
        if (upgrade is null)
        {
            input.AdvanceTo(read.Buffer.Start);
            return null;
        }
        input.AdvanceTo(read.Buffer.GetPosition(length));
        WebSocket? socket = null;
        try
        {
            await connection.Transport.Output.WriteAsync(SwitchingProtocols(head.Key, upgrade.SubProtocol), connection.ConnectionClosed);
            var stream = new SocketStream(connection);
            // No keep-alive timer of the socket's own: the server's one sweep pings it (SocketKeepAlive), and
            // Engine.IO pings in its protocol.
            socket = WebSocket.CreateFromStream(stream, new WebSocketCreationOptions
            {
                IsServer = true,
                SubProtocol = upgrade.SubProtocol,
                KeepAliveInterval = TimeSpan.Zero,
            });
            if (logger.IsEnabled(LogLevel.Debug))
            {
                LogUpgraded(logger, head.Query.Length == 0 ? head.Path : $"{head.Path}?{head.Query}");
            }
            // A socket does not hold the server's stop: its session was closed with 1012 by the drain, and a client
            // that has not gone by now is cut off (ConnectionClosed then ends the session).
            stopping.Register(static c => ((ConnectionContext)c!).Abort(new ConnectionAbortedException("The server is stopping.")), connection);
            return upgrade.Serve(socket, stream, connection.ConnectionClosed);
        }
        catch
        {
            socket?.Dispose();
            upgrade.Admission?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The connection's first request head when it is a WebSocket upgrade of a direct endpoint's path, with the read
    /// that holds it (not yet advanced); otherwise null, with every byte left for HTTP. Waits at most Kestrel's
    /// <c>RequestHeadersTimeout</c>; a request for another path is handed on as soon as its first bytes say so.
    /// </summary>
    private async Task<(ReadResult Read, UpgradeHead Head, int Length)?> ReadHeadAsync(PipeReader input, CancellationToken stopping)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        timeout.CancelAfter(kestrel.Value.Limits.RequestHeadersTimeout);
        try
        {
            while (true)
            {
                var read = await input.ReadAsync(timeout.Token);
                UpgradeHead? head = null;
                var length = 0;
                var found = read.IsCanceled ? HeadRead.NotOurs : UpgradeHead.TryRead(read.Buffer, paths, out head, out length);
                if (found == HeadRead.Upgrade)
                {
                    return (read, head!, length);
                }
                if (found == HeadRead.NeedMore && !read.IsCompleted)
                {
                    input.AdvanceTo(read.Buffer.Start, read.Buffer.End);
                    continue;
                }
                // Consumed nothing, examined nothing: HTTP's first read sees every byte at once.
                input.AdvanceTo(read.Buffer.Start);
                return null;
            }
        }
        catch (OperationCanceledException)
        {
            if (input.TryRead(out var partial))
            {
                input.AdvanceTo(partial.Buffer.Start);
            }
            return null;
        }
    }

    /// <summary>
    /// Every check of the endpoint's HTTP handshake: the shared ones (the query's shape, the token as the endpoint reads
    /// it, the Origin rule, the node not draining), then the endpoint's own. Null when any fails.
    /// </summary>
    private async Task<DirectUpgrade?> CheckAsync(UpgradeHead head, CancellationToken ct)
    {
        var endpoint = endpoints[head.PathIndex];
        var query = QueryHelpers.ParseQuery(head.Query);
        if (!endpoint.Takes(query) ||
            !BrowserSession.OriginAllowed(head.Origin, "http", head.Host, auth.Value) ||
            hub.IsDraining)
        {
            return null;
        }
        var readsQuery = endpoint.Token != HandshakeToken.OptionalInHeader;
        if (TokenOf(head, readsQuery ? query : null) is { } token)
        {
            return await tokens.CheckAsync(token, ct) is TokenCheck.Valid valid
                ? await endpoint.AcceptAsync(head, valid.Caller, valid.Expires, ct)
                : null;
        }
        // No token the endpoint reads. Left to HTTP when it needs one, or when the request has one HTTP reads otherwise:
        // another scheme or an empty one, a query token given twice or where none is read, the dashboard's cookie.
        var none = head.Authorization is null && !query.ContainsKey("access_token") && !head.HasCookie;
        return endpoint.Token != HandshakeToken.Required && none ? await endpoint.AcceptAsync(head, null, DateTimeOffset.MaxValue, ct) : null;
    }

    /// <summary>The bearer token the request carries as the bearer handler would read it; null for none, a cookie, or another scheme.</summary>
    private static string? TokenOf(UpgradeHead head, Dictionary<string, StringValues>? query)
    {
        if (head.Authorization is { } authorization)
        {
            const string Scheme = "Bearer ";
            return authorization.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase) && authorization.Length > Scheme.Length
                ? authorization[Scheme.Length..].Trim()
                : null;
        }
        return query is not null && query.TryGetValue("access_token", out var values) && values.Count == 1 && values[0] is { Length: > 0 } fromQuery
            ? fromQuery
            : null;
    }

    /// <summary>The 101 answer of RFC 6455 §4.2.2, with the endpoint's subprotocol if any, and no extension (as the endpoints accept).</summary>
    private static byte[] SwitchingProtocols(string key, string? subProtocol)
    {
        Span<byte> keyed = stackalloc byte[key.Length + SocketGuid.Length];
        Encoding.ASCII.GetBytes(key, keyed);
        SocketGuid.CopyTo(keyed[key.Length..]);
        var accept = Convert.ToBase64String(SHA1.HashData(keyed));
        var protocol = subProtocol is null ? "" : $"Sec-WebSocket-Protocol: {subProtocol}\r\n";
        return Encoding.ASCII.GetBytes(
            $"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n{protocol}Sec-WebSocket-Accept: {accept}\r\n\r\n");
    }

    // As hosting logs a request (its query's token is redacted by every logger, Http/LogRedaction).
    [LoggerMessage(Level = LogLevel.Debug, Message = "Upgraded GET {Target} off the connection")]
    private static partial void LogUpgraded(ILogger logger, string target);

    [LoggerMessage(Level = LogLevel.Debug, Message = "A direct socket's checks failed; HTTP answers the request")]
    private static partial void LogCheckFailed(ILogger logger, Exception exception);
}

public static class DirectSocketsSetup
{
    /// <summary>
    /// Puts <see cref="DirectSockets"/> in front of HTTP on an endpoint, unless <c>Realtime:DirectSockets</c> is false.
    /// On an HTTPS endpoint it sees TLS bytes, finds no upgrade, and hands every connection on.
    /// </summary>
    public static void UseDirectSockets(this ListenOptions listen) => listen.Use(next =>
    {
        var services = listen.ApplicationServices;
        if (!services.GetRequiredService<IConfiguration>().GetValue("Realtime:DirectSockets", true))
        {
            return next;
        }
        var direct = services.GetRequiredService<DirectSockets>();
        return connection => direct.OnConnectedAsync(connection, next);
    });
}
