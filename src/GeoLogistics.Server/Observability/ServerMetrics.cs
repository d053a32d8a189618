using System.Diagnostics.Metrics;
using GeoLogistics.Server.Events;
using GeoLogistics.Server.Nodes;
using GeoLogistics.Server.Realtime.Core;
using GeoLogistics.Server.Tracking;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

namespace GeoLogistics.Server.Observability;

public static class ServerMeter
{
    /// <summary>The meter every instrument of the server's own is made on.</summary>
    public const string Name = "GeoLogistics.Server";
}

/// <summary>
/// The server's figures as OpenTelemetry instruments, read when they are collected from the counters the modules
/// keep anyway (the same ones <c>/api/ws/stats</c> shows): connections per protocol, subscriptions per topic, queue
/// depth, messages in and out, slow consumers closed, replayed events, the event log's head and hand-out delay, events
/// pruned, positions accepted and rate-limited, track points dropped. Dispatch records its own attempts
/// (<c>Dispatch/DispatchMetrics</c>).
/// </summary>
public sealed class ServerMetrics
{
    public ServerMetrics(IMeterFactory meters, LiveHub hub, Tracker tracker, EventFeed feed, EventRetention retention)
    {
        var meter = meters.Create(ServerMeter.Name);
        meter.CreateObservableUpDownCounter("geologistics.live.connections", () => hub.Sessions.GroupBy(s => s.Protocol)
            .Select(g => new Measurement<long>(g.Count(), new KeyValuePair<string, object?>("protocol", g.Key))), "{connection}",
            "Live connections, by protocol.");
        meter.CreateObservableUpDownCounter("geologistics.live.subscriptions", () => hub.Sessions.SelectMany(s => s.Subscriptions)
            .GroupBy(s => s.Topic.Kind).Select(g => new Measurement<long>(g.Count(), new KeyValuePair<string, object?>("topic", g.Key.ToString().ToLowerInvariant()))),
            "{subscription}", "Live subscriptions, by topic.");
        meter.CreateObservableUpDownCounter("geologistics.live.queue_depth", () => (long)hub.Sessions.Sum(s => s.QueueDepth), "{message}",
            "Messages waiting in every connection's outbox.");
        meter.CreateObservableCounter("geologistics.live.messages_out", () => hub.MessagesSent, "{message}", "Messages written to live connections.");
        meter.CreateObservableCounter("geologistics.live.messages_in", () => hub.MessagesReceived, "{message}", "Messages live connections sent.");
        meter.CreateObservableCounter("geologistics.live.slow_consumers_closed", () => hub.SessionsDropped, "{connection}",
            "Connections closed for letting too much pile up.");
        meter.CreateObservableCounter("geologistics.live.events_replayed", () => hub.Replayed, "{event}", "Durable events replayed to clients resuming with since.");
        meter.CreateObservableGauge("geologistics.events.head", () => feed.Head, "{seq}", "The newest seq handed to the live core on this node.");
        meter.CreateObservableGauge("geologistics.events.handout_delay", () => feed.HandOutDelaySeconds, "s",
            "From the append of the newest event handed out to its hand-out: the event log's lag behind its writers.");
        meter.CreateObservableCounter("geologistics.events.pruned", () => retention.Pruned, "{event}", "Events pruned from the log by retention.");
        meter.CreateObservableCounter("geologistics.positions.accepted", () => tracker.AcceptedPositions, "{position}", "Driver positions accepted.");
        meter.CreateObservableCounter("geologistics.positions.rate_limited", () => tracker.RateLimitedPositions, "{position}",
            "Driver positions (or batches) dropped for coming faster than the driver's rate.");
        meter.CreateObservableCounter("geologistics.positions.track_points_dropped", () => tracker.DroppedTrackPoints, "{point}",
            "Track points dropped because the queue to the store was full.");
    }
}

public static class ObservabilitySetup
{
    /// <summary>
    /// OpenTelemetry metrics: the server's own, ASP.NET Core's (HTTP requests, Kestrel connections) and the runtime's,
    /// exported as Prometheus text at <c>/metrics</c>, each series carrying the node's name.
    /// </summary>
    public static IServiceCollection AddObservability(this IServiceCollection services)
    {
        services.AddSingleton<ServerMetrics>();
        services.AddOpenTelemetry()
            .WithMetrics(metrics => metrics
                .AddMeter(ServerMeter.Name, "Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel", "System.Runtime")
                .AddPrometheusExporter(o => o.ScrapeResponseCacheDurationMilliseconds = 0));
        services.ConfigureOpenTelemetryMeterProvider((sp, metrics) => metrics.ConfigureResource(resource =>
            resource.AddService("geologistics", serviceInstanceId: sp.GetRequiredService<NodeIdentity>().Name)));
        return services;
    }

    public static WebApplication MapObservability(this WebApplication app)
    {
        // The instruments observe the modules from the first collection on.
        app.Services.GetRequiredService<ServerMetrics>();
        app.MapPrometheusScrapingEndpoint("/metrics");
        return app;
    }
}
