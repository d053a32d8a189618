using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Data;
using GeoLogistics.Server.Drivers;
using GeoLogistics.Server.Http;
using GeoLogistics.Server.Tenants;
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
        routes.MapGet("/api/users", List).WithTags("Users").WithName("ListUsers").WithSummary("Every user, by email (admin).")
            .RequireAuthorization();
        routes.MapPatch("/api/users/{id:guid}", Update).WithTags("Users").WithName("UpdateUser")
            .WithSummary("Disable or enable a user, or change its role (admin). Either ends the user's sessions at once, on every node.")
            .RequireAuthorization();
        routes.MapDelete("/api/users/{id:guid}/sessions", EndSessions).WithTags("Users").WithName("EndUserSessions")
            .WithSummary("End every session of a user (admin): its tokens stop working and its sockets close.")
            .RequireAuthorization();
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
        var result = await UserAccounts.NewUserAsync(db, hasher, clock, request.Email!, request.Password!, request.Role!.Value, request.TenantId, request.Name, ct);
        if (result is not { } user)
        {
            return Problems.Conflict("A user with this email exists.");
        }
        await db.SaveChangesAsync(ct);
        return TypedResults.Created($"/api/users/{user.Id}", user.ToDto(null));
    }

    private static async Task<IResult> List(Caller caller, AppDb db, CancellationToken ct)
    {
        if (!caller.IsAdmin)
        {
            return Problems.Forbidden("Only admins list users.");
        }
        var users = await (
            from u in db.Users.AsNoTracking()
            join d in db.Drivers on u.Id equals d.UserId into drivers
            from d in drivers.DefaultIfEmpty()
            orderby u.Email
            select new { User = u, DriverId = (Guid?)d!.Id })
            .ToListAsync(ct);
        return TypedResults.Ok(users.Select(x => x.User.ToDto(x.DriverId)).ToList());
    }

    private static async Task<IResult> Update(
        Guid id, UpdateUserRequest request, Caller caller, AppDb db, Sessions sessions, TimeProvider clock, CancellationToken ct)
    {
        if (!caller.IsAdmin)
        {
            return Problems.Forbidden("Only admins manage users.");
        }
        var user = await db.Users.FirstOrDefaultAsync(u => u.Id == id, ct);
        if (user is null)
        {
            return Problems.NotFound("The user");
        }
        if (user.Id == caller.UserId && (request.Disabled == true || request.Role is { } r && r != Role.Admin))
        {
            return Problems.Conflict("An admin cannot disable or demote itself; another admin can.");
        }
        var role = request.Role ?? user.Role;
        if (role != user.Role)
        {
            switch (role, user.Role)
            {
                case (Role.Driver, _) or (_, Role.Driver):
                    return Problems.Invalid("role", "A driver's role does not change: drivers are made with POST /api/drivers and keep their driver record.");
                case (Role.Dispatcher, _) when user.TenantId is null:
                    return Problems.Invalid("role", "A dispatcher belongs to a tenant, and this user has none.");
                case (Role.Admin, _) when user.TenantId is not null:
                    return Problems.Invalid("role", "Admins belong to no tenant, and this user has one.");
            }
        }
        var disabled = request.Disabled ?? user.Disabled;
        var endsSessions = role != user.Role || (disabled && !user.Disabled);
        user.Role = role;
        user.Disabled = disabled;
        List<Guid> ended = [];
        await using (var tx = await db.Database.BeginTransactionAsync(ct))
        {
            await db.SaveChangesAsync(ct);
            if (endsSessions)
            {
                ended = await Sessions.EndAllAsync(db, user.Id, clock.Now(), ct);
            }
            await tx.CommitAsync(ct);
        }
        sessions.Forget(ended);
        var driverId = await db.DriverIdOfAsync(user.Id, ct);
        return TypedResults.Ok(user.ToDto(driverId));
    }

    private static async Task<IResult> EndSessions(Guid id, Caller caller, AppDb db, Sessions sessions, TimeProvider clock, CancellationToken ct)
    {
        if (!caller.IsAdmin)
        {
            return Problems.Forbidden("Only admins end other users' sessions.");
        }
        if (!await db.Users.AnyAsync(u => u.Id == id, ct))
        {
            return Problems.NotFound("The user");
        }
        sessions.Forget(await Sessions.EndAllAsync(db, id, clock.Now(), ct));
        return TypedResults.NoContent();
    }
}
