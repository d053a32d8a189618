using System.Net.Http.Json;
using GeoLogistics.Server.Dispatch;
using GeoLogistics.Server.Orders;
using GeoLogistics.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace GeoLogistics.Tests.Dispatch;

public class DispatchPriorityTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private const double PickupLat = 52.370;
    private const double PickupLng = 4.890;

    private static async Task<OrderDto> WaitForAsync(HttpClient client, Guid orderId, Func<OrderDto, bool> condition)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        while (true)
        {
            var order = (await client.GetFromJsonAsync<OrderDto>($"/api/orders/{orderId}", TestApp.Json, timeout.Token))!;
            if (condition(order))
            {
                return order;
            }
            await Task.Delay(50, timeout.Token);
        }
    }

    /// <summary>
    /// Three orders wait for want of a driver: an old one of priority 0, then two of priority 5. Drivers come free one
    /// at a time, and one worker takes orders in turn: the priority-5 orders go first, the older of them first, and
    /// the old priority-0 order last, though it waited longest.
    /// </summary>
    [Fact]
    public async Task Waiting_orders_get_drivers_by_priority_then_age()
    {
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?>
        {
            ["Dispatch:Enabled"] = "true",
            ["Dispatch:Workers"] = "1",
            // Only a driver coming free sweeps the waiting orders into the queue, all at once.
            ["Dispatch:SweepInterval"] = "00:10:00",
        });
        var dispatcher = await app.DispatcherAsync();
        async Task<OrderDto> Create(int priority)
        {
            var created = await dispatcher.PostAsJsonAsync("/api/orders", new
            {
                pickup = new { lat = PickupLat, lng = PickupLng },
                dropoff = new { lat = PickupLat - 0.01, lng = PickupLng + 0.01 },
                priority,
            }, Ct);
            created.EnsureSuccessStatusCode();
            var order = await created.ReadAsync<OrderDto>();
            return await WaitForAsync(dispatcher, order.Id, o => o.DispatchFailure == "no_free_driver");
        }
        var low = await Create(0);
        var high = await Create(5);
        var highLater = await Create(5);

        // A driver coming online while the worker still tries an order left from the previous sweep would go to that
        // order whatever its priority: bring each driver only once dispatch has nothing left to try.
        var queue = app.Services.GetRequiredService<DispatchQueue>();
        var served = new List<Guid>();
        for (var i = 0; i < 3; i++)
        {
            await WaitUntilIdleAsync(queue);
            var driverId = await app.OnlineDriverAsync($"free{i}@demo.test", PickupLat + 0.001, PickupLng);
            served.Add(await FirstBookedAsync(driverId));
        }

        Assert.Equal([high.Id, highLater.Id, low.Id], served);

        static async Task WaitUntilIdleAsync(DispatchQueue queue)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(30));
            while (!queue.IsIdle)
            {
                await Task.Delay(20, timeout.Token);
            }
        }

        async Task<Guid> FirstBookedAsync(Guid driverId)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(30));
            while (true)
            {
                var page = (await dispatcher.GetFromJsonAsync<OrderPage>($"/api/orders?driverId={driverId}", TestApp.Json, timeout.Token))!;
                if (page.Items.Count > 0)
                {
                    return Assert.Single(page.Items).Id;
                }
                await Task.Delay(50, timeout.Token);
            }
        }
    }
}
