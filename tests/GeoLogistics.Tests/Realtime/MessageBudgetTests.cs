using System.Diagnostics;
using GeoLogistics.Server.Realtime.Core;

namespace GeoLogistics.Tests.Realtime;

/// <summary>
/// A connection's message budget (<see cref="MessageBudget"/>): a burst of two seconds' worth, refilled at the rate;
/// a replay's page waits until spending leaves one second's worth. At one message a second each step is a whole second,
/// so a slow machine cannot blur the edges: only a budget that refills too soon or too late fails.
/// </summary>
public class MessageBudgetTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_burst_of_twice_the_rate_is_spent_then_refused_until_the_rate_refills_it()
    {
        var budget = new MessageBudget(perSecond: 1);

        Assert.True(budget.TrySpend());
        Assert.True(budget.TrySpend());
        Assert.False(budget.TrySpend());
        Assert.False(budget.TrySpend());

        await Task.Delay(TimeSpan.FromSeconds(1.2), Ct);
        Assert.True(budget.TrySpend());
        Assert.False(budget.TrySpend());
    }

    [Fact]
    public async Task Many_spending_at_once_spend_exactly_the_burst()
    {
        var budget = new MessageBudget(perSecond: 1);
        var spent = 0;
        await Parallel.ForAsync(0, 64, Ct, (_, _) =>
        {
            if (budget.TrySpend())
            {
                Interlocked.Increment(ref spent);
            }
            return ValueTask.CompletedTask;
        });

        Assert.Equal(2, spent);
    }

    [Fact]
    public async Task A_replay_s_page_waits_until_spending_it_leaves_one_second_s_worth()
    {
        var budget = new MessageBudget(perSecond: 1);

        // A full budget (two) leaves one after the page: at once.
        var clock = Stopwatch.StartNew();
        await budget.SpendForReplayAsync(Ct);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(0.9), $"the first page waited {clock.Elapsed}");

        // One left: the next page waits until there are two again, about a second.
        clock.Restart();
        await budget.SpendForReplayAsync(Ct);
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(0.9), $"the second page waited only {clock.Elapsed}");

        // The page left one second's worth: the client's own next message is not a flood.
        Assert.True(budget.TrySpend());
        Assert.False(budget.TrySpend());
    }

    [Fact]
    public void A_budget_of_nothing_is_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new MessageBudget(perSecond: 0));
    }
}
