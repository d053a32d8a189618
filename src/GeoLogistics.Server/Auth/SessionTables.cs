using GeoLogistics.Server.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace GeoLogistics.Server.Auth;

public static class SessionTables
{
    extension(AppDb db)
    {
        public DbSet<Session> Sessions => db.Set<Session>();
        public DbSet<LoginThrottle> LoginThrottles => db.Set<LoginThrottle>();
    }
}

internal sealed class SessionConfiguration : IEntityTypeConfiguration<Session>
{
    public void Configure(EntityTypeBuilder<Session> e)
    {
        e.InTable("Sessions");
        e.HasIndex(x => x.UserId);
        // Nodes read the sessions ended in the last moments, and prune the expired ones.
        e.HasIndex(x => x.RevokedAt);
        e.HasIndex(x => x.ExpiresAt);
        // The foreign key to its user is Users' (UserSessionConfiguration): sign-in sits below the user accounts.
    }
}

internal sealed class LoginThrottleConfiguration : IEntityTypeConfiguration<LoginThrottle>
{
    public void Configure(EntityTypeBuilder<LoginThrottle> e)
    {
        e.ToTable("LoginThrottle");
        e.HasKey(x => x.Key);
        e.Property(x => x.Key).HasMaxLength(80);
    }
}
