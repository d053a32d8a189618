using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using GeoLogistics.Server.Orders;
using GeoLogistics.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using static GeoLogistics.Tests.Support.HttpTestExtensions;

namespace GeoLogistics.Tests.Security;

/// <summary>
/// Outside Development the server tells an attacker nothing of its insides (why a token failed, .NET types, the
/// API's map without login), and expected outcomes (lost races, outages) cannot flood the log with stack traces.
/// The test servers run in the "Testing" environment: not Development.
/// </summary>
public class ErrorExposureTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private sealed record Entry(LogLevel Level, string Category, string Message, Exception? Exception);

    private sealed class Sink : ILoggerProvider
    {
        public ConcurrentQueue<Entry> Entries { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

        public void Dispose()
        {
        }

        private sealed class Logger(Sink sink, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                sink.Entries.Enqueue(new Entry(logLevel, category, formatter(state, exception), exception));
        }
    }

    private static Task<TestApp> StartLoggingAsync(Sink sink, IReadOnlyDictionary<string, string?>? extra = null)
    {
        var settings = new Dictionary<string, string?> { ["Logging:LogLevel:Default"] = "Information" };
        foreach (var (key, value) in extra ?? new Dictionary<string, string?>())
        {
            settings[key] = value;
        }
        return TestApp.StartAsync(settings, s => s.AddSingleton<ILoggerProvider>(sink));
    }

    [Fact]
    public async Task A_bad_token_outside_development_gets_a_challenge_that_does_not_say_why()
    {
        await using var app = await TestApp.StartAsync();
        var token = await app.TokenForAsync("dispatcher@demo.test");

        var tampered = await app.ClientWithToken(token[..^4] + "AAAA").GetAsync("/api/orders", Ct);
        var valid = await app.ClientWithToken(token).GetAsync("/api/orders", Ct);

        Assert.Equal(HttpStatusCode.Unauthorized, tampered.StatusCode);
        var challenge = Assert.Single(tampered.Headers.WwwAuthenticate);
        Assert.Equal("Bearer", challenge.Scheme);
        Assert.DoesNotContain("error_description", challenge.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("signature", challenge.ToString(), StringComparison.OrdinalIgnoreCase);
        Assert.Equal(HttpStatusCode.OK, valid.StatusCode);
    }

    [Theory]
    [InlineData("/api/orders?limit=abc", "limit")]
    [InlineData("/api/drivers?limit=1.5", "limit")]
    [InlineData("/api/events?since=x", "since")]
    public async Task A_value_that_does_not_bind_answers_400_naming_the_field_and_no_dotnet_type(string path, string field)
    {
        await using var app = await TestApp.StartAsync();
        var dispatcher = await app.DispatcherAsync();

        var bad = await dispatcher.GetAsync(path, Ct);
        var good = await dispatcher.GetAsync(path.Split('?')[0] + $"?{field}=5", Ct);

        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        var text = await bad.Content.ReadAsStringAsync(Ct);
        Assert.True((await bad.ReadJsonAsync()).GetProperty("errors").TryGetProperty(field, out _), text);
        foreach (var leak in new[] { "Nullable", "Int32", "Int64", "<int>", "<long>", "System." })
        {
            Assert.DoesNotContain(leak, text, StringComparison.Ordinal);
        }
        Assert.Equal(HttpStatusCode.OK, good.StatusCode);
    }

    [Fact]
    public async Task The_api_map_is_not_served_without_login_outside_development()
    {
        await using var app = await TestApp.StartAsync();
        var anonymous = app.CreateClient();

        var openapi = await anonymous.GetAsync("/openapi/v1.json", Ct);
        var docs = await anonymous.GetAsync("/docs/", Ct);

        Assert.Equal(HttpStatusCode.NotFound, openapi.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, docs.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await (await app.DispatcherAsync()).GetAsync("/api/orders", Ct)).StatusCode);
    }

    [Fact]
    public async Task Racing_assigns_log_each_lost_race_as_one_line_and_no_error()
    {
        var sink = new Sink();
        await using var app = await StartLoggingAsync(sink);
        var dispatcher = await app.DispatcherAsync();
        var driver = await app.DriverRecordAsync(1);
        Assert.Equal(HttpStatusCode.OK, (await (await app.DriverAsync(1)).PostAsJsonAsync("/api/drivers/me/status", new { online = true }, Ct)).StatusCode);
        var orders = new List<OrderDto>();
        for (var i = 0; i < 20; i++)
        {
            orders.Add(await (await dispatcher.PostAsJsonAsync("/api/orders", NewOrder(), Ct)).ReadAsync<OrderDto>());
        }

        var answers = await Task.WhenAll(orders.Select(o => dispatcher.PostAsJsonAsync($"/api/orders/{o.Id}/assign", new { driverId = driver.Id }, Ct)));

        Assert.Equal(1, answers.Count(a => a.StatusCode == HttpStatusCode.OK));
        Assert.Equal(19, answers.Count(a => a.StatusCode == HttpStatusCode.Conflict));
        var entries = sink.Entries.ToList();
        Assert.DoesNotContain(entries, e => e.Level >= LogLevel.Error);
        Assert.DoesNotContain(entries, e => e.Level >= LogLevel.Information && e.Exception is not null);
    }

    [Fact]
    public async Task A_store_outage_answers_503_and_logs_one_line_per_request_without_stack_traces()
    {
        var sink = new Sink();
        await using var store = await TestStore.CreateAsync();
        using var outage = await StoreOutage.OverAsync(store);
        var settings = new Dictionary<string, string?>(outage.Settings) { ["Logging:LogLevel:Default"] = "Information" };
        await using var app = TestApp.StartOn(store, settings, s => s.AddSingleton<ILoggerProvider>(sink));
        var dispatcher = await app.DispatcherAsync();
        var before = await (await dispatcher.PostAsJsonAsync("/api/orders", NewOrder(), Ct)).ReadAsync<OrderDto>();

        outage.Cut();
        sink.Entries.Clear();
        List<HttpResponseMessage> answers = [.. await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => dispatcher.GetAsync("/api/orders", Ct)))];
        outage.Restore();

        Assert.All(answers, a => Assert.Equal(HttpStatusCode.ServiceUnavailable, a.StatusCode));
        var entries = sink.Entries.ToList();
        var warnings = entries.Where(e => e.Level >= LogLevel.Warning).ToList();
        Assert.DoesNotContain(warnings, e => e.Level >= LogLevel.Error || e.Exception is not null);
        Assert.InRange(warnings.Count(e => e.Message.Contains("Store unavailable", StringComparison.Ordinal)), 10, 10);
        // Nothing lost: the store back, the order made before is there.
        var after = await dispatcher.GetAsync($"/api/orders/{before.Id}", Ct);
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
    }
}
