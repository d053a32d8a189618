using GeoLogistics.Server.Auth;

namespace GeoLogistics.Server.Realtime.Core;

/// <summary>A session's subscriptions, and where the hub has it filed for them (LiveSession.cs: its delivery and its end).</summary>
public sealed partial class LiveSession
{
    // The subscriptions (a few; Realtime:MaxSubscriptions at most; ids unique): changed only inside the hub's gate,
    // where durable fan-out reads them, and replaced, never changed in place, so volatile fan-out reads them without it.
    private Subscription[] current = [];

    public void Reauthenticate(Caller caller, DateTimeOffset expires) =>
        hub.InStep(() =>
        {
            // What the user may see can change with the token: file the subscriptions again under the new one.
            Unfile(current);
            Caller = caller;
            TokenExpires = expires;
            File(current);
        });

    public bool HasSubscription(string id) => hub.InStep(() => IndexOf(id) >= 0);

    public int SubscriptionCount => Volatile.Read(ref current).Length;

    public IReadOnlyList<Subscription> Subscriptions => Volatile.Read(ref current);

    /// <summary>Adds a subscription that holds live events until <see cref="GoLiveAsync"/>; returns the head to replay up to.</summary>
    public long AddReplaying(string id, Topic topic, Filters filters) =>
        hub.InStepHead(() =>
        {
            var subscription = new Subscription(id, topic, filters, Pending: []);
            Put(subscription);
            File([subscription]);
        });

    // The three below run inside the hub's gate.
    private void File(IEnumerable<Subscription> added)
    {
        foreach (var subscription in added)
        {
            if (Route.Of(subscription.Topic, Caller) is { } route)
            {
                hub.AddRoute(this, route);
            }
        }
    }

    private void Unfile(IEnumerable<Subscription> removed)
    {
        foreach (var subscription in removed)
        {
            if (Route.Of(subscription.Topic, Caller) is { } route)
            {
                hub.RemoveRoute(this, route);
            }
        }
    }

    private int IndexOf(string id) => Array.FindIndex(current, s => s.Id == id);

    /// <summary>Adds the subscription, or puts it in the place of the one with its id.</summary>
    private void Put(Subscription subscription)
    {
        var at = IndexOf(subscription.Id);
        if (at < 0)
        {
            Volatile.Write(ref current, [.. current, subscription]);
            return;
        }
        var changed = (Subscription[])current.Clone();
        changed[at] = subscription;
        Volatile.Write(ref current, changed);
    }

    /// <summary>
    /// Sends <paramref name="subscribedReply"/> and what arrived during the replay (after <paramref name="replayedUpTo"/>),
    /// then lets live events through. A replay may leave the outbox full: first the client reads it down to half, at
    /// its pace as during the replay, so the reply and the held events do not find a reader that is still catching up
    /// and close it as slow.
    /// </summary>
    public async ValueTask GoLiveAsync(string id, long replayedUpTo, ReadOnlyMemory<byte> subscribedReply)
    {
        if (!await WaitUntilQueuedAtMostAsync(hub.Options.OutboundQueueLimit / 2))
        {
            return;
        }
        hub.InStep(() =>
        {
            if (IndexOf(id) is var at && at < 0)
            {
                return;
            }
            var subscription = current[at];
            Send(subscribedReply);
            foreach (var message in subscription.Pending ?? [])
            {
                if (message.Seq > replayedUpTo)
                {
                    Deliver(Outgoing.For(message, id));
                }
            }
            Put(subscription with { Pending = null });
        });
    }

    public bool RemoveSubscription(string id) =>
        hub.InStep(() =>
        {
            if (IndexOf(id) is var at && at < 0)
            {
                return false;
            }
            Unfile([current[at]]);
            Volatile.Write(ref current, [.. current.AsSpan(0, at), .. current.AsSpan(at + 1)]);
            return true;
        });

    // ---- Filing: the hub's bookkeeping of where the session is filed, changed only under its gate ----

    // The routes the session is filed under, its slot in each (FiledSessions), and how many of its subscriptions need
    // each. Kept on the session rather than in a dictionary of the hub's: an array, not an entry, a list and its array.
    private Filing[] filings = [];

    internal readonly record struct Filing(Route Route, int Slot, int Subscriptions);

    private int FilingOf(Route route)
    {
        for (var at = 0; at < filings.Length; at++)
        {
            if (filings[at].Route == route)
            {
                return at;
            }
        }
        return -1;
    }

    /// <summary>One more subscription on <paramref name="route"/>: true when the session is filed under it already.</summary>
    internal bool FileAgain(Route route)
    {
        var at = FilingOf(route);
        if (at < 0)
        {
            return false;
        }
        filings[at] = filings[at] with { Subscriptions = filings[at].Subscriptions + 1 };
        return true;
    }

    internal void Filed(Route route, int slot) => filings = [.. filings, new Filing(route, slot, 1)];

    /// <summary>One subscription fewer on <paramref name="route"/>: its slot when no other needs the route, to be emptied.</summary>
    internal int? Unfile(Route route)
    {
        var at = FilingOf(route);
        if (at < 0)
        {
            return null;
        }
        var filing = filings[at];
        if (filing.Subscriptions > 1)
        {
            filings[at] = filing with { Subscriptions = filing.Subscriptions - 1 };
            return null;
        }
        filings = [.. filings.AsSpan(0, at), .. filings.AsSpan(at + 1)];
        return filing.Slot;
    }

    /// <summary>The route's slots were copied: the session's slot under it is now <paramref name="slot"/>.</summary>
    internal void Refile(Route route, int slot)
    {
        var at = FilingOf(route);
        filings[at] = filings[at] with { Slot = slot };
    }

    /// <summary>The session ends: every filing, to be emptied, and none kept.</summary>
    internal Filing[] TakeFilings()
    {
        var taken = filings;
        filings = [];
        return taken;
    }
}

/// <summary>A subscription; <see cref="Pending"/> holds live events while its replay runs.</summary>
public sealed record Subscription(string Id, Topic Topic, Filters Filters, List<LiveMessage>? Pending);
