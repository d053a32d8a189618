using System.Net;
using System.Net.Http.Json;
using GeoLogistics.Server.Orders;
using GeoLogistics.Tests.Support;
using static GeoLogistics.Tests.Support.HttpTestExtensions;

namespace GeoLogistics.Tests.Security;

/// <summary>One user cannot flood a tenant with orders: a token bucket per user, 429 with Retry-After beyond it.</summary>
public class OrderRateLimitTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    // Five at once, then one a minute: nothing refills while the test runs.
    private static Task<TestApp> StartAsync() => TestApp.StartAsync(new Dictionary<string, string?>
    {
        ["Api:OrdersPerUserPerMinute"] = "1",
        ["Api:OrderBurst"] = "5",
    });

    private static async Task<OrderPage> BoardAsync(HttpClient dispatcher) =>
        (await dispatcher.GetFromJsonAsync<OrderPage>("/api/orders?limit=100", TestApp.Json, Ct))!;

    private static HttpRequestMessage Create(Guid tenantId, string? key = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/orders") { Content = JsonContent.Create(NewOrder(tenantId)) };
        if (key is not null)
        {
            request.Headers.Add("Idempotency-Key", key);
        }
        return request;
    }

    [Fact]
    public async Task Two_hundred_parallel_creates_from_one_customer_get_the_burst_and_429s_and_the_tenant_keeps_working()
    {
        await using var app = await StartAsync();
        var hospital = (await app.TenantAsync("Demo Hospital")).Id;
        var customer = await app.CustomerAsync();

        var answers = await Task.WhenAll(Enumerable.Range(0, 200).Select(_ => customer.SendAsync(Create(hospital), Ct)));

        var created = answers.Where(a => a.StatusCode == HttpStatusCode.Created).ToList();
        var refused = answers.Where(a => a.StatusCode == HttpStatusCode.TooManyRequests).ToList();
        Assert.Equal((5, 195), (created.Count, refused.Count));
        Assert.All(refused, r => Assert.True(r.Headers.RetryAfter?.Delta is { TotalSeconds: >= 1 }, $"Retry-After was {r.Headers.RetryAfter}"));
        Assert.Equal("application/problem+json", refused[0].Content.Headers.ContentType?.MediaType);
        Assert.Equal(429, (await refused[0].ReadJsonAsync()).GetProperty("status").GetInt32());
        // The board holds exactly the accepted orders, and the limit is per user: the tenant's own dispatcher still creates.
        var dispatcher = await app.DispatcherAsync();
        var ids = (await Task.WhenAll(created.Select(c => c.ReadAsync<OrderDto>()))).Select(o => o.Id).ToHashSet();
        Assert.Equal(ids, (await BoardAsync(dispatcher)).Items.Select(o => o.Id).ToHashSet());
        Assert.Equal(HttpStatusCode.Created, (await dispatcher.PostAsJsonAsync("/api/orders", NewOrder(), Ct)).StatusCode);
        Assert.Equal(6, (await BoardAsync(dispatcher)).Items.Count);
    }

    [Fact]
    public async Task An_idempotent_retry_of_a_created_order_is_answered_while_new_orders_are_refused()
    {
        await using var app = await StartAsync();
        var hospital = (await app.TenantAsync("Demo Hospital")).Id;
        var customer = await app.CustomerAsync();
        var first = await customer.SendAsync(Create(hospital, "order-1"), Ct);
        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        for (var i = 0; i < 4; i++)
        {
            Assert.Equal(HttpStatusCode.Created, (await customer.SendAsync(Create(hospital), Ct)).StatusCode);
        }

        var fresh = await customer.SendAsync(Create(hospital, "order-2"), Ct);
        var retry = await customer.SendAsync(Create(hospital, "order-1"), Ct);

        Assert.Equal(HttpStatusCode.TooManyRequests, fresh.StatusCode);
        Assert.Equal(HttpStatusCode.Created, retry.StatusCode);
        Assert.Equal((await first.ReadAsync<OrderDto>()).Id, (await retry.ReadAsync<OrderDto>()).Id);
        Assert.Equal(5, (await BoardAsync(await app.DispatcherAsync())).Items.Count);
    }

    [Fact]
    public async Task An_admin_is_not_limited()
    {
        await using var app = await StartAsync();
        var hospital = (await app.TenantAsync("Demo Hospital")).Id;
        var admin = await app.AdminAsync();

        var answers = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => admin.SendAsync(Create(hospital), Ct)));

        Assert.All(answers, a => Assert.Equal(HttpStatusCode.Created, a.StatusCode));
        Assert.Equal(20, (await BoardAsync(await app.DispatcherAsync())).Items.Count);
    }
}
