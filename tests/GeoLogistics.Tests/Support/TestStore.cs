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

    /// <summary>A Redis server for the tests that need one (scripts/test.sh starts one and sets it).</summary>
    public const string RedisVariable = "GEOLOGISTICS_TEST_REDIS";

    /// <summary>
    /// Settings that point an app at the test Redis under a key prefix of the caller's own, so tests never see each
    /// other's keys. Without <c>GEOLOGISTICS_TEST_REDIS</c> the test is skipped, visibly.
    /// </summary>
    public static Dictionary<string, string?> RedisSettings()
    {
        if (Environment.GetEnvironmentVariable(RedisVariable) is not { Length: > 0 } server)
        {
            Assert.Skip($"{RedisVariable} is not set: no Redis to test against (scripts/test.sh starts one).");
            return [];
        }
        return new Dictionary<string, string?>
        {
            ["Redis:Configuration"] = server,
            ["Redis:KeyPrefix"] = $"test:{Guid.NewGuid():N}:",
        };
    }

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
