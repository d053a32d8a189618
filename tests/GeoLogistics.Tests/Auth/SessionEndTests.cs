using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text.Json;
using GeoLogistics.Tests.Support;

namespace GeoLogistics.Tests.Auth;

/// <summary>
/// Logging out, disabling a user and changing its role end that session's (or that user's) tokens at once, also on
/// another node, and close their sockets with 1008; other sessions and users keep working.
/// </summary>
public class SessionEndTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<string> LoginAsync(TestApp app, string email, string password = "Demo#2026")
    {
        var response = await app.CreateClient().PostAsJsonAsync("/api/auth/login", new { email, password }, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.ReadJsonAsync()).GetProperty("accessToken").GetString()!;
    }

    private static async Task<HttpStatusCode> StatusAsync(TestApp app, string token) =>
        (await app.ClientWithToken(token).GetAsync("/api/me", Ct)).StatusCode;

    /// <summary>Another node learns of an ended session at its next poll: wait for that, bounded.</summary>
    private static async Task<HttpStatusCode> StatusOnceRefusedAsync(TestApp app, string token)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        while (true)
        {
            var status = await StatusAsync(app, token);
            if (status != HttpStatusCode.OK || timeout.IsCancellationRequested)
            {
                return status;
            }
            await Task.Delay(50, Ct);
        }
    }

    private static async Task<WsClient> SocketAsync(TestApp app, string token)
    {
        var socket = await WsClient.ConnectAsync(app.ServerUri, token, Ct);
        await socket.NextAsync("connection_ack");
        return socket;
    }

    [Fact]
    public async Task Logout_ends_that_sessions_token_and_socket_at_once_and_no_other_session()
    {
        await using var app = await TestApp.StartAsync();
        var leaving = await LoginAsync(app, "dispatcher@demo.test");
        var staying = await LoginAsync(app, "dispatcher@demo.test");
        await using var leavingSocket = await SocketAsync(app, leaving);
        await using var stayingSocket = await SocketAsync(app, staying);

        var logout = await app.ClientWithToken(leaving).DeleteAsync("/api/auth/session", Ct);

        Assert.Equal(HttpStatusCode.NoContent, logout.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, await StatusAsync(app, leaving));
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, await leavingSocket.ClosedAsync());
        Assert.Equal(HttpStatusCode.Unauthorized, await WsClient.RefusalAsync(app.ServerUri, leaving, Ct));
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(app, staying));
        await stayingSocket.SendAsync(new { type = "ping" }, Ct);
        await stayingSocket.NextAsync("pong");
    }

    [Fact]
    public async Task A_dashboard_logout_ends_the_cookies_session()
    {
        await using var app = await TestApp.StartAsync();
        var origin = app.ServerUri.GetLeftPart(UriPartial.Authority);
        using var http = new HttpClient(new HttpClientHandler { UseCookies = false }) { BaseAddress = app.ServerUri };
        using var login = new HttpRequestMessage(HttpMethod.Post, "/api/auth/session") { Content = JsonContent.Create(new { email = "dispatcher@demo.test", password = "Demo#2026" }) };
        login.Headers.Add("Origin", origin);
        var cookie = (await http.SendAsync(login, Ct)).Headers.GetValues("Set-Cookie").Single().Split(';')[0];
        HttpRequestMessage WithCookie(HttpMethod method, string path)
        {
            var request = new HttpRequestMessage(method, path);
            request.Headers.Add("Cookie", cookie);
            request.Headers.Add("Origin", origin);
            return request;
        }
        Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(WithCookie(HttpMethod.Get, "/api/me"), Ct)).StatusCode);

        var logout = await http.SendAsync(WithCookie(HttpMethod.Delete, "/api/auth/session"), Ct);

        Assert.Equal(HttpStatusCode.NoContent, logout.StatusCode);
        // A copy of the cookie kept from before the logout opens nothing any more.
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.SendAsync(WithCookie(HttpMethod.Get, "/api/me"), Ct)).StatusCode);
    }

    [Fact]
    public async Task Logout_on_one_node_ends_the_session_and_its_socket_on_another()
    {
        await using var a = await TestApp.StartAsync(new Dictionary<string, string?> { ["Auth:SessionPollInterval"] = "00:00:00.100" });
        await using var b = TestApp.StartNode(a, new Dictionary<string, string?> { ["Auth:SessionPollInterval"] = "00:00:00.100" });
        var token = await LoginAsync(a, "customer@demo.test");
        var other = await LoginAsync(b, "customer@demo.test");
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(b, token));
        await using var socketOnB = await SocketAsync(b, token);

        Assert.Equal(HttpStatusCode.NoContent, (await a.ClientWithToken(token).DeleteAsync("/api/auth/session", Ct)).StatusCode);

        Assert.Equal(HttpStatusCode.Unauthorized, await StatusOnceRefusedAsync(b, token));
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, await socketOnB.ClosedAsync());
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(b, other));
    }

    [Fact]
    public async Task Disabling_a_user_ends_all_its_sessions_and_sockets_and_refuses_its_login_until_enabled()
    {
        await using var app = await TestApp.StartAsync();
        var admin = await app.AdminAsync();
        var customer = await app.UserAsync("customer@demo.test");
        var first = await LoginAsync(app, "customer@demo.test");
        var second = await LoginAsync(app, "customer@demo.test");
        var bystander = await LoginAsync(app, "dispatcher@demo.test");
        await using var socket = await SocketAsync(app, second);
        var tenant = await app.TenantAsync("Demo Hospital");
        var order = await app.ClientWithToken(first).PostAsJsonAsync("/api/orders", HttpTestExtensions.NewOrder(tenant.Id), Ct);
        Assert.Equal(HttpStatusCode.Created, order.StatusCode);

        var disabled = await admin.PatchAsJsonAsync($"/api/users/{customer.Id}", new { disabled = true }, Ct);

        Assert.Equal(HttpStatusCode.OK, disabled.StatusCode);
        Assert.True((await disabled.ReadJsonAsync()).GetProperty("disabled").GetBoolean());
        Assert.Equal(HttpStatusCode.Unauthorized, await StatusAsync(app, first));
        Assert.Equal(HttpStatusCode.Unauthorized, await StatusAsync(app, second));
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, await socket.ClosedAsync());
        var login = await app.CreateClient().PostAsJsonAsync("/api/auth/login", new { email = "customer@demo.test", password = "Demo#2026" }, Ct);
        Assert.Equal(HttpStatusCode.Unauthorized, login.StatusCode);
        Assert.Equal("Wrong email or password.", (await login.ReadJsonAsync()).GetProperty("detail").GetString());
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(app, bystander));
        // Nothing the user made is lost: its order is still there for its tenant.
        var id = (await order.ReadJsonAsync()).GetProperty("id").GetGuid();
        Assert.Equal(HttpStatusCode.OK, (await (await app.DispatcherAsync()).GetAsync($"/api/orders/{id}", Ct)).StatusCode);

        Assert.Equal(HttpStatusCode.OK, (await admin.PatchAsJsonAsync($"/api/users/{customer.Id}", new { disabled = false }, Ct)).StatusCode);
        var again = await LoginAsync(app, "customer@demo.test");
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(app, again));
    }

    [Fact]
    public async Task Changing_a_users_role_ends_its_sessions_and_the_next_login_carries_the_new_role()
    {
        await using var app = await TestApp.StartAsync();
        var admin = await app.AdminAsync();
        var tenant = await app.TenantAsync("Demo Hospital");
        var created = await admin.PostAsJsonAsync("/api/users",
            new { email = "shift@demo.test", password = "Demo#2026", role = "dispatcher", tenantId = tenant.Id }, Ct);
        var id = (await created.ReadJsonAsync()).GetProperty("id").GetGuid();
        var asDispatcher = await LoginAsync(app, "shift@demo.test");
        Assert.Equal(HttpStatusCode.Created, (await app.ClientWithToken(asDispatcher).PostAsJsonAsync("/api/orders", HttpTestExtensions.NewOrder(), Ct)).StatusCode);

        var changed = await admin.PatchAsJsonAsync($"/api/users/{id}", new { role = "customer" }, Ct);

        Assert.Equal(HttpStatusCode.OK, changed.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, await StatusAsync(app, asDispatcher));
        var asCustomer = await LoginAsync(app, "shift@demo.test");
        var me = await app.ClientWithToken(asCustomer).GetFromJsonAsync<JsonElement>("/api/me", Ct);
        Assert.Equal("customer", me.GetProperty("role").GetString());
        // A customer must name the tenant: the dispatcher's default is gone with the role.
        Assert.Equal(HttpStatusCode.BadRequest, (await app.ClientWithToken(asCustomer).PostAsJsonAsync("/api/orders", HttpTestExtensions.NewOrder(), Ct)).StatusCode);
    }

    [Fact]
    public async Task Only_an_admin_manages_users_and_no_admin_disables_itself()
    {
        await using var app = await TestApp.StartAsync();
        var admin = await app.AdminAsync();
        var dispatcher = await app.DispatcherAsync();
        var adminUser = await app.UserAsync("admin@demo.test");
        var customer = await app.UserAsync("customer@demo.test");
        var driver = await app.UserAsync("driver1@demo.test");

        Assert.Equal(HttpStatusCode.Forbidden, (await dispatcher.PatchAsJsonAsync($"/api/users/{customer.Id}", new { disabled = true }, Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await dispatcher.GetAsync("/api/users", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await dispatcher.DeleteAsync($"/api/users/{customer.Id}/sessions", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, (await admin.PatchAsJsonAsync($"/api/users/{adminUser.Id}", new { disabled = true }, Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await admin.PatchAsJsonAsync($"/api/users/{driver.Id}", new { role = "customer" }, Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await admin.PatchAsJsonAsync($"/api/users/{customer.Id}", new { role = "superuser" }, Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.PatchAsJsonAsync($"/api/users/{Guid.NewGuid()}", new { disabled = true }, Ct)).StatusCode);
        // None of the refusals changed anyone: the customer still logs in, the admin still works.
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(app, await LoginAsync(app, "customer@demo.test")));
        var list = await admin.GetFromJsonAsync<JsonElement>("/api/users", Ct);
        Assert.Contains(list.EnumerateArray(), u => u.GetProperty("email").GetString() == "customer@demo.test" && !u.GetProperty("disabled").GetBoolean());
    }

    [Fact]
    public async Task An_admin_ends_every_session_of_a_user_without_disabling_it()
    {
        await using var app = await TestApp.StartAsync();
        var admin = await app.AdminAsync();
        var driver = await app.UserAsync("driver1@demo.test");
        var token = await LoginAsync(app, "driver1@demo.test");
        await using var socket = await SocketAsync(app, token);

        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync($"/api/users/{driver.Id}/sessions", Ct)).StatusCode);

        Assert.Equal(HttpStatusCode.Unauthorized, await StatusAsync(app, token));
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, await socket.ClosedAsync());
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(app, await LoginAsync(app, "driver1@demo.test")));
    }
}
