using System.Data.Common;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace GeoLogistics.Server.Data;

/// <summary>Wakes the feed whenever this process commits a transaction: its events are then read at once.</summary>
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

    public override void TransactionCommitted(DbTransaction transaction, TransactionEndEventData eventData) => Raise();

    public override Task TransactionCommittedAsync(DbTransaction transaction, TransactionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        Raise();
        return Task.CompletedTask;
    }
}
