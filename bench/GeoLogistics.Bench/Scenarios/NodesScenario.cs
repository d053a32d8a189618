using System.Diagnostics;
using System.Net;
using System.Net.WebSockets;
using System.Text.Json;
using GeoLogistics.Bench.Harness;

namespace GeoLogistics.Bench.Scenarios;

/// <summary>
/// SPEC §12 "several nodes": two server processes, nodes A and B, on one PostgreSQL database and (with --redis) one
/// Redis. Events: orders created on A at a steady rate, with subscribers of <c>orders</c> on B and, for reference in
/// the same run, on A; POST sent → <c>order.created</c> received, every order to every subscriber, in seq order.
/// Positions: drivers at H Hz over their own sockets, half on A and half on B, and maps (<c>drivers</c>) on both
/// nodes; ingest per node, positions per map, and send → map latency for each pair of nodes.
/// </summary>
public sealed class NodesScenario : IScenario
{
    public string Name => "nodes";

    public string Summary => "Two nodes on one PostgreSQL (and Redis): orders created on A reach subscribers on B; drivers on both nodes reach maps on both.";

    public IReadOnlyList<BenchOption> Options { get; } =
    [
        .. BenchStore.Options,
        .. ServerProcess.Options,
        new("redis", "host:port of the Redis both nodes share (their Redis__Configuration, with a key prefix of this run's own); without it each node is alone for volatile messages"),
        new("subscribers", "admin sockets on orders on each node", "100"),
        new("rate", "orders created per second on node A (0: no events phase)", "50"),
        new("duration", "seconds of each phase", "20"),
        new("drivers", "drivers sending positions, half on each node (0: no positions phase)", "5000"),
        new("hz", "positions per second per driver", "1"),
        new("maps", "admin sockets on drivers on each node", "2"),
        new("setup-concurrency", "most setup requests in flight at once", "32"),
        RealtimeSetup.OpenConcurrency,
        new("wait", "seconds to wait for the last deliveries after a phase", "5"),
    ];

    private static readonly string[] NodeNames = ["A", "B"];

    public async Task<int> RunAsync(BenchArgs args, CancellationToken ct)
    {
        var subscribers = args.Int("subscribers", 1, 100_000);
        var rate = args.Double("rate", 0, 10_000);
        var duration = TimeSpan.FromSeconds(args.Int("duration", 1, 600));
        var driverCount = args.Int("drivers", 0, 100_000);
        var hz = args.Double("hz", 0.01, 100);
        var maps = args.Int("maps", 1, 1_000);
        var wait = TimeSpan.FromSeconds(args.Int("wait", 0, 600));
        var redis = args.String("redis");

        await using var store = await BenchStore.CreateAsync(args, ct);
        if (store.Kind != "postgres")
        {
            throw new BenchException("nodes needs --postgres: the two nodes share one PostgreSQL database.");
        }
        // A key prefix of this run's own: positions an earlier run left in Redis are not this run's drivers.
        var prefix = $"bench-{ServerProcess.RandomText(6)}:";
        Dictionary<string, string> Settings(string node) => redis is null
            ? new() { ["Node__Name"] = node }
            : new() { ["Node__Name"] = node, ["Redis__Configuration"] = redis, ["Redis__KeyPrefix"] = prefix };
        await using var a = await ServerProcess.StartAsync(args, store, "node A", null, Settings("A"), ct);
        await using var b = await ServerProcess.StartAsync(args, store, "node B", a, Settings("B"), ct);
        ServerProcess[] nodes = [a, b];
        Console.WriteLine($"== node A pid {a.Pid} on {a.Address}, node B pid {b.Pid} on {b.Address}, store postgres, {(redis is null ? "no Redis" : $"Redis {redis} (prefix {prefix})")}");
        using var apiA = new Api(a.Address);
        using var apiB = new Api(b.Address);
        Api[] apis = [apiA, apiB];
        var (adminToken, _) = await apiA.LoginAsync(a.AdminEmail, a.AdminPassword, ct);
        await apiB.CallAsync(HttpMethod.Get, "/api/me", adminToken, null, HttpStatusCode.OK, ct);

        var events = rate > 0 ? await EventsAsync(args, nodes, apis, adminToken, subscribers, rate, duration, wait, redis is not null, store, ct) : true;
        var positions = driverCount > 0 ? await PositionsAsync(args, nodes, apis, adminToken, driverCount, hz, duration, maps, wait, redis is not null, ct) : true;
        foreach (var node in nodes)
        {
            var (warnings, errors, firstErrors) = node.LogSummary;
            Console.WriteLine($"{node.Name} log: {warnings} warnings, {errors} errors{(firstErrors.Count > 0 ? "; first: " + firstErrors[0] : "")}");
        }
        Console.WriteLine($"load average now: {string.Join(' ', (await File.ReadAllTextAsync("/proc/loadavg", ct)).Split(' ').Take(3))}");
        return events && positions ? 0 : 1;
    }

