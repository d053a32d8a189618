using GeoLogistics.Bench.Harness;

namespace GeoLogistics.Bench.Scenarios;

/// <summary>
/// SPEC §12 "concurrent WebSocket connections held": N idle sockets, each subscribed to <c>orders</c>, on our server
/// and then on the bare broadcaster; memory per connection from VmRSS before and after, each read after a settle. The
/// sockets open in two steps (a third, then the rest), with VmRSS read between, so the table also shows what one more
/// connection adds apart from what the server grows by once when sockets start to open.
/// </summary>
public sealed class ConnectionsScenario : IScenario
{
    public string Name => "connections";

    public string Summary =>
        "N idle WebSockets subscribed to orders on our server and on the bare broadcaster; memory per connection (VmRSS delta ÷ N), time to open them.";

    public IReadOnlyList<BenchOption> Options { get; } =
    [
        .. BenchStore.Options,
        .. ServerProcess.Options,
        .. LiveTarget.Options,
        LiveTarget.PlainSignalR,
        new("connections", "idle sockets to open", "5000"),
        RealtimeSetup.OpenConcurrency,
        LiveLoad.Settle("3"),
    ];

    public async Task<int> RunAsync(BenchArgs args, CancellationToken ct)
    {
        var n = args.Int("connections", 1, 1_000_000);
        var shape = new LoadShape(n, Orders: 0, Rate: 1, Concurrency: 1, args.Int("open-concurrency", 1, 10_000),
            TimeSpan.FromSeconds(args.Int("settle", 0, 600)), TimeSpan.Zero)
        { InTwoSteps = true };
        var results = await LiveLoad.RunSidesAsync(args, shape, "ready", ct);
        LiveLoad.Print($"connections: {n} idle sockets subscribed to orders", results);

        var server = results.FirstOrDefault(r => r.Side == "server");
        var broadcaster = results.FirstOrDefault(r => r.Side == "broadcaster");
        if (server is not null)
        {
            Report.Target("15,000 subscribed connections held", n >= 15_000 ? server.StillOpen == n : null,
                $"{server.StillOpen} of {n} open after the settle{(n < 15_000 ? "; the target's size is 15,000" : "")}");
            Report.Target("idle memory ≤ 8 KiB per connection", server.IdleKiBPerConnection is { } kib ? kib <= 8 : null,
                $"{server.IdleKiBPerConnection:0.00} KiB");
            if (server.AddedKiBPerConnection is { } added)
            {
                Console.WriteLine($"  (per connection added between {shape.FirstStep} and {n} sockets: {added:0.00} KiB; the target counts every byte the server grew by)");
            }
            Report.Target("idle memory ≤ the broadcaster's", broadcaster?.IdleKiBPerConnection is { } reference && server.IdleKiBPerConnection is { } ours
                ? ours <= reference : null, $"{server.IdleKiBPerConnection:0.00} vs {broadcaster?.IdleKiBPerConnection:0.00} KiB");
        }
        LiveLoad.AdapterTargets(results);
        return 0;
    }
}
