using System.Collections.Concurrent;
using Microsoft.Extensions.Options;

namespace GeoLogistics.Server.Realtime.Stomp;

/// <summary>
/// STOMP heart-beats for every connection from one timer: it walks the connections a few times per interval, sends
/// an EOL to each that has been quiet for its interval and closes each client silent for twice its own (and a second). A timer per
/// connection would wake an idle server thousands of times a second (as <see cref="TokenExpiry"/> found).
/// </summary>
public sealed class StompHeartbeats(IOptions<StompOptions> options, TimeProvider clock) : BackgroundService
{
    private readonly ConcurrentDictionary<StompConnection, byte> connections = new();

    public void Add(StompConnection connection) => connections.TryAdd(connection, 0);

    public void Remove(StompConnection connection) => connections.TryRemove(connection, out _);

    public int Count => connections.Count;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (options.Value.HeartBeat <= TimeSpan.Zero)
        {
            return;
        }
        // Negotiated intervals are never shorter than the server's offer, so a quarter of it is fine enough a grain.
        var every = TimeSpan.FromMilliseconds(Math.Clamp(options.Value.HeartBeat.TotalMilliseconds / 4, 50, 1000));
        using var timer = new PeriodicTimer(every, clock);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                var now = Environment.TickCount64;
                foreach (var connection in connections.Keys)
                {
                    connection.Beat(now);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
