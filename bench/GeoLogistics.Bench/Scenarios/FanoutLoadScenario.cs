using GeoLogistics.Bench.Harness;

namespace GeoLogistics.Bench.Scenarios;

/// <summary>
/// SPEC §12 "fan-out: 5,000 subscribers × 20 orders/s created over REST (100,000 messages/s)": N sockets on
/// <c>orders</c>, orders created at a steady rate for a while, on our server and then on the bare broadcaster under the
/// same load. The targets are ratios: our p99 ≤ the broadcaster's, our CPU ≤ 1.5× its, and every message delivered.
/// </summary>
public sealed class FanoutLoadScenario : IScenario
{
    public string Name => "fanout-load";

    public string Summary =>
        "N subscribers on orders, orders created at R/s for T s; delivery, p99 and CPU of our server against the bare broadcaster under the same load.";

    public IReadOnlyList<BenchOption> Options { get; } =
    [
        .. BenchStore.Options,
        .. ServerProcess.Options,
        .. LiveTarget.Options,
        LiveTarget.PlainSignalR,
        new("subscribers", "sockets subscribed to orders (one admin token)", "5000"),
        new("rate", "target order creations per second", "20"),
        new("duration", "seconds of order creation", "20"),
        new("concurrency", "most order POSTs in flight at once", "16"),
        LiveLoad.DispatchWhen,
        RealtimeSetup.OpenConcurrency,
        LiveLoad.Settle("2"),
        new("wait", "seconds to wait for the last deliveries after the last POST is answered", "10"),
    ];

    public async Task<int> RunAsync(BenchArgs args, CancellationToken ct)
    {
        var n = args.Int("subscribers", 1, 1_000_000);
        var rate = args.Double("rate", 0.1, 100_000);
        var duration = args.Int("duration", 1, 3_600);
        var shape = new LoadShape(n, (int)Math.Max(1, Math.Round(rate * duration)), rate, args.Int("concurrency", 1, 10_000),
            args.Int("open-concurrency", 1, 10_000), TimeSpan.FromSeconds(args.Int("settle", 0, 600)), TimeSpan.FromSeconds(args.Int("wait", 1, 600)));
        var results = await LiveLoad.RunSidesAsync(args, shape, args.String("dispatch-when")!, ct);
        LiveLoad.Print($"fanout-load: {n} subscribers × {rate:0.#} orders/s for {duration} s ({n * rate:N0} messages/s offered)", results);

        var server = results.FirstOrDefault(r => r.Side == "server");
        var broadcaster = results.FirstOrDefault(r => r.Side == "broadcaster");
        if (server is not null)
        {
            Report.Target("every message delivered", server.AllDelivered,
                $"{server.Each.Count} of {server.Expected}; orders achieved {server.AchievedRate:0.#}/s of {rate:0.#}/s offered");
            Report.Target("p99 create→received ≤ the broadcaster's", broadcaster is null ? null : server.P99 <= broadcaster.P99,
                $"{server.P99:0.0} vs {broadcaster?.P99:0.0} ms");
            Report.Target("server CPU ≤ 1.5× the broadcaster's", broadcaster is null ? null : server.Cpu <= 1.5 * broadcaster.Cpu,
                $"{server.Cpu:0.0} vs {broadcaster?.Cpu:0.0} CPU-seconds");
        }
        LiveLoad.AdapterTargets(results);
        return 0;
    }
}
