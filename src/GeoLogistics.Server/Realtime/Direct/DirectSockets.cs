using System.IO.Pipelines;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Realtime.Core;
using GeoLogistics.Server.Realtime.Json;
using GeoLogistics.Server.Users;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;

namespace GeoLogistics.Server.Realtime.Direct;

/// <summary>
/// Serves the JSON protocol's sockets straight off Kestrel's connections, without the HTTP pipeline (docs/adr/0011).
/// A socket upgraded through HTTP keeps, for its whole life, the request it was upgraded on: Kestrel's HTTP/1.1
/// connection and header tables, the <see cref="HttpContext"/>, its services scope and activity, the authenticated
/// principal, and the middleware's parked tasks, about three times what the socket and its session need. So this
/// connection middleware reads the first request of each plain-HTTP connection itself: a well-formed WebSocket upgrade
/// of <c>/api/ws</c> with a bearer token (<c>?access_token=</c> or <c>Authorization</c>) that passes every check the
/// endpoint makes (token and session, Origin, node not draining, user known, under the per-user cap) is answered
/// 101 here, and the socket keeps only Kestrel's connection, the WebSocket and its session. Anything else (another
/// path, a cookie, a refused token, an odd request) goes on to HTTP with its bytes untouched, and the endpoint
/// answers it as it always did; a refused upgrade therefore gets the same problem details either way.
/// </summary>
public sealed partial class DirectSockets(
    BearerTokens tokens,
    LiveHub hub,
    JsonSockets sockets,
    IOptions<AuthOptions> auth,
    IOptions<KestrelServerOptions> kestrel,
    ILogger<DirectSockets> logger)
{
    public const string Path = "/api/ws";

    private static readonly byte[] SocketGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"u8.ToArray();

    public async Task OnConnectedAsync(ConnectionContext connection, ConnectionDelegate next)
    {
        // Awaits only the socket's session: what the handshake read and checked is not kept for the socket's life.
        if (await UpgradeAsync(connection) is { } session)
        {
            await session;
            return;
        }
        await next(connection);
    }

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
        Accepted? accepted = null;
        try
        {
            accepted = await CheckAsync(head, connection.ConnectionClosed);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // A store outage, say: HTTP answers the same request with its own problem details.
            LogCheckFailed(logger, e);
        }
        if (accepted is null)
        {
            input.AdvanceTo(read.Buffer.Start);
            return null;
        }
        input.AdvanceTo(read.Buffer.GetPosition(length));
        WebSocket? socket = null;
        try
        {
            await connection.Transport.Output.WriteAsync(SwitchingProtocols(head.Key), connection.ConnectionClosed);
            var stream = new CorkableStream(new DuplexPipeStream(connection.Transport));
            socket = WebSocket.CreateFromStream(stream, new WebSocketCreationOptions
            {
                IsServer = true,
                KeepAliveInterval = hub.Options.KeepAliveInterval,
                KeepAliveTimeout = hub.Options.IdleTimeout,
            });
            LogUpgraded(logger, head.Query);
            // A socket does not hold the server's stop: its session was closed with 1012 by the drain, and a client
            // that has not gone by now is cut off (ConnectionClosed then ends the session).
            stopping.Register(static c => ((ConnectionContext)c!).Abort(new ConnectionAbortedException("The server is stopping.")), connection);
            return sockets.ServeAsync(socket, stream, accepted.Caller, accepted.Expires, accepted.User, accepted.Admission, connection.ConnectionClosed);
        }
        catch
        {
            socket?.Dispose();
            accepted.Admission.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The connection's first request head when it is a WebSocket upgrade of <see cref="Path"/>, with the read that
    /// holds it (not yet advanced); otherwise null, with every byte left for HTTP. Waits at most Kestrel's
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
                var found = read.IsCanceled ? HeadRead.NotOurs : UpgradeHead.TryRead(read.Buffer, Path, out head, out length);
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

    private sealed record Accepted(Caller Caller, DateTimeOffset Expires, UserDto User, IDisposable Admission);

    /// <summary>Every check of the HTTP endpoint (<see cref="RealtimeApi"/>), in its order; null when any fails.</summary>
    private async Task<Accepted?> CheckAsync(UpgradeHead head, CancellationToken ct)
    {
        if (TokenOf(head) is not { } token ||
            !BrowserSession.OriginAllowed(head.Origin, "http", head.Host, auth.Value) ||
            hub.IsDraining ||
            await tokens.CheckAsync(token, ct) is not TokenCheck.Valid valid ||
            await sockets.FindUserAsync(valid.Caller, ct) is not { } user)
        {
            return null;
        }
        return hub.TryAdmit(valid.Caller.UserId) is { } admission ? new Accepted(valid.Caller, valid.Expires, user, admission) : null;
    }

    /// <summary>The bearer token the request carries as the bearer handler would read it; null for none or a cookie.</summary>
    private static string? TokenOf(UpgradeHead head)
    {
        if (head.Authorization is { } authorization)
        {
            const string Scheme = "Bearer ";
            return authorization.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase) && authorization.Length > Scheme.Length
                ? authorization[Scheme.Length..].Trim()
                : null;
        }
        var query = QueryHelpers.ParseQuery(head.Query);
        return query.TryGetValue("access_token", out var values) && values.Count == 1 && values[0] is { Length: > 0 } fromQuery
            ? fromQuery
            : null;
    }

    /// <summary>The 101 answer of RFC 6455 §4.2.2, with no subprotocol and no extension (as the endpoint accepts).</summary>
    private static byte[] SwitchingProtocols(string key)
    {
        Span<byte> keyed = stackalloc byte[key.Length + SocketGuid.Length];
        Encoding.ASCII.GetBytes(key, keyed);
        SocketGuid.CopyTo(keyed[key.Length..]);
        var accept = Convert.ToBase64String(SHA1.HashData(keyed));
        return Encoding.ASCII.GetBytes(
            $"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: {accept}\r\n\r\n");
    }

    // As hosting logs a request (its query's token is redacted by every logger, Http/LogRedaction).
    [LoggerMessage(Level = LogLevel.Debug, Message = "Upgraded GET /api/ws?{Query} off the connection")]
    private static partial void LogUpgraded(ILogger logger, string query);

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
