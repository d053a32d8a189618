using System.Security.Claims;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;

namespace GeoLogistics.Server.Auth;

/// <summary>What a token handed over inside a protocol (not on the handshake) stands for.</summary>
public abstract record TokenCheck
{
    public sealed record Valid(Caller Caller, DateTimeOffset Expires) : TokenCheck;

    /// <summary>Not valid; <see cref="Reason"/> says why in words a client may read.</summary>
    public sealed record Refused(string Reason) : TokenCheck;
}

/// <summary>
/// Checks a bearer token that a protocol carries in its own frames (the JSON protocol's <c>auth</c>, STOMP's
/// <c>CONNECT</c>, Socket.IO's <c>auth.token</c>) exactly as the bearer handler checks one on a request: the same
/// signature, issuer, audience and lifetime rules, then the same live-session check.
/// </summary>
public sealed class BearerTokens(IOptionsMonitor<JwtBearerOptions> bearer, Sessions sessions)
{
    private readonly JsonWebTokenHandler handler = new() { MapInboundClaims = false };

    public async Task<TokenCheck> CheckAsync(string token, CancellationToken ct)
    {
        var parameters = bearer.Get(JwtBearerDefaults.AuthenticationScheme).TokenValidationParameters;
        var result = await handler.ValidateTokenAsync(token, parameters);
        if (!result.IsValid)
        {
            return new TokenCheck.Refused("The token is not valid.");
        }
        if (await sessions.AuthenticateAsync(new ClaimsPrincipal(result.ClaimsIdentity), ct) is not { } caller)
        {
            return new TokenCheck.Refused("The token's session has ended.");
        }
        return new TokenCheck.Valid(caller, ExpiryOf(result.SecurityToken));
    }

    public static DateTimeOffset ExpiryOf(Microsoft.IdentityModel.Tokens.SecurityToken token) =>
        new(DateTime.SpecifyKind(token.ValidTo, DateTimeKind.Utc));
}
