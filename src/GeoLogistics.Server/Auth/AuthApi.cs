using System.ComponentModel.DataAnnotations;
using GeoLogistics.Server.Data;
using GeoLogistics.Server.Http;
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

public sealed record SessionResponse(int ExpiresIn, UserDto User);

public static class AuthApi
{
    public static RouteGroupBuilder MapAuth(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/auth").WithTags("Auth");
        group.MapPost("/login", Login).WithName("Login").WithSummary("Exchange email and password for a bearer token.")
            .AllowAnonymous()
            .RequireRateLimiting(AuthSetup.LoginPolicy);
        group.MapPost("/session", StartSession).WithName("StartSession")
            .WithSummary("Browser login: the same token, set as an HttpOnly, SameSite=Strict cookie instead of returned.")
            .AllowAnonymous()
            .RequireRateLimiting(AuthSetup.LoginPolicy);
        group.MapDelete("/session", EndSession).WithName("EndSession").WithSummary("Browser logout: clears the cookie.")
            .AllowAnonymous();
        return group;
    }

    // Verified against when the email is unknown, so both failures take the same time.
    private static readonly string UnknownUserHash = new PasswordHasher<User>().HashPassword(new User(), Guid.NewGuid().ToString());

    private static ProblemHttpResult WrongCredentials() =>
        TypedResults.Problem(statusCode: StatusCodes.Status401Unauthorized, title: "Unauthorized", detail: "Wrong email or password.");

    private static async Task<Results<Ok<LoginResponse>, ProblemHttpResult>> Login(
        LoginRequest request, AppDb db, IPasswordHasher<User> hasher, TokenService tokens, IOptions<JwtOptions> jwt, CancellationToken ct)
    {
        if (await SignInAsync(request, db, hasher, tokens, ct) is not var (user, token))
        {
            return WrongCredentials();
        }
        return TypedResults.Ok(new LoginResponse(token.AccessToken, "Bearer", jwt.Value.AccessTokenMinutes * 60, user));
    }

    private static async Task<Results<Ok<SessionResponse>, ProblemHttpResult>> StartSession(
        LoginRequest request, HttpContext http, AppDb db, IPasswordHasher<User> hasher, TokenService tokens, IOptions<JwtOptions> jwt,
        IOptions<AuthOptions> auth, CancellationToken ct)
    {
        // The cookie is the dashboard's: a login form on another site may not plant one.
        if (!BrowserSession.OriginAllowed(http.Request, auth.Value))
        {
            return Problems.Forbidden("Sign in from the dashboard's own page.");
        }
        if (await SignInAsync(request, db, hasher, tokens, ct) is not var (user, token))
        {
            return WrongCredentials();
        }
        BrowserSession.SetCookie(http, token);
        return TypedResults.Ok(new SessionResponse(jwt.Value.AccessTokenMinutes * 60, user));
    }

    private static NoContent EndSession(HttpContext http)
    {
        BrowserSession.ClearCookie(http);
        return TypedResults.NoContent();
    }

    /// <summary>The user and a fresh token, or null for an unknown email or a wrong password (one answer for both).</summary>
    private static async Task<(UserDto User, IssuedToken Token)?> SignInAsync(
        LoginRequest request, AppDb db, IPasswordHasher<User> hasher, TokenService tokens, CancellationToken ct)
    {
        var email = User.NormalizeEmail(request.Email!);
        var user = await db.Users.AsNoTracking().FirstOrDefaultAsync(u => u.Email == email, ct);
        var verdict = hasher.VerifyHashedPassword(user ?? new User(), user?.PasswordHash ?? UnknownUserHash, request.Password!);
        if (user is null || verdict == PasswordVerificationResult.Failed)
        {
            return null;
        }
        var driverId = user.Role == Role.Driver
            ? await db.Drivers.Where(d => d.UserId == user.Id).Select(d => (Guid?)d.Id).FirstOrDefaultAsync(ct)
            : null;
        return (user.ToDto(driverId), tokens.Issue(user, driverId));
    }
}
