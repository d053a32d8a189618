using System.Diagnostics;
using System.Net;
using GeoLogistics.Bench.Harness;

namespace GeoLogistics.Bench.Scenarios;

/// <summary>
/// SPEC §12 "location updates ingested over WebSocket": K drivers, each on its own socket, send
/// <c>driver.location</c> at a fixed rate; S admin dashboards on <c>drivers</c> receive them. Ingest is what one
/// admin dashboard receives (an admin sees every driver); latency matches each driver's k-th send with the k-th
/// receipt for that driver on the first dashboard.
/// </summary>
public sealed class LocationsScenario : IScenario
{
    public string Name => "locations";

    public string Summary => "K drivers sending driver.location over WebSocket at H Hz, S admin dashboards on drivers; ingest rate and latency.";

    public IReadOnlyList<BenchOption> Options { get; } =
    [
        .. BenchStore.Options,
        .. ServerProcess.Options,
        new("drivers", "drivers created, logged in, put online, each with its own socket", "1000"),
        new("hz", "position updates per second per driver", "1"),
        new("duration", "seconds of sending", "15"),
        new("dashboards", "admin sockets subscribed to drivers", "100"),
        new("setup-concurrency", "most setup requests in flight at once", "32"),
        RealtimeSetup.OpenConcurrency,
        new("drain", "seconds to wait for the last deliveries after the last send", "3"),
    ];

