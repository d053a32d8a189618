using System.ComponentModel.DataAnnotations;
using GeoLogistics.Server.Data;
using GeoLogistics.Server.Drivers;
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

/// <summary>
/// Sign-in's endpoints. They answer with the user's account and start a session for it, so they sit above user accounts
/// and drivers (Users/, Drivers/); the rest of Auth, which every module names, knows only a <see cref="Caller"/>.
/// </summary>
public static class AuthApi
{
    public sealed record LoginResponse(string AccessToken, string TokenType, int ExpiresIn, UserDto User);

    public sealed record SessionResponse(int ExpiresIn, UserDto User);

    public static RouteGroupBuilder MapAuth(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/auth").WithTags("Auth");
        group.MapPost("/login", Login).WithName("Login").WithSummary("Exchange email and password for a bearer token.")
            .AllowAnonymous();
        group.MapPost("/session", StartSession).WithName("StartSession")
            .WithSummary("Browser login: the same token, set as an HttpOnly, SameSite=Strict cookie instead of returned.")
            .AllowAnonymous();
        group.MapDelete("/session", EndSession).WithName("EndSession")
            .WithSummary("Logout: ends the session of the token sent (bearer or cookie) on every node, and clears the cookie.")
            .AllowAnonymous();
        return group;
    }

    private static ProblemHttpResult WrongCredentials() =>
        TypedResults.Problem(statusCode: StatusCodes.Status401Unauthorized, title: "Unauthorized", detail: "Wrong email or password.");

    private static async Task<IResult> Login(LoginRequest request, HttpContext http, [AsParameters] SignIn signIn, IOptions<JwtOptions> jwt, CancellationToken ct)
    {
        return await signIn.TryAsync(request, http, ct) switch
        {
            SignInResult.Throttled throttled => Problems.TooManyRequests(http.Response, throttled.RetryAfter, "Too many login attempts. Retry after the Retry-After delay."),
            SignInResult.Success(var user, var token) => TypedResults.Ok(new LoginResponse(token.AccessToken, "Bearer", jwt.Value.AccessTokenMinutes * 60, user)),
            _ => WrongCredentials(),
        };
    }

    private static async Task<IResult> StartSession(
        LoginRequest request, HttpContext http, [AsParameters] SignIn signIn, IOptions<JwtOptions> jwt, IOptions<AuthOptions> auth, CancellationToken ct)
    {
        // The cookie is the dashboard's: a login form on another site may not plant one.
        if (!BrowserSession.OriginAllowed(http.Request, auth.Value))
        {
            return Problems.Forbidden("Sign in from the dashboard's own page.");
        }
        switch (await signIn.TryAsync(request, http, ct))
        {
            case SignInResult.Throttled throttled:
                return Problems.TooManyRequests(http.Response, throttled.RetryAfter, "Too many login attempts. Retry after the Retry-After delay.");
            case SignInResult.Success(var user, var token):
                BrowserSession.SetCookie(http, token);
                return TypedResults.Ok(new SessionResponse(jwt.Value.AccessTokenMinutes * 60, user));
            default:
                return WrongCredentials();
        }
    }

    private static async Task<NoContent> EndSession(HttpContext http, AppDb db, Sessions sessions, CancellationToken ct)
    {
        if (Caller.Of(http) is { } caller)
        {
            await sessions.EndAsync(db, caller.SessionId, ct);
        }
        BrowserSession.ClearCookie(http);
        return TypedResults.NoContent();
    }

    private abstract record SignInResult
    {
        public sealed record Success(UserDto User, IssuedToken Token) : SignInResult;

        /// <summary>Unknown email, wrong password or a disabled user: one answer for all three.</summary>
        public sealed record Refused : SignInResult;

        public sealed record Throttled(TimeSpan RetryAfter) : SignInResult;
    }

    /// <summary>Checks a password under the login throttles and starts a session; bound per request (<c>[AsParameters]</c>).</summary>
    private sealed record SignIn(AppDb Db, IPasswordHasher<User> Hasher, Sessions Sessions, LoginGuard Guard)
    {
        public async Task<SignInResult> TryAsync(LoginRequest request, HttpContext http, CancellationToken ct)
        {
            var address = http.Connection.RemoteIpAddress?.ToString() ?? "local";
            var email = User.NormalizeEmail(request.Email!);
            if ((await Guard.CountAttemptAsync(Db, address, ct) ?? await Guard.BackoffAsync(Db, email, address, ct)) is { } wait)
            {
                return new SignInResult.Throttled(wait);
            }
            var user = await Db.Users.AsNoTracking().FirstOrDefaultAsync(u => u.Email == email, ct);
            var verdict = Hasher.VerifyHashedPassword(user ?? new User(), user?.PasswordHash ?? UnknownUserHash, request.Password!);
            if (user is null || user.Disabled || verdict == PasswordVerificationResult.Failed)
            {
                await Guard.FailedAsync(Db, email, address, ct);
                return new SignInResult.Refused();
            }
            await Guard.SucceededAsync(Db, email, address, ct);
            var driverId = user.Role == Role.Driver ? await Db.DriverIdOfAsync(user.Id, ct) : null;
            return new SignInResult.Success(user.ToDto(driverId), await Sessions.StartAsync(user.ToCaller(driverId), ct));
        }

        // Verified against when the email is unknown, so both failures take the same time.
        private static readonly string UnknownUserHash = new PasswordHasher<User>().HashPassword(new User(), Guid.NewGuid().ToString());
    }
}
