using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Data;
using GeoLogistics.Server.Drivers;
using GeoLogistics.Server.Events;
using GeoLogistics.Server.Tenants;
using GeoLogistics.Server.Users;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace GeoLogistics.Tests.Support;

/// <summary>
/// The whole server on real Kestrel and a loopback port, over a store of its own, seeded with SPEC §10's demo data.
/// One per test: nothing is shared between tests.
/// </summary>
public sealed class TestApp : WebApplicationFactory<Program>
{
    public const string SigningKey = "test-signing-key-that-is-long-enough-for-hs256-0123456789";

    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private readonly TestStore store;
    private readonly bool ownsStore;
    private readonly Dictionary<string, string?> settings;

    private readonly Action<IServiceCollection>? replaceServices;
    private readonly Lock clients = new();
    private readonly Lazy<Uri> serverUri;

    static TestApp()
    {
        // Dozens of servers share this process, and a SQLite writer waiting for the file's one write lock waits on a
        // pool thread (Microsoft.Data.Sqlite has no asynchronous I/O). With the pool's floor at one thread per core, a
        // few such waits stall every other server here until the pool grows; a real server is one per process.
        ThreadPool.GetMinThreads(out var workers, out var io);
        ThreadPool.SetMinThreads(Math.Max(workers, 64), Math.Max(io, 64));
    }

    private TestApp(TestStore store, bool ownsStore, IReadOnlyDictionary<string, string?> overrides, Action<IServiceCollection>? replaceServices)
    {
        this.store = store;
        this.ownsStore = ownsStore;
        this.replaceServices = replaceServices;
        settings = new Dictionary<string, string?>
        {
            ["Demo:Enabled"] = "true",
            ["Jwt:SigningKey"] = SigningKey,
            ["PasswordHasher:IterationCount"] = "1000",
            ["Auth:LoginAttemptsPerMinute"] = "10000",
            ["Auth:LocationUpdatesPerSecond"] = "1000",
            // Tests create orders faster than any user should; the order-limit tests set their own.
            ["Api:OrdersPerUserPerMinute"] = "1000000",
            ["Api:OrderBurst"] = "1000000",
            ["Urls"] = "http://127.0.0.1:0",
            // Background dispatch would book drivers behind the back of tests about something else; dispatch tests turn it on.
            ["Dispatch:Enabled"] = "false",
            // Likewise the demo's city simulator (demo mode is on for the demo data); the demo tests turn it on.
            ["Demo:Simulate"] = "false",
            // A test's server stops at once; the drain tests set their own delay.
            ["Node:DrainDelay"] = "00:00:00",
        };
        foreach (var (key, value) in store.Settings)
        {
            settings[key] = value;
        }
        foreach (var (key, value) in overrides)
        {
            settings[key] = value;
        }
        UseKestrel(0);
        serverUri = new Lazy<Uri>(() => CreateClient().BaseAddress!);
    }

    public TestStore Store => store;

    public static async Task<TestApp> StartAsync(
        IReadOnlyDictionary<string, string?>? overrides = null, Action<IServiceCollection>? replaceServices = null)
    {
        var app = new TestApp(await TestStore.CreateAsync(), ownsStore: true, overrides ?? new Dictionary<string, string?>(), replaceServices);
        app.StartServer();
        return app;
    }

    /// <summary>Another node on the store of <paramref name="first"/> (which keeps it, and drops it when disposed).</summary>
    public static TestApp StartNode(TestApp first, IReadOnlyDictionary<string, string?>? overrides = null)
    {
        var app = new TestApp(first.store, ownsStore: false, overrides ?? new Dictionary<string, string?>(), null);
        app.StartServer();
        return app;
    }

    /// <summary>A server on a store the test keeps (and disposes): it outlives this server, for a restart or an outage.</summary>
    public static TestApp StartOn(
        TestStore store, IReadOnlyDictionary<string, string?>? overrides = null, Action<IServiceCollection>? replaceServices = null)
    {
        var app = new TestApp(store, ownsStore: false, overrides ?? new Dictionary<string, string?>(), replaceServices);
        app.StartServer();
        return app;
    }

