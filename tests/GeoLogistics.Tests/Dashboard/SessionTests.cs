using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using GeoLogistics.Tests.Support;

namespace GeoLogistics.Tests.Dashboard;

/// <summary>The dashboard's cookie session and first state, at the HTTP level (the browser tests drive the page).</summary>
public class SessionTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A client that keeps no cookies of its own: each request says exactly what it carries.</summary>
    private static HttpClient Bare(TestApp app) =>
        new(new HttpClientHandler { UseCookies = false, AllowAutoRedirect = false }) { BaseAddress = app.ServerUri };

    private static async Task<string> SessionCookieAsync(TestApp app, string email = "dispatcher@demo.test")
    {
        using var http = Bare(app);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/auth/session")
        {
            Content = JsonContent.Create(new { email, password = "Demo#2026" }),
        };
        request.Headers.Add("Origin", app.ServerUri.GetLeftPart(UriPartial.Authority));
        var response = await http.SendAsync(request, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var setCookie = Assert.Single(response.Headers.GetValues("Set-Cookie"));
        Assert.StartsWith("glo_access=", setCookie, StringComparison.Ordinal);
        Assert.Contains("httponly", setCookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", setCookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("path=/", setCookie, StringComparison.OrdinalIgnoreCase);
        var body = await response.ReadJsonAsync();
        Assert.False(body.TryGetProperty("accessToken", out _), "The token stays out of reach of page scripts.");
        Assert.Equal(email, body.GetProperty("user").GetProperty("email").GetString());
        return setCookie.Split(';')[0];
    }

    private static HttpRequestMessage WithCookie(HttpMethod method, string path, string cookie, string? origin = null, object? body = null)
    {
        var request = new HttpRequestMessage(method, path);
        request.Headers.Add("Cookie", cookie);
        if (origin is not null)
        {
            request.Headers.Add("Origin", origin);
        }
        if (body is not null)
        {
            request.Content = JsonContent.Create(body);
        }
        return request;
    }

    [Fact]
    public async Task A_browser_session_is_an_HttpOnly_SameSite_Strict_cookie_that_the_API_and_the_pages_accept()
    {
        await using var app = await TestApp.StartAsync();
        var cookie = await SessionCookieAsync(app);
        using var http = Bare(app);

        var me = await http.SendAsync(WithCookie(HttpMethod.Get, "/api/me", cookie), Ct);
        Assert.Equal(HttpStatusCode.OK, me.StatusCode);
        Assert.Equal("dispatcher@demo.test", (await me.ReadJsonAsync()).GetProperty("email").GetString());

        var page = await http.SendAsync(WithCookie(HttpMethod.Get, "/dashboard", cookie), Ct);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        Assert.Contains("no-store", page.Headers.CacheControl?.ToString(), StringComparison.Ordinal);
        Assert.Contains("default-src 'self'", string.Join(' ', page.Headers.GetValues("Content-Security-Policy")), StringComparison.Ordinal);
        Assert.Contains("<title>Dashboard", await page.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null, "/dashboard", "/login")]
    [InlineData("glo_access=not-a-token", "/dashboard", "/login")]
    [InlineData(null, "/", "/dashboard")]
    public async Task A_page_without_a_good_session_redirects(string? cookie, string path, string location)
    {
        await using var app = await TestApp.StartAsync();
        using var http = Bare(app);
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (cookie is not null)
        {
            request.Headers.Add("Cookie", cookie);
        }

        var response = await http.SendAsync(request, Ct);

        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.Equal(location, response.Headers.Location?.OriginalString);
    }

    [Fact]
    public async Task The_login_page_and_its_assets_are_served_without_a_session_and_the_API_still_answers_401()
    {
        await using var app = await TestApp.StartAsync();
        using var http = Bare(app);

        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/login", Ct)).StatusCode);
        var script = await http.GetAsync("/js/dashboard.js", Ct);
        Assert.Equal(HttpStatusCode.OK, script.StatusCode);
        Assert.Equal("text/javascript", script.Content.Headers.ContentType?.MediaType);
        var api = await http.GetAsync("/api/orders", Ct);
        Assert.Equal(HttpStatusCode.Unauthorized, api.StatusCode);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("https://evil.example")]
    [InlineData("null")]
    public async Task A_change_made_with_the_cookie_from_another_origin_or_none_is_refused_and_changes_nothing(string? origin)
    {
        await using var app = await TestApp.StartAsync();
        var cookie = await SessionCookieAsync(app);
        using var http = Bare(app);

        var response = await http.SendAsync(WithCookie(HttpMethod.Post, "/api/orders", cookie, origin, HttpTestExtensions.NewOrder()), Ct);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var dispatcher = await app.DispatcherAsync();
        var page = await (await dispatcher.GetAsync("/api/orders", Ct)).ReadJsonAsync();
        Assert.Empty(page.GetProperty("items").EnumerateArray());
    }

    [Fact]
    public async Task A_change_made_with_the_cookie_from_the_dashboards_own_origin_is_done()
    {
        await using var app = await TestApp.StartAsync();
        var cookie = await SessionCookieAsync(app);
        using var http = Bare(app);
        var own = app.ServerUri.GetLeftPart(UriPartial.Authority);

        var response = await http.SendAsync(WithCookie(HttpMethod.Post, "/api/orders", cookie, own, HttpTestExtensions.NewOrder()), Ct);

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
    }

    [Fact]
    public async Task A_login_form_on_another_origin_cannot_plant_a_session()
    {
        await using var app = await TestApp.StartAsync();
        using var http = Bare(app);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/auth/session")
        {
            Content = JsonContent.Create(new { email = "dispatcher@demo.test", password = "Demo#2026" }),
        };
        request.Headers.Add("Origin", "https://evil.example");

        var response = await http.SendAsync(request, Ct);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.False(response.Headers.Contains("Set-Cookie"));
    }

    [Fact]
    public async Task A_wrong_password_gets_401_and_no_cookie()
    {
        await using var app = await TestApp.StartAsync();
        using var http = Bare(app);

        var response = await http.PostAsJsonAsync("/api/auth/session", new { email = "dispatcher@demo.test", password = "nope" }, Ct);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("Wrong email or password.", (await response.ReadJsonAsync()).GetProperty("detail").GetString());
        Assert.False(response.Headers.Contains("Set-Cookie"));
    }

    [Fact]
    public async Task Logging_out_expires_the_cookie()
    {
        await using var app = await TestApp.StartAsync();
        var cookie = await SessionCookieAsync(app);
        using var http = Bare(app);

        var response = await http.SendAsync(
            WithCookie(HttpMethod.Delete, "/api/auth/session", cookie, app.ServerUri.GetLeftPart(UriPartial.Authority)), Ct);

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        var cleared = Assert.Single(response.Headers.GetValues("Set-Cookie"));
        Assert.StartsWith("glo_access=;", cleared, StringComparison.Ordinal);
        Assert.Contains("expires=Thu, 01 Jan 1970", cleared, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task The_board_counts_every_visible_order_by_status_and_holds_the_newest_of_each_for_its_caller_only()
    {
        await using var app = await TestApp.StartAsync();
        var dispatcher = await app.DispatcherAsync();
        var other = await app.Dispatcher2Async();
        var ids = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            ids.Add((await (await dispatcher.PostAsJsonAsync("/api/orders", HttpTestExtensions.NewOrder(), Ct)).ReadJsonAsync()).GetProperty("id").GetString()!);
        }
        var cancelled = ids[0];
        Assert.Equal(HttpStatusCode.OK, (await dispatcher.PostAsync($"/api/orders/{cancelled}/cancel", null, Ct)).StatusCode);
        await other.PostAsJsonAsync("/api/orders", HttpTestExtensions.NewOrder(), Ct);

        var board = await (await dispatcher.GetAsync("/api/orders/board?limit=1", Ct)).ReadJsonAsync();

        var counts = board.GetProperty("counts").EnumerateArray().ToDictionary(c => c.GetProperty("status").GetString()!, c => c.GetProperty("count").GetInt32());
        Assert.Equal(9, counts.Count);
        Assert.Equal(2, counts["PENDING"]);
        Assert.Equal(1, counts["CANCELLED"]);
        Assert.Equal(0, counts.Where(c => c.Key is not ("PENDING" or "CANCELLED")).Sum(c => c.Value));
        var orders = board.GetProperty("orders").EnumerateArray().ToList();
        // limit=1: the newest pending one and the cancelled one; nothing of the other tenant.
        Assert.Equal(new[] { ids[2], cancelled }.Order(), orders.Select(o => o.GetProperty("id").GetString()!).Order());
        var bad = await dispatcher.GetAsync("/api/orders/board?limit=0", Ct);
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.True((await bad.ReadJsonAsync()).GetProperty("errors").TryGetProperty("limit", out _));
    }
}
