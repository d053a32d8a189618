using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Drivers;
using GeoLogistics.Server.Events;
using GeoLogistics.Server.Orders;
using GeoLogistics.Server.Tenants;
using GeoLogistics.Server.Tracking;
using GeoLogistics.Server.Users;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;

namespace GeoLogistics.Server.Data;

/// <summary>
/// The store. One model for both providers; each provider has its own subclass only so that each keeps
/// its own migrations (<see cref="SqliteAppDb"/>, <see cref="PostgresAppDb"/>).
/// </summary>
public abstract class AppDb(DbContextOptions options) : DbContext(options)
{
    public DbSet<Tenant> Tenants => Set<Tenant>();
    public DbSet<User> Users => Set<User>();
    public DbSet<Driver> Drivers => Set<Driver>();
    public DbSet<Order> Orders => Set<Order>();
    public DbSet<OrderStatusChange> OrderHistory => Set<OrderStatusChange>();
    public DbSet<OrderDecline> OrderDeclines => Set<OrderDecline>();
    public DbSet<TrackPoint> TrackPoints => Set<TrackPoint>();
    public DbSet<EventRecord> Events => Set<EventRecord>();
    public DbSet<Counter> Counters => Set<Counter>();
    public DbSet<IdempotencyRecord> IdempotencyRecords => Set<IdempotencyRecord>();
    public DbSet<Session> Sessions => Set<Session>();
    public DbSet<LoginThrottle> LoginThrottles => Set<LoginThrottle>();

    /// <summary>Set when events were saved in the open transaction: its commit wakes the sequencer.</summary>
    public bool WroteEvents { get; set; }

    /// <summary>On SQLite, why this context holds its turn at the <see cref="StoreWriteGate"/>, if it does.</summary>
    internal WriteTurn WriteTurn { get; set; }

    /// <summary>The next transaction only reads (<see cref="ReadTransactions.BeginReadAsync"/>): it takes no write turn.</summary>
    internal bool NextTransactionReadsOnly { get; set; }

