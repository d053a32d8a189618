using GeoLogistics.Server.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace GeoLogistics.Server.Events;

public static class EventTables
{
    extension(AppDb db)
    {
        public DbSet<EventRecord> Events => db.Set<EventRecord>();
    }
}

internal sealed class EventRecordConfiguration : IEntityTypeConfiguration<EventRecord>
{
    public void Configure(EntityTypeBuilder<EventRecord> e)
    {
        e.InTable("Events");
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
    }
}
