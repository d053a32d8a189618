using System.Net.WebSockets;

namespace GeoLogistics.Server.Realtime;

/// <summary>
/// Closes sockets whose token expired (1008), unless a fresh one came with an <c>auth</c> message. One timer for every
/// connection, twice a second: a timer per connection cost an idle server thousands of wake-ups a second.
/// </summary>
public sealed class TokenExpiry(EventHub hub, TimeProvider clock) : BackgroundService
{
    private static readonly TimeSpan Every = TimeSpan.FromMilliseconds(500);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Every, clock);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                var now = clock.GetUtcNow();
                foreach (var connection in hub.Clients.OfType<Connection>())
                {
                    if (!connection.IsClosing && now >= connection.TokenExpires)
                    {
                        connection.Abort(WebSocketCloseStatus.PolicyViolation, "token expired");
                    }
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
