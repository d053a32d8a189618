using System.Globalization;
using System.Net.Http.Json;
using System.Text.RegularExpressions;
using GeoLogistics.Server.Nodes;
using GeoLogistics.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace GeoLogistics.Tests.Ops;

/// <summary>
/// /metrics (SPEC §10): Prometheus text from the OpenTelemetry instruments, figures that move with the work. Alone:
/// a meter provider listens to every meter of its name in the process, and other tests' servers run in this one.
/// </summary>
[Collection(RunsAlone.Name)]
public partial class MetricsTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [GeneratedRegex(@"^(?<name>[a-z_]+)(\{(?<labels>[^}]*)\})? (?<value>\S+)$", RegexOptions.Multiline)]
    private static partial Regex Sample();

    /// <summary>The sum of the samples named <paramref name="name"/> whose labels contain every one of <paramref name="labels"/>.</summary>
    private static double? Value(string scrape, string name, params string[] labels)
    {
        double? sum = null;
        foreach (Match m in Sample().Matches(scrape))
        {
            if (m.Groups["name"].Value == name && labels.All(l => m.Groups["labels"].Value.Contains(l, StringComparison.Ordinal)))
            {
                sum = (sum ?? 0) + double.Parse(m.Groups["value"].Value, CultureInfo.InvariantCulture);
            }
        }
        return sum;
    }

    [Fact]
    public async Task Metrics_show_connections_messages_dispatch_http_and_the_node_and_they_move()
    {
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?> { ["Dispatch:Enabled"] = "true", ["Node:Name"] = "node-under-test" });
        var scraper = app.CreateClient();
        var before = await scraper.GetStringAsync("/metrics", Ct);

        await using var client = await WsClient.ConnectAsync(app.ServerUri, await app.TokenForAsync("dispatcher@demo.test"), Ct);
        await client.NextAsync("connection_ack");
        await client.SendAsync(new { type = "subscribe", topic = "orders" }, Ct);
        await client.NextAsync("subscribed");
        // No driver is online: dispatch tries the order and records that it found none.
        var created = await (await app.DispatcherAsync()).PostAsJsonAsync("/api/orders", HttpTestExtensions.NewOrder(), Ct);
        created.EnsureSuccessStatusCode();
        await client.NextAsync("order.dispatch_failed");
        // A session counts a message once its write returned, which may be a moment after the client has it.
        var after = await scraper.GetStringAsync("/metrics", Ct);
        using (var patience = new CancellationTokenSource(TimeSpan.FromSeconds(10)))
        {
            while (Value(after, "geologistics_live_messages_out_total") < 4)
            {
                await Task.Delay(50, patience.Token);
                after = await scraper.GetStringAsync("/metrics", Ct);
            }
        }

        Assert.Contains("service_instance_id=\"node-under-test\"", after, StringComparison.Ordinal);
        Assert.Equal("node-under-test", app.Services.GetRequiredService<NodeIdentity>().Name);
        Assert.Null(Value(before, "geologistics_live_connections"));
        Assert.Equal(1, Value(after, "geologistics_live_connections", "protocol=\"json\""));
        Assert.Equal(1, Value(after, "geologistics_live_subscriptions", "topic=\"orders\""));
        Assert.True(Value(after, "geologistics_live_messages_out_total") >= 4, "ack, subscribed, order.created, order.dispatch_failed");
        Assert.Equal(1, Value(after, "geologistics_live_messages_in_total"));
        Assert.True(Value(after, "geologistics_dispatch_attempts_total", "outcome=\"no_driver\"") >= 1);
        Assert.True(Value(after, "geologistics_dispatch_duration_seconds_count", "outcome=\"no_driver\"") >= 1);
        Assert.True(Value(after, "geologistics_events_head") > Value(before, "geologistics_events_head"));
        Assert.Equal(1, Value(after, "http_server_request_duration_seconds_count", "http_request_method=\"POST\"", "http_route=\"/api/orders", "http_response_status_code=\"201\""));
        Assert.NotNull(Value(after, "kestrel_active_connections"));
        Assert.NotNull(Value(after, "dotnet_gc_heap_total_allocated_bytes_total"));
    }
}
