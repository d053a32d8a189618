using System.Data;
using System.Data.Common;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.EntityFrameworkCore.Storage;

namespace GeoLogistics.Server.Data;

/// <summary>
/// SQLite has one write lock per file. A writer that asks for it while another holds it sleeps, on a pool thread, in
/// SQLite's busy handler and Microsoft.Data.Sqlite's retry loop (there is no asynchronous I/O): a few dozen writers at
/// once starve the pool, and the writer holding the lock then waits for a thread to finish. So the server's own
/// writers take turns here first, asynchronously, one at a time, and find the lock free when they ask for it;
/// <c>busy_timeout</c> is left for other processes touching the file. Readers never queue (WAL lets them read beside
/// the writer). On PostgreSQL the gate is open and <see cref="EnterAsync"/> returns at once.
/// </summary>
/// <remarks>
/// EF Core work queues by itself (this class is its interceptor): a write transaction (then begun
/// <c>IMMEDIATE</c>, so a transaction that reads first cannot fail to upgrade later), a <c>SaveChanges</c> outside one,
/// and a statement outside one that is not a query (<c>ExecuteUpdate</c>, <c>ExecuteDelete</c>). A context keeps its
/// turn until its transaction commits or rolls back, or its connection closes (a transaction disposed without either),
/// so a <c>SaveChanges</c> nested in its own transaction does not queue again. Writers on a connection of their own (the
/// sequencer) call <see cref="EnterAsync"/>.
/// </remarks>
public sealed class StoreWriteGate(bool serializes) : IDbTransactionInterceptor, ISaveChangesInterceptor, IDbCommandInterceptor, IDbConnectionInterceptor
{
    /// <summary>
    /// How long a writer waits for its turn before it fails as SQLite would fail when busy (a transient store
    /// failure: a retry, or a 503). Only a writer that waits for itself, or a store far behind its load, gets there.
    /// </summary>
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private readonly SemaphoreSlim turn = new(1, 1);

    /// <summary>Whether writers take turns (SQLite) or not (PostgreSQL).</summary>
    public bool Serializes => serializes;

    /// <summary>Waits for this writer's turn; disposing the lease ends it. Open gate: returns at once.</summary>
    public async ValueTask<IDisposable> EnterAsync(CancellationToken ct)
    {
        if (!serializes)
        {
            return Lease.None;
        }
        await WaitAsync(ct);
        return new Lease(turn);
    }

    private async Task WaitAsync(CancellationToken ct)
    {
        if (!await turn.WaitAsync(Patience, ct))
        {
            throw Busy();
        }
    }

    private void Wait()
    {
        if (!turn.Wait(Patience))
        {
            throw Busy();
        }
    }

    private static SqliteException Busy() =>
        new($"database is locked: no turn at the server's write gate within {Patience.TotalSeconds:0} s", 5);

    private sealed class Lease(SemaphoreSlim? turn) : IDisposable
    {
        public static readonly Lease None = new(null);

        private SemaphoreSlim? held = turn;

        public void Dispose() => Interlocked.Exchange(ref held, null)?.Release();
    }

    private async ValueTask TakeAsync(DbContext? context, WriteTurn why, CancellationToken ct)
    {
        if (context is AppDb { WriteTurn: WriteTurn.None } db)
        {
            await WaitAsync(ct);
            db.WriteTurn = why;
        }
    }

    private void Take(DbContext? context, WriteTurn why)
    {
        if (context is AppDb { WriteTurn: WriteTurn.None } db)
        {
            Wait();
            db.WriteTurn = why;
        }
    }

    private void End(DbContext? context, WriteTurn? onlyIf = null)
    {
        if (context is AppDb { WriteTurn: not WriteTurn.None } db && (onlyIf is null || db.WriteTurn == onlyIf))
        {
            db.WriteTurn = WriteTurn.None;
            turn.Release();
        }
    }

    // Transactions: a write transaction takes a turn and begins IMMEDIATE; a read transaction begins deferred and queues for nothing.

    public async ValueTask<InterceptionResult<DbTransaction>> TransactionStartingAsync(
        DbConnection connection, TransactionStartingEventData eventData, InterceptionResult<DbTransaction> result, CancellationToken cancellationToken = default)
    {
        if (ReadsOnly(eventData.Context))
        {
            return InterceptionResult<DbTransaction>.SuppressWithResult(((SqliteConnection)connection).BeginTransaction(deferred: true));
        }
        await TakeAsync(eventData.Context, WriteTurn.Transaction, cancellationToken);
        return BeginImmediate(connection, eventData);
    }

    public InterceptionResult<DbTransaction> TransactionStarting(
        DbConnection connection, TransactionStartingEventData eventData, InterceptionResult<DbTransaction> result)
    {
        if (ReadsOnly(eventData.Context))
        {
            return InterceptionResult<DbTransaction>.SuppressWithResult(((SqliteConnection)connection).BeginTransaction(deferred: true));
        }
        Take(eventData.Context, WriteTurn.Transaction);
        return BeginImmediate(connection, eventData);
    }

    private static bool ReadsOnly(DbContext? context)
    {
        if (context is AppDb { NextTransactionReadsOnly: true } db)
        {
            db.NextTransactionReadsOnly = false;
            return true;
        }
        return false;
    }

    private InterceptionResult<DbTransaction> BeginImmediate(DbConnection connection, TransactionStartingEventData eventData)
    {
        try
        {
            return InterceptionResult<DbTransaction>.SuppressWithResult(((SqliteConnection)connection).BeginTransaction(eventData.IsolationLevel, deferred: false));
        }
        catch
        {
            End(eventData.Context);
            throw;
        }
    }

