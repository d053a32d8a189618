using System.Globalization;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Tokens;

namespace GeoLogistics.Server.Auth;

public static class AuthSetup
{
    public static IServiceCollection AddAuth(this IServiceCollection services, IConfiguration config, IHostEnvironment env)
    {
        services.AddOptions<JwtOptions>()
            .Bind(config.GetSection("Jwt"))
            .PostConfigure(o =>
            {
                if (string.IsNullOrEmpty(o.SigningKey) && env.IsDevelopment())
                {
                    o.SigningKey = JwtOptions.LoadOrCreateDevelopmentKey(env.ContentRootPath);
                }
            })
            .ValidateDataAnnotations()
            .Validate(o => !string.IsNullOrEmpty(o.SigningKey), "Jwt:SigningKey is not set. Configure a key of at least 256 bits (Jwt__SigningKey).")
            .Validate(o => string.IsNullOrEmpty(o.SigningKey) || o.KeyBytes.Length >= JwtOptions.MinimumKeyBytes,
                $"Jwt:SigningKey is shorter than 256 bits ({JwtOptions.MinimumKeyBytes} bytes); HS256 needs at least that.")
            .ValidateOnStart();
        services.AddOptions<AuthOptions>().Bind(config.GetSection("Auth")).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<TokenService>();
        services.AddSingleton<Sessions>();
        services.AddSingleton<BearerTokens>();
        services.AddHostedService<SessionWatch>();
        services.AddSingleton<LoginGuard>();

        services.AddAuthentication(JwtBearerDefaults.AuthenticationScheme).AddJwtBearer();
        services.AddOptions<JwtBearerOptions>(JwtBearerDefaults.AuthenticationScheme)
            .Configure<IOptions<JwtOptions>>((bearer, jwt) =>
            {
                bearer.MapInboundClaims = false;
                // Why a token failed (expired, bad signature…) helps a developer, and an attacker probing keys: Development only.
                bearer.IncludeErrorDetails = env.IsDevelopment();
                bearer.TokenValidationParameters = new TokenValidationParameters
                {
                    ValidIssuer = jwt.Value.Issuer,
                    ValidAudience = jwt.Value.Audience,
                    IssuerSigningKey = new SymmetricSecurityKey(jwt.Value.KeyBytes),
                    // HS256 only: a token naming any other algorithm, "none" included, is refused.
                    ValidAlgorithms = [SecurityAlgorithms.HmacSha256],
                    ValidateIssuer = true,
                    ValidateAudience = true,
                    ValidateLifetime = true,
                    ValidateIssuerSigningKey = true,
                    RequireExpirationTime = true,
                    RequireSignedTokens = true,
                    ClockSkew = TimeSpan.FromSeconds(30),
                    NameClaimType = Caller.EmailClaim,
                    RoleClaimType = Caller.RoleClaim,
                };
                bearer.Events = new JwtBearerEvents
                {
                    // Browsers: ?access_token= on the socket handshake, else the dashboard's cookie (BrowserSession).
                    OnMessageReceived = BrowserSession.ReadToken,
                    // A good signature is not enough: the token must name one known user, role and live session.
                    OnTokenValidated = CheckSessionAsync,
                };
            });
        services.AddAuthorization();

        services.AddRateLimiter(limiter =>
        {
            limiter.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            limiter.OnRejected = async (context, ct) =>
            {
                var retryAfter = context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? wait : TimeSpan.FromSeconds(1);
                var http = context.HttpContext;
                http.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
                await Results.Problem(
                    statusCode: StatusCodes.Status429TooManyRequests,
                    title: "Too many requests",
                    detail: "Slow down and retry after the Retry-After delay.").ExecuteAsync(http);
            };
        });
        return services;
    }

    private static async Task CheckSessionAsync(TokenValidatedContext context)
    {
        var sessions = context.HttpContext.RequestServices.GetRequiredService<Sessions>();
        if (context.Principal is not { } principal || await sessions.AuthenticateAsync(principal, context.HttpContext.RequestAborted) is not { } caller)
        {
            context.Fail("The token does not name a known user, role and live session.");
            return;
        }
        context.HttpContext.Items[typeof(Caller)] = caller;
    }
}
