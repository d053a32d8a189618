using GeoLogistics.Server.Data;
using GeoLogistics.Server.Tenants;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace GeoLogistics.Server.Orders;

public static class OrderTables
{
    extension(AppDb db)
    {
        public DbSet<Order> Orders => db.Set<Order>();
        public DbSet<OrderStatusChange> OrderHistory => db.Set<OrderStatusChange>();
        public DbSet<OrderDecline> OrderDeclines => db.Set<OrderDecline>();
    }
}

internal sealed class OrderConfiguration : IEntityTypeConfiguration<Order>
{
    public void Configure(EntityTypeBuilder<Order> e)
    {
        e.InTable("Orders");
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
    }
}

internal sealed class OrderStatusChangeConfiguration : IEntityTypeConfiguration<OrderStatusChange>
{
    public void Configure(EntityTypeBuilder<OrderStatusChange> e)
    {
        e.InTable("OrderHistory");
        e.Property(h => h.Status).HasConversion<string>().HasMaxLength(20);
        e.Property(h => h.ActorEmail).HasMaxLength(254);
    }
}

internal sealed class OrderDeclineConfiguration : IEntityTypeConfiguration<OrderDecline>
{
    public void Configure(EntityTypeBuilder<OrderDecline> e)
    {
        e.InTable("OrderDeclines");
        e.HasKey(d => new { d.OrderId, d.DriverId });
        e.HasOne<Order>().WithMany().HasForeignKey(d => d.OrderId).OnDelete(DeleteBehavior.Cascade);
    }
}

/// <summary>The counter row that numbers orders on SQLite (<see cref="OrderNumbers"/>).</summary>
internal sealed class OrderCounterConfiguration : IEntityTypeConfiguration<Counter>
{
    public void Configure(EntityTypeBuilder<Counter> e) => e.HasData(new Counter { Name = OrderNumbers.CounterName, Value = 0 });
}
