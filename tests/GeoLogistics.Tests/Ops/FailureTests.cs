using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using GeoLogistics.Server.Users;
using GeoLogistics.Tests.Support;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;

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

    [Fact]
    public async Task An_unreachable_store_answers_503_with_retry_after()
    {
        await using var app = await StartFailingAsync(new NpgsqlException("Failed to connect", new SocketException((int)SocketError.ConnectionRefused)));

        var response = await app.CreateClient().PostAsJsonAsync("/api/auth/login", new { email = "admin@demo.test", password = "Demo#2026" }, Ct);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.NotNull(response.Headers.RetryAfter);
        Assert.Equal(503, (await response.ReadJsonAsync()).GetProperty("status").GetInt32());
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
