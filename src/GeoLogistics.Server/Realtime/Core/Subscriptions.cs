using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Data;
using GeoLogistics.Server.Events;
using Microsoft.EntityFrameworkCore;

namespace GeoLogistics.Server.Realtime.Core;

/// <summary>Who may subscribe to what (SPEC §2 for topics): asked on every subscribe, against the store.</summary>
public interface ITopicAccess
{
    Task<bool> MaySubscribeAsync(Caller caller, Topic topic, CancellationToken ct);
}

/// <summary>What a client asks for, in any protocol's words: a topic, filters, and where to resume.</summary>
public sealed record SubscribeRequest(string Id, Topic Topic, Filters Filters, long? Since);

public enum SubscribeOutcome
{
    Subscribed,
    /// <summary>The user may not see the topic; nothing of it is sent, and whether it exists is not told.</summary>
    Forbidden,
    TooMany,
    DuplicateId,
}

/// <summary>A protocol's replies to a subscribe, placed in the session's stream where they belong.</summary>
public interface ISubscribeReplies
{
    /// <summary>The acknowledgement, sent after the replay and before the first live event.</summary>
    ReadOnlyMemory<byte> Subscribed(SubscribeRequest request, int replayed);

    /// <summary>The client asked to resume from before the oldest event kept (SPEC §7).</summary>
    ReadOnlyMemory<byte> ReplayUnavailable(SubscribeRequest request, long oldestSeq);
}

/// <summary>
/// Subscribing, for every protocol: authorize, file the subscription (holding live events), replay what was missed
/// from the store in pages at the client's pace, then switch to live with no gap and no duplicate, and fill a map with
/// the latest positions and ETAs.
/// </summary>
public sealed class Subscriptions(LiveHub hub, ITopicAccess access, IServiceScopeFactory scopes, EventPayloads payloads) : IReplayFloor
{
    // Each replay in progress and the seq it has read up to: retention prunes no further than the lowest.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<object, long> replaying = new();

    public long? Lowest => replaying.IsEmpty ? null : replaying.Values.DefaultIfEmpty(long.MaxValue).Min();

    public async Task<SubscribeOutcome> SubscribeAsync(LiveSession session, SubscribeRequest request, ISubscribeReplies replies)
    {
        if (session.HasSubscription(request.Id))
        {
            return SubscribeOutcome.DuplicateId;
        }
        if (session.SubscriptionCount >= hub.Options.MaxSubscriptions)
        {
            return SubscribeOutcome.TooMany;
        }
        var caller = session.Caller;
        if (!await access.MaySubscribeAsync(caller, request.Topic, session.Aborted))
        {
            return SubscribeOutcome.Forbidden;
        }

        var head = session.AddReplaying(request.Id, request.Topic, request.Filters);
        var replayed = 0;
        try
        {
            if (request.Since is { } after)
            {
                replayed = await ReplayAsync(session, caller, request, after, head, replies);
            }
        }
        catch
        {
            // A replay that failed (the store went away) leaves no half-made subscription holding live events.
            session.RemoveSubscription(request.Id);
            throw;
        }
        await session.GoLiveAsync(request.Id, head, replies.Subscribed(request, replayed));

        // The latest positions and ETAs, so a map is not empty until each driver's next ping, nor a board without ETAs
        // until each one moves. Held like live ones (the newest per driver, per order), so a map of more drivers or
        // orders than the outbox holds does not close the subscriber.
        foreach (var latest in hub.LatestPositions.Concat(hub.LatestEtas))
        {
            if (request.Topic.Covers(latest) && request.Filters.Match(latest) && latest.VisibleTo(caller))
            {
                session.OfferLatest(latest, request.Id, replace: false);
            }
        }
        return SubscribeOutcome.Subscribed;
    }

    /// <summary>
    /// Every matching event in (after, head], from the store, in seq order, a page at a time: the next page only once
    /// the client has read the previous one down to half, each paid from its message budget. One replay at a time per
    /// session: the adapter reads the client's next message only when this is done. While it runs, retention on this
    /// node prunes nothing it has still to read; before each page it checks that no other node's did either, and
    /// answers <c>replay_unavailable</c> rather than leave a gap.
    /// </summary>
    private async Task<int> ReplayAsync(LiveSession session, Caller caller, SubscribeRequest request, long after, long head, ISubscribeReplies replies)
    {
        var replay = new object();
        replaying[replay] = after;
        try
        {
            return await ReplayPagesAsync(session, caller, request, after, head, replies, cursor => replaying[replay] = cursor);
        }
        finally
        {
            replaying.TryRemove(replay, out _);
        }
    }

    private async Task<int> ReplayPagesAsync(
        LiveSession session, Caller caller, SubscribeRequest request, long after, long head, ISubscribeReplies replies, Action<long> readUpTo)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDb>();
        var topic = request.Topic;
        var events = db.Events.AsNoTracking().VisibleTo(caller);
        events = topic.Kind switch
        {
            TopicKind.Orders => events.Where(e => e.Type.StartsWith("order.")),
            TopicKind.Order => events.Where(e => e.OrderId == topic.Id),
            TopicKind.Tenant => events.Where(e => e.TenantId == topic.Id),
            TopicKind.Driver => events.Where(e => e.DriverId == topic.Id),
            _ => events.Where(e => e.Type.StartsWith("driver.")),
        };
        // Without filters only the wire form is needed: the event's object is not decoded.
        var decode = request.Filters.Statuses.Count > 0 || request.Filters.Kind is not null;
        var sent = 0;
        var cursor = after;
        // At most half the outbox, so a page and what the client has not yet read of the one before always fit.
        var pageSize = Math.Min(hub.Options.ReplayPageSize, hub.Options.OutboundQueueLimit / 2);
        var wire = new List<LiveMessage>(pageSize);
        while (cursor < head && await session.BeforeReplayPageAsync(pageSize / 2))
        {
            // The log starts at seq 1; once pruned, at its oldest kept event. Asking for less than that is unavailable.
            var oldest = await db.Events.MinAsync(e => e.Seq, session.Aborted) ?? 0;
            if (oldest > 1 && cursor + 1 < oldest)
            {
                session.Send(replies.ReplayUnavailable(request with { Since = cursor }, oldest));
                break;
            }
            var from = cursor;
            var page = await events.Where(e => e.Seq > from && e.Seq <= head).OrderBy(e => e.Seq).Take(pageSize).ToListAsync(session.Aborted);
            if (page.Count == 0)
            {
                break;
            }
            wire.Clear();
            foreach (var record in page)
            {
                var message = LiveMessage.Of(payloads.Decode(record, decode));
                if (request.Filters.Match(message))
                {
                    wire.Add(message);
                }
            }
            if (!session.SendReplayed(wire, request.Id))
            {
                break;
            }
            sent += wire.Count;
            cursor = page[^1].Seq!.Value;
            readUpTo(cursor);
        }
        hub.CountReplayed(sent);
        return sent;
    }
}
