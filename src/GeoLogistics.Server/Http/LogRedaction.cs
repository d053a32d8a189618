using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace GeoLogistics.Server.Http;

/// <summary>
/// Keeps bearer tokens out of every log line, whatever the level: browsers open the socket with
/// <c>?access_token=</c>, and ASP.NET Core's hosting log writes each request's URL with its query string before any
/// middleware runs. Every logger of the process goes through here, so the value is cut from the message and from the
/// structured values alike.
/// </summary>
public static class LogRedaction
{
    private const string Parameter = "access_token=";
    public const string Mask = "[redacted]";

    public static IServiceCollection AddLogRedaction(this IServiceCollection services)
    {
        services.Replace(ServiceDescriptor.Singleton<ILoggerFactory>(sp => new RedactingLoggerFactory(new LoggerFactory(
            sp.GetServices<ILoggerProvider>(),
            sp.GetRequiredService<IOptionsMonitor<LoggerFilterOptions>>(),
            sp.GetService<IOptions<LoggerFactoryOptions>>(),
            sp.GetService<IExternalScopeProvider>()))));
        return services;
    }

    /// <summary><paramref name="text"/> with the value of every <c>access_token=</c> replaced by <see cref="Mask"/>.</summary>
    public static string Redact(string text)
    {
        var at = text.IndexOf(Parameter, StringComparison.OrdinalIgnoreCase);
        if (at < 0)
        {
            return text;
        }
        var result = new System.Text.StringBuilder(text.Length);
        var from = 0;
        while (at >= 0)
        {
            var value = at + Parameter.Length;
            var end = value;
            while (end < text.Length && text[end] is not ('&' or ' ' or '\t' or '\r' or '\n' or '"' or '\''))
            {
                end++;
            }
            result.Append(text, from, value - from).Append(Mask);
            from = end;
            at = text.IndexOf(Parameter, end, StringComparison.OrdinalIgnoreCase);
        }
        return result.Append(text, from, text.Length - from).ToString();
    }

    private static bool NeedsRedaction(string text) => text.Contains(Parameter, StringComparison.OrdinalIgnoreCase);

    private sealed class RedactingLoggerFactory(ILoggerFactory inner) : ILoggerFactory
    {
        public ILogger CreateLogger(string categoryName) => new RedactingLogger(inner.CreateLogger(categoryName));

        public void AddProvider(ILoggerProvider provider) => inner.AddProvider(provider);

        public void Dispose() => inner.Dispose();
    }

    private sealed class RedactingLogger(ILogger inner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => inner.BeginScope(state);

        public bool IsEnabled(LogLevel logLevel) => inner.IsEnabled(logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!inner.IsEnabled(logLevel))
            {
                return;
            }
            // Formatted once here; every provider gets the redacted text.
            var message = Redact(formatter(state, exception));
            if (state is IReadOnlyList<KeyValuePair<string, object?>> values && values.Any(v => v.Value is string s && NeedsRedaction(s)))
            {
                IReadOnlyList<KeyValuePair<string, object?>> redacted =
                    [.. values.Select(v => v.Value is string s ? KeyValuePair.Create(v.Key, (object?)Redact(s)) : v)];
                inner.Log(logLevel, eventId, redacted, exception, (_, _) => message);
                return;
            }
            inner.Log(logLevel, eventId, state, exception, (_, _) => message);
        }
    }
}
