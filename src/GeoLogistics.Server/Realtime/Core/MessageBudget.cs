using System.Diagnostics;

namespace GeoLogistics.Server.Realtime.Core;

/// <summary>
/// What one connection may cost per second: <see cref="RealtimeOptions.MaxMessagesPerSecond"/>, with a burst of twice
/// that. Each message the client sends spends one (more than it has closes it, 1008), and so does each page a replay
/// reads for it; a replay waits for the budget instead, and leaves the client one second's messages.
/// </summary>
/// <remarks>
/// A token bucket kept as one timestamp (the generic cell rate algorithm): <c>due</c> is when the bucket would be full
/// again. Spending one moves it on by one message's interval; a spend that would move it more than the burst (two
/// seconds' worth) past now is refused. One compare-and-swap, and no lock object per connection.
/// </remarks>
public sealed class MessageBudget
{
    // Stopwatch ticks: one message's share of a second, and a second.
    private readonly long interval;
    private readonly long second;
    private long due = Stopwatch.GetTimestamp();

    public MessageBudget(int perSecond)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(perSecond);
        interval = Math.Max(1, Stopwatch.Frequency / perSecond);
        second = interval * perSecond;
    }

    /// <summary>Spends one for a client message; false when the budget is spent (a flood).</summary>
    public bool TrySpend()
    {
        while (true)
        {
            var now = Stopwatch.GetTimestamp();
            var was = Volatile.Read(ref due);
            var next = Math.Max(was, now) + interval;
            if (next - now > 2 * second)
            {
                return false;
            }
            if (Interlocked.CompareExchange(ref due, next, was) == was)
            {
                return true;
            }
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
            var now = Stopwatch.GetTimestamp();
            var was = Volatile.Read(ref due);
            var next = Math.Max(was, now) + interval;
            // Left after spending: 2 s's worth less (next - now); at least one second's worth must be.
            var early = next - now - second;
            if (early > 0)
            {
                await Task.Delay(Stopwatch.GetElapsedTime(now, now + early), ct);
            }
            else if (Interlocked.CompareExchange(ref due, next, was) == was)
            {
                return;
            }
        }
    }
}
