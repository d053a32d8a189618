using System.Runtime.CompilerServices;
using System.Text;
using GeoLogistics.Server.Events;
using GeoLogistics.Server.Realtime.Core;
using GeoLogistics.Tests.Support;
using static GeoLogistics.Tests.Support.LiveCore;

namespace GeoLogistics.Tests.Realtime;

/// <summary>
/// One session of the live core, without a socket: the switch from replay to live, the slow-consumer bound, and
/// closing. A <see cref="RecordingTransport"/> stands for the client and shows what it would have read, in order.
/// </summary>
public class LiveCoreSessionTests
{
    private static readonly Topic Orders = new(TopicKind.Orders, Guid.Empty), Drivers = new(TopicKind.Drivers, Guid.Empty);
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);

    private static IEnumerable<string> Names(long from, long to) => from > to ? [] : Enumerable.Range((int)from, (int)(to - from + 1)).Select(s => Name(s));

    // ---- From replay to live ----

    [Fact]
    public async Task Going_live_writes_the_replay_then_the_reply_then_what_was_committed_meanwhile_with_no_gap_and_no_duplicate()
    {
        var hub = Hub();
        for (var seq = 1; seq <= 5; seq++)
        {
            hub.OfferCommitted([OrderEvent(seq)]);
        }
        var transport = new RecordingTransport();
        var session = Session(hub, Admin(), transport);

        var head = session.AddReplaying("s1", Orders, Filters.None);
        // Committed while the replay reads the store: held, not written ahead of the replay.
        hub.OfferCommitted([OrderEvent(6), OrderEvent(7)]);
        hub.OfferCommitted([OrderEvent(8)]);
        Assert.True(session.SendReplayed([.. Enumerable.Range(1, (int)head).Select(seq => Replayed(seq))], "s1"));
        var beforeLive = await transport.WaitUntilAsync(sent => sent.Count == head);
        await session.GoLiveAsync("s1", head, Utf8("subscribed s1"));
        hub.OfferCommitted([OrderEvent(9), OrderEvent(10)]);

        Assert.Equal(5, head);
        Assert.Equal(Names(1, 5), beforeLive);
        var written = await transport.WaitUntilAsync(sent => sent.Count == 11);
        Assert.Equal([.. Names(1, 5), "subscribed s1", .. Names(6, 10)], written);
    }

    /// <summary>
    /// The feed offers batch after batch on its own thread, and goes on until the test has gone live (up to a cap).
    /// Each round the test subscribes once the feed is a few batches in (a different number each round), replays up to
    /// the head it was given and goes live, while the feed offers. The head and the filing of the subscription must be
    /// one step, and so must the flush of what was held and the switch to live, or an event is lost or repeated.
    /// </summary>
    [Fact]
    public async Task Going_live_while_events_are_committed_on_another_thread_never_loses_or_repeats_one()
    {
        const int rounds = 300, cap = 1000;
        var meanwhile = 0;
        for (var round = 0; round < rounds; round++)
        {
            var hub = Hub();
            var transport = new RecordingTransport { YieldOnEveryWrite = round % 2 == 0 };
            var session = Session(hub, Admin(), transport);
            var offered = new StrongBox<int>();
            var live = new StrongBox<bool>();
            var feed = Task.Run(() =>
            {
                var seq = 1;
                while (!Volatile.Read(ref live.Value) && seq <= cap)
                {
                    var size = 1 + (seq % 3);
                    hub.OfferCommitted([.. Enumerable.Range(seq, size).Select(s => OrderEvent(s))]);
                    seq += size;
                    Volatile.Write(ref offered.Value, seq - 1);
                }
                return seq - 1;
            }, TestContext.Current.CancellationToken);
            var spinner = default(SpinWait);
            while (Volatile.Read(ref offered.Value) < 1 + (round % 50))
            {
                spinner.SpinOnce(sleep1Threshold: -1);
            }

            var head = session.AddReplaying("s1", Orders, Filters.None);
            // The replay: what the store holds up to head (every event offered is in the store).
            Assert.True(session.SendReplayed([.. Enumerable.Range(1, (int)head).Select(seq => Replayed(seq))], "s1"));
            await session.GoLiveAsync("s1", head, Utf8("subscribed s1"));
            Volatile.Write(ref live.Value, true);
            var last = await feed;
            session.Send(Utf8("end"));

            var written = await transport.WaitUntilAsync(sent => sent.Count > 0 && sent[^1] == "end");
            Assert.Equal([.. Names(1, head), "subscribed s1", .. Names(head + 1, last), "end"], written);
            meanwhile += head < last ? 1 : 0;
        }
        TestContext.Current.TestOutputHelper?.WriteLine($"{meanwhile} of {rounds} rounds subscribed while the feed was offering");
        Assert.True(meanwhile > 0, "no round subscribed while the feed was offering");
    }

    // ---- Who writes ----

    /// <summary>
    /// The senders one committed event wakes are started one after the other, by one thread-pool item: a session whose
    /// write waits (a full socket) leaves that wait to the pool and holds none of the others up, now or later.
    /// </summary>
    [Fact]
    public async Task A_waiting_write_holds_no_other_session_up()
    {
        var hub = Hub();
        var quick = Enumerable.Range(0, 50).Select(_ => new RecordingTransport()).ToList();
        var stuck = new RecordingTransport();
        // The stuck one first, so that it is started before the others.
        foreach (var transport in quick.Prepend(stuck))
        {
            await Session(hub, Admin(), transport).SubscribeLiveAsync("s1", Orders, Filters.None);
        }
        await Task.WhenAll(quick.Append(stuck).Select(t => t.WaitUntilAsync(sent => sent.Count == 1)));
        stuck.Hold();

        hub.OfferCommitted([OrderEvent(1)]);
        await stuck.WhenAWriteIsHeldAsync();
        hub.OfferCommitted([OrderEvent(2)]);

        foreach (var transport in quick)
        {
            Assert.Equal(["subscribed s1", Name(1), Name(2)], await transport.WaitUntilAsync(sent => sent.Count == 3));
        }
        Assert.Equal(["subscribed s1"], stuck.Sent);
        stuck.LetGo();
        Assert.Equal(["subscribed s1", Name(1), Name(2)], await stuck.WaitUntilAsync(sent => sent.Count == 3));
    }

    // ---- One delivery per connection, or per subscription ----

    /// <summary>
    /// An event that matches two of a client's subscriptions goes once on a protocol that delivers per connection (the
    /// JSON protocol), for the first subscription it matches, and once per subscription on one that delivers per
    /// subscription (STOMP), each naming its subscription; positions likewise.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task An_event_matching_two_subscriptions_goes_once_per_connection_or_once_per_subscription(bool perSubscription)
    {
        var hub = Hub();
        var transport = new RecordingTransport { DeliversPerSubscription = perSubscription };
        var session = Session(hub, Admin(), transport);
        var order = Guid.NewGuid();
        var driver = Guid.NewGuid();
        await session.SubscribeLiveAsync("all", Orders, Filters.None);
        await session.SubscribeLiveAsync("one", new Topic(TopicKind.Order, order), Filters.None);
        await session.SubscribeLiveAsync("map", Drivers, Filters.None);
        await session.SubscribeLiveAsync("van", new Topic(TopicKind.Driver, driver), Filters.None);

        hub.OfferCommitted([OrderEvent(1, orderId: order), OrderEvent(2)]);
        hub.Publish(Position(driver, "van at a"));
        session.Send(Utf8("end"));

        await transport.WaitUntilAsync(sent => sent.Count > 0 && sent[^1] == "end");
        var events = transport.Delivered.Where(m => m.Event is not null).Select(m => (Encoding.UTF8.GetString(m.Utf8.Span), m.SubscriptionId));
        Assert.Equal(
            perSubscription
                ? [("#1", "all"), ("#1", "one"), ("#2", "all"), ("van at a", "map"), ("van at a", "van")]
                : [("#1", "all"), ("#2", "all"), ("van at a", "map")],
            events);
    }

    // ---- The slow-consumer bound ----

    [Fact]
    public async Task A_client_that_lets_more_than_the_bound_pile_up_is_closed_once_as_a_slow_consumer()
    {
        var hub = Hub(outboundQueueLimit: 16);
        var transport = new RecordingTransport();
        var session = Session(hub, Admin(), transport);
        await session.SubscribeLiveAsync("s1", Orders, Filters.None);
        await transport.WaitUntilAsync(sent => sent.Count == 1);
        transport.Hold();
        hub.OfferCommitted([OrderEvent(1)]);
        // #1 is in a write that does not return, as to a client that reads nothing: what follows waits.
        await transport.WhenAWriteIsHeldAsync();
        for (var seq = 2; seq <= 17; seq++)
        {
            hub.OfferCommitted([OrderEvent(seq)]);
        }
        Assert.False(session.IsClosing, "16 waiting is the bound, not past it");
        Assert.Equal(16, session.QueueDepth);

        hub.OfferCommitted([OrderEvent(18)]);

        Assert.True(session.IsClosing);
        Assert.Equal(0, session.QueueDepth);
        hub.OfferCommitted([OrderEvent(19)]);
        session.Close(SessionClose.Bye);
        transport.LetGo();
        await session.WhenEndedAsync().WaitAsync(Patience, TestContext.Current.CancellationToken);
        Assert.Equal([CloseReason.SlowConsumer], transport.Closes.Select(c => c.Reason));
        // What waited was dropped (the client resumes with since); only the write in progress completed.
        Assert.Equal(["subscribed s1", Name(1)], transport.Sent);
        Assert.Equal(1, hub.SessionsDropped);
    }

    [Fact]
    public async Task Positions_never_count_against_the_bound_and_a_client_behind_gets_each_drivers_newest()
    {
        var hub = Hub(outboundQueueLimit: 16);
        var transport = new RecordingTransport();
        var session = Session(hub, Admin(), transport);
        await session.SubscribeLiveAsync("s1", Orders, Filters.None);
        await session.SubscribeLiveAsync("s2", Drivers, Filters.None);
        await transport.WaitUntilAsync(sent => sent.Count == 2);
        transport.Hold();
        hub.OfferCommitted([OrderEvent(1)]);
        await transport.WhenAWriteIsHeldAsync();

        // 16 events, the bound, among 2,000 positions of 200 drivers: far more than the bound, and none closes.
        var drivers = Enumerable.Range(0, 200).Select(_ => Guid.NewGuid()).ToList();
        for (var round = 0; round < 10; round++)
        {
            foreach (var (driver, i) in drivers.Select((d, i) => (d, i)))
            {
                hub.Publish(Position(driver, $"{driver} at {round}"));
                if (round == 5 && i % 12 == 0 && i / 12 < 16)
                {
                    hub.OfferCommitted([OrderEvent(2 + (i / 12))]);
                }
            }
        }
        Assert.False(session.IsClosing);
        Assert.Equal(16 + drivers.Count, session.QueueDepth);
        transport.LetGo();

        var written = await transport.WaitUntilAsync(sent => sent.Count == 2 + 1 + 16 + drivers.Count);
        Assert.False(session.IsClosing);
        Assert.Empty(transport.Closes);
        Assert.Equal(Names(1, 17), written.Where(m => m.StartsWith('#')));
        Assert.Equal(drivers.Select(d => $"{d} at 9"), written.Where(m => m.Contains(" at ", StringComparison.Ordinal)));
        Assert.Equal(0, session.QueueDepth);
    }

    // ---- Closing ----

    [Fact]
    public async Task The_first_reason_given_wins_and_the_transport_is_closed_once()
    {
        var hub = Hub();
        var transport = new RecordingTransport();
        var session = Session(hub, Admin(), transport);
        var ended = session.WhenEndedAsync();

        session.Close(new SessionClose(CloseReason.Flood, "too many messages"));
        session.Close(SessionClose.SlowConsumer);
        session.Close(new SessionClose(CloseReason.Unauthorized, "token expired"));
        session.Close(SessionClose.Bye);

        await ended.WaitAsync(Patience, TestContext.Current.CancellationToken);
        await session.WhenEndedAsync().WaitAsync(Patience, TestContext.Current.CancellationToken);
        Assert.Equal([CloseReason.Flood], transport.Closes.Select(c => c.Reason));
        Assert.Equal(0, hub.SessionsDropped);
    }

    [Fact]
    public async Task After_close_nothing_more_is_written_and_what_waited_is_dropped()
    {
        var hub = Hub();
        var transport = new RecordingTransport();
        var session = Session(hub, Admin(), transport);
        await session.SubscribeLiveAsync("s1", Orders, Filters.None);
        await session.SubscribeLiveAsync("s2", Drivers, Filters.None);
        await transport.WaitUntilAsync(sent => sent.Count == 2);
        transport.Hold();
        hub.OfferCommitted([OrderEvent(1)]);
        await transport.WhenAWriteIsHeldAsync();
        hub.OfferCommitted([OrderEvent(2), OrderEvent(3)]);
        hub.Publish(Position(Guid.NewGuid(), "waiting position"));
        var ended = session.WhenEndedAsync();

        session.Close(SessionClose.Bye);
        hub.OfferCommitted([OrderEvent(4)]);
        hub.Publish(Position(Guid.NewGuid(), "late position"));
        var sentAfterClose = session.Send(Utf8("late message"));
        session.OfferLatest(Position(Guid.NewGuid(), "late offered position"), "s3", replace: true);
        var head = session.AddReplaying("s3", Orders, Filters.None);
        Assert.False(session.SendReplayed([Replayed(99)], "s3"));
        await session.GoLiveAsync("s3", head, Utf8("subscribed s3"));

        Assert.False(ended.IsCompleted, "the write in progress has not returned: the transport is not closed under it");
        transport.LetGo();
        await ended.WaitAsync(Patience, TestContext.Current.CancellationToken);
        Assert.Equal(["subscribed s1", "subscribed s2", Name(1)], transport.Sent);
        Assert.Equal([CloseReason.Normal], transport.Closes.Select(c => c.Reason));
        Assert.Equal(0, session.QueueDepth);
        Assert.False(sentAfterClose);
    }

    [Fact]
    public async Task A_transport_that_fails_ends_the_session_once()
    {
        var hub = Hub();
        var transport = new RecordingTransport { FailWrites = true };
        var session = Session(hub, Admin(), transport);
        await session.SubscribeLiveAsync("s1", Orders, Filters.None);

        await session.WhenEndedAsync().WaitAsync(Patience, TestContext.Current.CancellationToken);

        Assert.True(session.IsClosing);
        hub.OfferCommitted([OrderEvent(1)]);
        session.Close(SessionClose.SlowConsumer);
        Assert.Equal(0, hub.SessionsDropped);
        Assert.Empty(transport.Sent);
        Assert.Equal([CloseReason.Normal], transport.Closes.Select(c => c.Reason));
        Assert.True(session.WhenEndedAsync().IsCompletedSuccessfully);
    }
}
