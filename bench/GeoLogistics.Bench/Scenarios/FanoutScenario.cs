using System.Diagnostics;
using System.Net;
using GeoLogistics.Bench.Harness;

namespace GeoLogistics.Bench.Scenarios;

/// <summary>
/// SPEC §12 "fan-out: one event to 10,000 subscribers": N admin sockets on <c>orders</c>; M orders created one at a
/// time over REST, a fixed interval apart; each subscriber stamps each <c>order.created</c>. Latency is receipt −
/// the moment just before the POST was sent.
/// </summary>
public sealed class FanoutScenario : IScenario
{
    public string Name => "fanout";

    public string Summary => "N subscribers on orders, M orders created one at a time; order.created delivery latency and messages/s.";

    public IReadOnlyList<BenchOption> Options { get; } =
    [
        .. BenchStore.Options,
        .. ServerProcess.Options,
        new("subscribers", "sockets subscribed to orders (one admin token)", "2000"),
        new("orders", "orders created, one at a time", "50"),
        new("interval", "milliseconds between order POSTs", "100"),
        RealtimeSetup.OpenConcurrency,
        new("wait", "seconds to wait for the last deliveries after the last POST", "10"),
    ];

    public async Task<int> RunAsync(BenchArgs args, CancellationToken ct)
    {
        var n = args.Int("subscribers", 1, 1_000_000);
        var m = args.Int("orders", 1, 1_000_000);
        var interval = TimeSpan.FromMilliseconds(args.Int("interval", 0, 60_000));
        var concurrency = args.Int("open-concurrency", 1, 10_000);
        var wait = TimeSpan.FromSeconds(args.Int("wait", 1, 600));

        await using var store = await BenchStore.CreateAsync(args, ct);
        await using var server = await ServerProcess.StartAsync(args, store, ct);
        Console.WriteLine($"== server pid {server.Pid} on {server.Address}, store {store.Kind}");
        using var api = new Api(server.Address);
        var (adminToken, _) = await api.LoginAsync(server.AdminEmail, server.AdminPassword, ct);
        var dispatcherToken = await RealtimeSetup.DispatcherAsync(api, adminToken, ct);

        Console.WriteLine($"== opening {n} subscribers");
        var (clients, took) = await RealtimeSetup.OpenAsync(server.Address, adminToken, n, "orders", concurrency, ct);
        try
        {
            // Each subscriber's loop is sequential: its own list needs no lock.
            var receipts = new List<(string OrderId, long At)>[n];
            var others = new long[n];
            var delivered = new long[1];
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var loops = new List<Task<System.Net.WebSockets.WebSocketCloseStatus?>>(n);
            for (var i = 0; i < n; i++)
            {
                var mine = receipts[i] = new List<(string, long)>(m);
                var index = i;
                loops.Add(clients[i].RunAsync((msg, at) =>
                {
                    if (msg.Type == "order.created" && msg.OrderId is { } id)
                    {
                        mine.Add((id, at));
                        Interlocked.Increment(ref delivered[0]);
                    }
                    else
                    {
                        others[index]++;
                    }
                }, stop.Token));
            }

            Console.WriteLine($"== measuring: {m} orders, {interval.TotalMilliseconds:0} ms apart");
            var random = new Random(1);
            var sentAt = new Dictionary<string, long>(m);
            var cpuBefore = server.ReadUsage().CpuSeconds ?? double.NaN;
            var machineBefore = MachineCpu.Read();
            var firstSend = Stopwatch.GetTimestamp();
            var postMs = new List<double>(m);
            for (var k = 0; k < m; k++)
            {
                var due = firstSend + (long)(k * interval.TotalSeconds * Stopwatch.Frequency);
                if (due - Stopwatch.GetTimestamp() is var w and > 0)
                {
                    await Task.Delay(TimeSpan.FromSeconds((double)w / Stopwatch.Frequency), ct);
                }
                var sent = Stopwatch.GetTimestamp();
                var response = await api.SendAsync(HttpMethod.Post, "/api/orders", dispatcherToken, RealtimeSetup.Order(random), ct);
                postMs.Add(ProcStatus.Ms(sent, response.ReceivedAt));
                if (response.Status != HttpStatusCode.Created)
                {
                    throw new BenchException($"POST /api/orders answered {(int)response.Status}");
                }
                sentAt[response.Body.GetProperty("id").GetString()!] = sent;
            }
            var expected = (long)n * m;
            var deadline = Stopwatch.StartNew();
            while (Interlocked.Read(ref delivered[0]) < expected && deadline.Elapsed < wait)
            {
                server.EnsureRunning();
                await Task.Delay(50, ct);
            }
            var cpuAfter = server.ReadUsage().CpuSeconds ?? double.NaN;
            var machineAfter = MachineCpu.Read();
            await stop.CancelAsync();
            var closes = await Task.WhenAll(loops);
            var usage = server.ReadUsage();

            var latencies = new List<double>((int)Math.Min(expected, int.MaxValue));
            long lastReceipt = firstSend;
            var lastPerOrder = new Dictionary<string, long>(m);
            var countPerOrder = new Dictionary<string, int>(m);
            foreach (var list in receipts)
            {
                foreach (var (id, at) in list)
                {
                    if (!sentAt.TryGetValue(id, out var sent))
                    {
                        continue;
                    }
                    latencies.Add(ProcStatus.Ms(sent, at));
                    lastReceipt = Math.Max(lastReceipt, at);
                    lastPerOrder[id] = Math.Max(lastPerOrder.GetValueOrDefault(id), at);
                    countPerOrder[id] = countPerOrder.GetValueOrDefault(id) + 1;
                }
            }
            latencies.Sort();
            // Per event: subscribers reached ÷ (last receipt − POST sent): the fan-out rate of one event on its own.
            var perEventRate = RealtimeSetup.Sorted(sentAt.Where(kv => lastPerOrder.ContainsKey(kv.Key))
                .Select(kv => countPerOrder[kv.Key] / (ProcStatus.Ms(kv.Value, lastPerOrder[kv.Key]) / 1000)));
            var span = ProcStatus.Ms(firstSend, lastReceipt) / 1000;

            var report = new Report();
            report.Add("store", store.Kind);
            report.Add("subscribers", $"{n} (opened in {took.TotalSeconds:0.0} s)");
            report.Add("orders", $"{m}, {interval.TotalMilliseconds:0} ms apart");
            report.Add("order.created delivered", $"{latencies.Count} of {expected} expected ({expected - latencies.Count} missing)");
            report.Add("other messages received", $"{others.Sum()}");
            report.Add("sockets closed by server", $"{closes.Count(c => c is not null)}");
            report.Add("messages/s over the burst", $"{latencies.Count / span:0} (first POST → last receipt {span:0.00} s)");
            report.Add("per-event fan-out rate p50 / min", perEventRate.Count == 0 ? "n/a" : $"{Stats.Percentile(perEventRate, 50):0} / {perEventRate[0]:0} messages/s (subscribers ÷ (last receipt − POST sent))");
            report.Add("latency POST sent → received p50/p95/p99/max", Stats.Latencies(latencies));
            report.Add("POST /api/orders p50/p95/p99/max", Stats.Latencies(RealtimeSetup.Sorted(postMs)));
            report.Add("server CPU in measured phase", $"{cpuAfter - cpuBefore:0.0} s over {span:0.0} s");
            report.Add("machine busy in measured phase", $"{MachineCpu.BusyShare(machineBefore, machineAfter):P0} of {Environment.ProcessorCount} cores");
            report.Add("server peak working set", usage.PeakWorkingSetKiB is { } kib ? $"{kib / 1024.0:0} MiB (VmHWM)" : "n/a");
            var (warnings, errors, _) = server.LogSummary;
            report.Add("server log", $"{warnings} warnings, {errors} errors");
            Console.WriteLine();
            Console.WriteLine("== fanout results");
            report.Print();
            return 0;
        }
        finally
        {
            RealtimeSetup.Close(clients);
        }
    }
}
