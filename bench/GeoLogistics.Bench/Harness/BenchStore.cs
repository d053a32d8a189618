using System.Security.Cryptography;
using Npgsql;

namespace GeoLogistics.Bench.Harness;

/// <summary>
/// The server's store for one run, made fresh and thrown away after: a SQLite file in a temporary folder, or a
/// database <c>bench_&lt;random&gt;</c> created on the PostgreSQL server named by <c>--postgres</c> and dropped at the end.
/// </summary>
public sealed class BenchStore : IAsyncDisposable
{
    public static readonly IReadOnlyList<BenchOption> Options =
    [
        new("store", "sqlite or postgres", "sqlite"),
        new("postgres", "connection string of a PostgreSQL server (implies --store postgres); a database bench_<random> is created on it and dropped after"),
    ];

    private readonly string? tempDir;
    private readonly string? adminConnectionString;
    private readonly string? database;
    private readonly int? postmasterPid;

    private BenchStore(
        string kind, IReadOnlyDictionary<string, string> settings, string? tempDir, string? adminConnectionString, string? database, int? postmasterPid)
    {
        Kind = kind;
        Settings = settings;
        this.tempDir = tempDir;
        this.adminConnectionString = adminConnectionString;
        this.database = database;
        this.postmasterPid = postmasterPid;
    }

    /// <summary><c>sqlite</c> or <c>postgres</c>.</summary>
    public string Kind { get; }

    /// <summary>The server's environment variables that point it at this store.</summary>
    public IReadOnlyDictionary<string, string> Settings { get; }

    public static async Task<BenchStore> CreateAsync(BenchArgs args, CancellationToken ct)
    {
        var postgres = args.String("postgres");
        var kind = args.String("store") ?? "sqlite";
        if (postgres is not null && !args.Has("store"))
        {
            kind = "postgres";
        }
        switch (kind)
        {
            case "sqlite":
                if (postgres is not null)
                {
                    throw new BenchException("--postgres was given with --store sqlite; drop one of them.");
                }
                var dir = Directory.CreateTempSubdirectory("geologistics-bench-").FullName;
                return new BenchStore(kind, new Dictionary<string, string>
                {
                    ["ConnectionStrings__Sqlite"] = $"Data Source={Path.Combine(dir, "bench.db")}",
                }, dir, null, null, null);
            case "postgres":
                if (postgres is null)
                {
                    throw new BenchException("--store postgres needs --postgres \"Host=…;Port=…;Username=…\".");
                }
                return await CreatePostgresAsync(postgres, ct);
            default:
                throw new BenchException($"--store is sqlite or postgres, not '{kind}'.");
        }
    }

    private static async Task<BenchStore> CreatePostgresAsync(string connectionString, CancellationToken ct)
    {
        NpgsqlConnectionStringBuilder given;
        try
        {
            given = new NpgsqlConnectionStringBuilder(connectionString);
        }
        catch (ArgumentException e)
        {
            throw new BenchException($"--postgres is not a valid connection string: {e.Message}");
        }
        var admin = Maintenance(given);
        var database = $"bench_{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6))}";
        int? postmaster;
        try
        {
            await using var connection = new NpgsqlConnection(admin.ConnectionString);
            await connection.OpenAsync(ct);
            await using (var create = new NpgsqlCommand($"CREATE DATABASE \"{database}\"", connection))
            {
                await create.ExecuteNonQueryAsync(ct);
            }
            postmaster = LocalPostmaster(admin.Host, connection.ProcessID);
        }
        catch (NpgsqlException e)
        {
            throw new BenchException($"Could not create database {database} via {admin.Host}:{admin.Port}: {e.Message}");
        }
        var server = new NpgsqlConnectionStringBuilder(given.ConnectionString) { Database = database };
        return new BenchStore("postgres", new Dictionary<string, string>
        {
            ["ConnectionStrings__Postgres"] = server.ConnectionString,
        }, null, admin.ConnectionString, database, postmaster);
    }

    /// <summary>
    /// The maintenance database (<c>postgres</c>, or the one named), unpooled, so nothing of ours lingers when a
    /// throw-away database is dropped.
    /// </summary>
    internal static NpgsqlConnectionStringBuilder Maintenance(NpgsqlConnectionStringBuilder given)
    {
        var admin = new NpgsqlConnectionStringBuilder(given.ConnectionString) { Pooling = false };
        if (string.IsNullOrEmpty(admin.Database))
        {
            admin.Database = "postgres";
        }
        return admin;
    }

    /// <summary>
    /// The cluster's postmaster when it runs on this machine: the parent of our backend, if that is a postgres
    /// process. Its process tree is where PostgreSQL's CPU time is counted.
    /// </summary>
    private static int? LocalPostmaster(string? host, int backendPid)
    {
        var local = host is null or "localhost" or "127.0.0.1" or "::1" || host.StartsWith('/');
        if (!local || ProcFs.Stat(backendPid) is not { } backend)
        {
            return null;
        }
        try
        {
            return File.ReadAllText($"/proc/{backend.ParentPid}/comm").Trim() == "postgres" ? backend.ParentPid : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>CPU seconds PostgreSQL has used so far (all of the cluster), when it is local; null otherwise.</summary>
    public double? DatabaseCpuSeconds() => postmasterPid is { } pid ? ProcFs.TreeCpuSeconds(pid) : null;

    internal static async Task ExecuteAsync(string connectionString, string sql, CancellationToken ct)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(ct);
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Call after the server has stopped.</summary>
    public async ValueTask DisposeAsync()
    {
        if (tempDir is not null)
        {
            try
            {
                Directory.Delete(tempDir, recursive: true);
            }
            catch (IOException e)
            {
                await Console.Error.WriteLineAsync($"warning: could not remove {tempDir}: {e.Message}");
            }
        }
        if (adminConnectionString is not null && database is not null)
        {
            try
            {
                // FORCE: a server killed mid-run may leave connections the cluster has not noticed yet.
                await ExecuteAsync(adminConnectionString, $"DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)", CancellationToken.None);
            }
            catch (NpgsqlException e)
            {
                await Console.Error.WriteLineAsync($"warning: could not drop database {database}: {e.Message}");
            }
        }
    }
}
