using System.Diagnostics;
using System.Net;
using System.Text.Json;
using GeoLogistics.Bench.Harness;

namespace GeoLogistics.Bench.Scenarios;

/// <summary>
/// SPEC §12 "location updates ingested over WebSocket": K drivers, each on its own socket, send
/// <c>driver.location</c> at a fixed rate while S admin dashboards are subscribed: M of them to <c>drivers</c> (every
/// driver's position: the map), the rest to <c>orders</c>. Ingest is what the server accepted (its
/// <c>positionsAccepted</c> count) per second of sending; latency matches each driver's n-th send with the receipt that
/// carries it, on the <c>drivers</c> dashboards and on optional watchers of single drivers (<c>driver:{id}</c>).
/// </summary>
public sealed class LocationsScenario : IScenario
{
    /// <summary>Drivers dashboards whose every receipt is kept for latency; the others only count (memory stays bounded).</summary>
    private const int TimedDashboards = 20;

    /// <summary>The server's default <c>Realtime:MaxSubscriptions</c>: topics one watcher socket holds.</summary>
    private const int TopicsPerWatcher = 100;

    public string Name => "locations";

    public string Summary => "K drivers sending driver.location over WebSocket at H Hz, S admin dashboards (drivers and orders); ingest, latency, CPU, memory.";

    public IReadOnlyList<BenchOption> Options { get; } =
    [
        .. BenchStore.Options,
        .. ServerProcess.Options,
        new("drivers", "drivers created, logged in, put online, each with its own socket", "1000"),
        new("hz", "position updates per second per driver", "1"),
        new("duration", "seconds of sending", "15"),
        new("dashboards", "admin sockets; --drivers-dashboards of them subscribe to drivers, the rest to orders", "100"),
        new("drivers-dashboards", "how many dashboards subscribe to drivers (every update to each); 'all' or a number", "all"),
        new("watched", "drivers also watched one by one on driver:{id} (100 topics per admin socket), for latency without a firehose", "0"),
        new("setup-concurrency", "most setup requests in flight at once", "32"),
        RealtimeSetup.OpenConcurrency,
        new("drain", "seconds to wait for the last deliveries after the last send", "3"),
    ];

    /// <summary>One receipt of a driver's n-th update, on one socket.</summary>
    private readonly record struct Receipt(int Driver, int N, long At);

    /// <summary>What one subscriber socket saw while recording.</summary>
    private sealed class Tally(bool timed)
    {
        public readonly List<Receipt>? Receipts = timed ? [] : null;
        public long Locations;
        public long Other;
        public long Unknown;
    }

    public async Task<int> RunAsync(BenchArgs args, CancellationToken ct)
    {
        var k = args.Int("drivers", 1, 1_000_000);
        var hz = args.Double("hz", 0.01, 1_000);
        var duration = TimeSpan.FromSeconds(args.Int("duration", 1, 3_600));
        var s = args.Int("dashboards", 0, 1_000_000);
        var m = args.String("drivers-dashboards") is "all" ? s : args.Int("drivers-dashboards", 0, s);
        var watched = args.Int("watched", 0, k);
        var setupConcurrency = args.Int("setup-concurrency", 1, 1_000);
        var openConcurrency = args.Int("open-concurrency", 1, 10_000);
        var drain = TimeSpan.FromSeconds(args.Int("drain", 0, 600));

        await using var store = await BenchStore.CreateAsync(args, ct);
        await using var server = await ServerProcess.StartAsync(args, store, ct);
        Console.WriteLine($"== server pid {server.Pid} on {server.Address}, store {store.Kind}");
        using var api = new Api(server.Address);
        var (adminToken, _) = await api.LoginAsync(server.AdminEmail, server.AdminPassword, ct);

        Console.WriteLine($"== setup: {k} drivers");
        var setup = Stopwatch.StartNew();
        var tokens = new string[k];
        var driverIds = new string[k];
        var password = ServerProcess.RandomText(12);
        var random = new Random(1);
        var home = Enumerable.Range(0, k).Select(_ => (Lat: Math.Round(52.28 + random.NextDouble() * 0.18, 4), Lng: Math.Round(4.75 + random.NextDouble() * 0.29, 4))).ToArray();
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = setupConcurrency, CancellationToken = ct };
        var setupDone = 0;
        await Parallel.ForEachAsync(Enumerable.Range(0, k), parallel, async (i, token) =>
        {
            var email = $"driver{i:D6}@bench.test";
            var created = await api.CallAsync(HttpMethod.Post, "/api/drivers", adminToken, new { email, password, name = $"Bench driver {i}" }, HttpStatusCode.Created, token);
            var (driverToken, user) = await api.LoginAsync(email, password, token);
            await api.CallAsync(HttpMethod.Post, "/api/drivers/me/location", driverToken, new { lat = home[i].Lat, lng = home[i].Lng }, HttpStatusCode.Accepted, token);
            await api.CallAsync(HttpMethod.Post, "/api/drivers/me/status", driverToken, new { online = true }, HttpStatusCode.OK, token);
            tokens[i] = driverToken;
            driverIds[i] = user.TryGetProperty("driverId", out var d) && d.ValueKind == JsonValueKind.String
                ? d.GetString()!
                : created.GetProperty("id").GetString()!;
            if (Interlocked.Increment(ref setupDone) % Math.Max(1, k / 5) == 0)
            {
                Console.WriteLine($"   {setupDone} drivers online after {setup.Elapsed.TotalSeconds:0.0} s");
            }
        });
        var setupTime = setup.Elapsed;
        Console.WriteLine($"== {k} drivers online after {setupTime.TotalSeconds:0.0} s");

