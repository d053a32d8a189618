using GeoLogistics.Server.Data;
using GeoLogistics.Server.Tenants;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace GeoLogistics.Server.Drivers;

public static class DriverTables
{
    extension(AppDb db)
    {
        public DbSet<Driver> Drivers => db.Set<Driver>();

        /// <summary>The driver record of a driver account, by its user; null for any other account.</summary>
        public Task<Guid?> DriverIdOfAsync(Guid userId, CancellationToken ct) =>
            db.Drivers.Where(d => d.UserId == userId).Select(d => (Guid?)d.Id).FirstOrDefaultAsync(ct);
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
        // The foreign key to its user is Users' (UserDriverConfiguration): a driver record names its user by id.
        e.HasOne<Tenant>().WithMany().HasForeignKey(d => d.TenantId).OnDelete(DeleteBehavior.Restrict);
    }
}
