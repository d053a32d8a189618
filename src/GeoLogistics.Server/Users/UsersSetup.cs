using GeoLogistics.Server.Auth;
using Microsoft.AspNetCore.Identity;

namespace GeoLogistics.Server.Users;

public static class UsersSetup
{
    /// <summary>Passwords (PBKDF2, its iterations from <c>PasswordHasher</c>), and the accounts behind sessions.</summary>
    public static IServiceCollection AddUsers(this IServiceCollection services, IConfiguration config)
    {
        services.Configure<PasswordHasherOptions>(config.GetSection("PasswordHasher"));
        services.AddSingleton<IPasswordHasher<User>, PasswordHasher<User>>();
        services.AddSingleton<ISessionAccounts, UserSessionAccounts>();
        return services;
    }
}
