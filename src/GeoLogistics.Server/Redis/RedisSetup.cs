using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace GeoLogistics.Server.Redis;

/// <summary>Redis settings (section <c>Redis</c>). Without <see cref="Configuration"/> the server runs without Redis.</summary>
public sealed class RedisOptions
{
    /// <summary>A StackExchange.Redis configuration string, e.g. <c>localhost:6379,password=…</c>. Unset: no Redis.</summary>
    public string? Configuration { get; set; }

    /// <summary>Put before every key, so several deployments (or tests) can share one Redis.</summary>
    [Required(AllowEmptyStrings = true)]
    public string KeyPrefix { get; set; } = "geologistics:";

    /// <summary>
    /// A driver's latest position expires this long after it was taken (a driver who went silent disappears), an order's
    /// latest ETA this long after it was made.
    /// </summary>
    public TimeSpan PositionTtl { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Positions and ETAs made meanwhile go to Redis in one pipelined batch this often (the newest per driver, per order).</summary>
    public TimeSpan WriteInterval { get; set; } = TimeSpan.FromMilliseconds(100);
}

/// <summary>
/// One <see cref="IConnectionMultiplexer"/> for the process when <c>Redis:Configuration</c> is set, and its readiness
/// check. Redis is an addition: the server starts, and keeps working, while Redis is down.
/// </summary>
public static partial class RedisSetup
{
    public static bool IsConfigured(IConfiguration config) => !string.IsNullOrWhiteSpace(config["Redis:Configuration"]);

    public static IServiceCollection AddRedis(this IServiceCollection services, IConfiguration config)
    {
        services.AddOptions<RedisOptions>().Bind(config.GetSection("Redis")).ValidateDataAnnotations()
            .Validate(o => string.IsNullOrWhiteSpace(o.Configuration) || Parses(o.Configuration),
                "Redis:Configuration is not a valid StackExchange.Redis configuration string (e.g. localhost:6379).")
            .Validate(o => o.PositionTtl >= TimeSpan.FromSeconds(1), "Redis:PositionTtl must be at least one second.")
            .Validate(o => o.WriteInterval >= TimeSpan.FromMilliseconds(1) && o.WriteInterval <= TimeSpan.FromMinutes(1),
                "Redis:WriteInterval must be from 1 ms to 1 minute.")
            .ValidateOnStart();
        if (!IsConfigured(config))
        {
            return services;
        }
        services.AddSingleton<IConnectionMultiplexer>(sp => Connect(sp.GetRequiredService<IOptions<RedisOptions>>().Value,
            sp.GetRequiredService<ILoggerFactory>().CreateLogger("GeoLogistics.Server.Redis")));
        // Redis down stops only the sharing of positions between nodes: the node is still ready, degraded.
        services.AddHealthChecks().AddRedis(sp => sp.GetRequiredService<IConnectionMultiplexer>(), "redis", HealthStatus.Degraded, tags: ["ready"],
            timeout: TimeSpan.FromSeconds(5));
        return services;
    }

    private static bool Parses(string configuration)
    {
        try
        {
            return ConfigurationOptions.Parse(configuration).EndPoints.Count > 0;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    private static ConnectionMultiplexer Connect(RedisOptions options, ILogger logger)
    {
        var config = ConfigurationOptions.Parse(options.Configuration!);
        // Start while Redis is down, and reconnect in the background; readiness says it is down meanwhile.
        config.AbortOnConnectFail = false;
        // While disconnected, fail a command at once instead of queueing it: nothing piles up, nothing waits.
        config.BacklogPolicy = BacklogPolicy.FailFast;
        var redis = ConnectionMultiplexer.Connect(config);
        // One line per change of state, not one per reconnect attempt.
        var down = !redis.IsConnected;
        if (down)
        {
            LogUnavailable(logger, string.Join(",", config.EndPoints), null);
        }
        redis.ConnectionFailed += (_, e) =>
        {
            if (!down)
            {
                down = true;
                LogUnavailable(logger, e.EndPoint?.ToString() ?? "?", e.Exception);
            }
        };
        redis.ConnectionRestored += (_, e) =>
        {
            if (down && redis.IsConnected)
            {
                down = false;
                LogRestored(logger, e.EndPoint?.ToString() ?? "?");
            }
        };
        return redis;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Redis at {EndPoint} is unavailable; positions stay in memory and the store, and go to Redis when it is back")]
    private static partial void LogUnavailable(ILogger logger, string endPoint, Exception? exception);

    [LoggerMessage(Level = LogLevel.Information, Message = "Redis at {EndPoint} is connected again")]
    private static partial void LogRestored(ILogger logger, string endPoint);
}
