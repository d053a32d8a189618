using GeoLogistics.Bench.Harness;

namespace GeoLogistics.Bench.Scenarios;

/// <summary>
/// SPEC §12 "order created → subscriber has it, at 200 orders/s with 1,000 dashboards" (SQLite and PostgreSQL): D admin
/// sockets on <c>orders</c>; orders created at a target rate for a fixed time; per order, the time from just before its
/// POST until the last dashboard has its <c>order.created</c>.
/// </summary>
public sealed class PipelineScenario : IScenario
{
    public string Name => "pipeline";

    public string Summary => "D dashboards on orders, orders created at R/s for T s; created → every dashboard has it.";

    public IReadOnlyList<BenchOption> Options { get; } =
    [
        .. BenchStore.Options,
        .. ServerProcess.Options,
        new("only", "server, broadcaster, or both (the bare broadcaster under the same load, for reference)", "server"),
        new("zero-byte-reads", "the broadcaster waits on each idle socket with a zero-byte read instead of holding a 4 KiB buffer", IsFlag: true),
        Subscribers.Option,
        new("dashboards", "sockets subscribed to orders (one admin token)", "200"),
        new("rate", "target order creations per second", "100"),
        new("duration", "seconds of order creation", "10"),
        new("concurrency", "most order POSTs in flight at once", "64"),
        new("dispatch-when", "the orders' dispatchWhen: created (dispatched; with no drivers, order.dispatch_failed follows) or ready", "created"),
        RealtimeSetup.OpenConcurrency,
        LiveLoad.Settle("2"),
        new("wait", "seconds to wait for the last deliveries after the last POST is answered", "10"),
    ];

    public async Task<int> RunAsync(BenchArgs args, CancellationToken ct)
    {
        var d = args.Int("dashboards", 1, 1_000_000);
        var rate = args.Double("rate", 0.1, 100_000);
        var duration = args.Int("duration", 1, 3_600);
        var shape = new LoadShape(d, (int)Math.Max(1, Math.Round(rate * duration)), rate, args.Int("concurrency", 1, 10_000),
            args.Int("open-concurrency", 1, 10_000), TimeSpan.FromSeconds(args.Int("settle", 0, 600)), TimeSpan.FromSeconds(args.Int("wait", 1, 600)));
        var results = await LiveLoad.RunSidesAsync(args, shape, args.String("dispatch-when")!, ct);
        LiveLoad.Print($"pipeline: {d} dashboards, {rate:0.#} orders/s for {duration} s", results);

        if (results.FirstOrDefault(r => r.Side == "server") is { } server)
        {
            var p99 = Stats.Percentile(server.Complete, 99);
            // The size is what was offered: a server that cannot keep 200/s up has not met the target.
            var size = d >= 1_000 && rate >= 200;
            Report.Target("200 orders/s, 1,000 dashboards: p99 created → every dashboard ≤ 50 ms",
                size ? server.Complete.Count == server.Created && p99 <= 50 : null,
                $"p99 {p99:0.0} ms over {server.Complete.Count} of {server.Created} orders, {rate:0}/s offered, {server.AchievedRate:0}/s achieved, {d} dashboards");
        }
        LiveLoad.AdapterTargets(results);
        return 0;
    }
}
