using System.Buffers.Text;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text.Json;
using GeoLogistics.Server.Realtime.Core;
using Microsoft.Extensions.Options;

namespace GeoLogistics.Server.Realtime.SocketIo;

/// <summary>
/// Every Engine.IO connection by its <c>sid</c>, and the one timer that drives their heartbeats: pings when due,
/// closes the connections whose client stopped answering (a poller that stopped polling included) or connected no
/// namespace, and forgets closed ones. One timer for the process, not one per connection.
/// </summary>
public sealed class EngineConnections(IOptions<SocketIoOptions> options, IOptions<RealtimeOptions> realtime) : BackgroundService
{
    private readonly ConcurrentDictionary<string, EngineConnection> connections = new(StringComparer.Ordinal);

    public int Count => connections.Count;

    /// <summary>An unguessable id: with long-polling it is what proves a request belongs to its connection.</summary>
    public static string NewSid() => Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(18));

    /// <summary>A new connection, not yet added: its transport is set first.</summary>
    public EngineConnection Create(HandshakeAuth auth) => new(NewSid(), auth, options.Value, realtime.Value);

    /// <summary>The open packet: the connection's sid, the heartbeat's timings, the largest packet, and whether it may upgrade.</summary>
    public byte[] OpenPacket(EngineConnection connection, bool upgrades) => EngineIo.Encode(EngineType.Open,
        JsonSerializer.SerializeToUtf8Bytes(new Handshake(connection.Sid, upgrades ? ["websocket"] : [],
            (long)options.Value.PingInterval.TotalMilliseconds, (long)options.Value.PingTimeout.TotalMilliseconds,
            realtime.Value.MaxMessageBytes), SocketIoJson.Default.Handshake));

    public void Add(EngineConnection connection) => connections[connection.Sid] = connection;

    public EngineConnection? Find(string? sid) => sid is not null && connections.TryGetValue(sid, out var connection) ? connection : null;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var every = TimeSpan.FromMilliseconds(Math.Clamp(options.Value.PingInterval.TotalMilliseconds / 4, 50, 500));
        using var timer = new PeriodicTimer(every);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                var now = Environment.TickCount64;
                foreach (var (sid, connection) in connections)
                {
                    if (!connection.Tick(now))
                    {
                        connections.TryRemove(sid, out _);
                    }
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            foreach (var connection in connections.Values)
            {
                connection.Close(new Core.SessionClose(Core.CloseReason.Normal, "server stopping"));
            }
        }
    }
}