    // ---- Events: created on A, received on A and on B ----

    private readonly record struct Receipt(Guid OrderId, long Seq, long At);

    private static async Task<bool> EventsAsync(
        BenchArgs args, ServerProcess[] nodes, Api[] apis, string adminToken, int subscribers, double rate, TimeSpan duration, TimeSpan wait,
        bool withRedis, BenchStore store, CancellationToken ct)
    {
        var openConcurrency = args.Int("open-concurrency", 1, 10_000);
        var dispatcherToken = await RealtimeSetup.DispatcherAsync(apis[0], adminToken, ct);
        var sockets = new WsClient[2][];
        var receipts = new List<Receipt>[2][];
        var delivered = new long[1];
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var loops = new List<Task<WebSocketCloseStatus?>>();
        try
        {
            for (var n = 0; n < 2; n++)
            {
                (sockets[n], var took) = await RealtimeSetup.OpenAsync(nodes[n].Address, adminToken, subscribers, "orders", openConcurrency, ct);
                Console.WriteLine($"== {subscribers} sockets on orders on {nodes[n].Name} in {took.TotalSeconds:0.0} s");
                receipts[n] = new List<Receipt>[subscribers];
                for (var i = 0; i < subscribers; i++)
                {
                    var mine = receipts[n][i] = [];
                    loops.Add(sockets[n][i].RunAsync((m, at) =>
                    {
                        if (m.Type == "order.created" && Guid.TryParse(m.OrderId, out var id))
                        {
                            mine.Add(new Receipt(id, m.Seq ?? 0, at));
                            Interlocked.Increment(ref delivered[0]);
                        }
                    }, stop.Token));
                }
            }
            // Warm-up, not counted: the first orders pay for compiling queries and the first uses of each path.
            var warmRandom = new Random(0);
            await Parallel.ForEachAsync(Enumerable.Range(0, 50), new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = ct }, async (_, token) =>
            {
                object body;
                lock (warmRandom)
                {
                    body = new { pickup = Point(warmRandom), dropoff = Point(warmRandom), dispatchWhen = "ready" };
                }
                await apis[0].CallAsync(HttpMethod.Post, "/api/orders", dispatcherToken, body, HttpStatusCode.Created, token);
            });
            await Task.Delay(2000, ct);

            var count = (int)Math.Max(1, Math.Round(rate * duration.TotalSeconds));
            Console.WriteLine($"== events: {count} orders created on node A at {rate:0.#}/s; subscribers on orders: {subscribers} on A, {subscribers} on B");
            var posts = new Posted[count];
            var random = new Random(1);
            using var gate = new SemaphoreSlim(64);
            var tasks = new List<Task>(count);
            var cpu = nodes.Select(n => n.ReadUsage().CpuSeconds ?? double.NaN).ToArray();
            var databaseCpu = store.DatabaseCpuSeconds();
            var start = Stopwatch.GetTimestamp();
            for (var i = 0; i < count; i++)
            {
                var due = start + (long)(i * Stopwatch.Frequency / rate);
                if (due - Stopwatch.GetTimestamp() is var w and > 0)
                {
                    await Task.Delay(TimeSpan.FromSeconds((double)w / Stopwatch.Frequency), ct);
                }
                await gate.WaitAsync(ct);
                var at = i;
                var body = new { pickup = Point(random), dropoff = Point(random), dispatchWhen = "ready" };
                tasks.Add(Task.Run(async () =>
                {
                    try
                    {
                        var sent = Stopwatch.GetTimestamp();
                        var response = await apis[0].SendAsync(HttpMethod.Post, "/api/orders", dispatcherToken, body, ct);
                        posts[at] = new Posted(response.Status == HttpStatusCode.Created ? response.Body.GetProperty("id").GetGuid() : null, (int)response.Status, sent, response.ReceivedAt);
                    }
                    catch (HttpRequestException)
                    {
                        posts[at] = new Posted(null, -1, 0, 0);
                    }
                    finally
                    {
                        gate.Release();
                    }
                }, ct));
            }
            await Task.WhenAll(tasks);
            var achieved = count > 1 ? (count - 1) / ProcStatus.Ms(start, posts.Max(p => p.SentAt)) * 1000 : double.NaN;
            var created = posts.Count(p => p.OrderId is not null);
            var expected = (long)created * subscribers * 2;
            var waiting = Stopwatch.StartNew();
            while (Interlocked.Read(ref delivered[0]) < expected && waiting.Elapsed < wait)
            {
                await Task.Delay(20, ct);
            }
            var seconds = ProcStatus.Ms(start, Stopwatch.GetTimestamp()) / 1000;
            var cpuUsed = nodes.Select((n, i) => (n.ReadUsage().CpuSeconds ?? double.NaN) - cpu[i]).ToArray();
            var databaseUsed = store.DatabaseCpuSeconds() - databaseCpu;
            await stop.CancelAsync();
            var closes = await Task.WhenAll(loops);

            var sentAt = new Dictionary<Guid, long>(created);
            foreach (var p in posts)
            {
                if (p.OrderId is { } id)
                {
                    sentAt[id] = p.SentAt;
                }
            }
            var side = new (List<double> Latencies, long Delivered, int Complete, int OutOfOrder, int Duplicates)[2];
            for (var n = 0; n < 2; n++)
            {
                var latencies = new List<double>(created * subscribers);
                var outOfOrder = 0;
                var duplicates = 0;
                var complete = 0;
                foreach (var list in receipts[n])
                {
                    var seen = new HashSet<Guid>();
                    var last = 0L;
                    foreach (var r in list)
                    {
                        if (!sentAt.TryGetValue(r.OrderId, out var sent))
                        {
                            continue;
                        }
                        if (!seen.Add(r.OrderId))
                        {
                            duplicates++;
                        }
                        if (r.Seq <= last)
                        {
                            outOfOrder++;
                        }
                        last = Math.Max(last, r.Seq);
                        latencies.Add(ProcStatus.Ms(sent, r.At));
                    }
                    complete += seen.Count == created ? 1 : 0;
                }
                latencies.Sort();
                side[n] = (latencies, latencies.Count, complete, outOfOrder, duplicates);
            }

            var report = new Report();
            report.Add("orders", $"{created} of {count} created on node A ({string.Join(", ", posts.Where(p => p.OrderId is null).GroupBy(p => p.Status).Select(g => $"{g.Count()} × {g.Key}"))}); target {rate:0.#}/s, achieved {achieved:0.#}/s");
            report.Add("POST answered p50/p95/p99/max", Stats.Latencies(RealtimeSetup.Sorted(posts.Where(p => p.OrderId is not null).Select(p => ProcStatus.Ms(p.SentAt, p.AnsweredAt)))));
            for (var n = 0; n < 2; n++)
            {
                var (latencies, got, complete, outOfOrder, duplicates) = side[n];
                report.Add($"subscribers on {NodeNames[n]}: received", $"{got} of {(long)created * subscribers}; {complete} of {subscribers} sockets have every order; {outOfOrder} out of seq order, {duplicates} duplicates");
                report.Add($"POST sent (A) → received on {NodeNames[n]} p50/p95/p99/max", Stats.Latencies(latencies));
            }
            // The cross-node cost on its own: per order, its first receipt on B − its first receipt on A.
            var first = new Dictionary<Guid, long>[2];
            for (var n = 0; n < 2; n++)
            {
                first[n] = [];
                foreach (var r in receipts[n].SelectMany(l => l))
                {
                    first[n][r.OrderId] = first[n].TryGetValue(r.OrderId, out var at) ? Math.Min(at, r.At) : r.At;
                }
            }
            var apart = RealtimeSetup.Sorted(first[1].Where(p => first[0].ContainsKey(p.Key) && sentAt.ContainsKey(p.Key)).Select(p => ProcStatus.Ms(first[0][p.Key], p.Value)));
            report.Add("first receipt on B − first on A, per order p50/p95/p99/max", apart.Count == 0 ? "n/a" :
                $"{Stats.Percentile(apart, 50):0.0} / {Stats.Percentile(apart, 95):0.0} / {Stats.Percentile(apart, 99):0.0} / {apart[^1]:0.0} ms (min {apart[0]:0.0} ms)");
            var p99A = Stats.Percentile(side[0].Latencies, 99);
            var p99B = Stats.Percentile(side[1].Latencies, 99);
            report.Add("p99 on B ÷ p99 on A", $"{p99B / p99A:0.00}× (p50: {Stats.Percentile(side[1].Latencies, 50) / Stats.Percentile(side[0].Latencies, 50):0.00}×)");
            report.Add("CPU while creating", $"node A {cpuUsed[0]:0.0} s, node B {cpuUsed[1]:0.0} s, PostgreSQL {(databaseUsed is { } db ? $"{db:0.0} s" : "n/a")} over {seconds:0.0} s");
            report.Add("sockets closed by a node", $"{closes.Count(c => c is not null)}");
            Console.WriteLine();
            Console.WriteLine("== nodes: events results");
            report.Print();
            var everything = side.All(s => s.Delivered == (long)created * subscribers && s.OutOfOrder == 0 && s.Duplicates == 0) && created == count;
            Report.Target("several nodes: an event written on node A reaches a subscriber on node B, p99 ≤ 50 ms with Redis",
                withRedis ? everything && p99B <= 50 : null,
                $"p99 {p99B:0.0} ms on B, {p99A:0.0} ms on A, {created} orders at {achieved:0.#}/s × {subscribers} subscribers per node, {(everything ? "every one delivered in seq order" : "NOT every one delivered in order")}{(withRedis ? "" : "; no Redis: durable events took the store's path, as they always do")}");
            return everything;
        }
        finally
        {
            await stop.CancelAsync();
            foreach (var list in sockets)
            {
                await RealtimeSetup.CloseAsync(list ?? []);
            }
        }
    }

