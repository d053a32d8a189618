using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Drivers;
using GeoLogistics.Server.Http;
using GeoLogistics.Server.Tenants;
using GeoLogistics.Server.Users;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;

namespace GeoLogistics.Server.Data;

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
            var user = await UsersApi.NewUserAsync(db, hasher, clock, email, password, role, tenant, name, ct)
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
