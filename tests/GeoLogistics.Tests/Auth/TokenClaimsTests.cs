using System.Net;
using System.Net.Http.Json;
using System.Text;
using GeoLogistics.Server.Auth;
using GeoLogistics.Tests.Support;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace GeoLogistics.Tests.Auth;

/// <summary>
/// Tokens signed with the right key whose claims do not name exactly one known user, role and live session: each is
/// a 401 with a bearer challenge, never a 500 and never someone else's rights.
/// </summary>
public class TokenClaimsTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public sealed record Real(string Sub, string Sid, string Role);

    /// <summary>The claims of a real session's token, so a test changes one thing at a time.</summary>
    private static Real ClaimsOf(string token)
    {
        var jwt = new JsonWebToken(token);
        return new Real(jwt.GetClaim("sub").Value, jwt.GetClaim("sid").Value, jwt.GetClaim("role").Value);
    }

    private static string Signed(Dictionary<string, object> claims) => new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
    {
        Issuer = "geologistics",
        Audience = "geologistics-api",
        IssuedAt = DateTime.UtcNow,
        NotBefore = DateTime.UtcNow.AddMinutes(-1),
        Expires = DateTime.UtcNow.AddMinutes(10),
        Claims = claims,
        SigningCredentials = new SigningCredentials(new SymmetricSecurityKey(Encoding.UTF8.GetBytes(TestApp.SigningKey)), SecurityAlgorithms.HmacSha256),
    });

    public static TheoryData<string, Func<Real, Real, Dictionary<string, object>>> BadClaims() => new()
    {
        { "no sub", (c, _) => new() { ["sid"] = c.Sid, ["role"] = c.Role } },
        { "a sub that is not a UUID", (c, _) => new() { ["sub"] = "admin", ["sid"] = c.Sid, ["role"] = c.Role } },
        { "an unknown role", (c, _) => new() { ["sub"] = c.Sub, ["sid"] = c.Sid, ["role"] = "superuser" } },
        { "role 0 (the enum's number for admin)", (c, _) => new() { ["sub"] = c.Sub, ["sid"] = c.Sid, ["role"] = "0" } },
        { "role Admin in another spelling", (c, _) => new() { ["sub"] = c.Sub, ["sid"] = c.Sid, ["role"] = "ADMIN" } },
        { "a customer's session claiming admin", (c, _) => new() { ["sub"] = c.Sub, ["sid"] = c.Sid, ["role"] = "admin" } },
        { "no session", (c, _) => new() { ["sub"] = c.Sub, ["role"] = c.Role } },
        { "a session that does not exist", (c, _) => new() { ["sub"] = c.Sub, ["sid"] = Guid.NewGuid().ToString(), ["role"] = c.Role } },
        { "another user's session", (c, admin) => new() { ["sub"] = c.Sub, ["sid"] = admin.Sid, ["role"] = c.Role } },
        { "an unknown user", (c, _) => new() { ["sub"] = Guid.NewGuid().ToString(), ["sid"] = c.Sid, ["role"] = c.Role } },
    };

    [Theory]
    [MemberData(nameof(BadClaims))]
    public async Task A_validly_signed_token_with_bad_claims_gets_401_on_REST_and_the_socket(string why, Func<Real, Real, Dictionary<string, object>> make)
    {
        await using var app = await TestApp.StartAsync();
        var customerToken = await app.TokenForAsync("customer@demo.test");
        var adminToken = await app.TokenForAsync("admin@demo.test");
        var forged = Signed(make(ClaimsOf(customerToken), ClaimsOf(adminToken)));

        var response = await app.ClientWithToken(forged).GetAsync("/api/orders", Ct);
        var users = await app.ClientWithToken(forged).GetAsync("/api/users", Ct);

        Assert.True(response.StatusCode == HttpStatusCode.Unauthorized, $"{why}: {(int)response.StatusCode}");
        Assert.Contains(response.Headers.WwwAuthenticate, h => h.Scheme == "Bearer");
        Assert.Equal(HttpStatusCode.Unauthorized, users.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, await WsClient.RefusalAsync(app.ServerUri, forged, Ct));
        // Nothing valid was lost: the real tokens behind the forgery still work, with their own rights.
        Assert.Equal(HttpStatusCode.OK, (await app.ClientWithToken(customerToken).GetAsync("/api/orders", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await app.ClientWithToken(customerToken).GetAsync("/api/users", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await app.ClientWithToken(adminToken).GetAsync("/api/users", Ct)).StatusCode);
    }

    [Fact]
    public async Task A_socket_reauthenticating_with_a_forged_role_keeps_its_old_rights_and_gets_an_error()
    {
        await using var app = await TestApp.StartAsync();
        var customerToken = await app.TokenForAsync("customer@demo.test");
        var claims = ClaimsOf(customerToken);
        await using var socket = await WsClient.ConnectAsync(app.ServerUri, customerToken, Ct);
        await socket.NextAsync("connection_ack");

        await socket.SendAsync(new { type = "auth", token = Signed(new() { ["sub"] = claims.Sub, ["sid"] = claims.Sid, ["role"] = "admin" }) }, Ct);
        var error = await socket.NextAsync("error");
        var tenant = await app.TenantAsync("Demo Hospital");
        await socket.SendAsync(new { type = "subscribe", topic = $"tenant:{tenant.Id}" }, Ct);
        var refused = await socket.NextAsync("error");

        Assert.Equal("unauthorized", error.GetProperty("code").GetString());
        Assert.Equal("forbidden", refused.GetProperty("code").GetString());
    }

    [Fact]
    public async Task A_login_token_names_its_session_and_the_role_as_issued()
    {
        await using var app = await TestApp.StartAsync();
        var response = await app.CreateClient().PostAsJsonAsync("/api/auth/login", new { email = "customer@demo.test", password = "Demo#2026" }, Ct);
        var token = (await response.ReadJsonAsync()).GetProperty("accessToken").GetString()!;

        var claims = ClaimsOf(token);

        Assert.Equal("customer", claims.Role);
        Assert.True(Guid.TryParse(claims.Sid, out var sid));
        Assert.True(await app.WithDbAsync(db => Microsoft.EntityFrameworkCore.EntityFrameworkQueryableExtensions.AnyAsync(db.Sessions, s => s.Id == sid && s.RevokedAt == null)));
    }
}
