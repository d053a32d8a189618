using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using GeoLogistics.Server.Events;
using GeoLogistics.Server.Orders;
using GeoLogistics.Server.Users;
using GeoLogistics.Tests.Support;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using static GeoLogistics.Tests.Support.HttpTestExtensions;

namespace GeoLogistics.Tests.Ops;

public class FailureTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A password check that fails the way a handler's store call fails when the store is unreachable.</summary>
    private sealed class FailingHasher(Exception failure) : IPasswordHasher<User>
    {
        public string HashPassword(User user, string password) => new PasswordHasher<User>().HashPassword(user, password);

        public PasswordVerificationResult VerifyHashedPassword(User user, string hashedPassword, string providedPassword) => throw failure;
    }

    private static Task<TestApp> StartFailingAsync(Exception failure) =>
        TestApp.StartAsync(replaceServices: s => s.AddSingleton<IPasswordHasher<User>>(new FailingHasher(failure)));

    /// <summary>Sends until the store answers again: a client told 503 and Retry-After tries again later.</summary>
    private static async Task<HttpResponseMessage> UntilServedAsync(Func<Task<HttpResponseMessage>> send)
    {
        using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (true)
        {
            var response = await send();
            if (response.StatusCode != HttpStatusCode.ServiceUnavailable)
            {
                return response;
            }
            await Task.Delay(100, patience.Token);
        }
    }

    [Fact]
    public async Task An_unreachable_store_answers_503_with_retry_after_and_once_back_has_lost_nothing_and_applies_a_retry_once()
    {
        await using var store = await TestStore.CreateAsync();
        using var outage = await StoreOutage.OverAsync(store);
        await using var app = TestApp.StartOn(store, outage.Settings);
        var dispatcher = await app.DispatcherAsync();
        var kept = await dispatcher.PostAsJsonAsync("/api/orders", NewOrder(), Ct);
        Assert.Equal(HttpStatusCode.Created, kept.StatusCode);
        var acknowledged = await kept.ReadAsync<OrderDto>();
        await using var board = await WsClient.ConnectAsync(app.ServerUri, await app.TokenForAsync("dispatcher@demo.test"), Ct);
        Assert.Equal("connection_ack", (await board.NextAsync()).GetProperty("type").GetString());
        await board.SendAsync(new { type = "subscribe", topic = "orders" }, Ct);
        Assert.Equal("subscribed", (await board.NextAsync()).GetProperty("type").GetString());
        var key = $"outage-{Guid.NewGuid():N}";
        Task<HttpResponseMessage> Write()
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "/api/orders") { Content = JsonContent.Create(NewOrder()) };
            request.Headers.Add("Idempotency-Key", key);
            return dispatcher.SendAsync(request, Ct);
        }

        outage.Cut();
        var login = await app.CreateClient().PostAsJsonAsync("/api/auth/login", new { email = "admin@demo.test", password = "Demo#2026" }, Ct);
        var refused = await Write();
        var ready = await app.CreateClient().GetAsync("/health/ready", Ct);
        outage.Restore();

        foreach (var response in new[] { login, refused })
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.NotNull(response.Headers.RetryAfter);
            Assert.Equal(503, (await response.ReadJsonAsync()).GetProperty("status").GetInt32());
        }
        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        // Back: what was acknowledged is there, and the write refused during the outage left nothing behind.
        var before = await UntilServedAsync(() => dispatcher.GetAsync("/api/orders", Ct));
        Assert.Equal([acknowledged.Id], (await before.ReadAsync<OrderPage>()).Items.Select(o => o.Id));
        var retried = await UntilServedAsync(Write);
        Assert.Equal(HttpStatusCode.Created, retried.StatusCode);
        var order = await retried.ReadAsync<OrderDto>();
        var repeated = await Write();
        Assert.Equal((HttpStatusCode.Created, order.Id), (repeated.StatusCode, (await repeated.ReadAsync<OrderDto>()).Id));
        var after = await dispatcher.GetFromJsonAsync<OrderPage>("/api/orders", TestApp.Json, Ct);
        Assert.Equal(new[] { acknowledged.Id, order.Id }.Order(), after!.Items.Select(o => o.Id).Order());
        var events = await dispatcher.GetFromJsonAsync<EventPage>($"/api/orders/{order.Id}/events", TestApp.Json, Ct);
        Assert.Equal([EventTypes.OrderCreated], events!.Events.Select(e => e.Type));
        // The live feed came back too: the board gets the retried order, once.
        var live = await board.UntilAsync(all => all.Any(m => m.TryGetProperty("orderId", out var id) && id.GetGuid() == order.Id));
        await app.WaitForFeedAsync();
        live.AddRange(await board.QueuedSoFarAsync(Ct));
        Assert.Single(live, m => m.TryGetProperty("orderId", out var id) && id.GetGuid() == order.Id);
        Assert.Equal(HttpStatusCode.OK, (await app.CreateClient().GetAsync("/health/ready", Ct)).StatusCode);
    }

    [Fact]
    public async Task An_unexpected_error_answers_500_with_a_trace_id_and_nothing_of_the_exception()
    {
        await using var app = await StartFailingAsync(new InvalidOperationException("secret internals: connection string Password=hunter2"));

        var response = await app.CreateClient().PostAsJsonAsync("/api/auth/login", new { email = "admin@demo.test", password = "Demo#2026" }, Ct);

        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        var text = await response.Content.ReadAsStringAsync(Ct);
        var problem = await response.ReadJsonAsync();
        Assert.False(string.IsNullOrEmpty(problem.GetProperty("traceId").GetString()));
        Assert.DoesNotContain("hunter2", text);
        Assert.DoesNotContain("InvalidOperationException", text);
        Assert.DoesNotContain(" at ", text);
    }

    private sealed class Sink : ILoggerProvider
    {
        public ConcurrentQueue<string> Lines { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

        public void Dispose()
        {
        }

        private sealed class Logger(Sink sink, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                var structured = state is IEnumerable<KeyValuePair<string, object?>> values ? string.Join(";", values.Select(v => $"{v.Key}={v.Value}")) : "";
                sink.Lines.Enqueue($"{category} {formatter(state, exception)} {structured} {exception}");
            }
        }
    }

    [Fact]
    public async Task No_token_or_password_reaches_the_logs()
    {
        var sink = new Sink();
        await using var app = await TestApp.StartAsync(
            new Dictionary<string, string?> { ["Logging:LogLevel:Default"] = "Trace" },
            s => s.AddSingleton<ILoggerProvider>(sink));
        var client = app.CreateClient();

        var login = await client.PostAsJsonAsync("/api/auth/login", new { email = "dispatcher@demo.test", password = "Demo#2026" }, Ct);
        var token = (await login.ReadJsonAsync()).GetProperty("accessToken").GetString()!;
        await app.ClientWithToken(token).GetAsync("/api/orders", Ct);
        await app.ClientWithToken(token + "tampered").GetAsync("/api/orders", Ct);
        await client.PostAsJsonAsync("/api/auth/login", new { email = "dispatcher@demo.test", password = "Wrong#Password1" }, Ct);

        Assert.NotEmpty(sink.Lines);
        Assert.DoesNotContain(sink.Lines, l => l.Contains("Demo#2026", StringComparison.Ordinal));
        Assert.DoesNotContain(sink.Lines, l => l.Contains("Wrong#Password1", StringComparison.Ordinal));
        Assert.DoesNotContain(sink.Lines, l => l.Contains(token.Split('.')[2], StringComparison.Ordinal));
    }
}
