using System.Data.Common;
using GeoLogistics.Server.Data;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Npgsql;

namespace GeoLogistics.Server.Events;

/// <summary>
/// Numbers committed events, one batch per short transaction, in commit order (docs/adr/0002). One per store: on
/// SQLite the process's own; on PostgreSQL the node holding a session advisory lock, the others retry taking it and
/// wake it when they commit. After each batch the feed is woken: here directly, on other nodes by a notification.
/// </summary>
public sealed partial class Sequencer(
    IServiceScopeFactory scopes, CommitSignal commits, EventFeed feed, StoreWriteGate writers, IOptions<EventFeedOptions> options,
    ILogger<Sequencer> logger)
    : BackgroundService
{
    /// <summary>The advisory lock that elects the one sequencer among the nodes of a PostgreSQL store.</summary>
    public const long LockKey = 0x47_4C_4F_5F_53_45_51; // "GLO_SEQ"

    /// <summary>Every node sends this after committing events; the sequencer listens.</summary>
    public const string CommittedChannel = "glo_events_committed";

    /// <summary>The sequencer sends this after numbering; every node's feed listens.</summary>
    public const string NumberedChannel = "glo_events_numbered";

    private volatile bool holder;

    /// <summary>Whether this node numbers the store's events now.</summary>
    public bool IsSequencer => holder;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        string connectionString;
        bool postgres;
        await using (var scope = scopes.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<AppDb>();
            connectionString = db.Database.GetConnectionString()!;
            postgres = db.Database.IsNpgsql();
        }
        try
        {
            if (postgres)
            {
                await Task.WhenAll(ListenAsync(connectionString, stoppingToken), ElectAndNumberAsync(connectionString, stoppingToken));
            }
            else
            {
                await NumberSqliteAsync(connectionString, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task NumberSqliteAsync(string connectionString, CancellationToken ct)
    {
        holder = true;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await using var connection = new SqliteConnection(connectionString);
                await connection.OpenAsync(ct);
                await using (var pragmas = connection.CreateCommand())
                {
                    pragmas.CommandText = StoreSetup.SqliteConnectionSettings(connection);
                    await pragmas.ExecuteNonQueryAsync(ct);
                }
                while (true)
                {
                    await NumberAllAsync(connection, null, ct);
                    await commits.WaitAsync(options.Value.PollInterval, ct);
                }
            }
            catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                Failed(e);
                await Task.Delay(options.Value.PollInterval, ct);
            }
        }
    }

    /// <summary>
    /// On a connection of its own (not pooled: the lock lives as long as the connection): take the lock, or retry
    /// every poll interval, waking the holder with a notification whenever this node committed events meanwhile.
    /// When the holder's process dies, its connection drops and the lock with it.
    /// </summary>
    private async Task ElectAndNumberAsync(string connectionString, CancellationToken ct)
    {
        var own = new NpgsqlConnectionStringBuilder(connectionString)
        {
            Pooling = false,
            Enlist = false,
            // Names the holder in pg_stat_activity: which process numbers events is one query away.
            ApplicationName = $"geologistics-sequencer-{Environment.ProcessId}",
        }.ConnectionString;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await using var connection = new NpgsqlConnection(own);
                await connection.OpenAsync(ct);
                var nextTry = DateTimeOffset.MinValue;
                while (true)
                {
                    if (!holder && DateTimeOffset.UtcNow >= nextTry)
                    {
                        holder = await ScalarAsync<bool>(connection, $"SELECT pg_try_advisory_lock({LockKey})", ct);
                        nextTry = DateTimeOffset.UtcNow + options.Value.PollInterval;
                        if (holder)
                        {
                            LogElected(logger);
                        }
                    }
                    if (holder)
                    {
                        // First whatever an earlier sequencer left unnumbered (it may have died between batches).
                        await NumberAllAsync(connection, NumberedChannel, ct);
                        await commits.WaitAsync(options.Value.PollInterval, ct);
                    }
                    else if (await commits.WaitAsync(options.Value.PollInterval, ct))
                    {
                        await ScalarAsync<object>(connection, $"SELECT pg_notify('{CommittedChannel}', '')", ct);
                    }
                }
            }
            catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                if (holder)
                {
                    LogResigned(logger, e.Message);
                }
                else
                {
                    Failed(e);
                }
                holder = false;
                await Task.Delay(options.Value.PollInterval, ct);
            }
            finally
            {
                holder = false;
            }
        }
    }

    /// <summary>Other nodes' commits wake the sequencer (when it is here); other nodes' numbering wakes the feed.</summary>
    private async Task ListenAsync(string connectionString, CancellationToken ct)
    {
        var own = new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false, Enlist = false, KeepAlive = 10 }.ConnectionString;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await using var connection = new NpgsqlConnection(own);
                connection.Notification += (_, n) =>
                {
                    if (n.Channel == NumberedChannel)
                    {
                        feed.Wake();
                    }
                    else if (holder)
                    {
                        commits.Raise();
                    }
                };
                await connection.OpenAsync(ct);
                await ScalarAsync<object>(connection, $"LISTEN {CommittedChannel}; LISTEN {NumberedChannel}", ct);
                // Whatever was numbered while this node was not listening.
                feed.Wake();
                while (true)
                {
                    await connection.WaitAsync(ct);
                }
            }
            catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                Failed(e);
                await Task.Delay(options.Value.PollInterval, ct);
            }
        }
    }

    /// <summary>Numbers batches until none is left; wakes the feed (and, on PostgreSQL, every other node's).</summary>
    private async Task NumberAllAsync(DbConnection connection, string? notify, CancellationToken ct)
    {
        var numbered = false;
        while (true)
        {
            int count;
            // On SQLite a batch is a write like any other: it takes its turn (StoreWriteGate; open on PostgreSQL).
            using (await writers.EnterAsync(ct))
            {
                count = await EventNumbering.NumberBatchAsync(connection, null, options.Value.BatchSize, ct);
            }
            if (count == 0)
            {
                break;
            }
            numbered = true;
            feed.Wake();
            if (count < options.Value.BatchSize)
            {
                break;
            }
        }
        if (numbered && notify is not null)
        {
            await ScalarAsync<object>(connection, $"SELECT pg_notify('{notify}', '')", ct);
        }
    }

    private static async Task<T?> ScalarAsync<T>(DbConnection connection, string sql, CancellationToken ct)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        var value = await command.ExecuteScalarAsync(ct);
        return value is T t ? t : default;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "This node now numbers the store's events")]
    private static partial void LogElected(ILogger logger);

    /// <summary>An outage is expected: one line with its reason. Anything else keeps its stack trace.</summary>
    private void Failed(Exception e)
    {
        if (StoreFailures.IsTransient(e))
        {
            LogStoreUnavailable(logger, e.Message);
        }
        else
        {
            LogFailed(logger, e);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "This node lost its sequencer connection ({Reason}); another node (or this one, reconnected) takes over")]
    private static partial void LogResigned(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The event sequencer's store connection failed, the store is unavailable: {Reason}; retrying")]
    private static partial void LogStoreUnavailable(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "The event sequencer's store connection failed; retrying")]
    private static partial void LogFailed(ILogger logger, Exception exception);
}
