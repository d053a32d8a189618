using System.Net;
using System.Net.Http.Json;
using GeoLogistics.Server.Dispatch;
using GeoLogistics.Server.Drivers;
using GeoLogistics.Server.Events;
using GeoLogistics.Server.Orders;
using GeoLogistics.Tests.Support;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using NSubstitute;
using NSubstitute.ExceptionExtensions;
using static GeoLogistics.Tests.Support.HttpTestExtensions;

namespace GeoLogistics.Tests.Dispatch;

public class DispatchTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private const double PickupLat = 52.370;
    private const double PickupLng = 4.890;

    private static readonly Dictionary<string, string?> BackgroundDispatch = new()
    {
        ["Dispatch:Enabled"] = "true",
        ["Dispatch:SweepInterval"] = "00:00:01",
        ["Events:PollInterval"] = "00:00:00.100",
    };

    private static async Task<OrderDto> CreateOrderAsync(HttpClient client)
    {
        var response = await client.PostAsJsonAsync("/api/orders", NewOrder(), Ct);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return await response.ReadAsync<OrderDto>();
    }

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

    private static async Task<List<EventDto>> OrderEventsAsync(HttpClient client, Guid orderId) =>
        [.. (await client.GetFromJsonAsync<EventPage>($"/api/orders/{orderId}/events", TestApp.Json, Ct))!.Events];

    /// <summary>The store answers as the real one does, except where the test says otherwise.</summary>
    private static IDispatchStore Forwarding(IDispatchStore real)
    {
        var store = Substitute.For<IDispatchStore>();
        store.FindDispatchableAsync(default, default).ReturnsForAnyArgs(c => real.FindDispatchableAsync(c.Arg<Guid>(), c.Arg<CancellationToken>()));
        store.FindCandidatesAsync(default!, default).ReturnsForAnyArgs(c => real.FindCandidatesAsync(c.Arg<DispatchOrder>(), c.Arg<CancellationToken>()));
        store.RecordFailureAsync(default, default!, default).ReturnsForAnyArgs(c => real.RecordFailureAsync(c.Arg<Guid>(), c.Arg<string>(), c.Arg<CancellationToken>()));
        store.ListDispatchableAsync(default, default).ReturnsForAnyArgs(c => real.ListDispatchableAsync(c.Arg<int>(), c.Arg<CancellationToken>()));
        return store;
    }

    private static DispatchService ServiceOver(TestApp app, IDispatchStore store) =>
        ActivatorUtilities.CreateInstance<DispatchService>(app.Services, store);

    [Fact]
    public async Task A_transient_locking_failure_on_the_first_booking_is_retried_and_the_order_is_assigned()
    {
        await using var app = await TestApp.StartAsync();
        var driverId = await app.OnlineDriverAsync("near@demo.test", PickupLat + 0.001, PickupLng);
        var dispatcher = await app.DispatcherAsync();
        var order = await CreateOrderAsync(dispatcher);
        var real = app.Services.GetRequiredService<IDispatchStore>();
        var store = Forwarding(real);
        store.TryBookAsync(default!, default!, Ct).ReturnsForAnyArgs(
            _ => throw new SqliteException("database is locked", 5),
            c => real.TryBookAsync(c.Arg<DispatchOrder>(), c.Arg<Candidate>(), c.Arg<CancellationToken>()));

        var outcome = await ServiceOver(app, store).DispatchAsync(order.Id, Ct);

        Assert.Equal(DispatchOutcome.Assigned, outcome);
        await store.ReceivedWithAnyArgs(2).TryBookAsync(default!, default!, Ct);
        var assigned = await dispatcher.GetFromJsonAsync<OrderDto>($"/api/orders/{order.Id}", TestApp.Json, Ct);
        Assert.Equal((OrderStatus.Assigned, driverId), (assigned!.Status, assigned.DriverId!.Value));
    }

    [Fact]
    public async Task When_every_booking_attempt_fails_the_retries_are_bounded_and_the_order_stays_dispatchable_with_dispatch_failed()
    {
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?> { ["Dispatch:BookingRetries"] = "2" });
        await app.OnlineDriverAsync("near@demo.test", PickupLat + 0.001, PickupLng);
        var dispatcher = await app.DispatcherAsync();
        var order = await CreateOrderAsync(dispatcher);
        var store = Forwarding(app.Services.GetRequiredService<IDispatchStore>());
        store.TryBookAsync(default!, default!, Ct).ThrowsAsyncForAnyArgs(new SqliteException("database is locked", 5));

        var outcome = await ServiceOver(app, store).DispatchAsync(order.Id, Ct);

        Assert.Equal(DispatchOutcome.StoreUnavailable, outcome);
        await store.ReceivedWithAnyArgs(3).TryBookAsync(default!, default!, Ct);
        var now = await dispatcher.GetFromJsonAsync<OrderDto>($"/api/orders/{order.Id}", TestApp.Json, Ct);
        Assert.Equal((OrderStatus.Pending, (Guid?)null, DispatchFailures.StoreUnavailable), (now!.Status, now.DriverId, now.DispatchFailure));
        var failed = Assert.Single(await OrderEventsAsync(dispatcher, order.Id), e => e.Type == EventTypes.OrderDispatchFailed);
        Assert.Equal("system", failed.Actor.Email);
    }

    [Fact]
    public async Task Fifty_orders_and_ten_drivers_dispatched_in_parallel_book_each_driver_once()
    {
        await using var app = await TestApp.StartAsync();
        var drivers = new List<Guid>();
        for (var i = 0; i < 10; i++)
        {
            drivers.Add(await app.OnlineDriverAsync($"fleet{i}@demo.test", PickupLat + (i * 0.001), PickupLng));
        }
        var dispatcher = await app.DispatcherAsync();
        var orders = new List<OrderDto>();
        for (var i = 0; i < 50; i++)
        {
            orders.Add(await CreateOrderAsync(dispatcher));
        }
        var service = app.Services.GetRequiredService<DispatchService>();
        using var gate = new SemaphoreSlim(0);
        var workers = orders.Select(o => Task.Run(async () =>
        {
            await gate.WaitAsync(Ct);
            return await service.DispatchAsync(o.Id, Ct);
        }, Ct)).ToList();

        gate.Release(orders.Count);
        var outcomes = await Task.WhenAll(workers);

        Assert.Equal(10, outcomes.Count(o => o == DispatchOutcome.Assigned));
        Assert.Equal(40, outcomes.Count(o => o == DispatchOutcome.NoDriver));
        var final = await app.WithDbAsync(db => db.Orders.AsNoTracking().ToListAsync(Ct));
        var assigned = final.Where(o => o.Status == OrderStatus.Assigned).ToList();
        Assert.Equal(10, assigned.Count);
        Assert.Equal(drivers.Order(), assigned.Select(o => o.DriverId!.Value).Order());
        Assert.All(final.Where(o => o.Status != OrderStatus.Assigned), o => Assert.Equal((OrderStatus.Pending, (Guid?)null), (o.Status, o.DriverId)));
        var busy = await app.WithDbAsync(db => db.Drivers.AsNoTracking().Where(d => d.CurrentOrderId != null).ToListAsync(Ct));
        Assert.Equal(10, busy.Count);
        Assert.All(busy, d => Assert.Equal(d.Id, assigned.Single(o => o.Id == d.CurrentOrderId).DriverId));
        var failures = await app.WithDbAsync(db => db.Events.AsNoTracking().Where(e => e.Type == EventTypes.OrderDispatchFailed).Select(e => e.OrderId!.Value).ToListAsync(Ct));
        Assert.Equal(40, failures.Count);
        Assert.Equal(40, failures.Distinct().Count());
    }

    [Fact]
    public async Task Create_answers_201_pending_at_once_while_a_slow_dispatch_assigns_it_later()
    {
        using var release = new SemaphoreSlim(0);
        await using var app = await TestApp.StartAsync(BackgroundDispatch, services =>
        {
            services.AddSingleton<DispatchStore>();
            services.AddSingleton<IDispatchStore>(sp =>
            {
                var real = sp.GetRequiredService<DispatchStore>();
                var slow = Forwarding(real);
                slow.FindCandidatesAsync(default!, default).ReturnsForAnyArgs(async c =>
                {
                    // Dispatch cannot go on until the test has seen the 201.
                    await release.WaitAsync(c.Arg<CancellationToken>());
                    return await real.FindCandidatesAsync(c.Arg<DispatchOrder>(), c.Arg<CancellationToken>());
                });
                slow.TryBookAsync(default!, default!, Ct).ReturnsForAnyArgs(c => real.TryBookAsync(c.Arg<DispatchOrder>(), c.Arg<Candidate>(), c.Arg<CancellationToken>()));
                return slow;
            });
        });
        var driverId = await app.OnlineDriverAsync("near@demo.test", PickupLat, PickupLng);
        var dispatcher = await app.DispatcherAsync();

        var created = await CreateOrderAsync(dispatcher);

        Assert.Equal(OrderStatus.Pending, created.Status);
        release.Release(1000);
        var assigned = await WaitForAsync(dispatcher, created.Id, o => o.Status == OrderStatus.Assigned);
        Assert.Equal(driverId, assigned.DriverId);
        Assert.Contains(await OrderEventsAsync(dispatcher, created.Id), e => e.Type == EventTypes.OrderAssigned);
    }

    [Fact]
    public async Task A_declined_order_goes_to_another_driver_never_back_to_the_one_who_declined()
    {
        await using var app = await TestApp.StartAsync(BackgroundDispatch);
        var first = await app.OnlineDriverAsync("first@demo.test", PickupLat, PickupLng);
        var dispatcher = await app.DispatcherAsync();
        var order = await CreateOrderAsync(dispatcher);
        await WaitForAsync(dispatcher, order.Id, o => o.DriverId == first);
        var second = await app.OnlineDriverAsync("second@demo.test", PickupLat + 0.02, PickupLng);

        var declined = await (await app.ClientForAsync("first@demo.test")).PostAsJsonAsync($"/api/orders/{order.Id}/status", new { status = "PENDING" }, Ct);

        Assert.Equal(HttpStatusCode.OK, declined.StatusCode);
        var reassigned = await WaitForAsync(dispatcher, order.Id, o => o.Status == OrderStatus.Assigned);
        Assert.Equal(second, reassigned.DriverId);
    }

    [Fact]
    public async Task With_no_driver_the_order_fails_once_and_is_assigned_when_a_driver_comes_online()
    {
        // Every attempt that finds no driver tells the store so; the store records the failure once.
        var noDriver = 0;
        await using var app = await TestApp.StartAsync(BackgroundDispatch, services =>
        {
            services.AddSingleton<DispatchStore>();
            services.AddSingleton<IDispatchStore>(sp =>
            {
                var real = sp.GetRequiredService<DispatchStore>();
                var counting = Forwarding(real);
                counting.RecordFailureAsync(default, default!, default).ReturnsForAnyArgs(c =>
                {
                    if (c.Arg<string>() == DispatchFailures.NoDriver)
                    {
                        Interlocked.Increment(ref noDriver);
                    }
                    return real.RecordFailureAsync(c.Arg<Guid>(), c.Arg<string>(), c.Arg<CancellationToken>());
                });
                counting.TryBookAsync(default!, default!, Ct).ReturnsForAnyArgs(c => real.TryBookAsync(c.Arg<DispatchOrder>(), c.Arg<Candidate>(), c.Arg<CancellationToken>()));
                return counting;
            });
        });
        var dispatcher = await app.DispatcherAsync();
        var order = await CreateOrderAsync(dispatcher);
        await WaitForAsync(dispatcher, order.Id, o => o.DispatchFailure == DispatchFailures.NoDriver);
        // The first attempt, then two sweeps that find no driver either.
        using (var patience = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            while (Volatile.Read(ref noDriver) < 3)
            {
                await Task.Delay(20, patience.Token);
            }
        }

        var driverId = await app.OnlineDriverAsync("late@demo.test", PickupLat, PickupLng);

        var assigned = await WaitForAsync(dispatcher, order.Id, o => o.Status == OrderStatus.Assigned);
        Assert.Equal((driverId, (string?)null), (assigned.DriverId!.Value, assigned.DispatchFailure));
        var types = (await OrderEventsAsync(dispatcher, order.Id)).Select(e => e.Type).Where(t => t.StartsWith("order.", StringComparison.Ordinal));
        Assert.Equal([EventTypes.OrderCreated, EventTypes.OrderDispatchFailed, EventTypes.OrderAssigned], types);
    }

    [Fact]
    public async Task Candidates_are_free_fresh_allowed_for_the_tenant_within_the_radius_and_nearest_first()
    {
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?> { ["Dispatch:MaxRadiusKm"] = "10", ["Dispatch:MaxCandidates"] = "10" });
        var hospital = await app.TenantAsync("Demo Hospital");
        var kitchen = await app.TenantAsync("Second Kitchen");
        var far = await app.OnlineDriverAsync("far@demo.test", PickupLat + 0.05, PickupLng);          // ~5.6 km
        var near = await app.OnlineDriverAsync("near@demo.test", PickupLat + 0.005, PickupLng);       // ~0.6 km
        var own = await app.OnlineDriverAsync("own@demo.test", PickupLat + 0.02, PickupLng, hospital.Id);
        await app.OnlineDriverAsync("foreign@demo.test", PickupLat, PickupLng, kitchen.Id);           // other tenant's fleet
        await app.OnlineDriverAsync("toofar@demo.test", PickupLat + 0.2, PickupLng);                  // ~22 km
        await app.OnlineDriverAsync("offline@demo.test", PickupLat, PickupLng);
        await (await app.ClientForAsync("offline@demo.test")).PostAsJsonAsync("/api/drivers/me/status", new { online = false }, Ct);
        var order = await CreateOrderAsync(await app.DispatcherAsync());
        var store = app.Services.GetRequiredService<IDispatchStore>();

        var candidates = await store.FindCandidatesAsync((await store.FindDispatchableAsync(order.Id, Ct))!, Ct);

        Assert.Equal([near, own, far], candidates.Select(c => c.DriverId));
        Assert.InRange(candidates[0].DistanceKm, 0.5, 0.6);
    }

    [Fact]
    public void Great_circle_distance_matches_a_known_pair_of_cities()
    {
        // Amsterdam Centraal to Rotterdam Centraal: about 57 km as the crow flies.
        Assert.InRange(GeoGrid.DistanceKm(52.3791, 4.9003, 51.9244, 4.4690), 56, 59);
        Assert.Equal(0, GeoGrid.DistanceKm(10, 10, 10, 10), 9);
    }

    [Fact]
    public void A_square_of_cells_covers_every_point_within_its_covered_distance()
    {
        var random = new Random(7);
        for (var i = 0; i < 2000; i++)
        {
            var lat = -60 + (random.NextDouble() * 120);
            var lng = -170 + (random.NextDouble() * 340);
            var rings = 1 << random.Next(0, 5);
            var covered = GeoGrid.CoveredKm(lat, rings);
            // A point just inside the covered distance, in a random direction.
            var bearing = random.NextDouble() * 2 * Math.PI;
            var km = covered * 0.999 * random.NextDouble();
            var otherLat = lat + (km / 111.2 * Math.Cos(bearing));
            var otherLng = lng + (km / (111.2 * Math.Cos(lat * Math.PI / 180)) * Math.Sin(bearing));
            var cell = GeoGrid.CellOf(otherLat, otherLng);

            Assert.Contains(GeoGrid.Square(lat, lng, rings), r => cell >= r.From && cell <= r.To);
        }
    }
}
