using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;

namespace GeoLogistics.Server.Data;

/// <summary>
/// The store. One model for both providers; each provider has its own subclass only so that each keeps
/// its own migrations (<see cref="SqliteAppDb"/>, <see cref="PostgresAppDb"/>). Each feature maps its own tables
/// (an <see cref="IEntityTypeConfiguration{TEntity}"/> beside its entities) and offers them as members of this
/// context in its own namespace (<c>db.Orders</c> with <c>using GeoLogistics.Server.Orders</c>), so the store names no feature.
/// </summary>
public abstract class AppDb(DbContextOptions options) : DbContext(options)
{
    public DbSet<Counter> Counters => Set<Counter>();
    public DbSet<IdempotencyRecord> IdempotencyRecords => Set<IdempotencyRecord>();

    /// <summary>Set when events were saved in the open transaction: its commit numbers them, or wakes what does (Events/CommitSignal).</summary>
    public bool WroteEvents { get; set; }

    /// <summary>Set when the open transaction's events were numbered as it committed (SQLite).</summary>
    public bool NumberedEvents { get; set; }

    /// <summary>On SQLite, why this context holds its turn at the <see cref="StoreWriteGate"/>, if it does.</summary>
    internal WriteTurn WriteTurn { get; set; }

    /// <summary>The next transaction only reads (<see cref="ReadTransactions.BeginReadAsync"/>): it takes no write turn.</summary>
    internal bool NextTransactionReadsOnly { get; set; }

    protected override void OnModelCreating(ModelBuilder b)
    {
        b.ApplyConfigurationsFromAssembly(typeof(AppDb).Assembly);

        b.Entity<Counter>(e =>
        {
            e.HasKey(c => c.Name);
            e.Property(c => c.Name).HasMaxLength(40);
        });

        b.Entity<IdempotencyRecord>(e =>
        {
            e.HasKey(r => new { r.UserId, r.Key });
            e.Property(r => r.Key).HasMaxLength(200);
            e.Property(r => r.RequestHash).HasMaxLength(64);
        });
    }
}

/// <summary>A named counter, taken with <c>UPDATE … RETURNING</c>: the row lock orders the takers. Its user seeds its row.</summary>
public sealed class Counter
{
    public string Name { get; set; } = "";
    public long Value { get; set; }
}

/// <summary>The first answer to a create with an <c>Idempotency-Key</c>, replayed to its retries.</summary>
public sealed class IdempotencyRecord
{
    public Guid UserId { get; set; }
    public string Key { get; set; } = "";
    public string RequestHash { get; set; } = "";
    public Guid OrderId { get; set; }
    public string Response { get; set; } = "";
    public DateTimeOffset CreatedAt { get; set; }
}

public sealed class SqliteAppDb(DbContextOptions<SqliteAppDb> options) : AppDb(options)
{
    /// <summary>SQLite has no time type: times are stored as sortable integers so they compare in SQL.</summary>
    protected override void ConfigureConventions(ModelConfigurationBuilder configurationBuilder) =>
        configurationBuilder.Properties<DateTimeOffset>().HaveConversion<DateTimeOffsetToBinaryConverter>();
}

public sealed class PostgresAppDb(DbContextOptions<PostgresAppDb> options) : AppDb(options);
