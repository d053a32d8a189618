using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Data;
using GeoLogistics.Server.Http;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;

namespace GeoLogistics.Server.Users;

/// <summary>Making a user account: for an admin's POST /api/users, a driver's registration, and the demo's people.</summary>
public static class UserAccounts
{
    /// <summary>Adds a user to the context, or answers null when the email is taken.</summary>
    public static async Task<User?> NewUserAsync(
        AppDb db, IPasswordHasher<User> hasher, TimeProvider clock,
        string email, string password, Role role, Guid? tenantId, string? name, CancellationToken ct)
    {
        var normalized = User.NormalizeEmail(email);
        if (await db.Users.AnyAsync(u => u.Email == normalized, ct))
        {
            return null;
        }
        var user = new User
        {
            Id = Guid.CreateVersion7(),
            Email = normalized,
            Role = role,
            TenantId = tenantId,
            Name = name,
            CreatedAt = clock.Now(),
        };
        user.PasswordHash = hasher.HashPassword(user, password);
        db.Users.Add(user);
        return user;
    }
}