    public void TransactionCommitted(DbTransaction transaction, TransactionEndEventData eventData) => End(eventData.Context);

    public Task TransactionCommittedAsync(DbTransaction transaction, TransactionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        End(eventData.Context);
        return Task.CompletedTask;
    }

    public void TransactionRolledBack(DbTransaction transaction, TransactionEndEventData eventData) => End(eventData.Context);

    public Task TransactionRolledBackAsync(DbTransaction transaction, TransactionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        End(eventData.Context);
        return Task.CompletedTask;
    }

    // SaveChanges outside a transaction: a turn for the whole save (EF Core's own transaction inside it ends it early).

    public async ValueTask<InterceptionResult<int>> SavingChangesAsync(
        DbContextEventData eventData, InterceptionResult<int> result, CancellationToken cancellationToken = default)
    {
        await TakeAsync(eventData.Context, WriteTurn.SaveChanges, cancellationToken);
        return result;
    }

    public InterceptionResult<int> SavingChanges(DbContextEventData eventData, InterceptionResult<int> result)
    {
        Take(eventData.Context, WriteTurn.SaveChanges);
        return result;
    }

    public ValueTask<int> SavedChangesAsync(SaveChangesCompletedEventData eventData, int result, CancellationToken cancellationToken = default)
    {
        End(eventData.Context, WriteTurn.SaveChanges);
        return ValueTask.FromResult(result);
    }

    public int SavedChanges(SaveChangesCompletedEventData eventData, int result)
    {
        End(eventData.Context, WriteTurn.SaveChanges);
        return result;
    }

    public Task SaveChangesFailedAsync(DbContextErrorEventData eventData, CancellationToken cancellationToken = default)
    {
        End(eventData.Context, WriteTurn.SaveChanges);
        return Task.CompletedTask;
    }

    public void SaveChangesFailed(DbContextErrorEventData eventData) => End(eventData.Context, WriteTurn.SaveChanges);

    public Task SaveChangesCanceledAsync(DbContextEventData eventData, CancellationToken cancellationToken = default)
    {
        End(eventData.Context, WriteTurn.SaveChanges);
        return Task.CompletedTask;
    }

    public void SaveChangesCanceled(DbContextEventData eventData) => End(eventData.Context, WriteTurn.SaveChanges);

    // A statement that is not a query, outside a transaction (ExecuteUpdate, ExecuteDelete): a turn for that statement.

    public async ValueTask<InterceptionResult<int>> NonQueryExecutingAsync(
        DbCommand command, CommandEventData eventData, InterceptionResult<int> result, CancellationToken cancellationToken = default)
    {
        if (command.Transaction is null)
        {
            await TakeAsync(eventData.Context, WriteTurn.Statement, cancellationToken);
        }
        return result;
    }

    public InterceptionResult<int> NonQueryExecuting(DbCommand command, CommandEventData eventData, InterceptionResult<int> result)
    {
        if (command.Transaction is null)
        {
            Take(eventData.Context, WriteTurn.Statement);
        }
        return result;
    }

    public ValueTask<int> NonQueryExecutedAsync(DbCommand command, CommandExecutedEventData eventData, int result, CancellationToken cancellationToken = default)
    {
        End(eventData.Context, WriteTurn.Statement);
        return ValueTask.FromResult(result);
    }

    public int NonQueryExecuted(DbCommand command, CommandExecutedEventData eventData, int result)
    {
        End(eventData.Context, WriteTurn.Statement);
        return result;
    }

    public Task CommandFailedAsync(DbCommand command, CommandErrorEventData eventData, CancellationToken cancellationToken = default)
    {
        End(eventData.Context, WriteTurn.Statement);
        return Task.CompletedTask;
    }

    public void CommandFailed(DbCommand command, CommandErrorEventData eventData) => End(eventData.Context, WriteTurn.Statement);

    public Task CommandCanceledAsync(DbCommand command, CommandEndEventData eventData, CancellationToken cancellationToken = default)
    {
        End(eventData.Context, WriteTurn.Statement);
        return Task.CompletedTask;
    }

    public void CommandCanceled(DbCommand command, CommandEndEventData eventData) => End(eventData.Context, WriteTurn.Statement);

    // A closed connection holds no lock: whatever turn its context still had ends (a transaction disposed uncommitted).

    public InterceptionResult ConnectionClosing(DbConnection connection, ConnectionEventData eventData, InterceptionResult result)
    {
        End(eventData.Context);
        return result;
    }

    public ValueTask<InterceptionResult> ConnectionClosingAsync(DbConnection connection, ConnectionEventData eventData, InterceptionResult result)
    {
        End(eventData.Context);
        return ValueTask.FromResult(result);
    }
}

/// <summary>Why a context holds its turn at the <see cref="StoreWriteGate"/>, which decides what ends it.</summary>
public enum WriteTurn
{
    None,
    Transaction,
    SaveChanges,
    Statement,
}

public static class ReadTransactions
{
    /// <summary>
    /// A transaction that only reads, for one consistent view of several queries: repeatable read on PostgreSQL, a
    /// deferred transaction on SQLite that waits for no writer (and must not write: it could not upgrade).
    /// </summary>
    public static async Task<IDbContextTransaction> BeginReadAsync(this AppDb db, CancellationToken ct)
    {
        db.NextTransactionReadsOnly = true;
        try
        {
            return await db.Database.BeginTransactionAsync(IsolationLevel.RepeatableRead, ct);
        }
        finally
        {
            db.NextTransactionReadsOnly = false;
        }
    }
}
