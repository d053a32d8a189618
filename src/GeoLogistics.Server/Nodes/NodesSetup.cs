using GeoLogistics.Server.Realtime.Core;
using GeoLogistics.Server.Redis;
using GeoLogistics.Server.Tracking;

namespace GeoLogistics.Server.Nodes;

/// <summary>
/// This node among others: its identity, and how volatile messages reach every node's subscribers. Without Redis a
/// node is alone (its hub is the publisher); with Redis the backplane publishes through it (docs/adr/0009).
/// </summary>
public static partial class NodesSetup
{
    public static IServiceCollection AddNodes(this IServiceCollection services, IConfiguration config)
    {
        services.AddOptions<NodeOptions>().Bind(config.GetSection("Node"))
            .Validate(o => o.DrainDelay >= TimeSpan.Zero && o.DrainDelay <= TimeSpan.FromMinutes(5), "Node:DrainDelay must be from 0 to 5 minutes.")
            .Validate(o => o.DrainPatience >= TimeSpan.Zero && o.DrainPatience <= TimeSpan.FromMinutes(5), "Node:DrainPatience must be from 0 to 5 minutes.")
            .ValidateOnStart();
        services.AddSingleton<NodeIdentity>();
        // A clean stop: not ready first, then the live connections closed as a restart.
        services.AddSingleton<NodeDrain>();
        services.AddHostedService(sp => sp.GetRequiredService<NodeDrain>());
        services.AddHealthChecks().AddCheck<NodeDrain>("node", tags: ["ready"]);
        if (RedisSetup.IsConfigured(config))
        {
            services.AddSingleton<RedisBackplane>();
            services.AddSingleton<ILivePublisher>(sp => sp.GetRequiredService<RedisBackplane>());
            services.AddSingleton<ISharedPositions>(sp => sp.GetRequiredService<RedisBackplane>());
            services.AddHostedService(sp => sp.GetRequiredService<RedisBackplane>());
        }
        else
        {
            services.AddSingleton<ILivePublisher>(sp => sp.GetRequiredService<LiveHub>());
            services.AddSingleton<ISharedPositions, NoSharedPositions>();
        }
        return services;
    }

    /// <summary>Says once, at start-up, which node this is and whether it shares with others, so logs of several nodes can be told apart.</summary>
    public static void AnnounceNode(this WebApplication app)
    {
        var node = app.Services.GetRequiredService<NodeIdentity>();
        var shared = app.Services.GetService<RedisBackplane>() is not null;
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("GeoLogistics.Server.Nodes");
        app.Lifetime.ApplicationStarted.Register(() => LogStarted(logger, node.Name, shared ? "with the Redis backplane" : "alone (no Redis)"));
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Node {Node} started, {Sharing}")]
    private static partial void LogStarted(ILogger logger, string node, string sharing);
}