    public async Task<int> RunAsync(BenchArgs args, CancellationToken ct)
    {
        var k = args.Int("drivers", 1, 1_000_000);
        var hz = args.Double("hz", 0.01, 1_000);
        var duration = TimeSpan.FromSeconds(args.Int("duration", 1, 3_600));
        var s = args.Int("dashboards", 1, 1_000_000);
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
        await Parallel.ForEachAsync(Enumerable.Range(0, k), parallel, async (i, token) =>
        {
            var email = $"driver{i:D6}@bench.test";
            var created = await api.CallAsync(HttpMethod.Post, "/api/drivers", adminToken, new { email, password, name = $"Bench driver {i}" }, HttpStatusCode.Created, token);
            var (driverToken, user) = await api.LoginAsync(email, password, token);
            await api.CallAsync(HttpMethod.Post, "/api/drivers/me/location", driverToken, new { lat = home[i].Lat, lng = home[i].Lng }, HttpStatusCode.Accepted, token);
            await api.CallAsync(HttpMethod.Post, "/api/drivers/me/status", driverToken, new { online = true }, HttpStatusCode.OK, token);
            tokens[i] = driverToken;
            driverIds[i] = user.TryGetProperty("driverId", out var d) && d.ValueKind == System.Text.Json.JsonValueKind.String
                ? d.GetString()!
                : created.GetProperty("id").GetString()!;
        });
        var setupTime = setup.Elapsed;
        Console.WriteLine($"== {k} drivers online after {setupTime.TotalSeconds:0.0} s");

        var (dashboards, dashTook) = await RealtimeSetup.OpenAsync(server.Address, adminToken, s, "drivers", openConcurrency, ct);
        var drivers = new WsClient[k];
        try
        {
            var openDrivers = Stopwatch.StartNew();
            await Parallel.ForEachAsync(Enumerable.Range(0, k), new ParallelOptions { MaxDegreeOfParallelism = openConcurrency, CancellationToken = ct },
                async (i, token) => drivers[i] = await WsClient.ConnectAsync(server.Address, tokens[i], token));
            Console.WriteLine($"== {s} dashboards opened in {dashTook.TotalSeconds:0.0} s, {k} driver sockets in {openDrivers.Elapsed.TotalSeconds:0.0} s");

            var index = new Dictionary<string, int>(k, StringComparer.OrdinalIgnoreCase);
            for (var i = 0; i < k; i++)
            {
                index[driverIds[i]] = i;
            }
            var recording = new int[1];
            var firstReceipts = new List<(int N, long At)>[k];
            var unknownDriver = new long[1];
            for (var i = 0; i < k; i++)
            {
                firstReceipts[i] = new List<(int, long)>((int)(hz * duration.TotalSeconds) + 8);
            }
            var perDashboard = new long[s];
            var driverErrors = new long[k];
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var loops = new List<Task<System.Net.WebSockets.WebSocketCloseStatus?>>(s + k);
            for (var j = 0; j < s; j++)
            {
                var me = j;
                loops.Add(dashboards[j].RunAsync((msg, at) =>
                {
                    if (msg.Type != "driver.location" || Volatile.Read(ref recording[0]) == 0)
                    {
                        return;
                    }
                    perDashboard[me]++;
                    if (me == 0)
                    {
                        if (msg.DriverId is { } id && index.TryGetValue(id, out var di) && msg.Lat is { } lat)
                        {
                            // The k-th update of a driver is at its home latitude + k µ°: the position says which send it was.
                            firstReceipts[di].Add(((int)Math.Round((lat - home[di].Lat) * 1e6), at));
                        }
                        else
                        {
                            unknownDriver[0]++;
                        }
                    }
                }, stop.Token));
            }
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

            Console.WriteLine($"== measuring: {k} drivers × {hz:0.##} Hz for {duration.TotalSeconds:0} s, {s} dashboards");
            var sends = new List<long>[k];
            var sendFailures = new long[1];
            var period = TimeSpan.FromSeconds(1 / hz);
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
            await Task.Delay(drain, ct);
            var usage = server.ReadUsage();
            var stats = await api.CallAsync(HttpMethod.Get, "/api/ws/stats", adminToken, null, HttpStatusCode.OK, ct);
            await stop.CancelAsync();
            var closes = await Task.WhenAll(loops);

            var sendSeconds = ProcStatus.Ms(start, sendEnd) / 1000;
            var sent = sends.Sum(l => (long)l.Count);
            var latencies = new List<double>();
            long receivedInWindow = 0, received = 0, unmatched = 0, firstMissing = 0, lastMissing = 0;
            for (var i = 0; i < k; i++)
            {
                var r = firstReceipts[i];
                received += r.Count;
                receivedInWindow += r.Count(x => x.At <= sendEnd);
                var got = new HashSet<int>();
                foreach (var (n, at) in r)
                {
                    if (n >= 0 && n < sends[i].Count)
                    {
                        latencies.Add(ProcStatus.Ms(sends[i][n], at));
                        got.Add(n);
                    }
                    else
                    {
                        unmatched++;
                    }
                }
                firstMissing += sends[i].Count > 0 && !got.Contains(0) ? 1 : 0;
                lastMissing += sends[i].Count > 0 && !got.Contains(sends[i].Count - 1) ? 1 : 0;
            }
            latencies.Sort();

            var report = new Report();
            report.Add("store", store.Kind);
            report.Add("drivers / dashboards", $"{k} / {s}, {hz:0.##} Hz each for {duration.TotalSeconds:0} s (driver setup {setupTime.TotalSeconds:0.0} s)");
            report.Add("updates sent", $"{sent} in {sendSeconds:0.00} s = {sent / sendSeconds:0}/s ({sendFailures[0]} sockets failed to send)");
            report.Add("ingested (dashboard 0)", $"{receivedInWindow} during sending = {receivedInWindow / sendSeconds:0}/s; {received} after a {drain.TotalSeconds:0} s drain ({sent - received} not delivered; {unknownDriver[0]} from unknown drivers)");
            report.Add("all dashboards received", $"{perDashboard.Sum()} driver.location ({perDashboard.Sum() / sendSeconds:0}/s), min per dashboard {perDashboard.Min()}");
            report.Add("send → dashboard 0 p50/p95/p99/max", Stats.Latencies(latencies));
            report.Add("undelivered, by position", $"{firstMissing} drivers' first update, {lastMissing} drivers' last update; {unmatched} receipts matched no send");
            report.Add("errors sent to drivers", $"{driverErrors.Sum()}");
            report.Add("sockets closed by server", $"{closes.Count(c => c is not null)}");
            report.Add("server CPU while sending", $"{cpuSending:0.0} s over {sendSeconds:0.0} s = {cpuSending / sendSeconds:0.00} cores");
            report.Add("bench CPU while sending", $"{benchCpu:0.0} s = {benchCpu / sendSeconds:0.00} cores");
            report.Add("machine busy while sending", $"{MachineCpu.BusyShare(machineBefore, machineSending):P0} of {Environment.ProcessorCount} cores");
            report.Add("server peak working set", usage.PeakWorkingSetKiB is { } kib ? $"{kib / 1024.0:0} MiB (VmHWM)" : "n/a");
            var text = stats.ToString();
            report.Add("/api/ws/stats", text.Length > 400 ? text[..400] + "…" : text);
            var (warnings, errors, _) = server.LogSummary;
            report.Add("server log", $"{warnings} warnings, {errors} errors");
            Console.WriteLine();
            Console.WriteLine("== locations results");
            report.Print();
            return 0;
        }
        finally
        {
            RealtimeSetup.Close(drivers);
            RealtimeSetup.Close(dashboards);
        }
    }
}
