using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using GeoLogistics.Server.Auth;
using GeoLogistics.Tests.Support;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace GeoLogistics.Tests.Auth;

public class AuthTests
{
    private static string Mint(Action<SecurityTokenDescriptor> change, string key = TestApp.SigningKey)
    {
        var descriptor = new SecurityTokenDescriptor
        {
            Issuer = "geologistics",
            Audience = "geologistics-api",
            IssuedAt = DateTime.UtcNow,
            NotBefore = DateTime.UtcNow.AddMinutes(-1),
            Expires = DateTime.UtcNow.AddMinutes(10),
            Claims = new Dictionary<string, object>
            {
                ["sub"] = Guid.NewGuid().ToString(),
                ["email"] = "admin@demo.test",
                ["role"] = "admin",
            },
            SigningCredentials = new SigningCredentials(new SymmetricSecurityKey(Encoding.UTF8.GetBytes(key)), SecurityAlgorithms.HmacSha256),
        };
        change(descriptor);
        return new JsonWebTokenHandler().CreateToken(descriptor);
    }

    private static string Base64Url(string json) => Base64UrlEncoder.Encode(Encoding.UTF8.GetBytes(json));

    public static TheoryData<string, Func<string, string>> BadTokens() => new()
    {
        { "tampered payload", good => { var p = good.Split('.'); return $"{p[0]}.{Base64Url("""{"sub":"x","role":"admin","iss":"geologistics","aud":"geologistics-api","exp":4102444800}""")}.{p[2]}"; } },
        { "alg none", good => $"{Base64Url("""{"alg":"none","typ":"JWT"}""")}.{good.Split('.')[1]}." },
        { "expired", _ => Mint(d => { d.IssuedAt = DateTime.UtcNow.AddHours(-2); d.NotBefore = DateTime.UtcNow.AddHours(-2); d.Expires = DateTime.UtcNow.AddMinutes(-5); }) },
        { "wrong issuer", _ => Mint(d => d.Issuer = "someone-else") },
        { "wrong audience", _ => Mint(d => d.Audience = "another-api") },
        { "wrong key", _ => Mint(_ => { }, key: "another-signing-key-that-is-long-enough-for-hs256-xyz") },
        { "not a jwt", _ => "not-a-token" },
    };

    [Theory]
    [MemberData(nameof(BadTokens))]
    public async Task A_bad_token_is_refused_with_401_and_a_bearer_challenge(string why, Func<string, string> make)
    {
        await using var app = await TestApp.StartAsync();
        var good = await app.TokenForAsync("admin@demo.test");
        Assert.Equal(HttpStatusCode.OK, (await app.ClientWithToken(good).GetAsync("/api/orders", TestContext.Current.CancellationToken)).StatusCode);

        var response = await app.ClientWithToken(make(good)).GetAsync("/api/orders", TestContext.Current.CancellationToken);

        Assert.True(response.StatusCode == HttpStatusCode.Unauthorized, why);
        Assert.Contains(response.Headers.WwwAuthenticate, h => h.Scheme == "Bearer");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task No_token_answers_401_problem_details()
    {
        await using var app = await TestApp.StartAsync();

        var response = await app.CreateClient().GetAsync("/api/orders", TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        var problem = await response.ReadJsonAsync();
        Assert.Equal(401, problem.GetProperty("status").GetInt32());
    }

    [Fact]
    public async Task Login_returns_a_bearer_token_that_the_api_accepts()
    {
        await using var app = await TestApp.StartAsync();
        var ct = TestContext.Current.CancellationToken;

        var response = await app.CreateClient().PostAsJsonAsync("/api/auth/login", new { email = "Dispatcher@Demo.test", password = "Demo#2026" }, ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.ReadJsonAsync();
        Assert.Equal("Bearer", body.GetProperty("tokenType").GetString());
        Assert.Equal(3600, body.GetProperty("expiresIn").GetInt32());
        Assert.Equal("dispatcher", body.GetProperty("user").GetProperty("role").GetString());
        var me = await app.ClientWithToken(body.GetProperty("accessToken").GetString()!).GetFromJsonAsync<JsonElement>("/api/me", ct);
        Assert.Equal("dispatcher@demo.test", me.GetProperty("email").GetString());
        Assert.Equal((await app.TenantAsync("Demo Hospital")).Id, me.GetProperty("tenantId").GetGuid());
    }

    [Fact]
    public async Task Unknown_user_and_wrong_password_get_the_same_401()
    {
        await using var app = await TestApp.StartAsync();
        var ct = TestContext.Current.CancellationToken;
        var client = app.CreateClient();

        var unknown = await client.PostAsJsonAsync("/api/auth/login", new { email = "nobody@demo.test", password = "Demo#2026" }, ct);
        var wrong = await client.PostAsJsonAsync("/api/auth/login", new { email = "admin@demo.test", password = "wrong-password" }, ct);

        Assert.Equal(HttpStatusCode.Unauthorized, unknown.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        Assert.Equal(
            (await unknown.ReadJsonAsync()).GetProperty("detail").GetString(),
            (await wrong.ReadJsonAsync()).GetProperty("detail").GetString());
    }

    [Fact]
    public async Task Login_is_throttled_per_client_with_retry_after()
    {
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?> { ["Auth:LoginAttemptsPerMinute"] = "3" });
        var ct = TestContext.Current.CancellationToken;
        var client = app.CreateClient();

        var statuses = new List<HttpStatusCode>();
        HttpResponseMessage last = null!;
        for (var i = 0; i < 5; i++)
        {
            last = await client.PostAsJsonAsync("/api/auth/login", new { email = "admin@demo.test", password = "wrong-password" }, ct);
            statuses.Add(last.StatusCode);
        }

        Assert.Equal([HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized, HttpStatusCode.TooManyRequests, HttpStatusCode.TooManyRequests], statuses);
        Assert.True(last.Headers.RetryAfter?.Delta > TimeSpan.Zero);
        Assert.Equal(429, (await last.ReadJsonAsync()).GetProperty("status").GetInt32());
    }

    [Fact]
    public async Task A_driver_calling_back_office_endpoints_gets_403()
    {
        await using var app = await TestApp.StartAsync();
        var ct = TestContext.Current.CancellationToken;
        var driver = await app.DriverAsync(1);
        var tenant = await app.TenantAsync("Demo Hospital");

        Assert.Equal(HttpStatusCode.Forbidden, (await driver.PostAsJsonAsync("/api/orders", HttpTestExtensions.NewOrder(tenant.Id), ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await driver.PostAsJsonAsync("/api/tenants", new { name = "X" }, ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await driver.PostAsJsonAsync("/api/users", new { email = "a@b.test", password = "long-enough", role = "customer" }, ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await driver.PostAsJsonAsync("/api/drivers", new { email = "a@b.test", password = "long-enough", name = "A" }, ct)).StatusCode);
    }
}
