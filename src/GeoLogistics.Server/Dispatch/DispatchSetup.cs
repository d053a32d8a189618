using GeoLogistics.Server.Events;

namespace GeoLogistics.Server.Dispatch;

public static class DispatchSetup
{
    public static IServiceCollection AddDispatch(this IServiceCollection services, IConfiguration config)
    {
        services.AddOptions<EventFeedOptions>().Bind(config.GetSection("Events")).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<EventFeed>();
        services.AddHostedService(sp => sp.GetRequiredService<EventFeed>());
        services.AddSingleton<Sequencer>();
        services.AddHostedService(sp => sp.GetRequiredService<Sequencer>());

        services.AddOptions<DispatchOptions>().Bind(config.GetSection("Dispatch")).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<IDispatchStore, DispatchStore>();
        services.AddSingleton<DispatchService>();
        services.AddSingleton<DispatchQueue>();
        services.AddHostedService<DispatchWorker>();
        return services;
    }
}
