using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Data;
using GeoLogistics.Server.Drivers;
using GeoLogistics.Server.Http;
using GeoLogistics.Server.Tenants;
using GeoLogistics.Server.Users;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;

namespace GeoLogistics.Server.Demo;

/// <summary>What an empty database gets at start-up (SPEC §10).</summary>
public static class DemoData
{
    public const string Password = "Demo#2026";

    /// <summary>
    /// Demo tenants, users and drivers when <paramref name="demo"/>; else the bootstrap admin from configuration.
    /// Only into a database with no users. Returns the logins created, to print once.
    /// </summary>
    public static async Task<IReadOnlyList<string>> SeedAsync(IServiceProvider services, bool demo, IConfiguration config, CancellationToken ct = default)
    {
        await using var scope = services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDb>();
        if (await db.Users.AnyAsync(ct))
        {
            return [];
        }
        var hasher = scope.ServiceProvider.GetRequiredService<IPasswordHasher<User>>();
        var clock = scope.ServiceProvider.GetRequiredService<TimeProvider>();
        var now = clock.Now();
        var logins = new List<string>();

        async Task<User> AddUser(string email, string password, Role role, Guid? tenant, string name)
        {
            var user = await UserAccounts.NewUserAsync(db, hasher, clock, email, password, role, tenant, name, ct)
                ?? throw new InvalidOperationException($"{email} exists.");
            logins.Add($"{role.ToString().ToLowerInvariant(),-10} {email}");
            return user;
        }

        if (!demo)
        {
            var email = config["Bootstrap:AdminEmail"];
            var password = config["Bootstrap:AdminPassword"];
            if (string.IsNullOrWhiteSpace(email) || string.IsNullOrEmpty(password))
            {
                return [];
            }
            await AddUser(email, password, Role.Admin, null, "Administrator");
            await db.SaveChangesAsync(ct);
            return logins;
        }

        var hospital = new Tenant { Id = Guid.CreateVersion7(now), Name = "Demo Hospital", CreatedAt = now };
        var kitchen = new Tenant { Id = Guid.CreateVersion7(now), Name = "Second Kitchen", CreatedAt = now };
        db.Tenants.AddRange(hospital, kitchen);
        await AddUser("admin@demo.test", Password, Role.Admin, null, "Demo Admin");
        await AddUser("dispatcher@demo.test", Password, Role.Dispatcher, hospital.Id, "Hospital Dispatch");
        await AddUser("dispatcher2@demo.test", Password, Role.Dispatcher, kitchen.Id, "Kitchen Dispatch");
        await AddUser("customer@demo.test", Password, Role.Customer, null, "Demo Customer");
        for (var i = 1; i <= 5; i++)
        {
            var user = await AddUser($"driver{i}@demo.test", Password, Role.Driver, null, $"Driver {i}");
            db.Drivers.Add(new Driver
            {
                Id = Guid.CreateVersion7(now),
                UserId = user.Id,
                Name = $"Driver {i}",
                Phone = $"+31 6 0000 000{i}",
                Status = DriverStatus.Offline,
                Version = 1,
                CreatedAt = now,
                UpdatedAt = now,
            });
        }
        await db.SaveChangesAsync(ct);
        return logins;
    }
}

/// <summary>
/// Seeds an empty store once the schema is there (after <see cref="StoreInitializer"/>, before the workers start) and
/// logs its logins once.
/// </summary>
public sealed partial class DemoDataSeeder(
    IServiceProvider services, IConfiguration config, IHostEnvironment env, DemoMode demo, ILogger<DemoDataSeeder> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var withDemoData = demo.Enabled || env.IsDevelopment();
        var logins = await DemoData.SeedAsync(services, withDemoData, config, cancellationToken);
        if (logins.Count > 0)
        {
            // Never the password, not even the demo's: logs carry none (its password is in the README, "Demo logins").
            LogCreatedLogins(withDemoData ? " (demo data; the password is in the README)" : "", string.Concat(logins.Select(l => $"\n  {l}")));
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Created these logins{Note}:{Logins}")]
    private partial void LogCreatedLogins(string note, string logins);

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>Whether the process runs the demo: <c>--demo</c> on the command line or <c>Demo:Enabled</c>.</summary>
public sealed record DemoMode(bool Enabled);
