using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using GeoLogistics.Tests.Support;
using Microsoft.Data.Sqlite;
using Npgsql;
using static GeoLogistics.Tests.Support.HttpTestExtensions;

namespace GeoLogistics.Tests.Security;

/// <summary>
/// A load balancer takes a node out when readiness fails: Redis down must not do that (the API still works fully),
/// the store down must.
/// </summary>
public class ReadinessTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A loopback port nothing listens on: bound once by us, then released.</summary>
    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    [Fact]
    public async Task With_redis_down_the_node_is_ready_but_degraded_naming_redis_and_orders_still_work()
    {
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?>
        {
            ["Redis:Configuration"] = $"127.0.0.1:{ClosedPort()},connectTimeout=500",
        });
        var dispatcher = await app.DispatcherAsync();

        var ready = await app.CreateClient().GetAsync("/health/ready", Ct);
        var created = await dispatcher.PostAsJsonAsync("/api/orders", NewOrder(), Ct);

        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        var body = await ready.Content.ReadAsStringAsync(Ct);
        Assert.Equal("Degraded\nredis: Degraded", body);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await dispatcher.GetAsync("/api/orders", Ct)).StatusCode);
    }

    [Fact]
    public async Task With_the_store_unreachable_the_node_is_not_ready()
    {
        await using var app = await TestApp.StartAsync();
        Assert.Equal(HttpStatusCode.OK, (await app.CreateClient().GetAsync("/health/ready", Ct)).StatusCode);

        await using (var outage = await StoreOutage.BeginAsync(app.Store))
        {
            var ready = await app.CreateClient().GetAsync("/health/ready", Ct);

            Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
            Assert.Equal("Unhealthy\nstore: Unhealthy", await ready.Content.ReadAsStringAsync(Ct));
            Assert.Equal(HttpStatusCode.OK, (await app.CreateClient().GetAsync("/health/live", Ct)).StatusCode);
        }

        // Nothing lost: the store back, the node is ready again.
        Assert.Equal(HttpStatusCode.OK, (await app.CreateClient().GetAsync("/health/ready", Ct)).StatusCode);
    }

    /// <summary>Makes the test's own store unreachable until disposed: a PostgreSQL database refusing connections, or a SQLite file that cannot be opened.</summary>
    private sealed class StoreOutage : IAsyncDisposable
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
}
