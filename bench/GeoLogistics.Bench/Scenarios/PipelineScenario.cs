using System.Diagnostics;
using System.Net;
using GeoLogistics.Bench.Harness;

namespace GeoLogistics.Bench.Scenarios;

/// <summary>
/// SPEC §12 "order created → subscriber has it, at 200 orders/s with 1,000 dashboards": D admin sockets on
/// <c>orders</c>; orders created at a target rate for a fixed time; per order, the time from just before its POST
/// until the last dashboard has its <c>order.created</c>.
/// </summary>
public sealed class PipelineScenario : IScenario
{
    public string Name => "pipeline";

    public string Summary => "D dashboards on orders, orders created at R/s for T s; created → every dashboard has it.";

    public IReadOnlyList<BenchOption> Options { get; } =
    [
        .. BenchStore.Options,
        .. ServerProcess.Options,
        new("dashboards", "sockets subscribed to orders (one admin token)", "200"),
        new("rate", "target order creations per second", "100"),
        new("duration", "seconds of order creation", "10"),
        new("concurrency", "most order POSTs in flight at once", "64"),
        RealtimeSetup.OpenConcurrency,
        new("wait", "seconds to wait for the last deliveries after the last POST is answered", "10"),
    ];

    public async Task<int> RunAsync(BenchArgs args, CancellationToken ct)
    {
        var d = args.Int("dashboards", 1, 1_000_000);
        var rate = args.Double("rate", 0.1, 100_000);
        var duration = args.Int("duration", 1, 3_600);
        var concurrency = args.Int("concurrency", 1, 10_000);
        var openConcurrency = args.Int("open-concurrency", 1, 10_000);
        var wait = TimeSpan.FromSeconds(args.Int("wait", 1, 600));
        var m = (int)Math.Max(1, Math.Round(rate * duration));

        await using var store = await BenchStore.CreateAsync(args, ct);
        await using var server = await ServerProcess.StartAsync(args, store, ct);
        Console.WriteLine($"== server pid {server.Pid} on {server.Address}, store {store.Kind}");
        using var api = new Api(server.Address);
        var (adminToken, _) = await api.LoginAsync(server.AdminEmail, server.AdminPassword, ct);
        var dispatcherToken = await RealtimeSetup.DispatcherAsync(api, adminToken, ct);

        Console.WriteLine($"== opening {d} dashboards");
        var (clients, took) = await RealtimeSetup.OpenAsync(server.Address, adminToken, d, "orders", openConcurrency, ct);
        try
        {
            var receipts = new List<(string OrderId, long At)>[d];
            var delivered = new long[1];
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var loops = new List<Task<System.Net.WebSockets.WebSocketCloseStatus?>>(d);
            for (var i = 0; i < d; i++)
            {
                var mine = receipts[i] = new List<(string, long)>(m);
                loops.Add(clients[i].RunAsync((msg, at) =>
                {
                    if (msg.Type == "order.created" && msg.OrderId is { } id)
                    {
                        mine.Add((id, at));
                        Interlocked.Increment(ref delivered[0]);
                    }
                }, stop.Token));
            }

            Console.WriteLine($"== measuring: {m} orders at {rate:0}/s, at most {concurrency} in flight");
            var sent = new long[m];
            var ids = new string?[m];
            var postMs = new double[m];
            var statuses = new int[m];
            using var gate = new SemaphoreSlim(concurrency);
            var posts = new List<Task>(m);
            var random = new Random(1);
            var bodies = Enumerable.Range(0, m).Select(_ => RealtimeSetup.Order(random)).ToArray();

            async Task PostAsync(int i)
            {
                try
                {
                    sent[i] = Stopwatch.GetTimestamp();
                    var response = await api.SendAsync(HttpMethod.Post, "/api/orders", dispatcherToken, bodies[i], ct);
                    postMs[i] = ProcStatus.Ms(sent[i], response.ReceivedAt);
                    statuses[i] = (int)response.Status;
                    if (response.Status == HttpStatusCode.Created)
                    {
                        ids[i] = response.Body.GetProperty("id").GetString();
                    }
                }
                catch (HttpRequestException)
                {
                    statuses[i] = -1;
                }
                finally
                {
                    gate.Release();
                }
            }

            var cpuBefore = server.ReadUsage().CpuSeconds ?? double.NaN;
            var machineBefore = MachineCpu.Read();
            var start = Stopwatch.GetTimestamp();
            var intervalTicks = Stopwatch.Frequency / rate;
            for (var i = 0; i < m; i++)
            {
                var due = start + (long)(i * intervalTicks);
                if (due - Stopwatch.GetTimestamp() is var w and > 0)
                {
                    await Task.Delay(TimeSpan.FromSeconds((double)w / Stopwatch.Frequency), ct);
                }
                await gate.WaitAsync(ct);
                posts.Add(PostAsync(i));
            }
            await Task.WhenAll(posts);
            var postingTook = ProcStatus.Ms(start, Stopwatch.GetTimestamp()) / 1000;
            var created = statuses.Count(s => s == (int)HttpStatusCode.Created);
            var expected = (long)created * d;
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

            var index = new Dictionary<string, int>(m);
            for (var i = 0; i < m; i++)
            {
                if (ids[i] is { } id)
                {
                    index[id] = i;
                }
            }
            var lastAt = new long[m];
            var reached = new int[m];
            var each = new List<double>();
            foreach (var list in receipts)
            {
                foreach (var (id, at) in list)
                {
                    if (index.TryGetValue(id, out var i))
                    {
                        lastAt[i] = Math.Max(lastAt[i], at);
                        reached[i]++;
                        each.Add(ProcStatus.Ms(sent[i], at));
                    }
                }
            }
            each.Sort();
            var complete = RealtimeSetup.Sorted(Enumerable.Range(0, m).Where(i => ids[i] is not null && reached[i] == d)
                .Select(i => ProcStatus.Ms(sent[i], lastAt[i])));

            var report = new Report();
            report.Add("store", store.Kind);
            report.Add("dashboards", $"{d} (opened in {took.TotalSeconds:0.0} s)");
            report.Add("orders", $"{m} posted, {created} answered 201");
            report.Add("order rate", $"target {rate:0}/s, achieved {m / postingTook:0}/s (concurrency {concurrency})");
            report.Add("orders every dashboard got", $"{complete.Count} of {created}");
            report.Add("deliveries", $"{each.Count} of {expected} expected");
            report.Add("sockets closed by server", $"{closes.Count(c => c is not null)}");
            report.Add("created → every dashboard p50/p95/p99/max", Stats.Latencies(complete));
            report.Add("created → one dashboard p50/p95/p99/max", Stats.Latencies(each));
            report.Add("POST /api/orders p50/p95/p99/max", Stats.Latencies(RealtimeSetup.Sorted(postMs.Where((_, i) => statuses[i] != 0))));
            var span = ProcStatus.Ms(start, Stopwatch.GetTimestamp()) / 1000;
            report.Add("server CPU in measured phase", $"{cpuAfter - cpuBefore:0.0} s");
            report.Add("machine busy in measured phase", $"{MachineCpu.BusyShare(machineBefore, machineAfter):P0} of {Environment.ProcessorCount} cores");
            report.Add("server peak working set", usage.PeakWorkingSetKiB is { } kib ? $"{kib / 1024.0:0} MiB (VmHWM)" : "n/a");
            var (warnings, errors, _) = server.LogSummary;
            report.Add("server log", $"{warnings} warnings, {errors} errors");
            Console.WriteLine();
            Console.WriteLine("== pipeline results");
            report.Print();
            _ = span;
            return 0;
        }
        finally
        {
            RealtimeSetup.Close(clients);
        }
    }
}
