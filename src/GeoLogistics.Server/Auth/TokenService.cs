using System.Security.Claims;
using GeoLogistics.Server.Http;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace GeoLogistics.Server.Auth;

public sealed record IssuedToken(string AccessToken, DateTimeOffset ExpiresAt);

/// <summary>Mints the HS256 access tokens that the bearer handler validates; <see cref="Sessions"/> starts their sessions.</summary>
public sealed class TokenService(IOptions<JwtOptions> options, TimeProvider clock)
{
    private readonly JsonWebTokenHandler handler = new();

    /// <summary>A token for <paramref name="caller"/>'s session.</summary>
    public IssuedToken Issue(Caller caller)
    {
        var jwt = options.Value;
        var now = clock.Now();
        var expires = now.AddMinutes(jwt.AccessTokenMinutes);
        var claims = new Dictionary<string, object>
        {
            [Caller.SubjectClaim] = caller.UserId.ToString(),
            [Caller.EmailClaim] = caller.Email,
            [Caller.RoleClaim] = Caller.RoleName(caller.Role),
            [Caller.SessionClaim] = caller.SessionId.ToString(),
            [JwtRegisteredClaimNames.Jti] = Guid.NewGuid().ToString("N"),
        };
        if (caller.TenantId is { } tenant)
        {
            claims[Caller.TenantClaim] = tenant.ToString();
        }
        if (caller.DriverId is { } driver)
        {
            claims[Caller.DriverClaim] = driver.ToString();
        }
        var token = handler.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = jwt.Issuer,
            Audience = jwt.Audience,
            IssuedAt = now.UtcDateTime,
            NotBefore = now.UtcDateTime,
            Expires = expires.UtcDateTime,
            Claims = claims,
            Subject = new ClaimsIdentity(),
            SigningCredentials = new SigningCredentials(new SymmetricSecurityKey(jwt.KeyBytes), SecurityAlgorithms.HmacSha256),
        });
        return new IssuedToken(token, expires);
    }
}
