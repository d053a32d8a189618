using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Realtime.Core;

namespace GeoLogistics.Server.Realtime;

/// <summary>
/// Closes sockets whose token expired (1008), unless a fresh one came with an <c>auth</c> message; one timer for every
/// connection, twice a second: a timer per connection cost an idle server thousands of wake-ups a second. Also closes
/// (1008) the sockets of a session that ended on any node: a logout, a disabled user, a changed role.
/// </summary>
public sealed class TokenExpiry(LiveHub hub, Sessions sessions, TimeProvider clock) : BackgroundService
{
    private static readonly TimeSpan Every = TimeSpan.FromMilliseconds(500);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        sessions.Ended += CloseEnded;
        using var timer = new PeriodicTimer(Every, clock);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                var now = clock.GetUtcNow();
                foreach (var session in hub.Sessions)
                {
                    if (!session.IsClosing && now >= session.TokenExpires)
                    {
                        session.Close(new SessionClose(CloseReason.Unauthorized, "token expired"));
                    }
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            sessions.Ended -= CloseEnded;
        }
    }

    private void CloseEnded(IReadOnlyCollection<Guid> ended)
    {
        var set = ended as IReadOnlySet<Guid> ?? ended.ToHashSet();
        foreach (var session in hub.Sessions)
        {
            if (!session.IsClosing && set.Contains(session.Caller.SessionId))
            {
                session.Close(new SessionClose(CloseReason.Unauthorized, "session ended"));
            }
        }
    }
}
