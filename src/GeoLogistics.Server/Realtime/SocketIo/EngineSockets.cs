using System.Buffers;
using System.Net.WebSockets;
using GeoLogistics.Server.Realtime.Core;
using GeoLogistics.Server.Realtime.Json;
using Microsoft.Extensions.Options;

namespace GeoLogistics.Server.Realtime.SocketIo;

/// <summary>
/// Serves Engine.IO's WebSockets for their life, whichever way they were upgraded: through the HTTP endpoint
/// (<see cref="SocketIoApi"/>) or, for a WebSocket-only client, straight off the connection
/// (<see cref="Direct.DirectSockets"/>). A WebSocket-only client's socket is its connection's transport from the start;
/// a polling connection's socket first answers the probe, then takes over.
/// </summary>
public sealed class EngineSockets(EngineConnections connections, SocketIoProtocol protocol, IOptions<RealtimeOptions> realtime)
{
    /// <summary>Engine.IO pings over the socket itself: no WebSocket keep-alive timer besides.</summary>
    public static readonly TimeSpan KeepAliveInterval = TimeSpan.Zero;

    /// <summary>A new connection (no <c>sid</c> asked for) on the socket: its open packet, then its packets until it ends.</summary>
    /// <param name="auth">What the handshake's own token said; a namespace CONNECT without <c>auth.token</c> uses it.</param>
    public Task ServeAsync(WebSocket socket, SocketStream? stream, HandshakeAuth auth, CancellationToken aborted)
    {
        var connection = connections.Create(auth);
        connection.TryBeginUpgrade(socket, stream, fromStart: true);
        connections.Add(connection);
        connection.Send(connections.OpenPacket(connection, upgrades: false));
        return ReceiveAsync(socket, stream, connection, upgrade: false, aborted);
    }

    /// <summary>A polling connection's upgrade: the probe, then the socket carries the connection until it ends.</summary>
    public Task UpgradeAsync(WebSocket socket, SocketStream? stream, EngineConnection connection, CancellationToken aborted) =>
        ReceiveAsync(socket, stream, connection, upgrade: true, aborted);

    /// <summary>
    /// Reads the socket's packets one at a time. An upgrade first answers the probe (<c>2probe</c> → <c>3probe</c>)
    /// and waits for <c>5</c>; a packet over <see cref="RealtimeOptions.MaxMessageBytes"/> closes with 1009, a
    /// packet the protocol does not allow with 1002.
    /// </summary>
    private async Task ReceiveAsync(WebSocket socket, SocketStream? stream, EngineConnection connection, bool upgrade, CancellationToken ct)
    {
        var max = realtime.Value.MaxMessageBytes;
        var upgraded = !upgrade;
        try
        {
            while (socket.State == WebSocketState.Open && !connection.IsClosed)
            {
                // Wait for data without a buffer: an idle connection holds none. Nor a registration on the token: every
                // way the connection ends cuts it off (SocketClose), and that ends this read.
                if ((await socket.ReceiveAsync(Memory<byte>.Empty, CancellationToken.None)).MessageType == WebSocketMessageType.Close || connection.IsClosed)
                {
                    break;
                }
                var buffer = ArrayPool<byte>.Shared.Rent(max);
                try
                {
                    var (type, length) = await ReadMessageAsync(socket, buffer, max, ct);
                    if (type == WebSocketMessageType.Close)
                    {
                        break;
                    }
                    if (length > max)
                    {
                        if (upgraded)
                        {
                            connection.Abuse(new SessionClose(CloseReason.TooBig, $"packets are limited to {max} bytes"));
                        }
                        await CloseProbeAsync(socket, upgraded, WebSocketCloseStatus.MessageTooBig, "packet too big");
                        break;
                    }
                    var frame = buffer.AsMemory(0, length);
                    var packet = default(EnginePacket);
                    string? error = "binary frames are not supported";
                    if (type == WebSocketMessageType.Binary || !EngineIo.TryParse(frame, out packet, out error))
                    {
                        Refuse(connection, upgraded, error!);
                        await CloseProbeAsync(socket, upgraded, WebSocketCloseStatus.ProtocolError, "bad packet");
                        break;
                    }
                    if (upgraded)
                    {
                        await protocol.HandleAsync(connection, packet, ct);
                    }
                    else if (packet.Type == EngineType.Ping && packet.IsProbe && connection.TryBeginUpgrade(socket, stream, fromStart: false))
                    {
                        // Straight onto the socket: until the upgrade completes, the queue belongs to polling.
                        await socket.SendAsync(EngineIo.ProbeAnswer, WebSocketMessageType.Text, endOfMessage: true, ct);
                    }
                    else if (packet.Type == EngineType.Upgrade && connection.Transport == EngineTransport.Upgrading)
                    {
                        connection.CompleteUpgrade();
                        upgraded = true;
                    }
                    else
                    {
                        // A second WebSocket, or anything but the probe and the upgrade before it: this socket is closed.
                        await CloseProbeAsync(socket, upgraded: false, WebSocketCloseStatus.PolicyViolation, "unexpected packet during the upgrade");
                        break;
                    }
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
            }
            if (upgraded)
            {
                connection.Close(SessionClose.Bye);
            }
            else
            {
                await CloseProbeAsync(socket, upgraded: false, WebSocketCloseStatus.NormalClosure, "the connection closed");
            }
            await DiscardUntilClosedAsync(socket, ct);
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException or IOException)
        {
        }
        finally
        {
            if (upgraded)
            {
                connection.Close(SessionClose.Bye);
            }
            socket.Dispose();
        }
    }

    private static void Refuse(EngineConnection connection, bool upgraded, string why)
    {
        if (upgraded)
        {
            connection.Fail(why);
        }
    }

    /// <summary>A socket that is not (yet) the connection's transport closes itself; the connection's own close frame is sent by its sender.</summary>
    private static async Task CloseProbeAsync(WebSocket socket, bool upgraded, WebSocketCloseStatus status, string text)
    {
        if (upgraded || socket.State != WebSocketState.Open)
        {
            return;
        }
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await socket.CloseOutputAsync(status, text, timeout.Token);
    }

    /// <summary>One whole message; a length over <paramref name="max"/> means it was larger (the rest is not read).</summary>
    private static async Task<(WebSocketMessageType Type, int Length)> ReadMessageAsync(WebSocket socket, byte[] buffer, int max, CancellationToken ct)
    {
        var length = 0;
        ValueWebSocketReceiveResult result;
        do
        {
            if (length == max)
            {
                return (WebSocketMessageType.Text, max + 1);
            }
            result = await socket.ReceiveAsync(buffer.AsMemory(length, max - length), ct);
            length += result.Count;
        }
        while (!result.EndOfMessage && result.MessageType != WebSocketMessageType.Close);
        return (result.MessageType, length);
    }

    /// <summary>After the close frame went out, reads on (handling nothing) until the client answers it, or 10 s: see <see cref="JsonSocket"/>.</summary>
    private static async Task DiscardUntilClosedAsync(WebSocket socket, CancellationToken ct)
    {
        using var patience = CancellationTokenSource.CreateLinkedTokenSource(ct);
        patience.CancelAfter(TimeSpan.FromSeconds(10));
        var buffer = ArrayPool<byte>.Shared.Rent(4096);
        try
        {
            while (socket.State is WebSocketState.Open or WebSocketState.CloseSent)
            {
                if ((await socket.ReceiveAsync(buffer.AsMemory(), patience.Token)).MessageType == WebSocketMessageType.Close)
                {
                    return;
                }
            }
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            socket.Abort();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
