using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Drivers;
using GeoLogistics.Server.Events;
using GeoLogistics.Server.Orders;
using GeoLogistics.Server.Users;
using GeoLogistics.Tests.Support;
using static GeoLogistics.Tests.Support.HttpTestExtensions;

namespace GeoLogistics.Tests.Drivers;

// Drivers that go online here never report a position unless the test is about positions: dispatch only
// considers drivers with a fresh location (SPEC §4), so background dispatch cannot take them from a manual assign.
public class DriversApiTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static object NewDriver(string email, Guid? tenantId = null, string? name = "New Driver", string password = "Driver#2026") =>
        new { email, password, name, phone = "+31 6 1234 5678", tenantId };

    private static async Task<DriverDto> RegisterAsync(HttpClient client, string email, Guid? tenantId = null)
    {
        var response = await client.PostAsJsonAsync("/api/drivers", NewDriver(email, tenantId), Ct);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return await response.ReadAsync<DriverDto>();
    }

    private static async Task<DriverDto> SetOnlineAsync(HttpClient driver, bool online)
    {
        var response = await driver.PostAsJsonAsync("/api/drivers/me/status", new { online }, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.ReadAsync<DriverDto>();
    }

    private static async Task<DriverDto> DriverAsync(HttpClient client, Guid id) =>
        (await client.GetFromJsonAsync<DriverDto>($"/api/drivers/{id}", TestApp.Json, Ct))!;

    private static async Task<OrderDto> OrderAsync(HttpClient client, Guid id) =>
        (await client.GetFromJsonAsync<OrderDto>($"/api/orders/{id}", TestApp.Json, Ct))!;

    private static async Task<OrderDto> CreateOrderAsync(HttpClient client, Guid? tenantId = null)
    {
        var response = await client.PostAsJsonAsync("/api/orders", NewOrder(tenantId), Ct);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return await response.ReadAsync<OrderDto>();
    }

    private static Task<HttpResponseMessage> AssignAsync(HttpClient client, Guid orderId, Guid driverId) =>
        client.PostAsJsonAsync($"/api/orders/{orderId}/assign", new { driverId }, Ct);

    private static Task<HttpResponseMessage> MoveAsync(HttpClient client, Guid orderId, string status) =>
        client.PostAsJsonAsync($"/api/orders/{orderId}/status", new { status }, Ct);

    private static Task<HttpResponseMessage> PostLocationAsync(HttpClient driver, object body) =>
        driver.PostAsJsonAsync("/api/drivers/me/location", body, Ct);

    private static string Iso(DateTimeOffset time) => time.ToString("O", CultureInfo.InvariantCulture);

    private static async Task AssertFieldErrorAsync(HttpResponseMessage response, string field, string why)
    {
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{why}: {response.StatusCode}");
        var errors = (await response.ReadJsonAsync()).GetProperty("errors");
        Assert.True(errors.TryGetProperty(field, out _), $"{why}: errors were {errors}");
    }

    // 1. Registration

    [Fact]
    public async Task An_admin_registers_a_platform_driver_who_can_log_in_as_that_driver()
    {
        await using var app = await TestApp.StartAsync();
        var admin = await app.AdminAsync();

        var response = await admin.PostAsJsonAsync("/api/drivers", NewDriver("Rider@Demo.test"), Ct);

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var driver = await response.ReadAsync<DriverDto>();
        Assert.Equal($"/api/drivers/{driver.Id}", response.Headers.Location?.OriginalString);
        Assert.Null(driver.TenantId);
        Assert.Equal(DriverStatus.Offline, driver.Status);
        Assert.Equal("New Driver", driver.Name);
        Assert.Null(driver.CurrentOrderId);
        Assert.Equal(DriverStatus.Offline, (await DriverAsync(admin, driver.Id)).Status);

        var login = await app.CreateClient().PostAsJsonAsync("/api/auth/login", new { email = "rider@demo.test", password = "Driver#2026" }, Ct);
        Assert.Equal(HttpStatusCode.OK, login.StatusCode);
        var token = await login.ReadAsync<AuthApi.LoginResponse>();
        Assert.Equal(driver.Id, token.User.DriverId);
        var me = await app.ClientWithToken(token.AccessToken).GetFromJsonAsync<UserDto>("/api/me", TestApp.Json, Ct);
        Assert.Equal((driver.UserId, driver.Id, Role.Driver), (me!.Id, me.DriverId, me.Role));
    }

    [Fact]
    public async Task A_dispatcher_registers_drivers_for_its_own_fleet_only()
    {
        await using var app = await TestApp.StartAsync();
        var hospital = await app.TenantAsync("Demo Hospital");
        var kitchen = await app.TenantAsync("Second Kitchen");
        var dispatcher = await app.DispatcherAsync();

        var implicitFleet = await RegisterAsync(dispatcher, "own1@demo.test");
        var namedFleet = await RegisterAsync(dispatcher, "own2@demo.test", hospital.Id);
        var foreign = await dispatcher.PostAsJsonAsync("/api/drivers", NewDriver("foreign@demo.test", kitchen.Id), Ct);
        var byCustomer = await (await app.CustomerAsync()).PostAsJsonAsync("/api/drivers", NewDriver("bycustomer@demo.test"), Ct);

        Assert.Equal(hospital.Id, implicitFleet.TenantId);
        Assert.Equal(hospital.Id, namedFleet.TenantId);
        Assert.Equal(HttpStatusCode.Forbidden, foreign.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, byCustomer.StatusCode);
        var all = await (await app.AdminAsync()).GetFromJsonAsync<List<DriverDto>>("/api/drivers", TestApp.Json, Ct);
        Assert.Equal(7, all!.Count);
        Assert.Equal(2, all.Count(d => d.TenantId == hospital.Id));
        var login = await app.CreateClient().PostAsJsonAsync("/api/auth/login", new { email = "foreign@demo.test", password = "Driver#2026" }, Ct);
        Assert.Equal(HttpStatusCode.Unauthorized, login.StatusCode);
    }

    [Fact]
    public async Task A_duplicate_email_answers_409_and_bad_input_400_naming_the_fields()
    {
        await using var app = await TestApp.StartAsync();
        var admin = await app.AdminAsync();

        var duplicate = await admin.PostAsJsonAsync("/api/drivers", NewDriver("DRIVER1@demo.test"), Ct);
        var noName = await admin.PostAsJsonAsync("/api/drivers", NewDriver("noname@demo.test", name: null), Ct);
        var shortPassword = await admin.PostAsJsonAsync("/api/drivers", NewDriver("short@demo.test", password: "abc"), Ct);

        Assert.Equal(HttpStatusCode.Conflict, duplicate.StatusCode);
        Assert.Equal("application/problem+json", duplicate.Content.Headers.ContentType?.MediaType);
        await AssertFieldErrorAsync(noName, "name", "missing name");
        await AssertFieldErrorAsync(shortPassword, "password", "short password");
        var all = await admin.GetFromJsonAsync<List<DriverDto>>("/api/drivers", TestApp.Json, Ct);
        Assert.Equal(5, all!.Count);
    }

    // 2. Visibility

    [Fact]
    public async Task Another_tenants_own_fleet_is_invisible_while_the_platform_fleet_is_shared()
    {
        await using var app = await TestApp.StartAsync();
        var hospitalOwn = await RegisterAsync(await app.DispatcherAsync(), "own@demo.test");
        var platform = await app.DriverRecordAsync(1);
        var kitchen = await app.Dispatcher2Async();

        var hidden = await kitchen.GetAsync($"/api/drivers/{hospitalOwn.Id}", Ct);
        var list = await kitchen.GetFromJsonAsync<List<DriverDto>>("/api/drivers", TestApp.Json, Ct);

        Assert.Equal(HttpStatusCode.NotFound, hidden.StatusCode);
        Assert.Equal("application/problem+json", hidden.Content.Headers.ContentType?.MediaType);
        Assert.DoesNotContain(list!, d => d.Id == hospitalOwn.Id);
        Assert.Equal(5, list!.Count);
        Assert.All(list, d => Assert.Null(d.TenantId));
        Assert.Equal(platform.Id, (await DriverAsync(kitchen, platform.Id)).Id);
        Assert.Equal(hospitalOwn.Id, (await DriverAsync(await app.DispatcherAsync(), hospitalOwn.Id)).Id);
    }

    [Fact]
    public async Task A_customer_may_not_list_drivers_and_a_driver_sees_only_itself()
    {
        await using var app = await TestApp.StartAsync();
        var me = await app.DriverRecordAsync(1);
        var other = await app.DriverRecordAsync(2);
        var driver = await app.DriverAsync(1);

        var byCustomer = await (await app.CustomerAsync()).GetAsync("/api/drivers", Ct);
        var list = await driver.GetFromJsonAsync<List<DriverDto>>("/api/drivers", TestApp.Json, Ct);
        var otherOne = await driver.GetAsync($"/api/drivers/{other.Id}", Ct);

        Assert.Equal(HttpStatusCode.Forbidden, byCustomer.StatusCode);
        Assert.Equal([me.Id], list!.Select(d => d.Id));
        Assert.Equal(HttpStatusCode.NotFound, otherOne.StatusCode);
        Assert.Equal(me.Id, (await DriverAsync(driver, me.Id)).Id);
    }

    // 3. Online and offline

    [Fact]
    public async Task A_driver_goes_online_and_offline_and_each_change_is_logged()
    {
        await using var app = await TestApp.StartAsync();
        var record = await app.DriverRecordAsync(1);
        var driver = await app.DriverAsync(1);
        var admin = await app.AdminAsync();

        var online = await SetOnlineAsync(driver, true);
        var readOnline = await DriverAsync(admin, record.Id);
        var offline = await SetOnlineAsync(driver, false);

        Assert.Equal(DriverStatus.Available, online.Status);
        Assert.Equal(DriverStatus.Available, readOnline.Status);
        Assert.Equal(DriverStatus.Offline, offline.Status);
        Assert.Equal(DriverStatus.Offline, (await DriverAsync(admin, record.Id)).Status);
        var log = await admin.GetFromJsonAsync<EventPage>("/api/events?since=0", TestApp.Json, Ct);
        var changes = log!.Events.Where(e => e.Type == EventTypes.DriverStatusChanged && e.DriverId == record.Id).ToList();
        Assert.Equal(2, changes.Count);
        Assert.Contains("\"available\"", changes[0].Data.Json, StringComparison.Ordinal);
        Assert.Contains("\"offline\"", changes[1].Data.Json, StringComparison.Ordinal);
        Assert.Equal("driver1@demo.test", changes[0].Actor.Email);
    }

    [Fact]
    public async Task Only_drivers_change_their_status_and_online_must_be_a_boolean()
    {
        await using var app = await TestApp.StartAsync();
        var record = await app.DriverRecordAsync(1);
        var driver = await app.DriverAsync(1);

        var byDispatcher = await (await app.DispatcherAsync()).PostAsJsonAsync("/api/drivers/me/status", new { online = true }, Ct);
        var notBoolean = await driver.PostAsync("/api/drivers/me/status", new StringContent("""{"online":"yes"}""", Encoding.UTF8, "application/json"), Ct);

        Assert.Equal(HttpStatusCode.Forbidden, byDispatcher.StatusCode);
        await AssertFieldErrorAsync(notBoolean, "online", "online as a string");
        Assert.Equal(DriverStatus.Offline, (await DriverAsync(await app.AdminAsync(), record.Id)).Status);
    }

    // 4. Location

    [Fact]
    public async Task A_reported_position_is_accepted_with_202_and_shown_on_the_driver()
    {
        await using var app = await TestApp.StartAsync();
        var record = await app.DriverRecordAsync(1);
        var recordedAt = DateTimeOffset.UtcNow.AddSeconds(-5);

        var response = await PostLocationAsync(await app.DriverAsync(1), new { lat = 52.3702, lng = 4.8952, heading = 90.0, speed = 11.5, recordedAt = Iso(recordedAt) });

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var location = (await DriverAsync(await app.AdminAsync(), record.Id)).Location;
        Assert.NotNull(location);
        Assert.Equal((52.3702, 4.8952, 90.0, 11.5), (location.Lat, location.Lng, location.Heading, location.Speed));
        Assert.True((location.At - recordedAt).Duration() < TimeSpan.FromMilliseconds(1), $"at was {location.At:O}");
    }

    [Theory]
    [InlineData("latitude 91", 91.0, 4.9, null, null, "lat")]
    [InlineData("longitude -181", 52.0, -181.0, null, null, "lng")]
    [InlineData("heading 400", 52.0, 4.9, 400.0, null, "heading")]
    [InlineData("recorded 5 minutes in the future", 52.0, 4.9, null, 5 * 60, "recordedAt")]
    [InlineData("recorded an hour ago", 52.0, 4.9, null, -60 * 60, "recordedAt")]
    public async Task A_bad_position_answers_400_naming_the_field_and_keeps_the_stored_one(
        string why, double lat, double lng, double? heading, int? recordedSecondsFromNow, string field)
    {
        await using var app = await TestApp.StartAsync();
        var record = await app.DriverRecordAsync(1);
        var driver = await app.DriverAsync(1);
        Assert.Equal(HttpStatusCode.Accepted, (await PostLocationAsync(driver, new { lat = 52.37, lng = 4.89 })).StatusCode);
        var recordedAt = recordedSecondsFromNow is { } seconds ? Iso(DateTimeOffset.UtcNow.AddSeconds(seconds)) : null;

        var response = await PostLocationAsync(driver, new { lat, lng, heading, recordedAt });

        await AssertFieldErrorAsync(response, field, why);
        var location = (await DriverAsync(driver, record.Id)).Location;
        Assert.Equal((52.37, 4.89), (location!.Lat, location.Lng));
    }

    [Fact]
    public async Task An_older_position_after_a_newer_one_is_accepted_but_does_not_move_the_driver_back()
    {
        await using var app = await TestApp.StartAsync();
        var record = await app.DriverRecordAsync(1);
        var driver = await app.DriverAsync(1);
        var now = DateTimeOffset.UtcNow;

        var newer = await PostLocationAsync(driver, new { lat = 52.10, lng = 4.10, recordedAt = Iso(now.AddMinutes(-1)) });
        var older = await PostLocationAsync(driver, new { lat = 52.20, lng = 4.20, recordedAt = Iso(now.AddMinutes(-2)) });

        Assert.Equal(HttpStatusCode.Accepted, newer.StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, older.StatusCode);
        var location = (await DriverAsync(driver, record.Id)).Location;
        Assert.Equal((52.10, 4.10), (location!.Lat, location.Lng));
    }

    [Fact]
    public async Task Positions_with_a_time_zone_offset_are_ordered_by_the_instant_they_name()
    {
        await using var app = await TestApp.StartAsync();
        var record = await app.DriverRecordAsync(1);
        var driver = await app.DriverAsync(1);
        var now = DateTimeOffset.UtcNow;
        Assert.Equal(HttpStatusCode.Accepted, (await PostLocationAsync(driver, new { lat = 52.10, lng = 4.10, recordedAt = Iso(now.AddMinutes(-2)) })).StatusCode);

        // Three minutes ago written in Amsterdam summer time: older, though its wall clock reads later.
        var older = await PostLocationAsync(driver, new { lat = 52.20, lng = 4.20, recordedAt = Iso(now.AddMinutes(-3).ToOffset(TimeSpan.FromHours(2))) });
        var afterOlder = (await DriverAsync(driver, record.Id)).Location;
        // One minute ago written in New York winter time: newer, though its wall clock reads earlier.
        var newer = await PostLocationAsync(driver, new { lat = 52.11, lng = 4.11, recordedAt = Iso(now.AddMinutes(-1).ToOffset(TimeSpan.FromHours(-5))) });
        var afterNewer = (await DriverAsync(driver, record.Id)).Location;

        Assert.Equal(HttpStatusCode.Accepted, older.StatusCode);
        Assert.Equal((52.10, 4.10), (afterOlder!.Lat, afterOlder.Lng));
        Assert.Equal(HttpStatusCode.Accepted, newer.StatusCode);
        Assert.Equal((52.11, 4.11), (afterNewer!.Lat, afterNewer.Lng));
        Assert.True((afterNewer.At - now.AddMinutes(-1)).Duration() < TimeSpan.FromMilliseconds(1), $"at was {afterNewer.At:O}");
    }

    [Fact]
    public async Task Positions_above_the_rate_answer_429_with_retry_after_and_only_accepted_ones_are_stored()
    {
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?> { ["Auth:LocationUpdatesPerSecond"] = "1" });
        var record = await app.DriverRecordAsync(1);
        var driver = await app.DriverAsync(1);
        var positions = new[] { (Lat: 52.1, Lng: 4.1), (Lat: 52.2, Lng: 4.2), (Lat: 52.3, Lng: 4.3), (Lat: 52.4, Lng: 4.4) };

        var answers = await Task.WhenAll(positions.Select(p => PostLocationAsync(driver, new { lat = p.Lat, lng = p.Lng })));

        Assert.All(answers, a => Assert.Contains(a.StatusCode, new[] { HttpStatusCode.Accepted, HttpStatusCode.TooManyRequests }));
        var rejected = answers.Where(a => a.StatusCode == HttpStatusCode.TooManyRequests).ToList();
        Assert.NotEmpty(rejected);
        Assert.All(rejected, r => Assert.True(r.Headers.RetryAfter?.Delta is { TotalSeconds: >= 1 }, $"Retry-After was {r.Headers.RetryAfter}"));
        Assert.Equal("application/problem+json", rejected[0].Content.Headers.ContentType?.MediaType);
        var accepted = positions.Where((_, i) => answers[i].StatusCode == HttpStatusCode.Accepted).ToList();
        Assert.NotEmpty(accepted);
        var location = (await DriverAsync(await app.AdminAsync(), record.Id)).Location;
        Assert.Contains((location!.Lat, location.Lng), accepted);
    }

    // 5. Manual assignment and the driver's steps

    [Fact]
    public async Task A_dispatcher_assigns_an_online_driver_who_then_delivers_and_is_free_again()
    {
        await using var app = await TestApp.StartAsync();
        var dispatcher = await app.DispatcherAsync();
        var record = await app.DriverRecordAsync(1);
        var driver = await app.DriverAsync(1);
        await SetOnlineAsync(driver, true);
        var order = await CreateOrderAsync(dispatcher);

        var response = await AssignAsync(dispatcher, order.Id, record.Id);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var assigned = await response.ReadAsync<OrderDto>();
        Assert.Equal((OrderStatus.Assigned, record.Id, 2), (assigned.Status, assigned.DriverId, assigned.Version));
        Assert.NotNull(assigned.AssignedAt);
        var stored = await OrderAsync(dispatcher, order.Id);
        Assert.Equal((OrderStatus.Assigned, record.Id), (stored.Status, stored.DriverId));
        var busy = await DriverAsync(dispatcher, record.Id);
        Assert.Equal((DriverStatus.Busy, order.Id), (busy.Status, busy.CurrentOrderId));
        Assert.Equal(OrderStatus.Assigned, (await OrderAsync(driver, order.Id)).Status);

        foreach (var step in new[] { "PICKED_UP", "IN_TRANSIT", "DELIVERED" })
        {
            var moved = await MoveAsync(driver, order.Id, step);
            Assert.True(moved.StatusCode == HttpStatusCode.OK, $"{step}: {moved.StatusCode}");
        }

        var delivered = await OrderAsync(dispatcher, order.Id);
        Assert.Equal(OrderStatus.Delivered, delivered.Status);
        Assert.NotNull(delivered.PickedUpAt);
        Assert.NotNull(delivered.DeliveredAt);
        var free = await DriverAsync(dispatcher, record.Id);
        Assert.Equal(DriverStatus.Available, free.Status);
        Assert.Null(free.CurrentOrderId);
        var log = await dispatcher.GetFromJsonAsync<EventPage>($"/api/orders/{order.Id}/events", TestApp.Json, Ct);
        Assert.Equal(
            [EventTypes.OrderCreated, EventTypes.OrderAssigned, EventTypes.OrderStatusChanged, EventTypes.OrderStatusChanged, EventTypes.OrderStatusChanged],
            log!.Events.Select(e => e.Type).Where(t => t.StartsWith("order.", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Assigning_an_offline_or_busy_driver_answers_409_and_changes_nothing()
    {
        await using var app = await TestApp.StartAsync();
        var dispatcher = await app.DispatcherAsync();
        var offline = await app.DriverRecordAsync(2);
        var record = await app.DriverRecordAsync(1);
        await SetOnlineAsync(await app.DriverAsync(1), true);
        var first = await CreateOrderAsync(dispatcher);
        var second = await CreateOrderAsync(dispatcher);

        var toOffline = await AssignAsync(dispatcher, first.Id, offline.Id);
        Assert.Equal(HttpStatusCode.OK, (await AssignAsync(dispatcher, first.Id, record.Id)).StatusCode);
        var toBusy = await AssignAsync(dispatcher, second.Id, record.Id);

        Assert.Equal(HttpStatusCode.Conflict, toOffline.StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, toBusy.StatusCode);
        var untouched = await OrderAsync(dispatcher, second.Id);
        Assert.Equal((OrderStatus.Pending, (Guid?)null, 1), (untouched.Status, untouched.DriverId, untouched.Version));
        Assert.Equal((DriverStatus.Offline, (Guid?)null), ((await DriverAsync(dispatcher, offline.Id)).Status, (await DriverAsync(dispatcher, offline.Id)).CurrentOrderId));
        Assert.Equal(first.Id, (await DriverAsync(dispatcher, record.Id)).CurrentOrderId);
    }

    [Fact]
    public async Task Another_tenants_fleet_driver_is_unknown_to_assign_and_customers_and_drivers_may_not_assign()
    {
        await using var app = await TestApp.StartAsync();
        var dispatcher = await app.DispatcherAsync();
        var kitchenOwn = await RegisterAsync(await app.Dispatcher2Async(), "kitchen-rider@demo.test");
        await SetOnlineAsync(await app.ClientForAsync("kitchen-rider@demo.test"), true);
        var record = await app.DriverRecordAsync(1);
        var driver = await app.DriverAsync(1);
        await SetOnlineAsync(driver, true);
        var order = await CreateOrderAsync(dispatcher);
        var customer = await app.CustomerAsync();
        var customersOrder = await CreateOrderAsync(customer, (await app.TenantAsync("Demo Hospital")).Id);

        var foreignDriver = await AssignAsync(dispatcher, order.Id, kitchenOwn.Id);
        var byCustomer = await AssignAsync(customer, customersOrder.Id, record.Id);
        Assert.Equal(HttpStatusCode.OK, (await AssignAsync(dispatcher, order.Id, record.Id)).StatusCode);
        var byDriver = await AssignAsync(driver, order.Id, record.Id);

        Assert.Equal(HttpStatusCode.NotFound, foreignDriver.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, byCustomer.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, byDriver.StatusCode);
        Assert.Equal((OrderStatus.Pending, (Guid?)null), ((await OrderAsync(customer, customersOrder.Id)).Status, (await OrderAsync(customer, customersOrder.Id)).DriverId));
        Assert.Equal(DriverStatus.Available, (await DriverAsync(await app.AdminAsync(), kitchenOwn.Id)).Status);
        Assert.Equal(record.Id, (await OrderAsync(dispatcher, order.Id)).DriverId);
    }

    [Fact]
    public async Task A_driver_cannot_move_an_order_that_is_not_its_own()
    {
        await using var app = await TestApp.StartAsync();
        var dispatcher = await app.DispatcherAsync();
        var record = await app.DriverRecordAsync(1);
        await SetOnlineAsync(await app.DriverAsync(1), true);
        var intruder = await app.DriverAsync(2);
        await SetOnlineAsync(intruder, true);
        var order = await CreateOrderAsync(dispatcher);
        Assert.Equal(HttpStatusCode.OK, (await AssignAsync(dispatcher, order.Id, record.Id)).StatusCode);

        var response = await MoveAsync(intruder, order.Id, "PICKED_UP");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        var unchanged = await OrderAsync(dispatcher, order.Id);
        Assert.Equal((OrderStatus.Assigned, record.Id, 2), (unchanged.Status, unchanged.DriverId, unchanged.Version));
    }

    // 6. Concurrency

    [Fact]
    public async Task Fifty_concurrent_assigns_of_one_driver_book_it_exactly_once()
    {
        await using var app = await TestApp.StartAsync();
        var dispatcher = await app.DispatcherAsync();
        var record = await app.DriverRecordAsync(1);
        await SetOnlineAsync(await app.DriverAsync(1), true);
        var orders = new List<OrderDto>();
        for (var i = 0; i < 50; i++)
        {
            orders.Add(await CreateOrderAsync(dispatcher));
        }

        using var gate = new SemaphoreSlim(0);
        var attempts = orders.Select(async o =>
        {
            await gate.WaitAsync(Ct);
            return (Order: o.Id, Response: await AssignAsync(dispatcher, o.Id, record.Id));
        }).ToList();
        gate.Release(attempts.Count);
        var answers = await Task.WhenAll(attempts);

        var statuses = answers.Select(a => a.Response.StatusCode).ToList();
        Assert.True(statuses.Count(s => s == HttpStatusCode.OK) == 1, $"answers: {string.Join(", ", statuses.GroupBy(s => s).Select(g => $"{g.Key} x{g.Count()}"))}");
        Assert.Equal(49, statuses.Count(s => s == HttpStatusCode.Conflict));
        var winner = answers.Single(a => a.Response.StatusCode == HttpStatusCode.OK).Order;
        var booked = await DriverAsync(dispatcher, record.Id);
        Assert.Equal((DriverStatus.Busy, winner), (booked.Status, booked.CurrentOrderId));
        var assigned = await dispatcher.GetFromJsonAsync<OrderPage>("/api/orders?status=ASSIGNED&limit=100", TestApp.Json, Ct);
        var only = Assert.Single(assigned!.Items);
        Assert.Equal((winner, record.Id), (only.Id, only.DriverId));
        var pending = await dispatcher.GetFromJsonAsync<OrderPage>("/api/orders?status=PENDING&limit=100", TestApp.Json, Ct);
        Assert.Equal(49, pending!.Items.Count);
        Assert.All(pending.Items, o => Assert.Equal((1, (Guid?)null), (o.Version, o.DriverId)));
    }

    // 7. Declining and going offline with an order

    [Fact]
    public async Task A_driver_declines_and_the_order_is_dispatchable_again()
    {
        await using var app = await TestApp.StartAsync();
        var dispatcher = await app.DispatcherAsync();
        var record = await app.DriverRecordAsync(1);
        var driver = await app.DriverAsync(1);
        await SetOnlineAsync(driver, true);
        var order = await CreateOrderAsync(dispatcher);
        Assert.Equal(HttpStatusCode.OK, (await AssignAsync(dispatcher, order.Id, record.Id)).StatusCode);

        var response = await MoveAsync(driver, order.Id, "PENDING");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var back = await OrderAsync(dispatcher, order.Id);
        Assert.Equal((OrderStatus.Pending, (Guid?)null), (back.Status, back.DriverId));
        var free = await DriverAsync(dispatcher, record.Id);
        Assert.Equal((DriverStatus.Available, (Guid?)null), (free.Status, free.CurrentOrderId));
        Assert.Equal(HttpStatusCode.NotFound, (await driver.GetAsync($"/api/orders/{order.Id}", Ct)).StatusCode);
    }

    [Fact]
    public async Task A_driver_going_offline_before_pickup_hands_the_order_back()
    {
        await using var app = await TestApp.StartAsync();
        var dispatcher = await app.DispatcherAsync();
        var record = await app.DriverRecordAsync(1);
        var driver = await app.DriverAsync(1);
        await SetOnlineAsync(driver, true);
        var order = await CreateOrderAsync(dispatcher);
        Assert.Equal(HttpStatusCode.OK, (await AssignAsync(dispatcher, order.Id, record.Id)).StatusCode);

        var offline = await SetOnlineAsync(driver, false);

        Assert.Equal((DriverStatus.Offline, (Guid?)null), (offline.Status, offline.CurrentOrderId));
        var back = await OrderAsync(dispatcher, order.Id);
        Assert.Equal((OrderStatus.Pending, (Guid?)null), (back.Status, back.DriverId));
        var stored = await DriverAsync(dispatcher, record.Id);
        Assert.Equal((DriverStatus.Offline, (Guid?)null), (stored.Status, stored.CurrentOrderId));
    }

    [Fact]
    public async Task A_driver_with_the_goods_on_board_cannot_go_offline()
    {
        await using var app = await TestApp.StartAsync();
        var dispatcher = await app.DispatcherAsync();
        var record = await app.DriverRecordAsync(1);
        var driver = await app.DriverAsync(1);
        await SetOnlineAsync(driver, true);
        var order = await CreateOrderAsync(dispatcher);
        Assert.Equal(HttpStatusCode.OK, (await AssignAsync(dispatcher, order.Id, record.Id)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await MoveAsync(driver, order.Id, "PICKED_UP")).StatusCode);

        var response = await driver.PostAsJsonAsync("/api/drivers/me/status", new { online = false }, Ct);

        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        var stillOn = await OrderAsync(dispatcher, order.Id);
        Assert.Equal((OrderStatus.PickedUp, record.Id, 3), (stillOn.Status, stillOn.DriverId, stillOn.Version));
        var stored = await DriverAsync(dispatcher, record.Id);
        Assert.Equal((DriverStatus.Busy, order.Id), (stored.Status, stored.CurrentOrderId));
    }

    // 8. Cancelling

    [Fact]
    public async Task Cancelling_an_assigned_order_frees_its_driver()
    {
        await using var app = await TestApp.StartAsync();
        var dispatcher = await app.DispatcherAsync();
        var record = await app.DriverRecordAsync(1);
        await SetOnlineAsync(await app.DriverAsync(1), true);
        var order = await CreateOrderAsync(dispatcher);
        Assert.Equal(HttpStatusCode.OK, (await AssignAsync(dispatcher, order.Id, record.Id)).StatusCode);

        var response = await dispatcher.PostAsync($"/api/orders/{order.Id}/cancel", null, Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(OrderStatus.Cancelled, (await OrderAsync(dispatcher, order.Id)).Status);
        var free = await DriverAsync(dispatcher, record.Id);
        Assert.Equal((DriverStatus.Available, (Guid?)null), (free.Status, free.CurrentOrderId));
        var next = await CreateOrderAsync(dispatcher);
        Assert.Equal(HttpStatusCode.OK, (await AssignAsync(dispatcher, next.Id, record.Id)).StatusCode);
    }
}
