namespace GeoLogistics.Server.Data;

/// <summary>
/// Runs before the server listens and after options are validated (so a bad setting stops the process before it
/// touches the store): creates or upgrades the schema. What an empty store gets next is Demo's (DemoData).
/// </summary>
public sealed class StoreInitializer(IServiceProvider services) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => services.MigrateStoreAsync(cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
