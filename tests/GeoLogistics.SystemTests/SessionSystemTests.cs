using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text.Json;
using GeoLogistics.Tests.Support;

namespace GeoLogistics.SystemTests;

/// <summary>What one node knows of logins and sessions, every node knows: two server processes on one store.</summary>
public class SessionSystemTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly Dictionary<string, string> Settings = new()
    {
        ["Auth:LoginAttemptsPerMinute"] = "6",
        ["Auth:LoginFailuresBeforeBackoff"] = "3",
        ["Auth:LoginBackoffMin"] = "00:05:00",
        ["Auth:SessionPollInterval"] = "00:00:00.200",
    };

    private static async Task<HttpStatusCode> LoginStatusAsync(ServerProcess node, string email, string password)
    {
        using var http = new HttpClient { BaseAddress = node.Address };
        return (await http.PostAsJsonAsync("/api/auth/login", new { email, password }, Ct)).StatusCode;
    }

    [Fact]
    public async Task Two_nodes_count_one_addresses_login_attempts_and_one_accounts_failures_together()
    {
        await using var store = await TestStore.CreateAsync();
        await using var a = await ServerProcess.StartAsync(store, port: null, Settings, Ct);
        await using var b = await ServerProcess.StartAsync(store, port: null, Settings, Ct);
        // The seven attempts below must fall in one minute of the clock, as the address's limit counts them.
        await ClockMinute.StartEarlyInOneAsync(Ct);

        // Three failures on one account, split over both nodes: the account backs off on both.
        var failures = new[]
        {
            await LoginStatusAsync(a, ServerProcess.AdminEmail, "guess-1"),
            await LoginStatusAsync(b, ServerProcess.AdminEmail, "guess-2"),
            await LoginStatusAsync(a, ServerProcess.AdminEmail, "guess-3"),
        };
        var backedOffOnB = await LoginStatusAsync(b, ServerProcess.AdminEmail, ServerProcess.AdminPassword);
        // The address's own limit (6 a minute) is shared too: attempts 5 and 6 pass it, the 7th is refused on either node.
        var fifth = await LoginStatusAsync(a, "nobody@system.test", "x");
        var sixth = await LoginStatusAsync(b, "nobody@system.test", "x");
        var seventh = await LoginStatusAsync(a, "nobody@system.test", "x");

        Assert.Equal([HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized], failures);
        Assert.Equal(HttpStatusCode.TooManyRequests, backedOffOnB);
        Assert.Equal((HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized, HttpStatusCode.TooManyRequests), (fifth, sixth, seventh));
    }

    [Fact]
    public async Task Logout_on_one_node_ends_the_token_and_closes_its_socket_on_the_other()
    {
        await using var store = await TestStore.CreateAsync();
        var settings = new Dictionary<string, string>(Settings) { ["Auth:LoginAttemptsPerMinute"] = "1000" };
        await using var a = await ServerProcess.StartAsync(store, port: null, settings, Ct);
        await using var b = await ServerProcess.StartAsync(store, port: null, settings, Ct);
        using var admin = await a.AdminAsync(Ct);
        Assert.Equal(HttpStatusCode.Created, (await admin.PostAsJsonAsync("/api/users",
            new { email = "leaving@system.test", password = "long-enough-password", role = "customer" }, Ct)).StatusCode);
        using var leaving = await a.LoginAsync("leaving@system.test", "long-enough-password", Ct);
        using var staying = await b.LoginAsync("leaving@system.test", "long-enough-password", Ct);
        var token = leaving.DefaultRequestHeaders.Authorization!.Parameter!;
        await using var socketOnB = await WsClient.ConnectAsync(b.Address, token, Ct);
        await socketOnB.NextAsync("connection_ack");

        Assert.Equal(HttpStatusCode.NoContent, (await leaving.DeleteAsync("/api/auth/session", Ct)).StatusCode);

        using var onB = new HttpClient { BaseAddress = b.Address };
        onB.DefaultRequestHeaders.Authorization = leaving.DefaultRequestHeaders.Authorization;
        var status = HttpStatusCode.OK;
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20)))
        {
            while (status == HttpStatusCode.OK && !timeout.IsCancellationRequested)
            {
                status = (await onB.GetAsync("/api/me", Ct)).StatusCode;
                await Task.Delay(50, Ct);
            }
        }
        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, await socketOnB.ClosedAsync());
        var me = await staying.GetFromJsonAsync<JsonElement>("/api/me", Ct);
        Assert.Equal("leaving@system.test", me.GetProperty("email").GetString());
    }
}
