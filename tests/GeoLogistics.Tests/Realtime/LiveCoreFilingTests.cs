using GeoLogistics.Server.Realtime.Core;
using GeoLogistics.Tests.Support;

namespace GeoLogistics.Tests.Realtime;

/// <summary>
/// How the hub files sessions under routes (<see cref="Route"/>): filing one more session, or taking one off, costs the
/// same however many are filed under its route already (a burst of thousands of dashboards subscribing is linear, not
/// quadratic), and a session that stays filed gets every volatile message once while others come and go around it.
/// </summary>
public class LiveCoreFilingTests
{
    private static readonly Topic Orders = new(TopicKind.Orders, Guid.Empty), Drivers = new(TopicKind.Drivers, Guid.Empty);

    /// <summary>
    /// A subscription is filed on the subscribing thread (<see cref="LiveSession.AddReplaying"/> is synchronous), so its
    /// cost is what that thread allocates. The 1,000 filed after 9,000 others may cost what the first 1,000 cost, and a
    /// growth of the route's slots besides; not a copy of everything filed before them each.
    /// </summary>
    [Fact]
    public void Filing_a_session_costs_the_same_with_thousands_filed_under_its_route_already()
    {
        var hub = LiveCore.Hub();
        var sessions = Enumerable.Range(0, 10_000).Select(_ => LiveCore.Session(hub, LiveCore.Admin(), new RecordingTransport())).ToList();

        var first = FilingCost(sessions[..1000]);
        _ = FilingCost(sessions[1000..9000]);
        var last = FilingCost(sessions[9000..]);

        Assert.True(last <= 2 * first + 200_000, $"the last 1,000 subscriptions allocated {last:N0} bytes, the first 1,000 {first:N0}");
        Assert.Equal(10_000, sessions.Count(s => s.SubscriptionCount == 1));
    }

    [Fact]
    public void Taking_sessions_off_a_route_with_thousands_filed_copies_nothing_per_session()
    {
        var hub = LiveCore.Hub();
        var sessions = Enumerable.Range(0, 10_000).Select(_ => LiveCore.Session(hub, LiveCore.Admin(), new RecordingTransport())).ToList();
        FilingCost(sessions);

        var before = GC.GetAllocatedBytesForCurrentThread();
        foreach (var session in sessions[..1000])
        {
            hub.Remove(session);
        }
        foreach (var session in sessions[1000..2000])
        {
            Assert.True(session.RemoveSubscription("s"));
        }
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        // A subscription's own record and array may go; the route's 10,000 slots are not copied for each.
        Assert.True(allocated < 2000 * 256, $"taking 2,000 of 10,000 sessions off their route allocated {allocated:N0} bytes");
        Assert.Equal(9000, hub.Sessions.Count);
    }

    /// <summary>
    /// Volatile fan-out reads the route's sessions without the hub's lock while others are filed and taken off, so the
    /// slots grow and are compacted under it many times. The sessions that stay get every position once, in order.
    /// </summary>
    [Fact]
    public async Task Sessions_that_stay_get_every_volatile_message_once_while_others_come_and_go()
    {
        const int atLeast = 3000;
        var hub = LiveCore.Hub();
        var steady = new List<RecordingTransport>();
        for (var i = 0; i < 20; i++)
        {
            var transport = new RecordingTransport();
            await LiveCore.Session(hub, LiveCore.Admin(), transport).SubscribeLiveAsync("map", Drivers, Filters.None);
            steady.Add(transport);
        }
        using var stop = new CancellationTokenSource();
        var churned = 0;
        var churn = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var comers = new List<LiveSession>();
                for (var i = 0; i < 300; i++)
                {
                    var session = LiveCore.Session(hub, LiveCore.Admin(), new RecordingTransport());
                    await session.SubscribeLiveAsync("map", Drivers, Filters.None);
                    comers.Add(session);
                }
                // Half leave with their connection, half unsubscribe: both take a session off the route.
                for (var i = 0; i < comers.Count; i++)
                {
                    if (i % 2 == 0)
                    {
                        hub.Remove(comers[i]);
                    }
                    else
                    {
                        comers[i].RemoveSubscription("map");
                    }
                }
                Interlocked.Increment(ref churned);
            }
        }, TestContext.Current.CancellationToken);

        var expected = new List<string> { "subscribed map" };
        // At least 3,000 positions, and on until sessions came and went five times meanwhile.
        for (var i = 0; (i < atLeast || Volatile.Read(ref churned) < 5) && i < 1_000_000; i++)
        {
            var text = $"position {i}";
            hub.Publish(LiveCore.Position(Guid.NewGuid(), text));
            expected.Add(text);
            if (i % 100 == 0)
            {
                await Task.Yield();
            }
        }
        await stop.CancelAsync();
        await churn;

        foreach (var transport in steady)
        {
            await transport.WaitUntilAsync(sent => sent.Count >= expected.Count);
            Assert.Equal(expected, transport.Sent);
        }
        Assert.True(churned >= 5, $"sessions came and went {churned} times while the positions were published");
    }

    private static long FilingCost(IEnumerable<LiveSession> sessions)
    {
        var before = GC.GetAllocatedBytesForCurrentThread();
        foreach (var session in sessions)
        {
            session.AddReplaying("s", Orders, Filters.None);
        }
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }
}
