using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Data;
using GeoLogistics.Server.Http;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;

namespace GeoLogistics.Server.Users;

public static class UsersApi
{
    public static IEndpointRouteBuilder MapUsers(this IEndpointRouteBuilder routes)
    {
        routes.MapGet("/api/me", Me).WithTags("Users").WithName("Me").WithSummary("The caller's own account.").RequireAuthorization();
        routes.MapPost("/api/users", Create).WithTags("Users").WithName("CreateUser").WithSummary("Create an admin, dispatcher or customer (admin).")
            .RequireAuthorization().Produces<UserDto>(StatusCodes.Status201Created);
        return routes;
    }

    private static async Task<IResult> Me(Caller caller, AppDb db, CancellationToken ct)
    {
        var user = await db.Users.AsNoTracking().FirstOrDefaultAsync(u => u.Id == caller.UserId, ct);
        return user is null ? Problems.NotFound("Your account") : TypedResults.Ok(user.ToDto(caller.DriverId));
    }

    private static async Task<IResult> Create(
        CreateUserRequest request, Caller caller, AppDb db, IPasswordHasher<User> hasher, TimeProvider clock, CancellationToken ct)
    {
        if (!caller.IsAdmin)
        {
            return Problems.Forbidden("Only admins create users.");
        }
        switch (request.Role)
        {
            case Role.Driver:
                return Problems.Invalid("role", "Drivers are created with POST /api/drivers, which also makes their driver record.");
            case Role.Dispatcher when request.TenantId is null:
                return Problems.Invalid("tenantId", "A dispatcher belongs to a tenant.");
            case Role.Admin when request.TenantId is not null:
                return Problems.Invalid("tenantId", "Admins belong to no tenant.");
        }
        if (request.TenantId is { } tenant && !await db.Tenants.AnyAsync(t => t.Id == tenant, ct))
        {
            return Problems.Invalid("tenantId", "There is no such tenant.");
        }
        var result = await NewUserAsync(db, hasher, clock, request.Email!, request.Password!, request.Role!.Value, request.TenantId, request.Name, ct);
        if (result is not { } user)
        {
            return Problems.Conflict("A user with this email exists.");
        }
        await db.SaveChangesAsync(ct);
        return TypedResults.Created($"/api/users/{user.Id}", user.ToDto(null));
    }

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
