using System.Text;
using GeoLogistics.Server.Realtime.Core;

namespace GeoLogistics.Tests.Realtime;

/// <summary>
/// A session's outbox: messages leave in the order offered, except that a driver's newer position replaces its older
/// one still waiting, in the older one's place in line; positions are not counted as queued.
/// </summary>
public class LiveCoreOutboxTests
{
    private static readonly Guid Driver1 = Guid.NewGuid(), Driver2 = Guid.NewGuid(), Driver3 = Guid.NewGuid();

    private static Outgoing Utf8(string text) => Outgoing.Framed(Encoding.UTF8.GetBytes(text));

    private static List<string> TakeAll(Outbox outbox)
    {
        var taken = new List<string>();
        while (outbox.TryTake(out var message))
        {
            taken.Add(Encoding.UTF8.GetString(message.Utf8.Span));
        }
        return taken;
    }

    [Fact]
    public void A_newer_position_replaces_the_waiting_one_in_its_place_and_everything_else_leaves_in_the_order_offered()
    {
        var outbox = new Outbox();

        outbox.Enqueue(Utf8("event 1"));
        outbox.OfferPosition(Driver1, Utf8("driver 1 at a"), replace: true);
        outbox.Enqueue(Utf8("event 2"));
        outbox.OfferPosition(Driver2, Utf8("driver 2 at a"), replace: true);
        outbox.OfferPosition(Driver1, Utf8("driver 1 at b"), replace: true);
        outbox.Enqueue(Utf8("event 3"));
        outbox.OfferPosition(Driver3, Utf8("driver 3 at a"), replace: true);
        outbox.OfferPosition(Driver1, Utf8("driver 1 at c"), replace: true);

        Assert.Equal((3, 3, false), (outbox.Queued, outbox.Positions, outbox.IsEmpty));
        Assert.Equal(["event 1", "driver 1 at c", "event 2", "driver 2 at a", "event 3", "driver 3 at a"], TakeAll(outbox));
        Assert.Equal((0, 0, true), (outbox.Queued, outbox.Positions, outbox.IsEmpty));
    }

    [Fact]
    public void A_position_that_may_not_replace_leaves_the_waiting_one_as_it_is()
    {
        var outbox = new Outbox();
        outbox.OfferPosition(Driver1, Utf8("driver 1 live"), replace: true);
        outbox.Enqueue(Utf8("subscribed"));

        // The latest positions sent on subscribing are older than a live one already waiting.
        outbox.OfferPosition(Driver1, Utf8("driver 1 latest known"), replace: false);
        outbox.OfferPosition(Driver2, Utf8("driver 2 latest known"), replace: false);

        Assert.Equal(["driver 1 live", "subscribed", "driver 2 latest known"], TakeAll(outbox));
    }

    [Fact]
    public void A_position_offered_after_the_last_one_left_takes_a_new_place_at_the_end()
    {
        var outbox = new Outbox();
        outbox.OfferPosition(Driver1, Utf8("driver 1 at a"), replace: true);
        outbox.Enqueue(Utf8("event 1"));
        Assert.True(outbox.TryTake(out _));

        outbox.OfferPosition(Driver1, Utf8("driver 1 at b"), replace: true);

        Assert.Equal(["event 1", "driver 1 at b"], TakeAll(outbox));
    }

    /// <summary>
    /// Past a burst, an emptied outbox lets its collections go (an idle session holds no buffers). That memory is not
    /// visible from outside; what is: nothing is let go before it has left, and the outbox works as new afterwards.
    /// </summary>
    [Fact]
    public void After_a_burst_it_empties_one_message_at_a_time_and_works_as_new_once_empty()
    {
        var outbox = new Outbox();
        for (var i = 0; i < 500; i++)
        {
            outbox.Enqueue(Utf8($"event {i}"));
            outbox.OfferPosition(new Guid(i % 100, 0, 0, new byte[8]), Utf8($"driver {i % 100} at {i}"), replace: true);
        }
        Assert.Equal((500, 100), (outbox.Queued, outbox.Positions));

        var taken = new List<string>();
        for (var left = 599; left >= 0; left--)
        {
            Assert.True(outbox.TryTake(out var message));
            taken.Add(Encoding.UTF8.GetString(message.Utf8.Span));
            Assert.Equal((left, left == 0), (outbox.Queued + outbox.Positions, outbox.IsEmpty));
        }

        // Each driver's newest (its fifth), in the place of its first.
        var expected = Enumerable.Range(0, 100).SelectMany(i => new[] { $"event {i}", $"driver {i} at {400 + i}" })
            .Concat(Enumerable.Range(100, 400).Select(i => $"event {i}"));
        Assert.Equal(expected, taken);
        Assert.False(outbox.TryTake(out _));
        outbox.OfferPosition(Driver1, Utf8("driver 1 after"), replace: true);
        outbox.Enqueue(Utf8("event after"));
        outbox.OfferPosition(Driver1, Utf8("driver 1 newest"), replace: true);
        Assert.Equal((1, 1, false), (outbox.Queued, outbox.Positions, outbox.IsEmpty));
        Assert.Equal(["driver 1 newest", "event after"], TakeAll(outbox));
        Assert.True(outbox.IsEmpty);
    }

    [Fact]
    public void Clearing_drops_everything_waiting()
    {
        var outbox = new Outbox();
        outbox.Enqueue(Utf8("event 1"));
        outbox.OfferPosition(Driver1, Utf8("driver 1"), replace: true);

        outbox.Clear();

        Assert.Equal((0, 0, true), (outbox.Queued, outbox.Positions, outbox.IsEmpty));
        Assert.Empty(TakeAll(outbox));
    }
}
