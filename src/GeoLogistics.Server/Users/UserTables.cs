using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Data;
using GeoLogistics.Server.Drivers;
using GeoLogistics.Server.Tenants;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace GeoLogistics.Server.Users;

public static class UserTables
{
    extension(AppDb db)
    {
        public DbSet<User> Users => db.Set<User>();
    }
}

internal sealed class UserConfiguration : IEntityTypeConfiguration<User>
{
    public void Configure(EntityTypeBuilder<User> e)
    {
        e.InTable("Users");
        e.Property(u => u.Email).HasMaxLength(254);
        e.HasIndex(u => u.Email).IsUnique();
        e.Property(u => u.Role).HasConversion<string>().HasMaxLength(20);
        e.HasOne<Tenant>().WithMany().HasForeignKey(u => u.TenantId).OnDelete(DeleteBehavior.Restrict);
    }
}

/// <summary>A driver record belongs to one user, which cannot be deleted while it has one.</summary>
internal sealed class UserDriverConfiguration : IEntityTypeConfiguration<Driver>
{
    public void Configure(EntityTypeBuilder<Driver> e) =>
        e.HasOne<User>().WithMany().HasForeignKey(d => d.UserId).OnDelete(DeleteBehavior.Restrict);
}

/// <summary>A user's sessions go with it.</summary>
internal sealed class UserSessionConfiguration : IEntityTypeConfiguration<Session>
{
    public void Configure(EntityTypeBuilder<Session> e) =>
        e.HasOne<User>().WithMany().HasForeignKey(x => x.UserId).OnDelete(DeleteBehavior.Cascade);
}
