using Microsoft.EntityFrameworkCore.Diagnostics;

namespace GeoLogistics.Server.Events;

public static class EventsSetup
{
    /// <summary>The event log's moving parts: the sequencer that numbers it, the feed that tails it, the retention that prunes it.</summary>
    public static IServiceCollection AddEvents(this IServiceCollection services, IConfiguration config)
    {
        services.AddOptions<EventFeedOptions>().Bind(config.GetSection("Events")).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<RetentionOptions>().Bind(config.GetSection("Events:Retention")).ValidateDataAnnotations()
            .Validate(o => o.MaxAge is null || o.MaxAge > TimeSpan.Zero, "Events:Retention:MaxAge must be positive.")
            .Validate(o => o.Interval >= TimeSpan.FromMilliseconds(10), "Events:Retention:Interval must be at least 10 ms.")
            .ValidateOnStart();
        services.AddSingleton<EventPayloads>();
        // The store's interceptor for commits that saved events (numbers them on SQLite, wakes the sequencer on PostgreSQL).
        services.AddSingleton<CommitSignal>();
        services.AddSingleton<IInterceptor>(sp => sp.GetRequiredService<CommitSignal>());
        services.AddSingleton<EventFeed>();
        services.AddHostedService(sp => sp.GetRequiredService<EventFeed>());
        services.AddSingleton<Sequencer>();
        services.AddHostedService(sp => sp.GetRequiredService<Sequencer>());
        services.AddSingleton<EventRetention>();
        services.AddHostedService(sp => sp.GetRequiredService<EventRetention>());
        return services;
    }
}
