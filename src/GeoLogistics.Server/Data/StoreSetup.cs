using System.Data.Common;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace GeoLogistics.Server.Data;

public static class StoreSetup
{
    public const string DefaultSqlite = "Data Source=data/geologistics.db";

    /// <summary>
    /// PostgreSQL when <c>ConnectionStrings:Postgres</c> is set, else the embedded SQLite file. Every
    /// <see cref="IInterceptor"/> registered as a service joins the store's own (after them), so a feature can act on
    /// its commits without the store naming it.
    /// </summary>
    public static IServiceCollection AddStore(this IServiceCollection services, IConfiguration config, IHostEnvironment env)
    {
        var postgres = config.GetConnectionString("Postgres");
        if (!string.IsNullOrWhiteSpace(postgres))
        {
            services.AddSingleton(new StoreWriteGate(serializes: false));
            services.AddDbContextPool<AppDb, PostgresAppDb>((sp, o) => o.UseNpgsql(postgres).QuietFailures().AddInterceptors(sp.GetServices<IInterceptor>()));
        }
        else
        {
            var sqlite = SqliteConnectionString(config.GetConnectionString("Sqlite") ?? DefaultSqlite, env.ContentRootPath);
            // The server's own writers take turns before they ask for the file's write lock (StoreWriteGate).
            services.AddSingleton(new StoreWriteGate(serializes: true));
            services.AddDbContextPool<AppDb, SqliteAppDb>((sp, o) => o.UseSqlite(sqlite).QuietFailures()
                .AddInterceptors([new SqlitePragmas(), sp.GetRequiredService<StoreWriteGate>(), .. sp.GetServices<IInterceptor>()]));
        }
        services.AddHealthChecks().AddDbContextCheck<AppDb>("store", tags: ["ready"]);
        return services;
    }

    /// <summary>
    /// EF Core logs every failed command, connection, query and save as an error with its stack trace, before the
    /// caller has decided whether it was expected (a lost race is a 409, an outage a 503 and a retry). The caller
    /// logs what it decided, once; EF Core's own lines go to Debug.
    /// </summary>
    private static DbContextOptionsBuilder QuietFailures(this DbContextOptionsBuilder options) =>
        options.ConfigureWarnings(w => w.Log(
            (RelationalEventId.CommandError, LogLevel.Debug),
            (RelationalEventId.ConnectionError, LogLevel.Debug),
            (RelationalEventId.TransactionError, LogLevel.Debug),
            (CoreEventId.QueryIterationFailed, LogLevel.Debug),
            (CoreEventId.SaveChangesFailed, LogLevel.Debug)));

    /// <summary>A relative file lands under the content root, in a folder created for it.</summary>
    private static string SqliteConnectionString(string connectionString, string contentRoot)
    {
        var builder = new SqliteConnectionStringBuilder(connectionString);
        if (builder.DataSource is not (":memory:" or "") && builder.Mode != SqliteOpenMode.Memory)
        {
            builder.DataSource = Path.GetFullPath(builder.DataSource, contentRoot);
            Directory.CreateDirectory(Path.GetDirectoryName(builder.DataSource)!);
        }
        return builder.ToString();
    }

    /// <summary>Creates or upgrades the schema. Several nodes may do this at once: EF Core takes a migration lock.</summary>
    public static async Task MigrateStoreAsync(this IServiceProvider services, CancellationToken ct = default)
    {
        await using var scope = services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDb>();
        await db.Database.MigrateAsync(ct);
        if (db.Database.IsSqlite())
        {
            // WAL lets readers run beside the one writer; it is a property of the file, set once.
            await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;", ct);
        }
    }

    /// <summary>
    /// Per-connection settings: with WAL, NORMAL sync survives a process crash and commits much faster. The busy timeout
    /// is the connection string's <c>Default Timeout</c> (30 s unless set), the time Microsoft.Data.Sqlite also retries
    /// a busy statement for: the last resort for another process holding the file's lock, since this server's own
    /// writers take turns first (StoreWriteGate).
    /// </summary>
    public static string SqliteConnectionSettings(SqliteConnection connection) =>
        $"PRAGMA synchronous=NORMAL; PRAGMA busy_timeout={connection.DefaultTimeout * 1000};";

    private sealed class SqlitePragmas : DbConnectionInterceptor
    {
        public override void ConnectionOpened(DbConnection connection, ConnectionEndEventData eventData) => Apply(connection);

        public override Task ConnectionOpenedAsync(DbConnection connection, ConnectionEndEventData eventData, CancellationToken cancellationToken = default)
        {
            Apply(connection);
            return Task.CompletedTask;
        }

        private static void Apply(DbConnection connection)
        {
            using var command = connection.CreateCommand();
            command.CommandText = SqliteConnectionSettings((SqliteConnection)connection);
            command.ExecuteNonQuery();
        }
    }
}

/// <summary>For <c>dotnet ef migrations add … --context SqliteAppDb</c>.</summary>
public sealed class SqliteDesignTimeFactory : IDesignTimeDbContextFactory<SqliteAppDb>
{
    public SqliteAppDb CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<SqliteAppDb>().UseSqlite("Data Source=design-time.db").Options);
}

/// <summary>For <c>dotnet ef migrations add … --context PostgresAppDb</c>.</summary>
public sealed class PostgresDesignTimeFactory : IDesignTimeDbContextFactory<PostgresAppDb>
{
    public PostgresAppDb CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<PostgresAppDb>().UseNpgsql("Host=localhost;Database=design_time").Options);
}
