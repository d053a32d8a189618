using GeoLogistics.Bench.Harness;

namespace GeoLogistics.Bench.Scenarios;

/// <summary>
/// SPEC §12 "fan-out: one event to 10,000 subscribers": N sockets on <c>orders</c>; M orders created one at a time, a
/// fixed interval apart; each subscriber stamps each <c>order.created</c>. Latency is receipt − the moment just before
/// the POST was sent. Then the same on the bare broadcaster, for reference.
/// </summary>
public sealed class FanoutScenario : IScenario
{
    public string Name => "fanout";

    public string Summary =>
        "N subscribers on orders, M orders created one at a time; order.created delivery latency and messages/s, our server and the bare broadcaster.";

    public IReadOnlyList<BenchOption> Options { get; } =
    [
        .. BenchStore.Options,
        .. ServerProcess.Options,
        .. LiveTarget.Options,
        new("subscribers", "sockets subscribed to orders (one admin token)", "2000"),
        new("orders", "orders created", "50"),
        new("interval", "milliseconds between order POSTs", "100"),
        new("concurrency", "most order POSTs in flight at once (1: one at a time)", "1"),
        LiveLoad.DispatchWhen,
        RealtimeSetup.OpenConcurrency,
        LiveLoad.Settle("2"),
        new("wait", "seconds to wait for the last deliveries after the last POST is answered", "10"),
    ];

    public async Task<int> RunAsync(BenchArgs args, CancellationToken ct)
    {
        var n = args.Int("subscribers", 1, 1_000_000);
        var interval = args.Int("interval", 0, 60_000);
        var shape = new LoadShape(n, args.Int("orders", 1, 1_000_000), interval == 0 ? 1_000_000 : 1000.0 / interval,
            args.Int("concurrency", 1, 10_000), args.Int("open-concurrency", 1, 10_000),
            TimeSpan.FromSeconds(args.Int("settle", 0, 600)), TimeSpan.FromSeconds(args.Int("wait", 1, 600)));
        var results = await LiveLoad.RunSidesAsync(args, shape, args.String("dispatch-when")!, ct);
        LiveLoad.Print($"fanout: {n} subscribers, {shape.Orders} orders {interval} ms apart", results);

        var server = results.FirstOrDefault(r => r.Side == "server");
        var broadcaster = results.FirstOrDefault(r => r.Side == "broadcaster");
        if (server is not null)
        {
            var size = n >= 10_000;
            Report.Target("one event to 10,000 subscribers, p99 ≤ 100 ms", size ? server.AllDelivered && server.P99 <= 100 : null,
                $"p99 {server.P99:0.0} ms at {n} subscribers{(size ? "" : " (the target's size is 10,000)")}, {server.Each.Count} of {server.Expected} delivered");
            var rate = server.PerEventRate.Count > 0 ? Stats.Percentile(server.PerEventRate, 50) : double.NaN;
            Report.Target("≥ 200,000 messages/s per event", size ? rate >= 200_000 : null, $"per-event fan-out p50 {rate:N0} messages/s");
            if (broadcaster is not null)
            {
                Report.Target("p99 ≤ the broadcaster's (reference)", server.P99 <= broadcaster.P99, $"{server.P99:0.0} vs {broadcaster.P99:0.0} ms");
            }
        }
        LiveLoad.AdapterTargets(results);
        return 0;
    }
}
