using GeoLogistics.Server.Realtime.Core;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace GeoLogistics.Server.Nodes;

/// <summary>
/// A clean stop (SIGTERM, a rolling deploy): readiness turns unhealthy first, so a balancer stops sending new work
/// here; after <see cref="NodeOptions.DrainDelay"/> every live connection is closed as a restart (1012 on the JSON
/// protocol), so clients reconnect at once and resume with <c>since</c>, on another node or on this one once it is
/// back; new connections are refused meanwhile (503). Then the host stops as usual: Kestrel takes no new connection
/// and lets the requests in flight finish (an acknowledged write is committed before it is acknowledged).
/// </summary>
public sealed partial class NodeDrain(LiveHub hub, IOptions<NodeOptions> options, ILogger<NodeDrain> logger)
    : IHostedLifecycleService, IHealthCheck
{
    private volatile bool stopping;

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(stopping ? HealthCheckResult.Unhealthy("the node is stopping") : HealthCheckResult.Healthy());

    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        stopping = true;
        var sessions = hub.Sessions.Count;
        LogDraining(logger, options.Value.DrainDelay.TotalSeconds, sessions);
        await Task.Delay(options.Value.DrainDelay, cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await hub.DrainAsync(SessionClose.Restart, options.Value.DrainPatience);
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(Level = LogLevel.Information, Message = "Stopping: not ready from now, closing {Sessions} live connections as a restart in {DelaySeconds} s")]
    private static partial void LogDraining(ILogger logger, double delaySeconds, int sessions);
}
