using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace GeoLogistics.Server.Data;

public static class TableNames
{
    /// <summary>
    /// Names an entity's table as a <c>DbSet</c> property of the context would. Unlike <c>ToTable</c> it leaves the
    /// schema unset, which is how the migrations' snapshots have every table.
    /// </summary>
    public static EntityTypeBuilder<T> InTable<T>(this EntityTypeBuilder<T> entity, string name) where T : class
    {
        entity.Metadata.SetTableName(name);
        return entity;
    }
}
