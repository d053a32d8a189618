using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using GeoLogistics.Tests.Support;
using static GeoLogistics.Tests.Support.HttpTestExtensions;

namespace GeoLogistics.Tests.Security;

/// <summary>
/// A load balancer takes a node out when readiness fails: Redis down must not do that (the API still works fully),
/// the store down must.
/// </summary>
public class ReadinessTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A loopback port nothing listens on: bound once by us, then released.</summary>
    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    [Fact]
    public async Task With_redis_down_the_node_is_ready_but_degraded_naming_redis_and_orders_still_work()
    {
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?>
        {
            ["Redis:Configuration"] = $"127.0.0.1:{ClosedPort()},connectTimeout=500",
        });
        var dispatcher = await app.DispatcherAsync();

        var ready = await app.CreateClient().GetAsync("/health/ready", Ct);
        var created = await dispatcher.PostAsJsonAsync("/api/orders", NewOrder(), Ct);

        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        var body = await ready.Content.ReadAsStringAsync(Ct);
        Assert.Equal("Degraded\nredis: Degraded", body);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await dispatcher.GetAsync("/api/orders", Ct)).StatusCode);
    }

    [Fact]
    public async Task With_the_store_unreachable_the_node_is_not_ready()
    {
        await using var store = await TestStore.CreateAsync();
        using var outage = await StoreOutage.OverAsync(store);
        await using var app = TestApp.StartOn(store, outage.Settings);
        Assert.Equal(HttpStatusCode.OK, (await app.CreateClient().GetAsync("/health/ready", Ct)).StatusCode);

        outage.Cut();
        var ready = await app.CreateClient().GetAsync("/health/ready", Ct);
        var live = await app.CreateClient().GetAsync("/health/live", Ct);
        outage.Restore();

        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        Assert.Equal("Unhealthy\nstore: Unhealthy", await ready.Content.ReadAsStringAsync(Ct));
        Assert.Equal(HttpStatusCode.OK, live.StatusCode);

        // Nothing lost: the store back, the node is ready again.
        Assert.Equal(HttpStatusCode.OK, (await app.CreateClient().GetAsync("/health/ready", Ct)).StatusCode);
    }
}
