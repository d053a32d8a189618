using GeoLogistics.Server.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace GeoLogistics.Server.Tenants;

public static class TenantTables
{
    extension(AppDb db)
    {
        public DbSet<Tenant> Tenants => db.Set<Tenant>();
    }
}

internal sealed class TenantConfiguration : IEntityTypeConfiguration<Tenant>
{
    public void Configure(EntityTypeBuilder<Tenant> e)
    {
        e.InTable("Tenants");
        e.Property(t => t.Name).HasMaxLength(200);
        e.HasIndex(t => t.Name).IsUnique();
    }
}
