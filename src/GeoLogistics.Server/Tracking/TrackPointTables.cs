using GeoLogistics.Server.Data;
using GeoLogistics.Server.Orders;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace GeoLogistics.Server.Tracking;

public static class TrackPointTables
{
    extension(AppDb db)
    {
        public DbSet<TrackPoint> TrackPoints => db.Set<TrackPoint>();
    }
}

internal sealed class TrackPointConfiguration : IEntityTypeConfiguration<TrackPoint>
{
    public void Configure(EntityTypeBuilder<TrackPoint> e)
    {
        e.InTable("TrackPoints");
        e.Property(p => p.Leg).HasMaxLength(10);
        e.HasIndex(p => new { p.OrderId, p.Leg, p.At });
        e.HasOne<Order>().WithMany().HasForeignKey(p => p.OrderId).OnDelete(DeleteBehavior.Cascade);
    }
}
