using System.Text.Json;
using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Data;
using GeoLogistics.Server.Http;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace GeoLogistics.Server.Events;

/// <summary>
/// The transactional outbox of SPEC §5: a change and its events commit together, or neither does.
/// </summary>
public sealed class EventLog(AppDb db, TimeProvider clock, EventFeed feed, CommitSignal commits, IOptions<EventFeedOptions> options) : IDisposable
{
    private readonly List<EventFeed.Expected> awaited = [];

    /// <summary>
    /// A new event, stamped now, for the change <paramref name="actor"/> made. The module that owns the object writes
    /// <paramref name="data"/> (the object after the change) and the columns that say who may see it (OrderEvents,
    /// DriverEvents): the log names no payload type.
    /// </summary>
    public EventRecord Record(string type, Actor actor, IReadOnlyList<string> changed, string data) => new()
    {
        Type = type,
        Ts = clock.Now(),
        ActorUserId = actor.UserId,
        ActorEmail = actor.Email,
        Changed = JsonSerializer.Serialize(changed, EventsJson.Default.IReadOnlyListString),
        Data = data,
    };

    /// <summary>
    /// Saves the tracked changes and appends <paramref name="events"/> atomically (in the caller's transaction, if it
    /// has one open), unnumbered: no row that every writer shares is taken, so commits do not wait for each other.
    /// They are numbered as their transaction commits on SQLite, by the sequencer after it on PostgreSQL
    /// (<see cref="CommitSignal"/>, docs/adr/0002). Without a caller's transaction this is one SaveChanges (one batch,
    /// one round trip when it fits in one; on SQLite in a transaction of its own, which numbers them), and it then
    /// waits until the feed has handed the events out, so whoever made the change can read it back from the log.
    /// </summary>
    public async Task SaveAsync(IReadOnlyList<EventRecord> events, CancellationToken ct)
    {
        var ambient = db.Database.CurrentTransaction is not null;
        await using var own = ambient || !commits.NumbersAtCommit ? null : await db.Database.BeginTransactionAsync(ct);
        db.Events.AddRange(events);
        // In a transaction (the caller's, or SQLite's own), its commit numbers the events or wakes the sequencer; otherwise this call does.
        db.WroteEvents = ambient || own is not null;
        await db.SaveChangesAsync(ct);
        if (events.Count > 0)
        {
            awaited.Add(feed.Expect(events.Max(e => e.Id)));
        }
        if (ambient)
        {
            return;
        }
        if (own is not null)
        {
            await own.CommitAsync(ct);
        }
        else
        {
            commits.Raise();
        }
        await PublishedAsync(ct);
    }

    /// <summary>
    /// Right after the commit of events that a writer inserted with statements of its own (the booking,
    /// Orders/Booking.cs), <paramref name="lastEventId"/> the last one's insertion key: lets
    /// <see cref="PublishedAsync"/> wait for them when its caller reads the change back, and wakes the sequencer on
    /// PostgreSQL (there the writer commits in its own statements). On SQLite the writer commits through EF Core with
    /// <see cref="AppDb.WroteEvents"/> set, so its commit numbered them.
    /// </summary>
    public void Committed(long lastEventId, bool readBack)
    {
        if (readBack)
        {
            awaited.Add(feed.Expect(lastEventId));
        }
        if (!commits.NumbersAtCommit)
        {
            commits.Raise();
        }
    }

    /// <summary>
    /// After the caller committed its own transaction: waits until the events saved in it are numbered and handed
    /// out by this node's feed (at most <c>Events:PublishWait</c>; the change is committed either way).
    /// </summary>
    public async Task PublishedAsync(CancellationToken ct)
    {
        if (awaited.Count == 0)
        {
            return;
        }
        try
        {
            // Events of one change are numbered in insertion order: its last one handed out means all are.
            await awaited[^1].Done.Task.WaitAsync(options.Value.PublishWait, clock, ct);
        }
        catch (TimeoutException)
        {
            // Numbered later (the sequencer is changing nodes): readers get it then.
        }
        finally
        {
            Forget();
        }
    }

    private void Forget()
    {
        foreach (var a in awaited)
        {
            feed.Forget(a);
        }
        awaited.Clear();
    }

    public void Dispose() => Forget();
}

public static class EventVisibility
{
    /// <summary>SPEC §2 for the log: admins all; a dispatcher its tenant; a customer its orders; a driver its own.</summary>
    public static IQueryable<EventRecord> VisibleTo(this IQueryable<EventRecord> events, Caller caller) => caller.Role switch
    {
        Role.Admin => events,
        Role.Dispatcher when caller.TenantId is { } tenant => events.Where(e => e.TenantId == tenant),
        Role.Customer => events.Where(e => e.CustomerId == caller.UserId),
        Role.Driver when caller.DriverId is { } driver => events.Where(e => e.DriverId == driver),
        _ => events.Where(_ => false),
    };
}