    private static object Point(Random random) => new { lat = 52.28 + (random.NextDouble() * 0.18), lng = 4.75 + (random.NextDouble() * 0.29) };

    // ---- Positions: drivers on both nodes, maps on both nodes ----

    private readonly record struct Sighting(int Driver, int N, long At);

    private static async Task<bool> PositionsAsync(
        BenchArgs args, ServerProcess[] nodes, Api[] apis, string adminToken, int k, double hz, TimeSpan duration, int maps, TimeSpan wait,
        bool withRedis, CancellationToken ct)
    {
        var openConcurrency = args.Int("open-concurrency", 1, 10_000);
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = args.Int("setup-concurrency", 1, 1_000), CancellationToken = ct };
        Console.WriteLine($"== setup: {k} drivers, driver i on node {{A, B}}[i % 2]");
        var setup = Stopwatch.StartNew();
        var tokens = new string[k];
        var driverIds = new string[k];
        var password = ServerProcess.RandomText(12);
        var random = new Random(2);
        var home = Enumerable.Range(0, k).Select(_ => (Lat: Math.Round(52.28 + (random.NextDouble() * 0.18), 4), Lng: Math.Round(4.75 + (random.NextDouble() * 0.29), 4))).ToArray();
        var done = 0;
        await Parallel.ForEachAsync(Enumerable.Range(0, k), parallel, async (i, token) =>
        {
            // Each driver is made, logged in and put online through the node it will stream to.
            var api = apis[i % 2];
            var email = $"driver{i:D6}@bench.test";
            var created = await api.CallAsync(HttpMethod.Post, "/api/drivers", adminToken, new { email, password, name = $"Bench driver {i}" }, HttpStatusCode.Created, token);
            var (driverToken, _) = await api.LoginAsync(email, password, token);
            await api.CallAsync(HttpMethod.Post, "/api/drivers/me/location", driverToken, new { lat = home[i].Lat, lng = home[i].Lng }, HttpStatusCode.Accepted, token);
            await api.CallAsync(HttpMethod.Post, "/api/drivers/me/status", driverToken, new { online = true }, HttpStatusCode.OK, token);
            tokens[i] = driverToken;
            driverIds[i] = created.GetProperty("id").GetString()!;
            if (Interlocked.Increment(ref done) % Math.Max(1, k / 5) == 0)
            {
                Console.WriteLine($"   {done} drivers online after {setup.Elapsed.TotalSeconds:0.0} s");
            }
        });
        Console.WriteLine($"== {k} drivers online after {setup.Elapsed.TotalSeconds:0.0} s");

