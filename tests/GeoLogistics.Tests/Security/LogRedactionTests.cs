using System.Collections.Concurrent;
using GeoLogistics.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace GeoLogistics.Tests.Security;

/// <summary>Browsers open the socket with <c>?access_token=</c>; no log line may carry it, whatever the level.</summary>
public class LogRedactionTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Every line as a provider would write it: the message and each structured value.</summary>
    private sealed class Sink : ILoggerProvider
    {
        public ConcurrentQueue<string> Lines { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

        public void Dispose()
        {
        }

        private sealed class Logger(Sink sink, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull
            {
                sink.Lines.Enqueue($"{category} scope {state}");
                return null;
            }

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                var structured = state is IEnumerable<KeyValuePair<string, object?>> values ? string.Join(";", values.Select(v => $"{v.Key}={v.Value}")) : "";
                sink.Lines.Enqueue($"{category} {formatter(state, exception)} {structured} {exception}");
            }
        }
    }

    // Upgraded through HTTP, hosting logs the request at Information; upgraded off the connection (docs/adr/0011),
    // the server logs it at Debug. Either way the URL is logged, and the token in it is not.
    [Theory]
    [InlineData("Information", false)]
    [InlineData("Debug", false)]
    [InlineData("Debug", true)]
    [InlineData("Trace", true)]
    public async Task A_socket_opened_with_access_token_in_the_query_never_logs_the_token(string level, bool direct)
    {
        var sink = new Sink();
        await using var app = await TestApp.StartAsync(
            new Dictionary<string, string?>
            {
                ["Logging:LogLevel:Default"] = level,
                ["Logging:LogLevel:Microsoft.AspNetCore"] = level,
                ["Realtime:DirectSockets"] = direct ? "true" : "false",
            },
            s => s.AddSingleton<ILoggerProvider>(sink));
        var token = await app.TokenForAsync("dispatcher@demo.test");

        await using var socket = await WsClient.ConnectAsync(app.ServerUri, null, Ct, query: $"access_token={token}&since=0");
        var ack = await socket.NextAsync("connection_ack");
        await socket.SendAsync(new { type = "subscribe", topic = "orders" }, Ct);
        var subscribed = await socket.NextAsync("subscribed");
        await (await app.DispatcherAsync()).GetAsync($"/api/orders?access_token={token}", Ct);

        // The socket works as before: the token in the query still authenticates.
        Assert.Equal("dispatcher@demo.test", ack.GetProperty("user").GetProperty("email").GetString());
        Assert.Equal("orders", subscribed.GetProperty("topic").GetString());
        var lines = sink.Lines.ToList();
        Assert.Contains(lines, l => l.Contains("/api/ws?access_token=[redacted]&since=0", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.Contains(token.Split('.')[2], StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.Contains(token.Split('.')[1], StringComparison.Ordinal));
    }
}