    // Program.cs reads the store settings before Build, so they go into host configuration; the rest is read
    // later and must also beat appsettings.json, so it goes into app configuration too.
    protected override IHost CreateHost(IHostBuilder builder)
    {
        builder.ConfigureHostConfiguration(c => c.AddInMemoryCollection(settings));
        return base.CreateHost(builder);
    }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Testing");
        // The server's log goes to the output of the test that started it, which the runner shows with that test's
        // failure, instead of to the console that every test in the process shares.
        var output = TestContext.Current.TestOutputHelper;
        builder.ConfigureLogging(logging => logging.ClearProviders().AddFakeLogging(o =>
        {
            o.OutputFormatter = r => $"{r.Timestamp:HH:mm:ss.fff} {r.Level} {r.Category}: {r.Message}{(r.Exception is null ? "" : $"\n{r.Exception}")}";
            o.OutputSink = line => WriteTo(output, line);
        }));
        builder.ConfigureAppConfiguration(c => c.AddInMemoryCollection(settings));
        if (replaceServices is not null)
        {
            builder.ConfigureTestServices(replaceServices);
        }
    }

    private static void WriteTo(ITestOutputHelper? output, string line)
    {
        try
        {
            output?.WriteLine(line);
        }
        catch (InvalidOperationException)
        {
            // The test has ended; a server still shutting down has no one to tell.
        }
    }

    public async Task<T> WithDbAsync<T>(Func<AppDb, Task<T>> work)
    {
        await using var scope = Services.CreateAsyncScope();
        return await work(scope.ServiceProvider.GetRequiredService<AppDb>());
    }

    public Task WithDbAsync(Func<AppDb, Task> work) => WithDbAsync(async db =>
    {
        await work(db);
        return true;
    });

    /// <summary>A client with a real token for a seeded or created user, minted as login would mint it.</summary>
    public async Task<HttpClient> ClientForAsync(string email) => ClientWithToken(await TokenForAsync(email));

    /// <summary>The server's address (real Kestrel on a loopback port).</summary>
    public Uri ServerUri => serverUri.Value;

    /// <summary>
    /// The factory's own <c>CreateClient</c> adds to a plain list that its dispose walks; tests open clients from many
    /// threads at once, and two unguarded adds can leave a null in that list (a NullReferenceException at dispose).
    /// </summary>
    public new HttpClient CreateClient()
    {
        lock (clients)
        {
            return base.CreateClient();
        }
    }

    public async Task<string> TokenForAsync(string email, TimeProvider? clock = null)
    {
        var (user, driverId) = await WithDbAsync(async db =>
        {
            var u = await db.Users.AsNoTracking().SingleAsync(x => x.Email == email);
            var d = await db.DriverIdOfAsync(u.Id, TestContext.Current.CancellationToken);
            return (u, d);
        });
        var sessions = clock is null
            ? Services.GetRequiredService<Sessions>()
            : ActivatorUtilities.CreateInstance<Sessions>(Services, ActivatorUtilities.CreateInstance<TokenService>(Services, clock), clock);
        return (await sessions.StartAsync(user.ToCaller(driverId), TestContext.Current.CancellationToken)).AccessToken;
    }

    public HttpClient ClientWithToken(string token)
    {
        var client = CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    public Task<HttpClient> AdminAsync() => ClientForAsync("admin@demo.test");

    /// <summary>Demo Hospital's dispatcher.</summary>
    public Task<HttpClient> DispatcherAsync() => ClientForAsync("dispatcher@demo.test");

    /// <summary>Second Kitchen's dispatcher.</summary>
    public Task<HttpClient> Dispatcher2Async() => ClientForAsync("dispatcher2@demo.test");

    public Task<HttpClient> CustomerAsync() => ClientForAsync("customer@demo.test");

    public Task<HttpClient> DriverAsync(int n) => ClientForAsync($"driver{n}@demo.test");

    public Task<Tenant> TenantAsync(string name) => WithDbAsync(db => db.Tenants.AsNoTracking().SingleAsync(t => t.Name == name));

    public Task<Driver> DriverRecordAsync(int n) => WithDbAsync(async db =>
    {
        var user = await db.Users.AsNoTracking().SingleAsync(u => u.Email == $"driver{n}@demo.test");
        return await db.Drivers.AsNoTracking().SingleAsync(d => d.UserId == user.Id);
    });

    public Task<User> UserAsync(string email) => WithDbAsync(db => db.Users.AsNoTracking().SingleAsync(u => u.Email == email));

    /// <summary>
    /// Waits until the committed-event feed has handed every committed event to its consumers (the hub, dispatch,
    /// the active-order map): what a test wrote is then known everywhere in the server, as it soon is in real use.
    /// </summary>
    public async Task WaitForFeedAsync()
    {
        var feed = Services.GetRequiredService<GeoLogistics.Server.Events.EventFeed>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        // Events are numbered after commit: wait for the sequencer first, then for the feed.
        while (await WithDbAsync(db => db.Events.AnyAsync(e => e.Seq == null)))
        {
            await Task.Delay(10, timeout.Token);
        }
        var head = await WithDbAsync(db => db.Events.MaxAsync(e => e.Seq)) ?? 0;
        while (feed.Head < head)
        {
            await Task.Delay(10, timeout.Token);
        }
    }

    /// <summary>Registers a platform driver (or one of <paramref name="fleet"/>), puts it at a place and online.</summary>
    public async Task<Guid> OnlineDriverAsync(string email, double lat, double lng, Guid? fleet = null)
    {
        var admin = await AdminAsync();
        var created = await admin.PostAsJsonAsync("/api/drivers", new { email, password = "driver-password", name = email, tenantId = fleet });
        created.EnsureSuccessStatusCode();
        var driver = await ClientForAsync(email);
        var id = (await created.ReadAsync<DriverDto>()).Id;
        (await driver.PostAsJsonAsync("/api/drivers/me/location", new { lat, lng })).EnsureSuccessStatusCode();
        // Dispatch reads candidates from the store: online only once the first position is there, so that the
        // sweep a driver coming free starts already finds it (the position is written a moment after its 202).
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (!await WithDbAsync(db => db.Drivers.AnyAsync(d => d.Id == id && d.LocationAt != null, timeout.Token)))
        {
            await Task.Delay(10, timeout.Token);
        }
        (await driver.PostAsJsonAsync("/api/drivers/me/status", new { online = true })).EnsureSuccessStatusCode();
        return id;
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        if (ownsStore)
        {
            await store.DisposeAsync();
        }
    }
}

public static class HttpTestExtensions
{
    public static async Task<T> ReadAsync<T>(this HttpResponseMessage response) =>
        (await response.Content.ReadFromJsonAsync<T>(TestApp.Json))!;

    public static async Task<JsonElement> ReadJsonAsync(this HttpResponseMessage response) =>
        await response.Content.ReadFromJsonAsync<JsonElement>(TestApp.Json);

    public static object NewOrder(Guid? tenantId = null, string? kind = null) => new
    {
        tenantId,
        pickup = new { lat = 52.370, lng = 4.890, address = "Damrak 1" },
        dropoff = new { lat = 52.360, lng = 4.900, address = "Stadhouderskade 2" },
        kind,
    };
}
