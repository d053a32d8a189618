using System.Net;
using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Data;
using GeoLogistics.Server.Drivers;
using GeoLogistics.Server.Users;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace GeoLogistics.Server.Demo;

/// <summary>
/// The <c>--demo</c> city simulator (docs/adr/0006): once the server listens, it plays the demo drivers and
/// dispatchers as clients of the server's own API over loopback (REST and the WebSocket), so every position, order
/// and status change takes the same path as a real app's. Runs only in demo mode with <c>Demo:Simulate</c>.
/// </summary>
public sealed partial class DemoSimulator(
    DemoMode mode,
    IOptions<DemoOptions> options,
    IOptions<AuthOptions> auth,
    IServer server,
    IHostApplicationLifetime lifetime,
    IServiceScopeFactory scopes,
    Sessions sessions,
    TimeProvider clock,
    ILogger<DemoSimulator> logger) : BackgroundService
{
    private const string AdminEmail = "admin@demo.test";
    private static readonly string[] DispatcherEmails = ["dispatcher@demo.test", "dispatcher2@demo.test"];
    private static readonly TimeSpan SetupRetry = TimeSpan.FromSeconds(5);
    /// <summary>A driver last seen further than this from the city's centre (by another app) starts at a random crossing.</summary>
    private const double StartRadiusMeters = 5000;

    private sealed record CastDriver(DemoIdentity Identity, (double Lat, double Lng)? Last);

    /// <summary>Who the simulator plays: the admin (to register drivers, and to look at the board), the dispatchers, the drivers.</summary>
    private sealed record Cast(DemoIdentity Admin, IReadOnlyList<DemoIdentity> Dispatchers, IReadOnlyList<CastDriver> Drivers);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!mode.Enabled || !options.Value.Simulate)
        {
            return;
        }
        // Stop at the first sign of shutdown, while the server still runs: the drivers' sockets close at once
        // instead of holding up the server's own stop.
        using var stopping = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, lifetime.ApplicationStopping);
        var ct = stopping.Token;
        try
        {
            await StartedAsync(ct);
            var addresses = server.Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
            if (PickAddress(addresses) is not { } address)
            {
                LogNoAddress(logger, string.Join(", ", addresses));
                return;
            }
            using var client = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
            {
                BaseAddress = address,
                Timeout = TimeSpan.FromSeconds(15),
            };
            var http = new DemoHttp(client);
            if (await CastAsync(http, ct) is not { } cast)
            {
                return;
            }

            var settings = options.Value;
            var map = CityMap.Demo;
            var seed = settings.Seed ?? Random.Shared.Next();
            var spacing = settings.Spacing(auth.Value);
            // Drivers come online one after another over the first few seconds, not all in the same instant.
            var stagger = TimeSpan.FromMilliseconds(Math.Min(400, 4000.0 / Math.Max(1, cast.Drivers.Count)));
            var bounds = map.Dto.Bounds;
            var (centerLat, centerLng) = ((bounds.MinLat + bounds.MaxLat) / 2, (bounds.MinLng + bounds.MaxLng) / 2);
            var drivers = cast.Drivers.Select((driver, k) =>
            {
                var random = new Random(seed + k + 1);
                // A driver goes on from where it was left (a restart mid-drive does not teleport it).
                var start = driver.Last is { } last && CityMap.Distance(last.Lat, last.Lng, centerLat, centerLng) < StartRadiusMeters
                    ? map.Nearest(last.Lat, last.Lng)
                    : random.Next(map.Nodes.Count);
                var plan = new DriverPlan(map, start, settings.SpeedMps, random);
                return new DemoDriver(driver.Identity, http, plan, spacing, stagger * k, clock, logger);
            }).ToList();
            var orders = new DemoOrders(http, cast.Admin, cast.Dispatchers, map, settings, new Random(seed), clock, logger);
            LogStarted(logger, map.Name, address, drivers.Count, settings.OrdersPerMinute, spacing.TotalMilliseconds);
            await Task.WhenAll(drivers.Select(d => d.RunAsync(ct)).Append(orders.RunAsync(ct)));
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            // The simulator is a guest: whatever happens to it, the server goes on.
            LogCrashed(logger, e);
        }
    }

    private async Task StartedAsync(CancellationToken ct)
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var registration = lifetime.ApplicationStarted.Register(() => started.TrySetResult());
        await started.Task.WaitAsync(ct);
    }

    /// <summary>
    /// The address to reach this server at: plain HTTP on loopback if it listens there; a wildcard address
    /// (<c>0.0.0.0</c>, <c>[::]</c>, <c>*</c>, <c>+</c>) is reached on loopback.
    /// </summary>
    public static Uri? PickAddress(IEnumerable<string> addresses)
    {
        Uri? best = null;
        var bestScore = -1;
        foreach (var address in addresses)
        {
            var text = address
                .Replace("://+:", "://127.0.0.1:", StringComparison.Ordinal)
                .Replace("://*:", "://127.0.0.1:", StringComparison.Ordinal)
                .Replace("://0.0.0.0:", "://127.0.0.1:", StringComparison.Ordinal)
                .Replace("://[::]:", "://[::1]:", StringComparison.Ordinal);
            if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            {
                continue;
            }
            var score = (uri.Scheme == Uri.UriSchemeHttp ? 2 : 0) + (uri.IsLoopback ? 1 : 0);
            if (score > bestScore)
            {
                (best, bestScore) = (new Uri(uri.GetLeftPart(UriPartial.Authority)), score);
            }
        }
        return best;
    }

    private async Task<Cast?> CastAsync(DemoHttp http, CancellationToken ct)
    {
        while (true)
        {
            try
            {
                return await TryCastAsync(http, ct);
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                LogSetupFailed(logger, e.Message, SetupRetry.TotalSeconds);
            }
            await Task.Delay(SetupRetry, clock, ct);
        }
    }

    private async Task<Cast?> TryCastAsync(DemoHttp http, CancellationToken ct)
    {
        var driverEmails = Enumerable.Range(1, options.Value.Drivers).Select(i => $"driver{i}@demo.test").ToList();
        List<string> emails = [AdminEmail, .. DispatcherEmails, .. driverEmails];
        var users = await UsersAsync(emails, ct);
        if (!users.TryGetValue(AdminEmail, out var adminUser))
        {
            LogNoDemoData(logger);
            return null;
        }
        var admin = new DemoIdentity(adminUser.User, null, sessions, clock);

        // The seeded five are there; the rest are registered through the API, as an admin would.
        var created = false;
        for (var i = 1; i <= driverEmails.Count; i++)
        {
            if (users.ContainsKey(driverEmails[i - 1]))
            {
                continue;
            }
            var request = new CreateDriverRequest(driverEmails[i - 1], DemoData.Password, $"Driver {i}", $"+31 6 0000 {i:D4}", null);
            using var response = await http.PostAsync("/api/drivers", admin, request, DemoClientJson.Default.CreateDriverRequest, ct);
            if (response.StatusCode != HttpStatusCode.Conflict)
            {
                DemoHttp.Ensure(response, "POST", "/api/drivers");
            }
            created = true;
        }
        if (created)
        {
            users = await UsersAsync(emails, ct);
        }

        var dispatchers = DispatcherEmails.Where(users.ContainsKey).Select(e => new DemoIdentity(users[e].User, null, sessions, clock)).ToList();
        var drivers = new List<CastDriver>();
        foreach (var email in driverEmails)
        {
            if (users.TryGetValue(email, out var user) && user.Driver is { } driver)
            {
                drivers.Add(new CastDriver(new DemoIdentity(user.User, driver.Id, sessions, clock),
                    driver is { Lat: { } lat, Lng: { } lng } ? (lat, lng) : null));
            }
            else
            {
                LogNotADriver(logger, email);
            }
        }
        return new Cast(admin, dispatchers, drivers);
    }

    private async Task<Dictionary<string, (User User, Driver? Driver)>> UsersAsync(IReadOnlyList<string> emails, CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDb>();
        var users = await db.Users.AsNoTracking().Where(u => emails.Contains(u.Email)).ToListAsync(ct);
        var ids = users.Select(u => u.Id).ToList();
        var drivers = await db.Drivers.AsNoTracking().Where(d => ids.Contains(d.UserId)).ToListAsync(ct);
        return users.ToDictionary(u => u.Email, u => (u, drivers.FirstOrDefault(d => d.UserId == u.Id)));
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Demo: simulating {City} through {Address}: {Drivers} drivers, {OrdersPerMinute} orders a minute, a position every {Milliseconds} ms.")]
    private static partial void LogStarted(ILogger logger, string city, Uri address, int drivers, double ordersPerMinute, double milliseconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Demo: the server listens on no HTTP address the simulator can reach ({Addresses}); no simulation.")]
    private static partial void LogNoAddress(ILogger logger, string addresses);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Demo: admin@demo.test does not exist (the database was not empty when demo data would have been seeded); no simulation.")]
    private static partial void LogNoDemoData(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Demo: {Email} is not a driver; the simulation goes on without it.")]
    private static partial void LogNotADriver(ILogger logger, string email);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Demo: setting up the simulation failed ({Reason}); trying again in {Seconds} s.")]
    private static partial void LogSetupFailed(ILogger logger, string reason, double seconds);

    [LoggerMessage(Level = LogLevel.Error, Message = "Demo: the simulator stopped; the server goes on.")]
    private static partial void LogCrashed(ILogger logger, Exception exception);
}
