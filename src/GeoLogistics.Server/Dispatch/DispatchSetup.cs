namespace GeoLogistics.Server.Dispatch;

public static class DispatchSetup
{
    public static IServiceCollection AddDispatch(this IServiceCollection services, IConfiguration config)
    {
        services.AddOptions<DispatchOptions>().Bind(config.GetSection("Dispatch")).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<IDispatchStore, DispatchStore>();
        services.AddSingleton<DispatchService>();
        services.AddSingleton<DispatchQueue>();
        services.AddSingleton<DispatchMetrics>();
        services.AddHostedService<DispatchWorker>();
        return services;
    }
}