        var rssBeforeSockets = ProcStatus.KiB(server.Pid, "VmRSS");
        var (mapDashboards, mapTook) = await RealtimeSetup.OpenAsync(server.Address, adminToken, m, "drivers", openConcurrency, ct);
        var (orderDashboards, ordersTook) = await RealtimeSetup.OpenAsync(server.Address, adminToken, s - m, "orders", openConcurrency, ct);
        var watchers = new WsClient[(watched + TopicsPerWatcher - 1) / TopicsPerWatcher];
        var drivers = new WsClient[k];
        try
        {
            var opening = Stopwatch.StartNew();
            await Parallel.ForEachAsync(Enumerable.Range(0, watchers.Length), new ParallelOptions { MaxDegreeOfParallelism = openConcurrency, CancellationToken = ct },
                async (w, token) =>
                {
                    watchers[w] = await WsClient.ConnectAsync(server.Address, adminToken, token);
                    for (var i = w * TopicsPerWatcher; i < Math.Min(watched, (w + 1) * TopicsPerWatcher); i++)
                    {
                        await watchers[w].SubscribeAsync($"driver:{driverIds[i]}", token);
                    }
                });
            await Parallel.ForEachAsync(Enumerable.Range(0, k), new ParallelOptions { MaxDegreeOfParallelism = openConcurrency, CancellationToken = ct },
                async (i, token) => drivers[i] = await WsClient.ConnectAsync(server.Address, tokens[i], token));
            Console.WriteLine($"== {m} dashboards on drivers in {mapTook.TotalSeconds:0.0} s, {s - m} on orders in {ordersTook.TotalSeconds:0.0} s; " +
                $"{watchers.Length} watcher sockets ({watched} drivers) and {k} driver sockets in {opening.Elapsed.TotalSeconds:0.0} s");
            var rssWithSockets = ProcStatus.KiB(server.Pid, "VmRSS");

            var index = new Dictionary<string, int>(k, StringComparer.OrdinalIgnoreCase);
            for (var i = 0; i < k; i++)
            {
                index[driverIds[i]] = i;
            }
            var recording = new int[1];
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var loops = new List<Task<System.Net.WebSockets.WebSocketCloseStatus?>>(s + watchers.Length + k);

            Tally Listen(WsClient client, bool timed)
            {
                var tally = new Tally(timed);
                loops.Add(client.RunAsync((msg, at) =>
                {
                    if (Volatile.Read(ref recording[0]) == 0)
                    {
                        return;
                    }
                    if (msg.Type != "driver.location")
                    {
                        tally.Other++;
                        return;
                    }
                    tally.Locations++;
                    if (tally.Receipts is null)
                    {
                        return;
                    }
                    if (msg.DriverId is { } id && index.TryGetValue(id, out var di) && msg.Lat is { } lat)
                    {
                        // The n-th update of a driver is at its home latitude + n µ°: the position says which send it was.
                        tally.Receipts.Add(new Receipt(di, (int)Math.Round((lat - home[di].Lat) * 1e6), at));
                    }
                    else
                    {
                        tally.Unknown++;
                    }
                }, stop.Token));
                return tally;
            }

            var mapTallies = mapDashboards.Select((d, j) => Listen(d, timed: j < TimedDashboards)).ToArray();
            var orderTallies = orderDashboards.Select(d => Listen(d, timed: false)).ToArray();
            var watcherTallies = watchers.Select(w => Listen(w, timed: true)).ToArray();
            var firstLoops = loops.Count;
            var driverErrors = new long[k];
            for (var i = 0; i < k; i++)
            {
                var me = i;
                loops.Add(drivers[i].RunAsync((msg, _) =>
                {
                    if (msg.Type == "error")
                    {
                        driverErrors[me]++;
                    }
                }, stop.Token));
            }
            // Let the positions each dashboard gets on subscribing arrive before anything is counted.
            await Task.Delay(2000, ct);
            Volatile.Write(ref recording[0], 1);

            Console.WriteLine($"== measuring: {k} drivers × {hz:0.##} Hz for {duration.TotalSeconds:0} s, {m} dashboards on drivers, {s - m} on orders, {watched} drivers watched");
            var sends = new List<long>[k];
            var sendFailures = new long[1];
            var acceptedBefore = await AcceptedAsync(api, adminToken, ct);
            var cpuBefore = server.ReadUsage().CpuSeconds ?? double.NaN;
            var benchCpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
            var machineBefore = MachineCpu.Read();
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
                        await drivers[i].SendLocationAsync(home[i].Lat + n * 1e-6, home[i].Lng + jitter.NextDouble() * 1e-3, ct);
                        mine.Add(sentAt);
                    }
                    catch (System.Net.WebSockets.WebSocketException)
                    {
                        Interlocked.Increment(ref sendFailures[0]);
                        return;
                    }
                }
            }

            var driving = Enumerable.Range(0, k).Select(DriveAsync).ToList();
            await Task.WhenAll(driving);
            var sendEnd = Stopwatch.GetTimestamp();
            var cpuSending = (server.ReadUsage().CpuSeconds ?? double.NaN) - cpuBefore;
            var machineSending = MachineCpu.Read();
            var benchCpu = (Process.GetCurrentProcess().TotalProcessorTime - benchCpuBefore).TotalSeconds;
            var acceptedAtEnd = await AcceptedAsync(api, adminToken, ct);
            await Task.Delay(drain, ct);
            var usage = server.ReadUsage();
            var rssAtEnd = ProcStatus.KiB(server.Pid, "VmRSS");
            var stats = await api.CallAsync(HttpMethod.Get, "/api/ws/stats", adminToken, null, HttpStatusCode.OK, ct);
            var acceptedAfterDrain = stats.GetProperty("positionsAccepted").GetInt64();
            await stop.CancelAsync();
            var closes = await Task.WhenAll(loops);

            var sendSeconds = ProcStatus.Ms(start, sendEnd) / 1000;
            var acceptSeconds = ProcStatus.Ms(acceptedBefore.At, acceptedAtEnd.At) / 1000;
            var sent = sends.Sum(l => (long)l.Count);
            var accepted = acceptedAtEnd.Count - acceptedBefore.Count;
            var mapLatencies = Latencies(mapTallies, sends, out var mapUnmatched);
            var watcherLatencies = Latencies(watcherTallies, sends, out var watcherUnmatched);
            var sentToWatched = sends.Take(watched).Sum(l => (long)l.Count);
            var mapClosed = closes.Take(m).Count(c => c is not null);
            var ordersClosed = closes.Skip(m).Take(s - m).Count(c => c is not null);
            var watchersClosed = closes.Skip(s).Take(watchers.Length).Count(c => c is not null);
            var driversClosed = closes.Skip(firstLoops).Count(c => c is not null);
            var serverAndBench = cpuSending + benchCpu;
            var machineBusy = MachineCpu.BusySeconds(machineBefore, machineSending);

            var report = new Report();
            report.Add("store", store.Kind);
            report.Add("drivers / dashboards", $"{k} drivers × {hz:0.##} Hz for {duration.TotalSeconds:0} s; {s} admin dashboards: {m} on drivers, {s - m} on orders; {watched} drivers watched on driver:{{id}} by {watchers.Length} sockets");
            report.Add("driver setup", $"{setupTime.TotalSeconds:0.0} s ({k / setupTime.TotalSeconds:0} drivers/s)");
            report.Add("updates sent", $"{sent} in {sendSeconds:0.00} s = {sent / sendSeconds:0}/s ({sendFailures[0]} sockets failed to send)");
            report.Add("ingested (server's positionsAccepted)", $"{accepted} while sending = {accepted / acceptSeconds:0}/s; {acceptedAfterDrain - acceptedBefore.Count} after a {drain.TotalSeconds:0} s drain ({sent - (acceptedAfterDrain - acceptedBefore.Count)} of the sent not accepted)");
            report.Add("store writes while sending", $"{acceptedAtEnd.Stored - acceptedBefore.Stored} positions in {acceptedAtEnd.Flushes - acceptedBefore.Flushes} transactions");
            report.Add("dashboards on drivers received", m == 0 ? "n/a" : $"{mapTallies.Sum(t => t.Locations)} driver.location = {mapTallies.Sum(t => t.Locations) / sendSeconds:0}/s; per dashboard min {mapTallies.Min(t => t.Locations)}, max {mapTallies.Max(t => t.Locations)} of {sent}");
            report.Add("send → drivers dashboard p50/p95/p99/max", $"{Stats.Latencies(mapLatencies)} (first {Math.Min(m, TimedDashboards)} dashboards, {mapLatencies.Count} receipts; {mapUnmatched} matched no send)");
            report.Add("watchers received", watched == 0 ? "n/a" : $"{watcherTallies.Sum(t => t.Locations)} of {sentToWatched} sent by the watched drivers");
            report.Add("send → watcher p50/p95/p99/max", $"{Stats.Latencies(watcherLatencies)} ({watcherUnmatched} matched no send)");
            report.Add("dashboards on orders received", $"{orderTallies.Sum(t => t.Other + t.Locations)} messages");
            report.Add("errors sent to drivers", $"{driverErrors.Sum()}");
            report.Add("sockets closed by server", $"{mapClosed} drivers dashboards, {ordersClosed} orders dashboards, {watchersClosed} watchers, {driversClosed} drivers" +
                (closes.Any(c => c is not null) ? $" (close codes: {string.Join(", ", closes.Where(c => c is not null).GroupBy(c => (int)c!.Value).Select(g => $"{g.Key} × {g.Count()}"))})" : ""));
            report.Add("server CPU while sending", $"{cpuSending:0.0} s over {sendSeconds:0.0} s = {cpuSending / sendSeconds:0.00} cores");
            report.Add("bench CPU while sending", $"{benchCpu:0.0} s = {benchCpu / sendSeconds:0.00} cores");
            report.Add("machine busy while sending", $"{MachineCpu.BusyShare(machineBefore, machineSending):P0} of {Environment.ProcessorCount} cores; other processes ≈ {machineBusy - serverAndBench:0.0} s (machine minus server and bench; /proc/stat and /proc/PID/stat disagree by a few seconds in a VM)");
            report.Add("server memory", $"VmRSS {Mib(rssBeforeSockets)} before the sockets, {Mib(rssWithSockets)} with them, {Mib(rssAtEnd)} at the end; peak {Mib(usage.PeakWorkingSetKiB)} (VmHWM)");
            var text = stats.ToString();
            report.Add("/api/ws/stats", text.Length > 600 ? text[..600] + "…" : text);
            var (warnings, errors, firstErrors) = server.LogSummary;
            report.Add("server log", $"{warnings} warnings, {errors} errors{(firstErrors.Count > 0 ? "; first: " + firstErrors[0] : "")}");
            Console.WriteLine();
            Console.WriteLine("== locations results");
            report.Print();
            return 0;
        }
        finally
        {
            await RealtimeSetup.CloseAsync([.. drivers, .. watchers, .. mapDashboards, .. orderDashboards]);
        }
    }

    /// <summary>
    /// The server's count of accepted positions, when its answer arrived, and the positions and transactions the
    /// server's writer put in the store (0 from a server that does not tell them).
    /// </summary>
    private static async Task<(long Count, long At, long Stored, long Flushes)> AcceptedAsync(Api api, string adminToken, CancellationToken ct)
    {
        var stats = await api.CallAsync(HttpMethod.Get, "/api/ws/stats", adminToken, null, HttpStatusCode.OK, ct);
        long Optional(string name) => stats.TryGetProperty(name, out var value) ? value.GetInt64() : 0;
        return (stats.GetProperty("positionsAccepted").GetInt64(), Stopwatch.GetTimestamp(), Optional("positionsStored"), Optional("storeFlushes"));
    }

    /// <summary>Send → receipt of every kept receipt, sorted; receipts whose n was never sent are counted apart.</summary>
    private static List<double> Latencies(IEnumerable<Tally> tallies, List<long>[] sends, out long unmatched)
    {
        var latencies = new List<double>();
        unmatched = 0;
        foreach (var tally in tallies)
        {
            foreach (var (driver, n, at) in tally.Receipts ?? [])
            {
                if (n >= 0 && n < sends[driver].Count)
                {
                    latencies.Add(ProcStatus.Ms(sends[driver][n], at));
                }
                else
                {
                    unmatched++;
                }
            }
            unmatched += tally.Unknown;
        }
        latencies.Sort();
        return latencies;
    }

    private static string Mib(long? kib) => kib is { } v ? $"{v / 1024.0:0} MiB" : "n/a";
}
