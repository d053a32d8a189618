using GeoLogistics.Server.Data;
using GeoLogistics.Server.Tenants;
using GeoLogistics.Server.Users;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace GeoLogistics.Server.Drivers;

public static class DriverTables
{
    extension(AppDb db)
    {
        public DbSet<Driver> Drivers => db.Set<Driver>();
    }
}

internal sealed class DriverConfiguration : IEntityTypeConfiguration<Driver>
{
    public void Configure(EntityTypeBuilder<Driver> e)
    {
        e.InTable("Drivers");
        e.Property(d => d.Status).HasConversion<string>().HasMaxLength(20);
        e.Property(d => d.Version).IsConcurrencyToken();
        e.HasIndex(d => d.UserId).IsUnique();
        e.HasIndex(d => new { d.Status, d.Cell });
        // A driver is on at most one order: the store refuses a second one whatever the code does.
        e.HasIndex(d => d.CurrentOrderId).IsUnique();
        e.HasOne<User>().WithMany().HasForeignKey(d => d.UserId).OnDelete(DeleteBehavior.Restrict);
        e.HasOne<Tenant>().WithMany().HasForeignKey(d => d.TenantId).OnDelete(DeleteBehavior.Restrict);
    }
}
