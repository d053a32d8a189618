namespace GeoLogistics.Server.Data;

/// <summary>
/// Runs before the server listens and after options are validated (so a bad setting stops the process before it
/// touches the store): creates or upgrades the schema, then seeds an empty store and logs its logins once.
/// </summary>
public sealed partial class StoreInitializer(
    IServiceProvider services, IConfiguration config, IHostEnvironment env, DemoMode demo, ILogger<StoreInitializer> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await services.MigrateStoreAsync(cancellationToken);
        var withDemoData = demo.Enabled || env.IsDevelopment();
        var logins = await DemoData.SeedAsync(services, withDemoData, config, cancellationToken);
        if (logins.Count > 0)
        {
            // Never the password, not even the demo's: logs carry none (its password is in the README, "Demo logins").
            LogCreatedLogins(withDemoData ? " (demo data; the password is in the README)" : "", string.Concat(logins.Select(l => $"\n  {l}")));
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Created these logins{Note}:{Logins}")]
    private partial void LogCreatedLogins(string note, string logins);

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>Whether the process runs the demo: <c>--demo</c> on the command line or <c>Demo:Enabled</c>.</summary>
public sealed record DemoMode(bool Enabled);
