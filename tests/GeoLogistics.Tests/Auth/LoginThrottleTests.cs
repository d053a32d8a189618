using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using GeoLogistics.Tests.Support;

namespace GeoLogistics.Tests.Auth;

/// <summary>
/// Login throttles are counted in the store, so several nodes allow what one allows; a per-account back-off slows a
/// guesser on that account without locking the real user, who signs in from another address, out.
/// </summary>
public class LoginThrottleTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A client whose connections come from <paramref name="source"/> (another loopback address: another client).</summary>
    private static HttpClient From(TestApp app, string source) => new(new SocketsHttpHandler
    {
        ConnectCallback = async (context, ct) =>
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                socket.Bind(new IPEndPoint(IPAddress.Parse(source), 0));
                await socket.ConnectAsync(context.DnsEndPoint, ct);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        },
    })
    { BaseAddress = new UriBuilder(app.ServerUri) { Host = "127.0.0.1" }.Uri };

    private static Task<HttpResponseMessage> LoginAsync(HttpClient client, string email, string password) =>
        client.PostAsJsonAsync("/api/auth/login", new { email, password }, Ct);

    [Fact]
    public async Task Two_nodes_together_allow_one_addresses_limit_and_no_more()
    {
        var limits = new Dictionary<string, string?> { ["Auth:LoginAttemptsPerMinute"] = "4", ["Auth:LoginFailuresBeforeBackoff"] = "100" };
        await using var a = await TestApp.StartAsync(limits);
        await using var b = TestApp.StartNode(a, limits);
        using var toA = From(a, "127.0.0.1");
        using var toB = From(b, "127.0.0.1");
        using var elsewhere = From(b, "127.0.0.3");
        // The seven attempts below must fall in one minute of the clock, as the address's limit counts them.
        await ClockMinute.StartEarlyInOneAsync(Ct);

        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 6; i++)
        {
            statuses.Add((await LoginAsync(i % 2 == 0 ? toA : toB, "admin@demo.test", "wrong-password")).StatusCode);
        }
        var refused = await LoginAsync(toB, "admin@demo.test", "Demo#2026");

        Assert.Equal(
            [HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized,
             HttpStatusCode.TooManyRequests, HttpStatusCode.TooManyRequests],
            statuses);
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.True(refused.Headers.RetryAfter?.Delta > TimeSpan.Zero);
        Assert.Equal(429, (await refused.ReadJsonAsync()).GetProperty("status").GetInt32());
        // Another address has its own count.
        Assert.Equal(HttpStatusCode.OK, (await LoginAsync(elsewhere, "admin@demo.test", "Demo#2026")).StatusCode);
    }

    [Fact]
    public async Task Failures_on_one_account_back_off_that_address_and_not_the_real_user_elsewhere()
    {
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?>
        {
            ["Auth:LoginFailuresBeforeBackoff"] = "3",
            ["Auth:LoginBackoffMin"] = "00:05:00",
            ["Auth:LoginBackoffMax"] = "00:10:00",
        });
        using var attacker = From(app, "127.0.0.2");
        using var user = From(app, "127.0.0.1");

        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 4; i++)
        {
            statuses.Add((await LoginAsync(attacker, "dispatcher@demo.test", $"guess-{i}")).StatusCode);
        }
        // Even the right password waits out the back-off from that address: the answer must not tell a guess apart.
        var rightButBackedOff = await LoginAsync(attacker, "dispatcher@demo.test", "Demo#2026");
        var otherAccount = await LoginAsync(attacker, "customer@demo.test", "Demo#2026");
        var realUser = await LoginAsync(user, "dispatcher@demo.test", "Demo#2026");

        Assert.Equal([HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized, HttpStatusCode.TooManyRequests], statuses);
        Assert.Equal(HttpStatusCode.TooManyRequests, rightButBackedOff.StatusCode);
        Assert.True(rightButBackedOff.Headers.RetryAfter?.Delta > TimeSpan.Zero);
        Assert.Equal(HttpStatusCode.OK, otherAccount.StatusCode);
        Assert.Equal(HttpStatusCode.OK, realUser.StatusCode);
    }

    [Fact]
    public void The_back_off_doubles_with_each_failure_and_stops_at_its_maximum()
    {
        var options = new GeoLogistics.Server.Auth.AuthOptions { LoginFailuresBeforeBackoff = 5, LoginBackoffMin = TimeSpan.FromSeconds(1), LoginBackoffMax = TimeSpan.FromMinutes(15) };

        Assert.Null(GeoLogistics.Server.Auth.LoginGuard.Backoff(4, options));
        Assert.Equal(TimeSpan.FromSeconds(1), GeoLogistics.Server.Auth.LoginGuard.Backoff(5, options));
        Assert.Equal(TimeSpan.FromSeconds(8), GeoLogistics.Server.Auth.LoginGuard.Backoff(8, options));
        Assert.Equal(TimeSpan.FromMinutes(15), GeoLogistics.Server.Auth.LoginGuard.Backoff(20, options));
        Assert.Equal(TimeSpan.FromMinutes(15), GeoLogistics.Server.Auth.LoginGuard.Backoff(int.MaxValue, options));
    }
}
