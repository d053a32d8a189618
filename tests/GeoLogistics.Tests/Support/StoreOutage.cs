using System.Net;
using System.Net.Sockets;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace GeoLogistics.Tests.Support;

/// <summary>
/// Makes a test's own store really unreachable, and brings it back, without touching what other tests use.
/// SQLite: the database lives in a folder of its own, which is moved away (as when its volume is gone) so that the
/// file cannot be opened, and the connection pools are emptied so that the server must open it again; moved back,
/// the same file is there. PostgreSQL: the server reaches the test's database through a TCP proxy of the test's own
/// on loopback; cut, it refuses new connections and resets the open ones, as a partition or a stopped cluster does,
/// while the shared cluster behind it runs on for everyone else.
/// </summary>
public sealed class StoreOutage : IDisposable
{
    private readonly string? folder;
    private readonly TcpProxy? proxy;
    private readonly string? proxied;

    private StoreOutage(string? folder, TcpProxy? proxy, string? proxied)
    {
        this.folder = folder;
        this.proxy = proxy;
        this.proxied = proxied;
    }

    public static async Task<StoreOutage> OverAsync(TestStore store)
    {
        if (!store.IsPostgres)
        {
            var folder = Path.Combine(Path.GetTempPath(), "geologistics-tests", $"outage-{Guid.NewGuid():N}");
            Directory.CreateDirectory(folder);
            return new StoreOutage(folder, null, null);
        }
        var direct = new NpgsqlConnectionStringBuilder(store.PostgresConnectionString);
        var target = IPAddress.TryParse(direct.Host, out var address)
            ? address
            : (await Dns.GetHostAddressesAsync(direct.Host!)).First(a => a.AddressFamily == AddressFamily.InterNetwork);
        var proxy = new TcpProxy(new IPEndPoint(target, direct.Port));
        var proxied = new NpgsqlConnectionStringBuilder(store.PostgresConnectionString) { Host = "127.0.0.1", Port = proxy.Port }.ConnectionString;
        return new StoreOutage(null, proxy, proxied);
    }

    /// <summary>The connection string for the app: through the proxy, or to the file in its own folder.</summary>
    public IReadOnlyDictionary<string, string?> Settings => proxied is not null
        ? new Dictionary<string, string?> { ["ConnectionStrings:Postgres"] = proxied }
        : new Dictionary<string, string?> { ["ConnectionStrings:Sqlite"] = $"Data Source={Path.Combine(folder!, "store.db")}" };

    private string Away => folder + ".away";

    public void Cut()
    {
        if (proxy is not null)
        {
            proxy.Cut();
            return;
        }
        Directory.Move(folder!, Away);
        SqliteConnection.ClearAllPools();
    }

    public void Restore()
    {
        if (proxy is not null)
        {
            proxy.Restore();
            return;
        }
        Directory.Move(Away, folder!);
    }

    public void Dispose()
    {
        if (proxy is not null)
        {
            proxy.Dispose();
            return;
        }
        SqliteConnection.ClearAllPools();
        foreach (var path in new[] { folder!, Away })
        {
            if (Directory.Exists(path))
            {
                Directory.Delete(path, recursive: true);
            }
        }
    }
}
