using System.Diagnostics;
using System.Net;
using GeoLogistics.Bench.Harness;

namespace GeoLogistics.Bench.Scenarios;

/// <summary>
/// SPEC §12 "replay after reconnect: ≥ 100,000 events/s streamed to a catching-up client": the log is seeded with N
/// events by creating orders over REST; then a fresh socket subscribes to <c>orders</c> with <c>since: 0</c> and reads
/// the whole log up to <c>subscribed</c>. Rate = events replayed ÷ (subscribed received − subscribe sent).
/// </summary>
public sealed class ReplayScenario : IScenario
{
    public string Name => "replay";

    public string Summary => "The log seeded with N events by creating orders; a client subscribes with since: 0 and catches up; events/s.";

    public IReadOnlyList<BenchOption> Options { get; } =
    [
        .. BenchStore.Options,
        .. ServerProcess.Options,
        new("events", "events in the log before the replays (orders are created until the log's head reaches this)", "20000"),
        new("seed-concurrency", "most order POSTs in flight while seeding", "32"),
        new("repeat", "replays, one after the other, each on a fresh socket", "3"),
        new("dispatch-when", "the orders' dispatchWhen: ready (one event per order, and the log stands still) or created (with no drivers, dispatch_failed events follow, also later, from the sweep)", "ready"),
    ];

    public async Task<int> RunAsync(BenchArgs args, CancellationToken ct)
    {
        var events = args.Int("events", 1, 100_000_000);
        var seedConcurrency = args.Int("seed-concurrency", 1, 1_000);
        var repeat = args.Int("repeat", 1, 100);

        await using var target = await LiveTarget.StartServerAsync(args, args.String("dispatch-when")!, ct);
        var server = target.Process;
        var (head, seedOrders, seedTook) = await SeedAsync(target, events, seedConcurrency, ct);

        var report = new Report();
        report.Add("log", $"{head} events (head seq), seeded by {seedOrders} orders in {seedTook.TotalSeconds:0.0} s");
        var rates = new List<double>(repeat);
        var replays = new List<(int Replay, List<long> Seqs, string Line)>(repeat);
        for (var r = 1; r <= repeat; r++)
        {
            using var client = await WsClient.ConnectAsync(server.Address, target.SocketToken, ct);
            var seqs = new List<long>((int)Math.Min(head + 1000, int.MaxValue));
            var firstAt = 0L;
            var cpuBefore = server.ReadUsage().CpuSeconds ?? double.NaN;
            var sent = Stopwatch.GetTimestamp();
            var subscribedAt = await client.ReplayAsync("orders", 0, (m, at) =>
            {
                if (m.Seq is not { } seq)
                {
                    return;
                }
                if (seqs.Count == 0)
                {
                    firstAt = at;
                }
                seqs.Add(seq);
            }, ct);
            var cpu = (server.ReadUsage().CpuSeconds ?? double.NaN) - cpuBefore;
            var seconds = ProcStatus.Ms(sent, subscribedAt) / 1000;
            rates.Add(seqs.Count / seconds);
            replays.Add((r, seqs, $"{seqs.Count} events in {seconds:0.000} s = {seqs.Count / seconds:N0} events/s; " +
                $"first after {ProcStatus.Ms(sent, firstAt):0.0} ms; server CPU {cpu:0.00} s"));
        }

        // Each replay must be the log as it was when it subscribed: every event up to its last, in seq order, none twice.
        var log = (await EventFollower.ReadAllAsync(target.Api, target.SocketToken, ct)).Where(e => e.Type.StartsWith("order.", StringComparison.Ordinal))
            .Select(e => e.Seq).ToList();
        var exit = 0;
        foreach (var (r, seqs, line) in replays)
        {
            var last = seqs.Count > 0 ? seqs[^1] : 0;
            var complete = seqs.Count >= head && seqs.SequenceEqual(log.TakeWhile(s => s <= last));
            exit = complete ? exit : 3;
            report.Add($"replay {r}", $"{line}; {(complete ? "the whole log, in seq order" : $"NOT the log up to seq {last} in order")}");
        }
        rates.Sort();
        report.Add("events/s median / best", $"{Stats.Percentile(rates, 50):N0} / {rates[^1]:N0}");
        var (warnings, errors, _) = server.LogSummary;
        report.Add("server log", $"{warnings} warnings, {errors} errors");
        Console.WriteLine();
        Console.WriteLine("== replay results");
        report.Print();
        Report.Target("≥ 100,000 events/s to a catching-up client", exit == 0 ? Stats.Percentile(rates, 50) >= 100_000 : false,
            $"median {Stats.Percentile(rates, 50):N0} events/s over {head} events");
        return exit;
    }

    /// <summary>Creates orders until the log's head reaches <paramref name="events"/> and stops moving; returns the head.</summary>
    private static async Task<(long Head, int Orders, TimeSpan Took)> SeedAsync(LiveTarget target, int events, int concurrency, CancellationToken ct)
    {
        var watch = Stopwatch.StartNew();
        var random = new Random(1);
        var head = 0L;
        var orders = 0;
        Console.WriteLine($"== seeding the log with {events} events ({concurrency} order POSTs in flight)");
        while (head < events)
        {
            var batch = Enumerable.Range(0, 500).Select(_ => RealtimeSetup.Order(random)).ToArray();
            var parallel = new ParallelOptions { MaxDegreeOfParallelism = concurrency, CancellationToken = ct };
            await Parallel.ForEachAsync(batch, parallel, async (order, token) =>
            {
                var posted = await target.CreateOrderAsync(order, token);
                if (posted.OrderId is null)
                {
                    throw new BenchException($"POST /api/orders answered {posted.Status} while seeding.");
                }
            });
            orders += batch.Length;
            head = await HeadAsync(target, ct);
            Console.WriteLine($"   {orders} orders, head seq {head}, after {watch.Elapsed.TotalSeconds:0.0} s");
        }
        // Dispatch attempts log after the POSTs are answered: wait until the log stops growing.
        for (var last = -1L; last != head;)
        {
            last = head;
            await Task.Delay(1000, ct);
            head = await HeadAsync(target, ct);
        }
        return (head, orders, watch.Elapsed);
    }

    private static async Task<long> HeadAsync(LiveTarget target, CancellationToken ct) =>
        (await target.Api.CallAsync(HttpMethod.Get, "/api/ws/stats", target.SocketToken, null, HttpStatusCode.OK, ct)).GetProperty("headSeq").GetInt64();
}
