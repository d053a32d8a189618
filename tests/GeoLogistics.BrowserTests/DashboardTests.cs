using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using GeoLogistics.SystemTests;
using GeoLogistics.Tests.Support;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace GeoLogistics.BrowserTests;

/// <summary>
/// The dashboard in a real browser against the server in its own process, as SPEC §11 and the dashboard issue
/// describe it. Every change the page shows comes over its WebSocket; the tests change things over REST, as
/// another client would.
/// </summary>
public sealed class DashboardTests(Browser browser)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static Dictionary<string, string> Settings(bool dispatch) => new()
    {
        ["Demo:Enabled"] = "true",
        ["Demo:Simulate"] = "false",
        ["Dispatch:Enabled"] = dispatch ? "true" : "false",
    };

    private static object Order(string note, double shift = 0) => new
    {
        pickup = new { lat = 52.372 + shift, lng = 4.884, address = "1 Canal Street" },
        dropoff = new { lat = 52.366, lng = 4.899 + shift, address = "9 Park Lane" },
        kind = "LAB",
        notes = note,
    };

    private static async Task<JsonElement> CreateOrderAsync(HttpClient api, object order)
    {
        var response = await api.PostAsJsonAsync("/api/orders", order, Ct);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
    }

    private static async Task<string> OnlineDriverAsync(ServerProcess server, string email, double lat, double lng)
    {
        using var driver = await server.LoginAsync(email, Browser.Password, Ct);
        (await driver.PostAsJsonAsync("/api/drivers/me/status", new { online = true }, Ct)).EnsureSuccessStatusCode();
        Assert.Equal(HttpStatusCode.Accepted, (await driver.PostAsJsonAsync("/api/drivers/me/location", new { lat, lng }, Ct)).StatusCode);
        var me = await driver.GetFromJsonAsync<JsonElement>("/api/me", Ct);
        return me.GetProperty("driverId").GetString()!;
    }

    private static ILocator Card(IPage page, string status, string orderId) =>
        page.Locator($".column[data-status=\"{status}\"] .card[data-order-id=\"{orderId}\"]");

    private static string Id(JsonElement order) => order.GetProperty("id").GetString()!;

    /// <summary>What the board shows, per status: the cards' order ids and the counter.</summary>
    private static async Task<Dictionary<string, (HashSet<string> Ids, int Count)>> BoardOnPageAsync(IPage page)
    {
        using var board = JsonDocument.Parse(await page.EvaluateAsync<string>("""
            () => JSON.stringify(Object.fromEntries([...document.querySelectorAll('.column')].map(c => [c.dataset.status, {
              ids: [...c.querySelectorAll('.card')].map(b => b.dataset.orderId),
              count: Number(c.querySelector('.count').textContent) }])))
            """));
        return board.RootElement.EnumerateObject().ToDictionary(p => p.Name, p => (
            p.Value.GetProperty("ids").EnumerateArray().Select(i => i.GetString()!).ToHashSet(),
            p.Value.GetProperty("count").GetInt32()));
    }

    private static async Task<Dictionary<string, (HashSet<string> Ids, int Count)>> BoardOnServerAsync(HttpClient api)
    {
        var board = await api.GetFromJsonAsync<JsonElement>("/api/orders/board?limit=100", Ct);
        var orders = board.GetProperty("orders").EnumerateArray().ToList();
        return board.GetProperty("counts").EnumerateArray().ToDictionary(
            c => c.GetProperty("status").GetString()!,
            c => (orders.Where(o => o.GetProperty("status").GetString() == c.GetProperty("status").GetString()).Select(Id).ToHashSet(),
                c.GetProperty("count").GetInt32()));
    }

    [Fact]
    public async Task Signing_in_shows_the_demo_data_on_the_board_and_the_city_on_the_map()
    {
        await using var store = await TestStore.CreateAsync();
        await using var server = await ServerProcess.StartAsync(store, port: null, Settings(dispatch: false), Ct);
        using var dispatcher = await server.LoginAsync("dispatcher@demo.test", Browser.Password, Ct);
        var first = await CreateOrderAsync(dispatcher, Order("first"));
        var second = await CreateOrderAsync(dispatcher, Order("second", 0.002));
        var driverId = await OnlineDriverAsync(server, "driver1@demo.test", 52.37, 4.89);

        var page = await browser.SignInAsync(server.Address, "admin@demo.test");

        await Expect(Card(page, "PENDING", Id(first))).ToBeVisibleAsync();
        await Expect(Card(page, "PENDING", Id(second))).ToBeVisibleAsync();
        await Expect(page.Locator("[data-count-for=\"PENDING\"]")).ToHaveTextAsync("2");
        await Expect(page.Locator("[data-count-for=\"DELIVERED\"]")).ToHaveTextAsync("0");
        await Expect(page.Locator("#who")).ToContainTextAsync("admin");
        await Expect(page.Locator("#create-tenant option")).ToHaveTextAsync(["Demo Hospital", "Second Kitchen"]);
        // A city, not dots on white: streets and areas of the demo city's road graph, the driver on them.
        Assert.True(await page.Locator("#map .street").CountAsync() > 20);
        Assert.True(await page.Locator("#map .area").CountAsync() > 0);
        await Expect(page.Locator($"#map .driver[data-driver-id=\"{driverId}\"]")).ToHaveAttributeAsync("data-status", "available");
        await Expect(page.Locator("#map .place.pickup")).ToHaveCountAsync(2);

        // The order's details: status, history with its actor.
        await Card(page, "PENDING", Id(first)).ClickAsync();
        await Expect(page.Locator("#details-title")).ToHaveTextAsync($"Order #{first.GetProperty("number").GetString()}");
        await Expect(page.Locator("#details-history li")).ToContainTextAsync(["dispatcher@demo.test"]);
        Assert.Equal(2, (await BoardOnServerAsync(dispatcher)).Sum(c => c.Value.Count));
    }

    [Fact]
    public async Task With_the_simulator_on_the_page_shows_a_living_city_within_seconds()
    {
        await using var store = await TestStore.CreateAsync();
        await using var server = await ServerProcess.StartAsync(store, port: null, new Dictionary<string, string>
        {
            ["Demo:Enabled"] = "true",
            ["Demo:Seed"] = "7",
            ["Demo:SpeedMps"] = "40",
            ["Demo:OrdersPerMinute"] = "30",
        }, Ct);

        var page = await browser.SignInAsync(server.Address, "admin@demo.test");

        // Drivers come online and move along the streets; orders arrive and dispatch books them.
        await Expect(page.Locator("#map .driver")).ToHaveCountAsync(12, new() { Timeout = 30_000 });
        await Expect(page.Locator(".column[data-status=\"ASSIGNED\"] .card, .column[data-status=\"PICKED_UP\"] .card, .column[data-status=\"IN_TRANSIT\"] .card").First)
            .ToBeVisibleAsync(new() { Timeout = 30_000 });
        var moving = page.Locator("#map .driver[data-status=\"busy\"]").First;
        var before = await moving.GetAttributeAsync("transform");
        await Expect(moving).Not.ToHaveAttributeAsync("transform", before!, new() { Timeout = 10_000 });

        // The pictures in docs/ come from here (copied by hand when the page changes).
        var folder = Directory.CreateDirectory(Path.Combine(AppContext.BaseDirectory, "screenshots")).FullName;
        await Card(page, "ASSIGNED", (await page.Locator(".column[data-status=\"ASSIGNED\"] .card").First.GetAttributeAsync("data-order-id"))!)
            .ClickAsync(new() { Timeout = 30_000 });
        await page.ScreenshotAsync(new() { Path = Path.Combine(folder, "dashboard.png"), FullPage = true });
        await page.Locator("#map").ScreenshotAsync(new() { Path = Path.Combine(folder, "map.png") });
        TestContext.Current.SendDiagnosticMessage($"screenshots in {folder}");
    }

    [Fact]
    public async Task At_phone_width_the_page_is_one_column_with_nothing_cut_off()
    {
        await using var store = await TestStore.CreateAsync();
        await using var server = await ServerProcess.StartAsync(store, port: null, Settings(dispatch: false), Ct);
        using var dispatcher = await server.LoginAsync("dispatcher@demo.test", Browser.Password, Ct);
        var order = await CreateOrderAsync(dispatcher, Order("phone"));

        var page = await browser.SignInAsync(server.Address, "dispatcher@demo.test", width: 390, height: 844);

        await Expect(Card(page, "PENDING", Id(order))).ToBeVisibleAsync();
        Assert.True(await page.EvaluateAsync<bool>("() => document.documentElement.scrollWidth <= window.innerWidth"),
            "The page scrolls sideways at phone width.");
        var map = await page.Locator("#map").BoundingBoxAsync();
        Assert.NotNull(map);
        Assert.True(map.Width <= 390);
        // Keyboard only: the card is reachable and opens its details.
        await Card(page, "PENDING", Id(order)).FocusAsync();
        await page.Keyboard.PressAsync("Enter");
        await Expect(page.Locator("#details")).ToBeVisibleAsync();
    }

    [Fact]
    public async Task An_order_created_over_REST_appears_within_a_second_with_no_reload_and_no_polling()
    {
        await using var store = await TestStore.CreateAsync();
        await using var server = await ServerProcess.StartAsync(store, port: null, Settings(dispatch: false), Ct);
        using var dispatcher = await server.LoginAsync("dispatcher@demo.test", Browser.Password, Ct);
        var page = await browser.NewPageAsync(server.Address);
        var sockets = new List<IWebSocket>();
        page.WebSocket += (_, socket) => sockets.Add(socket);
        await Browser.SignInAsync(page, "dispatcher@demo.test");
        var requests = new List<string>();
        var navigations = 0;
        page.Request += (_, request) => requests.Add($"{request.Method} {request.Url}");
        page.FrameNavigated += (_, _) => navigations++;

        var order = await CreateOrderAsync(dispatcher, Order("live"));
        var clock = Stopwatch.StartNew();
        await Expect(Card(page, "PENDING", Id(order))).ToBeVisibleAsync(new() { Timeout = 1000 });
        clock.Stop();
        await Expect(page.Locator("[data-count-for=\"PENDING\"]")).ToHaveTextAsync("1");

        // Long enough for any timer a page might poll with to show itself.
        await Task.Delay(2000, Ct);
        Assert.Empty(requests);
        Assert.Equal(0, navigations);
        Assert.Single(sockets);
        Assert.False(sockets[0].IsClosed);
        TestContext.Current.SendDiagnosticMessage($"card visible {clock.ElapsedMilliseconds} ms after the POST returned");
    }

    [Fact]
    public async Task Dispatch_moves_the_card_to_ASSIGNED_live_and_a_position_moves_the_driver_marker()
    {
        await using var store = await TestStore.CreateAsync();
        await using var server = await ServerProcess.StartAsync(store, port: null, Settings(dispatch: true), Ct);
        var driverId = await OnlineDriverAsync(server, "driver2@demo.test", 52.371, 4.885);
        var page = await browser.SignInAsync(server.Address, "admin@demo.test");
        var marker = page.Locator($"#map .driver[data-driver-id=\"{driverId}\"]");
        await Expect(marker).ToHaveAttributeAsync("data-status", "available");
        using var dispatcher = await server.LoginAsync("dispatcher@demo.test", Browser.Password, Ct);

        var order = await CreateOrderAsync(dispatcher, Order("dispatch me"));

        await Expect(Card(page, "ASSIGNED", Id(order))).ToBeVisibleAsync(new() { Timeout = 15_000 });
        await Expect(Card(page, "ASSIGNED", Id(order))).ToContainTextAsync("Driver 2");
        await Expect(marker).ToHaveAttributeAsync("data-status", "busy");
        var before = await marker.GetAttributeAsync("transform");
        Assert.False(string.IsNullOrEmpty(before));

        using var driver = await server.LoginAsync("driver2@demo.test", Browser.Password, Ct);
        Assert.Equal(HttpStatusCode.Accepted,
            (await driver.PostAsJsonAsync("/api/drivers/me/location", new { lat = 52.3715, lng = 4.8835, heading = 300 }, Ct)).StatusCode);

        await Expect(marker).Not.ToHaveAttributeAsync("transform", before!);
        await Expect(page.Locator("#map .leg")).ToHaveCountAsync(1);
    }

    [Fact]
    public async Task A_dispatcher_creates_an_order_by_clicking_the_map_assigns_it_by_hand_and_cancels_it()
    {
        await using var store = await TestStore.CreateAsync();
        await using var server = await ServerProcess.StartAsync(store, port: null, Settings(dispatch: false), Ct);
        var driverId = await OnlineDriverAsync(server, "driver3@demo.test", 52.37, 4.89);
        var page = await browser.SignInAsync(server.Address, "dispatcher@demo.test");
        var map = page.Locator("#map");
        var box = (await map.BoundingBoxAsync())!;

        await map.ClickAsync(new() { Position = new() { X = box.Width * 0.3f, Y = box.Height * 0.3f } });
        await map.ClickAsync(new() { Position = new() { X = box.Width * 0.7f, Y = box.Height * 0.7f } });
        var pickupLat = double.Parse(await page.Locator("[name=pickupLat]").InputValueAsync(), System.Globalization.CultureInfo.InvariantCulture);
        var dropoffLat = double.Parse(await page.Locator("[name=dropoffLat]").InputValueAsync(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(pickupLat > dropoffLat, "The first click (higher on the map) is the pickup, further north.");
        await page.GetByLabel("Kind").Last.FillAsync("BLOOD");
        await page.Locator("#create-form [name=pickupAddress]").FillAsync("Ward 3");
        await page.GetByRole(AriaRole.Button, new() { Name = "Create order" }).ClickAsync();

        await Expect(page.Locator("#create-message")).ToContainTextAsync("created");
        var card = page.Locator(".column[data-status=\"PENDING\"] .card").First;
        await Expect(card).ToContainTextAsync("Ward 3");
        var orderId = (await card.GetAttributeAsync("data-order-id"))!;
        using var dispatcher = await server.LoginAsync("dispatcher@demo.test", Browser.Password, Ct);
        var stored = await dispatcher.GetFromJsonAsync<JsonElement>($"/api/orders/{orderId}", Ct);
        Assert.Equal("BLOOD", stored.GetProperty("kind").GetString());
        Assert.Equal(pickupLat, stored.GetProperty("pickup").GetProperty("lat").GetDouble(), 6);

        await card.ClickAsync();
        await page.Locator("#assign-driver").SelectOptionAsync(driverId);
        await page.GetByRole(AriaRole.Button, new() { Name = "Assign" }).ClickAsync();
        await Expect(Card(page, "ASSIGNED", orderId)).ToContainTextAsync("Driver 3");
        await Expect(page.Locator("[data-fact=status]")).ToHaveTextAsync("Assigned");

        await page.GetByRole(AriaRole.Button, new() { Name = "Cancel order" }).ClickAsync();
        await Expect(Card(page, "CANCELLED", orderId)).ToBeVisibleAsync();
        await Expect(page.Locator("[data-count-for=\"CANCELLED\"]")).ToHaveTextAsync("1");
        await Expect(page.Locator("[data-count-for=\"ASSIGNED\"]")).ToHaveTextAsync("0");
        await Expect(page.Locator("#details-history li")).ToHaveCountAsync(3);
    }

    [Fact]
    public async Task Two_pages_edit_one_order_and_the_second_save_shows_the_conflict_notice_with_the_current_version()
    {
        await using var store = await TestStore.CreateAsync();
        await using var server = await ServerProcess.StartAsync(store, port: null, Settings(dispatch: false), Ct);
        using var dispatcher = await server.LoginAsync("dispatcher@demo.test", Browser.Password, Ct);
        var order = await CreateOrderAsync(dispatcher, Order("original"));
        var first = await browser.SignInAsync(server.Address, "dispatcher@demo.test");
        var second = await browser.SignInAsync(server.Address, "admin@demo.test");
        foreach (var page in new[] { first, second })
        {
            await Card(page, "PENDING", Id(order)).ClickAsync();
            await Expect(page.Locator("#edit-notes")).ToHaveValueAsync("original");
        }

        await second.Locator("#edit-notes").FillAsync("second's words");
        await first.Locator("#edit-notes").FillAsync("first's words");
        await first.GetByRole(AriaRole.Button, new() { Name = "Save" }).ClickAsync();
        await Expect(first.Locator("#details-message")).ToHaveTextAsync("Saved: version 2.");

        // The second page learns of it while still editing, and its save is refused with the current version.
        await Expect(second.Locator("#conflict-notice")).ToBeVisibleAsync();
        await second.GetByRole(AriaRole.Button, new() { Name = "Save" }).ClickAsync();
        await Expect(second.Locator("#conflict-text")).ToHaveTextAsync("Not saved: someone else changed this order. It is now at version 2.");
        await Expect(second.Locator("#edit-notes")).ToHaveValueAsync("second's words");

        await second.GetByRole(AriaRole.Button, new() { Name = "Load current version" }).ClickAsync();
        await Expect(second.Locator("#conflict-notice")).ToBeHiddenAsync();
        await Expect(second.Locator("#edit-notes")).ToHaveValueAsync("first's words");
        await second.Locator("#edit-notes").FillAsync("second's words, again");
        await second.GetByRole(AriaRole.Button, new() { Name = "Save" }).ClickAsync();
        await Expect(second.Locator("#details-message")).ToHaveTextAsync("Saved: version 3.");
        var stored = await dispatcher.GetFromJsonAsync<JsonElement>($"/api/orders/{Id(order)}", Ct);
        Assert.Equal("second's words, again", stored.GetProperty("notes").GetString());
    }

    [Fact]
    public async Task After_a_server_restart_the_page_reconnects_and_catches_up_on_what_was_written_while_it_was_away()
    {
        await using var store = await TestStore.CreateAsync();
        var server = await ServerProcess.StartAsync(store, port: null, Settings(dispatch: false), Ct);
        var port = server.Port;
        var page = await browser.SignInAsync(server.Address, "admin@demo.test");
        await page.EvaluateAsync("""
            () => {
              window.__states = [];
              new MutationObserver(() => window.__states.push(document.getElementById('connection').dataset.state))
                .observe(document.getElementById('connection'), { attributes: true, attributeFilter: ['data-state'] });
            }
            """);
        JsonElement seen;
        using (var api = await server.LoginAsync("dispatcher@demo.test", Browser.Password, Ct))
        {
            seen = await CreateOrderAsync(api, Order("seen live"));
        }
        await Expect(Card(page, "PENDING", Id(seen))).ToBeVisibleAsync();

        server.KillHard();
        await server.DisposeAsync();
        await Expect(page.Locator("#connection")).ToHaveAttributeAsync("data-state", "reconnecting");

        // Written while the page is away, by another node on the same store.
        var missed = new List<JsonElement>();
        await using (var other = await ServerProcess.StartAsync(store, port: null, Settings(dispatch: false), Ct))
        using (var api = await other.LoginAsync("dispatcher@demo.test", Browser.Password, Ct))
        {
            for (var i = 0; i < 3; i++)
            {
                missed.Add(await CreateOrderAsync(api, Order($"missed {i}", i * 0.001)));
            }
            var cancel = await api.PostAsync($"/api/orders/{Id(seen)}/cancel", null, Ct);
            Assert.Equal(HttpStatusCode.OK, cancel.StatusCode);
        }
        await Expect(page.Locator("#connection")).ToHaveAttributeAsync("data-state", "reconnecting");

        await using var restarted = await ServerProcess.StartAsync(store, port, Settings(dispatch: false), Ct);
        await Expect(page.Locator("#connection")).ToHaveAttributeAsync("data-state", "live", new() { Timeout = 30_000 });
        foreach (var order in missed)
        {
            await Expect(Card(page, "PENDING", Id(order))).ToBeVisibleAsync();
        }
        await Expect(Card(page, "CANCELLED", Id(seen))).ToBeVisibleAsync();
        var states = await page.EvaluateAsync<string[]>("() => window.__states");
        Assert.Equal(["reconnecting", "catching-up", "live"], states.Distinct().TakeLast(3));

        // Exactly what the server has: the same cards in the same columns, the same counters.
        using var admin = await restarted.LoginAsync("admin@demo.test", Browser.Password, Ct);
        var expected = await BoardOnServerAsync(admin);
        var shown = await BoardOnPageAsync(page);
        Assert.Equal(expected.Keys.Order(), shown.Keys.Order());
        foreach (var (status, (ids, count)) in expected)
        {
            Assert.Equal(count, shown[status].Count);
            Assert.Equal(ids.Order(), shown[status].Ids.Order());
        }
    }

    [Fact]
    public async Task Without_a_session_the_dashboard_sends_the_browser_to_login_and_the_API_answers_401()
    {
        await using var store = await TestStore.CreateAsync();
        await using var server = await ServerProcess.StartAsync(store, port: null, Settings(dispatch: false), Ct);
        var page = await browser.NewPageAsync(server.Address);

        await page.GotoAsync("/dashboard");

        Assert.EndsWith("/login", new Uri(page.Url).AbsolutePath, StringComparison.Ordinal);
        await Expect(page.GetByRole(AriaRole.Button, new() { Name = "Sign in" })).ToBeVisibleAsync();
        using var anonymous = new HttpClient { BaseAddress = server.Address };
        var response = await anonymous.GetAsync("/api/orders", Ct);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Contains("Bearer", response.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);

        // A wrong password says so on the page and sets nothing.
        await page.GetByLabel("Email").FillAsync("admin@demo.test");
        await page.GetByLabel("Password").FillAsync("wrong password");
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Expect(page.Locator("#login-error")).ToHaveTextAsync("Wrong email or password.");
        Assert.Empty(await page.Context.CookiesAsync());
    }

    [Fact]
    public async Task Logging_out_clears_the_cookie_and_closes_the_socket()
    {
        await using var store = await TestStore.CreateAsync();
        await using var server = await ServerProcess.StartAsync(store, port: null, Settings(dispatch: false), Ct);
        var page = await browser.NewPageAsync(server.Address);
        await Browser.SignInAsync(page, "dispatcher@demo.test");
        using var admin = await server.LoginAsync("admin@demo.test", Browser.Password, Ct);
        async Task<int> SocketsOpenAsync() =>
            (await admin.GetFromJsonAsync<JsonElement>("/api/ws/stats", Ct)).GetProperty("connections").GetInt32();
        Assert.Equal(1, await SocketsOpenAsync());
        var cookie = Assert.Single(await page.Context.CookiesAsync());
        Assert.True(cookie.HttpOnly);
        Assert.Equal(SameSiteAttribute.Strict, cookie.SameSite);
        Assert.False(await page.EvaluateAsync<bool>("() => document.cookie.includes('glo_access')"));

        await page.GetByRole(AriaRole.Button, new() { Name = "Log out" }).ClickAsync();

        await Assertions.Expect(page).ToHaveURLAsync(Browser.AtPath("/login"));
        Assert.Empty(await page.Context.CookiesAsync());
        // The server sees the page's socket go.
        for (var wait = Stopwatch.StartNew(); await SocketsOpenAsync() > 0; await Task.Delay(100, Ct))
        {
            Assert.True(wait.Elapsed < TimeSpan.FromSeconds(10), "The page's socket is still open after logging out.");
        }
        await page.GotoAsync("/dashboard");
        Assert.EndsWith("/login", new Uri(page.Url).AbsolutePath, StringComparison.Ordinal);
    }
}
