using System.Data.Common;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace GeoLogistics.Server.Data;

/// <summary>
/// Wakes the sequencer whenever this process commits a transaction that saved events: they are then numbered at
/// once. Commits without events (positions, sessions) do not wake it.
/// </summary>
public sealed class CommitSignal : DbTransactionInterceptor
{
    private readonly SemaphoreSlim signal = new(0, 1);

    public Task<bool> WaitAsync(TimeSpan timeout, CancellationToken ct) => signal.WaitAsync(timeout, ct);

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

    private void Committed(TransactionEndEventData eventData)
    {
        if (eventData.Context is AppDb { WroteEvents: true } db)
        {
            db.WroteEvents = false;
            Raise();
        }
    }

    private static void Forget(TransactionEndEventData eventData)
    {
        if (eventData.Context is AppDb db)
        {
            db.WroteEvents = false;
        }
    }
}
