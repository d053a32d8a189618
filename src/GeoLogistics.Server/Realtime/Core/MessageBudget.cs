namespace GeoLogistics.Server.Realtime.Core;

/// <summary>
/// What one connection may cost per second: <see cref="RealtimeOptions.MaxMessagesPerSecond"/>, with a burst of twice
/// that. Each message the client sends spends one (more than it has closes it, 1008), and so does each page a replay
/// reads for it; a replay waits for the budget instead, and leaves the client one second's messages.
/// </summary>
public sealed class MessageBudget(int perSecond)
{
    private readonly Lock gate = new();
    private double allowance = perSecond * 2.0;
    private long lastRefill = Environment.TickCount64;

    private void Refill()
    {
        var now = Environment.TickCount64;
        allowance = Math.Min(perSecond * 2.0, allowance + ((now - lastRefill) / 1000.0 * perSecond));
        lastRefill = now;
    }

    /// <summary>Spends one for a client message; false when the budget is spent (a flood).</summary>
    public bool TrySpend()
    {
        lock (gate)
        {
            Refill();
            if (allowance < 1)
            {
                return false;
            }
            allowance -= 1;
            return true;
        }
    }

    /// <summary>
    /// Spends one for a replayed page, first waiting until that leaves one second's worth, so that the client's own
    /// messages after a replay are not taken for a flood.
    /// </summary>
    public async Task SpendForReplayAsync(CancellationToken ct)
    {
        while (true)
        {
            TimeSpan wait;
            lock (gate)
            {
                Refill();
                var missing = perSecond + 1 - allowance;
                if (missing <= 0)
                {
                    allowance -= 1;
                    return;
                }
                wait = TimeSpan.FromSeconds(missing / perSecond);
            }
            await Task.Delay(wait, ct);
        }
    }
}
