using GeoLogistics.Server.Data;
using Microsoft.EntityFrameworkCore;

namespace GeoLogistics.Tests.Data;

/// <summary>Each feature maps its own tables; together they must still be the schema the migrations create.</summary>
public class StoreModelTests
{
    [Fact]
    public void The_SQLite_model_is_the_one_its_migrations_create()
    {
        using var db = new SqliteAppDb(new DbContextOptionsBuilder<SqliteAppDb>().UseSqlite("Data Source=:memory:").Options);
        Assert.False(db.Database.HasPendingModelChanges(), "The model differs from the SQLite migrations' snapshot: add a migration.");
    }

    [Fact]
    public void The_PostgreSQL_model_is_the_one_its_migrations_create()
    {
        // Compares the model with the snapshot; no server is contacted.
        using var db = new PostgresAppDb(new DbContextOptionsBuilder<PostgresAppDb>().UseNpgsql("Host=localhost;Database=model").Options);
        Assert.False(db.Database.HasPendingModelChanges(), "The model differs from the PostgreSQL migrations' snapshot: add a migration.");
    }
}
