using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using GeoLogistics.Tests.Support;

namespace GeoLogistics.SystemTests;

/// <summary>
/// Real server processes over one store (PostgreSQL in the PostgreSQL pass, one SQLite file otherwise).
/// </summary>
public class DispatchSystemTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly string[] Active = ["ASSIGNED", "PICKED_UP", "IN_TRANSIT"];

    private static async Task<List<JsonElement>> WaitForAsync(HttpClient admin, Func<List<JsonElement>, bool> done, TimeSpan within)
    {
        var deadline = DateTime.UtcNow + within;
        while (true)
        {
            var orders = await Fleet.AllOrdersAsync(admin, Ct);
            if (done(orders) || DateTime.UtcNow > deadline)
            {
                return orders;
            }
            await Task.Delay(200, Ct);
        }
    }

    private static int Count(List<JsonElement> orders, params string[] statuses) =>
        orders.Count(o => statuses.Contains(o.GetProperty("status").GetString()));

    [Fact]
    public async Task Two_nodes_on_one_store_dispatch_200_orders_to_50_drivers_without_a_double_booking()
    {
        await using var store = await TestStore.CreateAsync();
        await using var first = await ServerProcess.StartAsync(store, Ct);
        await using var second = await ServerProcess.StartAsync(store, Ct);
        var fleet = await Fleet.CreateAsync(first, drivers: 50, Ct);
        var viaSecond = await second.LoginAsync("dispatch@system.test", "fleet-password", Ct);
        var clients = new[] { fleet.Dispatcher, viaSecond };

        // Sixteen clients at a time, half through each node.
        using var clientsAtOnce = new SemaphoreSlim(16);
        var created = await Task.WhenAll(Enumerable.Range(0, 200).Select(async i =>
        {
            await clientsAtOnce.WaitAsync(Ct);
            try
            {
                return (await clients[i % 2].PostAsJsonAsync("/api/orders", Fleet.Order(i), Ct)).StatusCode;
            }
            finally
            {
                clientsAtOnce.Release();
            }
        }));

        Assert.All(created, s => Assert.Equal(HttpStatusCode.Created, s));
        var orders = await WaitForAsync(fleet.Admin, o => Count(o, "ASSIGNED") == 50, TimeSpan.FromSeconds(60));
        Assert.Equal(200, orders.Count);
        Assert.Equal(50, Count(orders, "ASSIGNED"));
        Assert.Equal(150, Count(orders, "PENDING"));
        var assignedDrivers = orders.Where(o => o.GetProperty("status").GetString() == "ASSIGNED").Select(o => o.GetProperty("driverId").GetGuid()).ToList();
        Assert.Equal(50, assignedDrivers.Distinct().Count());
        Assert.Empty(Fleet.DoubleBookings(await Fleet.AllEventsAsync(fleet.Admin, Ct)));
    }

    [Fact]
    public async Task After_kill_9_mid_dispatch_and_a_restart_the_invariants_hold_and_every_order_is_served()
    {
        await using var store = await TestStore.CreateAsync();
        var server = await ServerProcess.StartAsync(store, Ct);
        var fleet = await Fleet.CreateAsync(server, drivers: 10, Ct);

        // A burst, and the process dies while dispatch is under way.
        await Task.WhenAll(Enumerable.Range(0, 40).Select(i => fleet.Dispatcher.PostAsJsonAsync("/api/orders", Fleet.Order(i), Ct)));
        await WaitForAsync(fleet.Admin, o => Count(o, "ASSIGNED") >= 1, TimeSpan.FromSeconds(30));
        server.KillHard();
        await server.DisposeAsync();

        await using var restarted = await ServerProcess.StartAsync(store, Ct);
        var admin = await restarted.AdminAsync(Ct);
        var drivers = new Dictionary<Guid, HttpClient>();
        for (var i = 0; i < 10; i++)
        {
            var client = await restarted.LoginAsync($"driver{i}@system.test", "fleet-password", Ct);
            var me = await client.GetFromJsonAsync<JsonElement>("/api/me", Ct);
            drivers[me.GetProperty("driverId").GetGuid()] = client;
        }

        // Serve every order: once dispatch has settled (every driver busy, or nothing left to book), the drivers and
        // orders must agree; then every driver delivers and dispatch hands out the next ones.
        var delivered = 0;
        while (delivered < 40)
        {
            var settled = await WaitForAsync(admin, o => Count(o, "ASSIGNED") == Math.Min(10, 40 - Count(o, "DELIVERED")), TimeSpan.FromSeconds(60));
            Assert.Equal(Math.Min(10, 40 - Count(settled, "DELIVERED")), Count(settled, "ASSIGNED"));
            AssertDriversAndOrdersAgree(settled, await admin.GetFromJsonAsync<JsonElement>("/api/drivers?limit=1000", Ct));
            foreach (var order in settled.Where(o => o.GetProperty("status").GetString() == "ASSIGNED"))
            {
                var driver = drivers[order.GetProperty("driverId").GetGuid()];
                foreach (var step in new[] { "PICKED_UP", "IN_TRANSIT", "DELIVERED" })
                {
                    var moved = await driver.PostAsJsonAsync($"/api/orders/{order.GetProperty("id").GetGuid()}/status", new { status = step }, Ct);
                    Assert.Equal(HttpStatusCode.OK, moved.StatusCode);
                }
            }
            delivered = Count(await Fleet.AllOrdersAsync(admin, Ct), "DELIVERED");
        }
        Assert.Equal(40, delivered);
        Assert.Empty(Fleet.DoubleBookings(await Fleet.AllEventsAsync(admin, Ct)));
    }

    /// <summary>No driver busy without its order, no order holding a driver that does not hold it back.</summary>
    private static void AssertDriversAndOrdersAgree(List<JsonElement> orders, JsonElement drivers)
    {
        var holding = orders.Where(o => Active.Contains(o.GetProperty("status").GetString()))
            .ToDictionary(o => o.GetProperty("id").GetGuid(), o => o.GetProperty("driverId").GetGuid());
        foreach (var driver in drivers.EnumerateArray())
        {
            var id = driver.GetProperty("id").GetGuid();
            var current = driver.GetProperty("currentOrderId");
            if (current.ValueKind == JsonValueKind.Null)
            {
                Assert.DoesNotContain(id, holding.Values);
                Assert.NotEqual("busy", driver.GetProperty("status").GetString());
            }
            else
            {
                Assert.Equal(id, holding[current.GetGuid()]);
            }
        }
        Assert.Equal(holding.Count, holding.Values.Distinct().Count());
    }
}