        var mapSockets = new WsClient[2][];
        var drivers = new WsClient[k];
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        try
        {
            for (var n = 0; n < 2; n++)
            {
                (mapSockets[n], _) = await RealtimeSetup.OpenAsync(nodes[n].Address, adminToken, maps, "drivers", openConcurrency, ct);
            }
            await Parallel.ForEachAsync(Enumerable.Range(0, k), new ParallelOptions { MaxDegreeOfParallelism = openConcurrency, CancellationToken = ct },
                async (i, token) => drivers[i] = await WsClient.ConnectAsync(nodes[i % 2].Address, tokens[i], token));
            Console.WriteLine($"== {maps} maps on drivers on each node, {k} driver sockets open ({(k + 1) / 2} on A, {k / 2} on B)");

            var index = new Dictionary<string, int>(k, StringComparer.OrdinalIgnoreCase);
            for (var i = 0; i < k; i++)
            {
                index[driverIds[i]] = i;
            }
            var recording = new int[1];
            var sightings = new List<Sighting>[2][];
            var unknown = new long[2 * maps];
            var loops = new List<Task<WebSocketCloseStatus?>>();
            for (var n = 0; n < 2; n++)
            {
                sightings[n] = new List<Sighting>[maps];
                for (var j = 0; j < maps; j++)
                {
                    var mine = sightings[n][j] = new List<Sighting>((int)(k * hz * duration.TotalSeconds) + 16);
                    var slot = (n * maps) + j;
                    loops.Add(mapSockets[n][j].RunAsync((m, at) =>
                    {
                        if (Volatile.Read(ref recording[0]) == 0 || m.Type != "driver.location")
                        {
                            return;
                        }
                        if (m.DriverId is { } id && index.TryGetValue(id, out var di) && m.Lat is { } lat)
                        {
                            // The n-th position of a driver is at its home latitude + (n + 1) µ°.
                            mine.Add(new Sighting(di, (int)Math.Round((lat - home[di].Lat) * 1e6) - 1, at));
                        }
                        else
                        {
                            unknown[slot]++;
                        }
                    }, stop.Token));
                }
            }
            var errors = new long[1];
            foreach (var driver in drivers)
            {
                loops.Add(driver.RunAsync((m, _) =>
                {
                    if (m.Type == "error")
                    {
                        Interlocked.Increment(ref errors[0]);
                    }
                }, stop.Token));
            }
            // Warm-up, not counted: one position from each driver at its home (its n is -1), then the latest positions
            // each map gets on subscribing and these arrive before anything is counted.
            await Parallel.ForEachAsync(Enumerable.Range(0, k), new ParallelOptions { MaxDegreeOfParallelism = openConcurrency, CancellationToken = ct },
                async (i, token) => await drivers[i].SendLocationAsync(home[i].Lat, home[i].Lng, token));
            await Task.Delay(3000, ct);
            Volatile.Write(ref recording[0], 1);

            Console.WriteLine($"== positions: {k} drivers × {hz:0.##} Hz for {duration.TotalSeconds:0} s, {maps} maps on each node");
            var acceptedBefore = await Task.WhenAll(apis.Select(api => AcceptedAsync(api, adminToken, ct)));
            var cpu = nodes.Select(n => n.ReadUsage().CpuSeconds ?? double.NaN).ToArray();
            var benchCpu = Process.GetCurrentProcess().TotalProcessorTime;
            var machine = MachineCpu.Read();
            var sends = new List<long>[k];
            var failures = new long[1];
            var start = Stopwatch.GetTimestamp();
            var end = start + (long)(duration.TotalSeconds * Stopwatch.Frequency);

            async Task DriveAsync(int i)
            {
                var mine = sends[i] = new List<long>((int)(hz * duration.TotalSeconds) + 8);
                var offset = (long)(Stopwatch.Frequency / hz * i / k);
                var step = Stopwatch.Frequency / hz;
                var jitter = new Random(i);
                for (var n = 0L; ; n++)
                {
                    var due = start + offset + (long)(n * step);
                    if (due >= end)
                    {
                        return;
                    }
                    if (due - Stopwatch.GetTimestamp() is var w and > 0)
                    {
                        await Task.Delay(TimeSpan.FromSeconds((double)w / Stopwatch.Frequency), ct);
                    }
                    var sentAt = Stopwatch.GetTimestamp();
                    try
                    {
                        await drivers[i].SendLocationAsync(home[i].Lat + ((n + 1) * 1e-6), home[i].Lng + (jitter.NextDouble() * 1e-3), ct);
                        mine.Add(sentAt);
                    }
                    catch (WebSocketException)
                    {
                        Interlocked.Increment(ref failures[0]);
                        return;
                    }
                }
            }

            await Task.WhenAll(Enumerable.Range(0, k).Select(DriveAsync));
            var sendSeconds = ProcStatus.Ms(start, Stopwatch.GetTimestamp()) / 1000;
            var cpuUsed = nodes.Select((n, i) => (n.ReadUsage().CpuSeconds ?? double.NaN) - cpu[i]).ToArray();
            var benchUsed = (Process.GetCurrentProcess().TotalProcessorTime - benchCpu).TotalSeconds;
            var machineBusy = MachineCpu.BusyShare(machine, MachineCpu.Read());
            var acceptedAtEnd = await Task.WhenAll(apis.Select(api => AcceptedAsync(api, adminToken, ct)));
            await Task.Delay(wait, ct);
            var stats = await Task.WhenAll(apis.Select(api => api.CallAsync(HttpMethod.Get, "/api/ws/stats", adminToken, null, HttpStatusCode.OK, ct)));
            await stop.CancelAsync();
            var closes = await Task.WhenAll(loops);

            var sentBy = new long[2];
            for (var i = 0; i < k; i++)
            {
                sentBy[i % 2] += sends[i].Count;
            }
            var sent = sentBy.Sum();
            // Latency per pair: [driver's node, map's node].
            var pairs = new List<double>[2, 2];
            for (var from = 0; from < 2; from++)
            {
                for (var to = 0; to < 2; to++)
                {
                    pairs[from, to] = [];
                }
            }
            var report = new Report();
            report.Add("drivers", $"{k} × {hz:0.##} Hz for {duration.TotalSeconds:0} s, {(k + 1) / 2} on A and {k / 2} on B; {maps} maps on drivers on each node");
            report.Add("positions sent", $"{sent} in {sendSeconds:0.00} s = {sent / sendSeconds:0}/s ({sentBy[0]} to A, {sentBy[1]} to B; {failures[0]} sockets failed to send)");
            for (var n = 0; n < 2; n++)
            {
                var accepted = acceptedAtEnd[n].Count - acceptedBefore[n].Count;
                report.Add($"ingested on {NodeNames[n]} (positionsAccepted)", $"{accepted} while sending = {accepted / (ProcStatus.Ms(acceptedBefore[n].At, acceptedAtEnd[n].At) / 1000):0}/s");
            }
            var everyMapHasAll = true;
            var minShare = 1.0;
            for (var n = 0; n < 2; n++)
            {
                for (var j = 0; j < maps; j++)
                {
                    var list = sightings[n][j];
                    var fromA = 0L;
                    var seenDrivers = new HashSet<int>();
                    foreach (var s in list)
                    {
                        seenDrivers.Add(s.Driver);
                        fromA += s.Driver % 2 == 0 ? 1 : 0;
                        if (s.N >= 0 && s.N < sends[s.Driver].Count)
                        {
                            pairs[s.Driver % 2, n].Add(ProcStatus.Ms(sends[s.Driver][s.N], s.At));
                        }
                    }
                    everyMapHasAll &= seenDrivers.Count == k;
                    minShare = Math.Min(minShare, (double)list.Count / sent);
                    report.Add($"map {j + 1} on {NodeNames[n]} received", $"{list.Count} of {sent} ({(double)list.Count / sent:P1}): {fromA} from drivers on A, {list.Count - fromA} from drivers on B; {seenDrivers.Count} of {k} drivers seen; {unknown[(n * maps) + j]} unknown");
                }
            }
            var worstP99 = 0.0;
            for (var from = 0; from < 2; from++)
            {
                for (var to = 0; to < 2; to++)
                {
                    pairs[from, to].Sort();
                    worstP99 = Math.Max(worstP99, Stats.Percentile(pairs[from, to], 99));
                    report.Add($"send on {NodeNames[from]} → map on {NodeNames[to]} p50/p95/p99/max", $"{Stats.Latencies(pairs[from, to])} ({pairs[from, to].Count} receipts)");
                }
            }
            report.Add("CPU while sending", $"node A {cpuUsed[0] / sendSeconds:0.00} cores, node B {cpuUsed[1] / sendSeconds:0.00} cores, bench {benchUsed / sendSeconds:0.00} cores; machine {machineBusy:P0} of {Environment.ProcessorCount} cores busy");
            report.Add("errors sent to drivers", $"{errors[0]}");
            report.Add("sockets closed by a node", $"{closes.Count(c => c is not null)}");
            for (var n = 0; n < 2; n++)
            {
                var text = stats[n].ToString();
                report.Add($"/api/ws/stats of {NodeNames[n]}", text.Length > 400 ? text[..400] + "…" : text);
            }
            Console.WriteLine();
            Console.WriteLine("== nodes: positions results");
            report.Print();
            // Reaching maps on both nodes: every map saw every driver and nearly every position (a map that fell behind
            // gets a driver's newest, by design), each pair of nodes within SPEC §12's watcher p99 for positions.
            var met = everyMapHasAll && minShare >= 0.99 && worstP99 <= 100;
            Report.Target($"several nodes: positions at {hz:0.##} Hz from {k} drivers split over both nodes reach maps on both (every map sees every driver and ≥ 99 % of positions; p99 per pair ≤ 100 ms)",
                withRedis && k >= 5_000 ? met : null,
                $"least share of positions on a map {minShare:P1}, worst p99 of the four pairs {worstP99:0.0} ms{(withRedis ? "" : "; no Redis: positions do not cross nodes")}");
            return !withRedis || met;
        }
        finally
        {
            await stop.CancelAsync();
            await RealtimeSetup.CloseAsync(drivers);
            foreach (var list in mapSockets)
            {
                await RealtimeSetup.CloseAsync(list ?? []);
            }
        }
    }

    private static async Task<(long Count, long At)> AcceptedAsync(Api api, string adminToken, CancellationToken ct)
    {
        var stats = await api.CallAsync(HttpMethod.Get, "/api/ws/stats", adminToken, null, HttpStatusCode.OK, ct);
        return (stats.GetProperty("positionsAccepted").GetInt64(), Stopwatch.GetTimestamp());
    }
}
