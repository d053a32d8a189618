using GeoLogistics.Tests.Support;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace GeoLogistics.Tests.Security;

/// <summary>Makes the test's own store unreachable until disposed: a PostgreSQL database refusing connections, or a SQLite file that cannot be opened.</summary>
internal sealed class StoreOutage : IAsyncDisposable
{
    private readonly Func<Task> end;

    private StoreOutage(Func<Task> end) => this.end = end;

    public static async Task<StoreOutage> BeginAsync(TestStore store)
    {
        if (store.IsPostgres)
        {
            var target = new NpgsqlConnectionStringBuilder(store.PostgresConnectionString);
            var admin = new NpgsqlConnectionStringBuilder(TestStore.PostgresServer) { Pooling = false }.ConnectionString;
            await ExecuteAsync(admin, $"ALTER DATABASE \"{target.Database}\" WITH ALLOW_CONNECTIONS false");
            await ExecuteAsync(admin, $"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{target.Database}'");
            NpgsqlConnection.ClearAllPools();
            return new StoreOutage(() => ExecuteAsync(admin, $"ALTER DATABASE \"{target.Database}\" WITH ALLOW_CONNECTIONS true"));
        }
        // A directory where the database file was: opening it fails as an unreachable file would.
        var file = new SqliteConnectionStringBuilder(store.Settings["ConnectionStrings:Sqlite"]).DataSource;
        var aside = file + ".aside";
        SqliteConnection.ClearAllPools();
        File.Move(file, aside);
        Directory.CreateDirectory(file);
        return new StoreOutage(() =>
        {
            Directory.Delete(file);
            File.Move(aside, file);
            SqliteConnection.ClearAllPools();
            return Task.CompletedTask;
        });
    }

    private static async Task ExecuteAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    public async ValueTask DisposeAsync() => await end();
}
