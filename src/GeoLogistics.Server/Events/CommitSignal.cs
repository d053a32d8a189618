using System.Data.Common;
using GeoLogistics.Server.Data;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.Options;

namespace GeoLogistics.Server.Events;

/// <summary>
/// What the commit of a transaction that saved events (<see cref="AppDb.WroteEvents"/>) sets going (docs/adr/0002).
/// On PostgreSQL it wakes the sequencer, which numbers them after the commit. On SQLite, whose writers take turns
/// anyway (<see cref="StoreWriteGate"/>), the writer numbers its events (with any left unnumbered) right before its
/// commit, in its own transaction and turn, and the commit wakes the feed: no second write transaction, no wait for
/// the sequencer, which is left what a crash or an older version left unnumbered. Commits without events (positions,
/// sessions) set nothing going.
/// </summary>
public sealed class CommitSignal(EventFeed feed, StoreWriteGate writers, IOptions<EventFeedOptions> options) : DbTransactionInterceptor
{
    private readonly SemaphoreSlim signal = new(0, 1);

    /// <summary>The sequencer's wait for commits to number.</summary>
    public Task<bool> WaitAsync(TimeSpan timeout, CancellationToken ct) => signal.WaitAsync(timeout, ct);

    /// <summary>Events were committed unnumbered: wake the sequencer.</summary>
    public void Raise()
    {
        try
        {
            signal.Release();
        }
        catch (SemaphoreFullException)
        {
            // Already raised and not yet seen: one wake-up covers both commits.
        }
    }

    /// <summary>Whether a writer numbers its own events as it commits (SQLite), rather than the sequencer after.</summary>
    public bool NumbersAtCommit => writers.Serializes;

    // A transaction begins with nothing to number (a pooled context may carry flags from one disposed uncommitted).
    public override DbTransaction TransactionStarted(DbConnection connection, TransactionEndEventData eventData, DbTransaction result)
    {
        Forget(eventData);
        return result;
    }

    public override ValueTask<DbTransaction> TransactionStartedAsync(
        DbConnection connection, TransactionEndEventData eventData, DbTransaction result, CancellationToken cancellationToken = default)
    {
        Forget(eventData);
        return ValueTask.FromResult(result);
    }

    // A transaction committed synchronously (nothing here does) is not numbered at its commit: its commit wakes the sequencer.
    public override async ValueTask<InterceptionResult> TransactionCommittingAsync(
        DbTransaction transaction, TransactionEventData eventData, InterceptionResult result, CancellationToken cancellationToken = default)
    {
        if (NumbersAtCommit && eventData.Context is AppDb { WroteEvents: true } db)
        {
            await EventNumbering.NumberAllAsync(transaction, options.Value.BatchSize, cancellationToken);
            db.NumberedEvents = true;
        }
        return result;
    }

    public override void TransactionCommitted(DbTransaction transaction, TransactionEndEventData eventData) => Committed(eventData);

    public override Task TransactionCommittedAsync(DbTransaction transaction, TransactionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        Committed(eventData);
        return Task.CompletedTask;
    }

    public override void TransactionRolledBack(DbTransaction transaction, TransactionEndEventData eventData) => Forget(eventData);

    public override Task TransactionRolledBackAsync(DbTransaction transaction, TransactionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        Forget(eventData);
        return Task.CompletedTask;
    }

    public override void TransactionFailed(DbTransaction transaction, TransactionErrorEventData eventData) => Forget(eventData);

    public override Task TransactionFailedAsync(DbTransaction transaction, TransactionErrorEventData eventData, CancellationToken cancellationToken = default)
    {
        Forget(eventData);
        return Task.CompletedTask;
    }

    private void Committed(TransactionEndEventData eventData)
    {
        if (eventData.Context is not AppDb db)
        {
            return;
        }
        if (db.NumberedEvents)
        {
            feed.Wake();
        }
        else if (db.WroteEvents)
        {
            Raise();
        }
        Forget(eventData);
    }

    private static void Forget(TransactionEventData eventData)
    {
        if (eventData.Context is AppDb db)
        {
            db.WroteEvents = false;
            db.NumberedEvents = false;
        }
    }
}
