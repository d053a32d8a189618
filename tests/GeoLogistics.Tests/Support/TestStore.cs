using Microsoft.Data.Sqlite;
using Npgsql;

namespace GeoLogistics.Tests.Support;

/// <summary>
/// A store of the test's own: a fresh SQLite file, or a fresh PostgreSQL database when
/// <c>GEOLOGISTICS_TEST_POSTGRES</c> names a server (scripts/test.sh sets it for the PostgreSQL pass).
/// </summary>
public sealed class TestStore : IAsyncDisposable
{
    public const string PostgresVariable = "GEOLOGISTICS_TEST_POSTGRES";

    private readonly string? sqliteFile;
    private readonly string? postgresAdmin;
    private readonly string? database;

    private TestStore(string? sqliteFile, string? postgresAdmin, string? database)
    {
        this.sqliteFile = sqliteFile;
        this.postgresAdmin = postgresAdmin;
        this.database = database;
    }

    public static string? PostgresServer => Environment.GetEnvironmentVariable(PostgresVariable) is { Length: > 0 } cs ? cs : null;

    public bool IsPostgres => database is not null;

    /// <summary>The connection-string settings to hand to the app.</summary>
    public IReadOnlyDictionary<string, string?> Settings => IsPostgres
        ? new Dictionary<string, string?> { ["ConnectionStrings:Postgres"] = PostgresConnectionString }
        : new Dictionary<string, string?> { ["ConnectionStrings:Sqlite"] = $"Data Source={sqliteFile}" };

    public string PostgresConnectionString =>
        new NpgsqlConnectionStringBuilder(postgresAdmin) { Database = database }.ConnectionString;

    public static async Task<TestStore> CreateAsync()
    {
        if (PostgresServer is not { } admin)
        {
            var file = Path.Combine(Path.GetTempPath(), "geologistics-tests", $"{Guid.NewGuid():N}.db");
            Directory.CreateDirectory(Path.GetDirectoryName(file)!);
            return new TestStore(file, null, null);
        }
        var name = $"glo_test_{Guid.NewGuid():N}";
        await using var connection = new NpgsqlConnection(admin);
        await connection.OpenAsync();
        await using var create = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
        await create.ExecuteNonQueryAsync();
        return new TestStore(null, admin, name);
    }

    public async ValueTask DisposeAsync()
    {
        if (sqliteFile is not null)
        {
            SqliteConnection.ClearAllPools();
            foreach (var suffix in new[] { "", "-wal", "-shm" })
            {
                File.Delete(sqliteFile + suffix);
            }
            return;
        }
        NpgsqlConnection.ClearAllPools();
        await using var connection = new NpgsqlConnection(postgresAdmin);
        await connection.OpenAsync();
        await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)", connection);
        await drop.ExecuteNonQueryAsync();
    }
}
