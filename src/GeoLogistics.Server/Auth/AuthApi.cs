using System.ComponentModel.DataAnnotations;
using GeoLogistics.Server.Data;
using GeoLogistics.Server.Users;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace GeoLogistics.Server.Auth;

public sealed record LoginRequest(
    [property: Required, StringLength(254)] string? Email,
    [property: Required, StringLength(128)] string? Password);

public sealed record LoginResponse(string AccessToken, string TokenType, int ExpiresIn, UserDto User);

public static class AuthApi
{
    public static RouteGroupBuilder MapAuth(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/auth").WithTags("Auth");
        group.MapPost("/login", Login).WithName("Login").WithSummary("Exchange email and password for a bearer token.")
            .AllowAnonymous()
            .RequireRateLimiting(AuthSetup.LoginPolicy);
        return group;
    }

    // Verified against when the email is unknown, so both failures take the same time.
    private static readonly string UnknownUserHash = new PasswordHasher<User>().HashPassword(new User(), Guid.NewGuid().ToString());

    private static async Task<Results<Ok<LoginResponse>, ProblemHttpResult>> Login(
        LoginRequest request,
        AppDb db,
        IPasswordHasher<User> hasher,
        TokenService tokens,
        IOptions<JwtOptions> jwt,
        CancellationToken ct)
    {
        var email = User.NormalizeEmail(request.Email!);
        var user = await db.Users.AsNoTracking().FirstOrDefaultAsync(u => u.Email == email, ct);
        var verdict = hasher.VerifyHashedPassword(user ?? new User(), user?.PasswordHash ?? UnknownUserHash, request.Password!);
        if (user is null || verdict == PasswordVerificationResult.Failed)
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status401Unauthorized, title: "Unauthorized", detail: "Wrong email or password.");
        }
        var driverId = user.Role == Role.Driver
            ? await db.Drivers.Where(d => d.UserId == user.Id).Select(d => (Guid?)d.Id).FirstOrDefaultAsync(ct)
            : null;
        var token = tokens.Issue(user, driverId);
        return TypedResults.Ok(new LoginResponse(
            token.AccessToken, "Bearer", jwt.Value.AccessTokenMinutes * 60, user.ToDto(driverId)));
    }
}