    protected override void OnModelCreating(ModelBuilder b)
    {
        b.Entity<Tenant>(e =>
        {
            e.Property(t => t.Name).HasMaxLength(200);
            e.HasIndex(t => t.Name).IsUnique();
        });

        b.Entity<User>(e =>
        {
            e.Property(u => u.Email).HasMaxLength(254);
            e.HasIndex(u => u.Email).IsUnique();
            e.Property(u => u.Role).HasConversion<string>().HasMaxLength(20);
            e.HasOne<Tenant>().WithMany().HasForeignKey(u => u.TenantId).OnDelete(DeleteBehavior.Restrict);
        });

        b.Entity<Driver>(e =>
        {
            e.Property(d => d.Status).HasConversion<string>().HasMaxLength(20);
            e.Property(d => d.Version).IsConcurrencyToken();
            e.HasIndex(d => d.UserId).IsUnique();
            e.HasIndex(d => new { d.Status, d.Cell });
            // A driver is on at most one order: the store refuses a second one whatever the code does.
            e.HasIndex(d => d.CurrentOrderId).IsUnique();
            e.HasOne<User>().WithMany().HasForeignKey(d => d.UserId).OnDelete(DeleteBehavior.Restrict);
            e.HasOne<Tenant>().WithMany().HasForeignKey(d => d.TenantId).OnDelete(DeleteBehavior.Restrict);
        });

        b.Entity<Order>(e =>
        {
            e.Property(o => o.Number).HasMaxLength(40);
            e.HasIndex(o => o.Number).IsUnique();
            e.HasIndex(o => o.Serial).IsUnique();
            e.Property(o => o.Status).HasConversion<string>().HasMaxLength(20);
            e.Property(o => o.DispatchWhen).HasConversion<string>().HasMaxLength(10);
            e.Property(o => o.Version).IsConcurrencyToken();
            e.Property(o => o.Kind).HasMaxLength(32);
            e.Property(o => o.Notes).HasMaxLength(2000);
            e.Property(o => o.DispatchFailure).HasMaxLength(40);
            e.ComplexProperty(o => o.Pickup, p => p.Property(x => x.Address).HasMaxLength(300));
            e.ComplexProperty(o => o.Dropoff, p => p.Property(x => x.Address).HasMaxLength(300));
            e.HasIndex(o => new { o.TenantId, o.Serial });
            e.HasIndex(o => new { o.CustomerId, o.Serial });
            e.HasIndex(o => o.Status);
            // An order has at most one driver, and a driver at most one active order.
            e.HasIndex(o => o.DriverId).IsUnique().HasFilter("\"Status\" IN ('Assigned', 'PickedUp', 'InTransit')");
            e.HasMany(o => o.History).WithOne().HasForeignKey(h => h.OrderId).OnDelete(DeleteBehavior.Cascade);
            e.HasOne<Tenant>().WithMany().HasForeignKey(o => o.TenantId).OnDelete(DeleteBehavior.Restrict);
        });

        b.Entity<OrderDecline>(e =>
        {
            e.HasKey(d => new { d.OrderId, d.DriverId });
            e.HasOne<Order>().WithMany().HasForeignKey(d => d.OrderId).OnDelete(DeleteBehavior.Cascade);
        });

        b.Entity<TrackPoint>(e =>
        {
            e.Property(p => p.Leg).HasMaxLength(10);
            e.HasIndex(p => new { p.OrderId, p.Leg, p.At });
            e.HasOne<Order>().WithMany().HasForeignKey(p => p.OrderId).OnDelete(DeleteBehavior.Cascade);
        });

        b.Entity<OrderStatusChange>(e =>
        {
            e.Property(h => h.Status).HasConversion<string>().HasMaxLength(20);
            e.Property(h => h.ActorEmail).HasMaxLength(254);
        });

        b.Entity<EventRecord>(e =>
        {
            e.HasKey(x => x.Id);
            // Given by the sequencer after commit (docs/adr/0002); unique, so no value is ever given twice.
            e.HasIndex(x => x.Seq).IsUnique();
            // What the sequencer reads: the committed rows still to number, in insertion order.
            e.HasIndex(x => x.Id, "IX_Events_Unnumbered").HasFilter("\"Seq\" IS NULL");
            e.Property(x => x.Type).HasMaxLength(40);
            e.Property(x => x.ActorEmail).HasMaxLength(254);
            e.HasIndex(x => new { x.TenantId, x.Seq });
            e.HasIndex(x => new { x.CustomerId, x.Seq });
            e.HasIndex(x => new { x.DriverId, x.Seq });
            e.HasIndex(x => new { x.OrderId, x.Seq });
        });

        b.Entity<Counter>(e =>
        {
            e.HasKey(c => c.Name);
            e.Property(c => c.Name).HasMaxLength(40);
            e.HasData(new Counter { Name = Counter.Orders, Value = 0 });
        });

        b.Entity<Session>(e =>
        {
            e.HasIndex(x => x.UserId);
            // Nodes read the sessions ended in the last moments, and prune the expired ones.
            e.HasIndex(x => x.RevokedAt);
            e.HasIndex(x => x.ExpiresAt);
            e.HasOne<User>().WithMany().HasForeignKey(x => x.UserId).OnDelete(DeleteBehavior.Cascade);
        });

        b.Entity<LoginThrottle>(e =>
        {
            e.ToTable("LoginThrottle");
            e.HasKey(x => x.Key);
            e.Property(x => x.Key).HasMaxLength(80);
        });

        b.Entity<IdempotencyRecord>(e =>
        {
            e.HasKey(r => new { r.UserId, r.Key });
            e.Property(r => r.Key).HasMaxLength(200);
            e.Property(r => r.RequestHash).HasMaxLength(64);
        });
    }
}

/// <summary>A named counter, taken with <c>UPDATE … RETURNING</c>: the row lock orders the takers.</summary>
public sealed class Counter
{
    public const string Orders = "orders";

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
