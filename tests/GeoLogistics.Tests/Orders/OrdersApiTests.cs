using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using GeoLogistics.Server.Events;
using GeoLogistics.Server.Orders;
using GeoLogistics.Tests.Support;
using static GeoLogistics.Tests.Support.HttpTestExtensions;

namespace GeoLogistics.Tests.Orders;

public class OrdersApiTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<OrderDto> CreateAsync(HttpClient client, object? body = null)
    {
        var response = await client.PostAsJsonAsync("/api/orders", body ?? NewOrder(), Ct);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return await response.ReadAsync<OrderDto>();
    }

    [Fact]
    public async Task Create_answers_201_with_location_a_pending_order_and_its_created_event()
    {
        await using var app = await TestApp.StartAsync();
        var dispatcher = await app.DispatcherAsync();

        var response = await dispatcher.PostAsJsonAsync("/api/orders", NewOrder(kind: "IB"), Ct);

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var order = await response.ReadAsync<OrderDto>();
        Assert.Equal($"/api/orders/{order.Id}", response.Headers.Location?.OriginalString);
        Assert.Equal(OrderStatus.Pending, order.Status);
        Assert.Equal(1, order.Version);
        Assert.Equal((await app.TenantAsync("Demo Hospital")).Id, order.TenantId);
        Assert.Matches(@"^GLO-\d{8}-\d{6}$", order.Number);
        Assert.Equal("IB", order.Kind);

        var events = await dispatcher.GetFromJsonAsync<EventPage>($"/api/orders/{order.Id}/events", TestApp.Json, Ct);
        var created = Assert.Single(events!.Events);
        Assert.Equal(EventTypes.OrderCreated, created.Type);
        Assert.Equal("dispatcher@demo.test", created.Actor.Email);
    }

    [Fact]
    public async Task Get_returns_the_order_with_history_and_its_version_as_etag()
    {
        await using var app = await TestApp.StartAsync();
        var dispatcher = await app.DispatcherAsync();
        var order = await CreateAsync(dispatcher);
        await dispatcher.PostAsJsonAsync($"/api/orders/{order.Id}/status", new { status = "CONFIRMED" }, Ct);

        var response = await dispatcher.GetAsync($"/api/orders/{order.Id}", Ct);

        Assert.Equal("\"2\"", response.Headers.ETag?.Tag);
        var body = await response.ReadJsonAsync();
        Assert.Equal("CONFIRMED", body.GetProperty("status").GetString());
        Assert.NotEqual(JsonValueKind.Null, body.GetProperty("confirmedAt").ValueKind);
        var history = body.GetProperty("history").EnumerateArray().Select(h => h.GetProperty("status").GetString()).ToList();
        Assert.Equal(["PENDING", "CONFIRMED"], history);

        using var conditional = new HttpRequestMessage(HttpMethod.Get, $"/api/orders/{order.Id}");
        conditional.Headers.IfNoneMatch.Add(new EntityTagHeaderValue("\"2\""));
        Assert.Equal(HttpStatusCode.NotModified, (await dispatcher.SendAsync(conditional, Ct)).StatusCode);
    }

    [Fact]
    public async Task Another_tenants_order_is_invisible_404_for_read_patch_cancel_delete_and_events()
    {
        await using var app = await TestApp.StartAsync();
        var hospital = await app.DispatcherAsync();
        var kitchen = await app.Dispatcher2Async();
        var order = await CreateAsync(hospital);
        var url = $"/api/orders/{order.Id}";

        using var patch = new HttpRequestMessage(HttpMethod.Patch, url) { Content = JsonContent.Create(new { notes = "mine now", version = 1 }) };
        var answers = new[]
        {
            await kitchen.GetAsync(url, Ct),
            await kitchen.SendAsync(patch, Ct),
            await kitchen.PostAsync($"{url}/cancel", null, Ct),
            await kitchen.PostAsJsonAsync($"{url}/status", new { status = "CONFIRMED" }, Ct),
            await kitchen.DeleteAsync(url, Ct),
            await kitchen.GetAsync($"{url}/events", Ct),
            await (await app.CustomerAsync()).GetAsync(url, Ct),
            await (await app.DriverAsync(1)).GetAsync(url, Ct),
        };

        Assert.All(answers, a => Assert.Equal(HttpStatusCode.NotFound, a.StatusCode));
        var list = await kitchen.GetFromJsonAsync<OrderPage>("/api/orders", TestApp.Json, Ct);
        Assert.DoesNotContain(list!.Items, o => o.Id == order.Id);
        var log = await kitchen.GetFromJsonAsync<EventPage>("/api/events?since=0", TestApp.Json, Ct);
        Assert.DoesNotContain(log!.Events, e => e.OrderId == order.Id);
        var unchanged = await hospital.GetFromJsonAsync<OrderDto>(url, TestApp.Json, Ct);
        Assert.Equal((OrderStatus.Pending, 1, (string?)null), (unchanged!.Status, unchanged.Version, unchanged.Notes));
    }

    [Fact]
    public async Task A_customer_sees_only_its_own_orders()
    {
        await using var app = await TestApp.StartAsync();
        var tenant = await app.TenantAsync("Second Kitchen");
        var customer = await app.CustomerAsync();
        var mine = await CreateAsync(customer, NewOrder(tenant.Id));
        var notMine = await CreateAsync(await app.Dispatcher2Async());

        var list = await customer.GetFromJsonAsync<OrderPage>("/api/orders", TestApp.Json, Ct);

        Assert.Equal([mine.Id], list!.Items.Select(o => o.Id));
        Assert.Equal(HttpStatusCode.NotFound, (await customer.GetAsync($"/api/orders/{notMine.Id}", Ct)).StatusCode);
        var kitchen = await app.Dispatcher2Async();
        Assert.Equal(2, (await kitchen.GetFromJsonAsync<OrderPage>("/api/orders", TestApp.Json, Ct))!.Items.Count);
    }

    [Fact]
    public async Task A_stale_version_answers_409_with_the_current_order_and_changes_nothing()
    {
        await using var app = await TestApp.StartAsync();
        var dispatcher = await app.DispatcherAsync();
        var order = await CreateAsync(dispatcher);
        var url = $"/api/orders/{order.Id}";
        using var first = new HttpRequestMessage(HttpMethod.Patch, url) { Content = JsonContent.Create(new { notes = "first" }) };
        first.Headers.IfMatch.Add(new EntityTagHeaderValue("\"1\""));
        Assert.Equal(HttpStatusCode.OK, (await dispatcher.SendAsync(first, Ct)).StatusCode);

        using var stale = new HttpRequestMessage(HttpMethod.Patch, url) { Content = JsonContent.Create(new { notes = "second", version = 1 }) };
        var response = await dispatcher.SendAsync(stale, Ct);

        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        var problem = await response.ReadJsonAsync();
        Assert.Equal(2, problem.GetProperty("currentVersion").GetInt32());
        Assert.Equal("first", problem.GetProperty("current").GetProperty("notes").GetString());
        var now = await dispatcher.GetFromJsonAsync<OrderDto>(url, TestApp.Json, Ct);
        Assert.Equal(("first", 2), (now!.Notes, now.Version));
    }

    [Fact]
    public async Task A_patch_without_a_version_is_refused()
    {
        await using var app = await TestApp.StartAsync();
        var dispatcher = await app.DispatcherAsync();
        var order = await CreateAsync(dispatcher);

        using var patch = new HttpRequestMessage(HttpMethod.Patch, $"/api/orders/{order.Id}") { Content = JsonContent.Create(new { notes = "x" }) };
        var response = await dispatcher.SendAsync(patch, Ct);

        Assert.Equal(HttpStatusCode.PreconditionRequired, response.StatusCode);
    }

    [Fact]
    public async Task A_patch_appends_order_updated_naming_the_changed_fields()
    {
        await using var app = await TestApp.StartAsync();
        var dispatcher = await app.DispatcherAsync();
        var order = await CreateAsync(dispatcher);

        using var patch = new HttpRequestMessage(HttpMethod.Patch, $"/api/orders/{order.Id}")
        {
            Content = JsonContent.Create(new { version = 1, priority = 5, dropoff = new { lat = 52.1, lng = 4.3 } }),
        };
        var updated = await (await dispatcher.SendAsync(patch, Ct)).ReadAsync<OrderDto>();

        Assert.Equal((5, 52.1, 2), (updated.Priority, updated.Dropoff.Lat!.Value, updated.Version));
        var events = (await dispatcher.GetFromJsonAsync<EventPage>($"/api/orders/{order.Id}/events", TestApp.Json, Ct))!.Events;
        Assert.Equal([EventTypes.OrderCreated, EventTypes.OrderUpdated], events.Select(e => e.Type));
        var changed = JsonSerializer.Deserialize<string[]>(events[1].Changed.Json)!;
        Assert.Equal(["dropoff", "priority", "version"], changed);
    }

    [Fact]
    public async Task A_forbidden_transition_answers_409_and_changes_nothing()
    {
        await using var app = await TestApp.StartAsync();
        var admin = await app.AdminAsync();
        var tenant = await app.TenantAsync("Demo Hospital");
        var order = await CreateAsync(admin, NewOrder(tenant.Id));

        var response = await admin.PostAsJsonAsync($"/api/orders/{order.Id}/status", new { status = "DELIVERED" }, Ct);

        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        Assert.Contains("PENDING to DELIVERED", (await response.ReadJsonAsync()).GetProperty("detail").GetString());
        var now = await admin.GetFromJsonAsync<OrderDto>($"/api/orders/{order.Id}", TestApp.Json, Ct);
        Assert.Equal((OrderStatus.Pending, 1), (now!.Status, now.Version));
    }

    [Fact]
    public async Task Merchant_steps_are_the_dispatchers_and_a_customer_may_only_cancel()
    {
        await using var app = await TestApp.StartAsync();
        var tenant = await app.TenantAsync("Demo Hospital");
        var customer = await app.CustomerAsync();
        var order = await CreateAsync(customer, NewOrder(tenant.Id));
        var dispatcher = await app.DispatcherAsync();

        Assert.Equal(HttpStatusCode.Forbidden, (await customer.PostAsJsonAsync($"/api/orders/{order.Id}/status", new { status = "CONFIRMED" }, Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await dispatcher.PostAsJsonAsync($"/api/orders/{order.Id}/status", new { status = "CONFIRMED" }, Ct)).StatusCode);
        var cancelled = await customer.PostAsync($"/api/orders/{order.Id}/cancel", null, Ct);

        Assert.Equal(HttpStatusCode.OK, cancelled.StatusCode);
        var body = await cancelled.ReadAsync<OrderDto>();
        Assert.Equal(OrderStatus.Cancelled, body.Status);
        Assert.NotNull(body.CancelledAt);
        var types = (await dispatcher.GetFromJsonAsync<EventPage>($"/api/orders/{order.Id}/events", TestApp.Json, Ct))!.Events.Select(e => e.Type);
        Assert.Equal([EventTypes.OrderCreated, EventTypes.OrderStatusChanged, EventTypes.OrderCancelled], types);
    }

    public static TheoryData<string, string, string> BadBodies() => new()
    {
        { "missing pickup and dropoff", """{"kind":"IB"}""", "pickup" },
        { "latitude 91", """{"pickup":{"lat":91,"lng":4.9},"dropoff":{"lat":52,"lng":4.9}}""", "pickup.lat" },
        { "longitude -181", """{"pickup":{"lat":52,"lng":4.9},"dropoff":{"lat":52,"lng":-181}}""", "dropoff.lng" },
        { "NaN as a bare token", """{"pickup":{"lat":NaN,"lng":4.9},"dropoff":{"lat":52,"lng":4.9}}""", "pickup.lat" },
        { "NaN as a string", """{"pickup":{"lat":"NaN","lng":4.9},"dropoff":{"lat":52,"lng":4.9}}""", "pickup.lat" },
        { "a string for a number", """{"pickup":{"lat":"north","lng":4.9},"dropoff":{"lat":52,"lng":4.9}}""", "pickup.lat" },
        { "a missing latitude", """{"pickup":{"lng":4.9},"dropoff":{"lat":52,"lng":4.9}}""", "pickup.lat" },
        { "status set by the client", """{"pickup":{"lat":52,"lng":4.9},"dropoff":{"lat":52,"lng":4.9},"status":"DELIVERED"}""", "status" },
        { "driver set by the client", """{"pickup":{"lat":52,"lng":4.9},"dropoff":{"lat":52,"lng":4.9},"driverId":"3f2504e0-4f89-11d3-9a0c-0305e82c3301"}""", "driverId" },
        { "an unknown dispatch mode", """{"pickup":{"lat":52,"lng":4.9},"dropoff":{"lat":52,"lng":4.9},"dispatchWhen":"later"}""", "dispatchWhen" },
        { "a numeric enum", """{"pickup":{"lat":52,"lng":4.9},"dropoff":{"lat":52,"lng":4.9},"dispatchWhen":1}""", "dispatchWhen" },
        { "a priority out of range", """{"pickup":{"lat":52,"lng":4.9},"dropoff":{"lat":52,"lng":4.9},"priority":99}""", "priority" },
        { "truncated JSON", """{"pickup":{"lat":52""", "pickup.lat" },
        { "not an object", "[1,2,3]", "body" },
    };

    [Theory]
    [MemberData(nameof(BadBodies))]
    public async Task Bad_input_answers_400_naming_the_field_and_stores_nothing(string why, string json, string field)
    {
        await using var app = await TestApp.StartAsync();
        var dispatcher = await app.DispatcherAsync();

        var response = await dispatcher.PostAsync("/api/orders", new StringContent(json, Encoding.UTF8, "application/json"), Ct);

        Assert.True(HttpStatusCode.BadRequest == response.StatusCode, $"{why}: {response.StatusCode}");
        var errors = (await response.ReadJsonAsync()).GetProperty("errors");
        Assert.True(errors.TryGetProperty(field, out _), $"{why}: errors were {errors}");
        Assert.Empty((await dispatcher.GetFromJsonAsync<OrderPage>("/api/orders", TestApp.Json, Ct))!.Items);
        Assert.Equal(0, (await (await app.AdminAsync()).GetFromJsonAsync<EventPage>("/api/events?since=0", TestApp.Json, Ct))!.LastSeq);
    }

    [Theory]
    [InlineData("limit=100000", "limit")]
    [InlineData("limit=0", "limit")]
    [InlineData("status=LOST", "status")]
    [InlineData("cursor=%%%", "cursor")]
    public async Task Bad_list_queries_answer_400(string query, string field)
    {
        await using var app = await TestApp.StartAsync();

        var response = await (await app.DispatcherAsync()).GetAsync($"/api/orders?{query}", Ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.True((await response.ReadJsonAsync()).GetProperty("errors").TryGetProperty(field, out _));
    }

    [Fact]
    public async Task An_oversized_body_answers_413()
    {
        await using var app = await TestApp.StartAsync();
        var notes = new string('x', 200_000);

        var response = await (await app.DispatcherAsync()).PostAsJsonAsync("/api/orders", new
        {
            pickup = new { lat = 52.0, lng = 4.9 },
            dropoff = new { lat = 52.0, lng = 4.9 },
            notes,
        }, Ct);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task A_body_that_is_not_json_answers_415()
    {
        await using var app = await TestApp.StartAsync();

        var response = await (await app.DispatcherAsync()).PostAsync("/api/orders", new StringContent("pickup=here", Encoding.UTF8, "text/plain"), Ct);

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
    }

    [Fact]
    public async Task A_retried_create_with_the_same_idempotency_key_returns_the_first_result()
    {
        await using var app = await TestApp.StartAsync();
        var dispatcher = await app.DispatcherAsync();

        async Task<HttpResponseMessage> Post(object body)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/api/orders") { Content = JsonContent.Create(body) };
            request.Headers.Add("Idempotency-Key", "order-7");
            return await dispatcher.SendAsync(request, Ct);
        }
        var answers = await Task.WhenAll(Enumerable.Range(0, 5).Select(_ => Post(NewOrder(kind: "IB"))));
        var different = await Post(NewOrder(kind: "OB"));

        Assert.All(answers, a => Assert.Equal(HttpStatusCode.Created, a.StatusCode));
        var ids = await Task.WhenAll(answers.Select(async a => (await a.ReadAsync<OrderDto>()).Id));
        Assert.Single(ids.Distinct());
        Assert.Single((await dispatcher.GetFromJsonAsync<OrderPage>("/api/orders", TestApp.Json, Ct))!.Items);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, different.StatusCode);
    }

    [Fact]
    public async Task The_list_pages_newest_first_with_a_cursor_and_filters_by_kind_and_status()
    {
        await using var app = await TestApp.StartAsync();
        var dispatcher = await app.DispatcherAsync();
        var created = new List<OrderDto>();
        for (var i = 0; i < 5; i++)
        {
            created.Add(await CreateAsync(dispatcher, NewOrder(kind: i % 2 == 0 ? "IB" : "OB")));
        }
        await dispatcher.PostAsJsonAsync($"/api/orders/{created[0].Id}/status", new { status = "CONFIRMED" }, Ct);

        var first = await dispatcher.GetFromJsonAsync<OrderPage>("/api/orders?limit=2", TestApp.Json, Ct);
        var second = await dispatcher.GetFromJsonAsync<OrderPage>($"/api/orders?limit=2&cursor={first!.NextCursor}", TestApp.Json, Ct);
        var third = await dispatcher.GetFromJsonAsync<OrderPage>($"/api/orders?limit=2&cursor={second!.NextCursor}", TestApp.Json, Ct);

        Assert.Equal(created.Select(o => o.Id).Reverse(), first.Items.Concat(second.Items).Concat(third!.Items).Select(o => o.Id));
        Assert.Null(third.NextCursor);
        var inbound = await dispatcher.GetFromJsonAsync<OrderPage>("/api/orders?kind=IB", TestApp.Json, Ct);
        Assert.Equal(3, inbound!.Items.Count);
        var confirmed = await dispatcher.GetFromJsonAsync<OrderPage>("/api/orders?status=CONFIRMED", TestApp.Json, Ct);
        Assert.Equal([created[0].Id], confirmed!.Items.Select(o => o.Id));
    }

    [Fact]
    public async Task A_dispatcher_cannot_create_for_another_tenant_and_a_customer_must_name_one()
    {
        await using var app = await TestApp.StartAsync();
        var kitchen = await app.TenantAsync("Second Kitchen");

        var foreign = await (await app.DispatcherAsync()).PostAsJsonAsync("/api/orders", NewOrder(kitchen.Id), Ct);
        var unnamed = await (await app.CustomerAsync()).PostAsJsonAsync("/api/orders", NewOrder(), Ct);
        var unknown = await (await app.CustomerAsync()).PostAsJsonAsync("/api/orders", NewOrder(Guid.NewGuid()), Ct);

        Assert.Equal(HttpStatusCode.Forbidden, foreign.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, unnamed.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, unknown.StatusCode);
    }

    [Fact]
    public async Task Only_an_admin_deletes_and_the_deletion_is_logged()
    {
        await using var app = await TestApp.StartAsync();
        var dispatcher = await app.DispatcherAsync();
        var admin = await app.AdminAsync();
        var order = await CreateAsync(dispatcher);

        Assert.Equal(HttpStatusCode.Forbidden, (await dispatcher.DeleteAsync($"/api/orders/{order.Id}", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync($"/api/orders/{order.Id}", Ct)).StatusCode);

        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync($"/api/orders/{order.Id}", Ct)).StatusCode);
        var log = await dispatcher.GetFromJsonAsync<EventPage>("/api/events?since=0", TestApp.Json, Ct);
        Assert.Equal([EventTypes.OrderCreated, EventTypes.OrderDeleted], log!.Events.Select(e => e.Type));
    }
}
