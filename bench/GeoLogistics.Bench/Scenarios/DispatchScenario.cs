using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;
using GeoLogistics.Bench.Harness;

namespace GeoLogistics.Bench.Scenarios;

/// <summary>
/// SPEC §12 "dispatch, 10,000 drivers online": drivers spread over a 20 km city go online; a dispatcher creates
/// orders at a target rate; the admin follows the event log and times each order from just before its POST to the
/// arrival of its <c>order.assigned</c>. Afterwards the whole log is replayed to count double bookings. On
/// PostgreSQL, <c>pgbench -N</c> runs first on the same cluster: SPEC §12's target is a share of its tps.
/// </summary>
public sealed class DispatchScenario : IScenario
{
    private const string DispatcherEmail = "dispatcher@bench.test";

    /// <summary>No new assignment for this long, with every POST answered, ends the wait for the rest.</summary>
    private static readonly TimeSpan NoProgressLimit = TimeSpan.FromSeconds(10);

    public string Name => "dispatch";

    public string Summary =>
        "Drivers online across a 20 km city, orders created at a target rate; create→assigned latency, assignments/s, double bookings; on PostgreSQL against pgbench -N first.";

    public IReadOnlyList<BenchOption> Options { get; } =
    [
        .. BenchStore.Options,
        .. ServerProcess.Options,
        .. PgBench.Options,
        new("drivers", "drivers created, logged in, located and put online before the measured phase", "10000"),
        new("orders", "orders created in the measured phase", "2000"),
        new("rate", "target order creations per second (SPEC §12's p99 target is at 500/s)", "500"),
        new("concurrency", "most order POSTs in flight at once", "64"),
        new("setup-concurrency", "most setup requests in flight at once", "32"),
        new("timeout", "seconds after the first POST to give up waiting for assignments", "120"),
        new("seed", "seed of the random positions, so runs are comparable", "1"),
    ];

    public async Task<int> RunAsync(BenchArgs args, CancellationToken ct)
    {
        var settings = new Settings(
            Drivers: args.Int("drivers", 1, 1_000_000),
            Orders: args.Int("orders", 1, 1_000_000),
            Rate: args.Double("rate", 0.1, 100_000),
            Concurrency: args.Int("concurrency", 1, 10_000),
            SetupConcurrency: args.Int("setup-concurrency", 1, 1_000),
            Timeout: TimeSpan.FromSeconds(args.Int("timeout", 1, 3_600)),
            Seed: args.Int("seed", int.MinValue, int.MaxValue));

        await using var store = await BenchStore.CreateAsync(args, ct);
        var reference = await ReferenceAsync(args, store, ct);
        await using var server = await ServerProcess.StartAsync(args, store, ct);
        Console.WriteLine($"== server pid {server.Pid} on {server.Address}, store {store.Kind}");
        using var api = new Api(server.Address);
        var city = new City(settings.Seed, settings.Drivers, settings.Orders);

        var (adminToken, _) = await api.LoginAsync(server.AdminEmail, server.AdminPassword, ct);
        var fleet = await SetUpAsync(api, adminToken, settings, city, ct);
        server.EnsureRunning();

        var run = await MeasureAsync(api, server, store, adminToken, fleet, settings, city, ct);
        server.EnsureRunning();

        // The invariant is checked on the whole log and on the final state, not on what the timing loop saw.
        var log = await EventFollower.ReadAllAsync(api, adminToken, ct);
        var check = BookingReplay.Check(log);
        var final = await ReadFinalOrdersAsync(api, fleet.DispatcherToken, ct);
        var usage = server.ReadUsage();
        var (warnings, errors, firstErrors) = server.LogSummary;

        var doubleBookings = Math.Max(check.DoubleBookings,
            Math.Max(check.AssignedEvents - check.DistinctAssignedDrivers, final.ActiveOrders - final.DistinctDrivers));
        var report = new Report();
        report.Add("store", store.Kind);
        report.Add("drivers online", $"{settings.Drivers}");
        report.Add("setup", $"{fleet.SetupTime.TotalSeconds:0.0} s (drivers {fleet.DriversTime.TotalSeconds:0.0} s at {settings.Drivers / fleet.DriversTime.TotalSeconds:0}/s, location refresh {fleet.RefreshTime.TotalSeconds:0.0} s)");
        report.Add("orders", $"{settings.Orders} posted, {run.Created} answered 201{run.Failures}");
        report.Add("order rate", $"target {settings.Rate:0}/s, achieved {run.AchievedRate:0}/s (concurrency {settings.Concurrency})");
        report.Add("measured wall time", $"{run.Wall.TotalSeconds:0.00} s ({run.StopReason})");
        report.Add("assigned", $"{run.Latencies.Count}");
        report.Add("assignments/s", $"{run.AssignmentsPerSecond:0}");
        report.Add("create→assigned p50/p95/p99/max", Stats.Latencies(run.Latencies));
        report.Add("POST /api/orders p50/p95/p99/max", Stats.Latencies(run.PostLatencies));
        report.Add("orders left unassigned", $"{run.Created - run.Latencies.Count} (final state: {final.Describe()})");
        report.Add("order.dispatch_failed events", $"{run.DispatchFailedEvents}");
        report.Add("event log", $"{check.Events} events, {check.AssignedEvents} order.assigned for {check.DistinctAssignedDrivers} distinct drivers, {check.Reassignments} reassignments, {check.DriverEventMismatches} driver-event mismatches");
        report.Add("final active orders", $"{final.ActiveOrders} on {final.DistinctDrivers} distinct drivers");
        report.Add("double bookings", $"{doubleBookings}");
        report.Add("server peak working set", usage.PeakWorkingSetKiB is { } kib ? $"{kib / 1024.0:0} MiB (VmHWM)" : "n/a");
        report.Add("server CPU", usage.CpuSeconds is { } cpu ? $"{cpu:0.0} s total; {run.ServerCpu:0.0} s in the measured phase" : "n/a");
        var database = run.DatabaseCpu is { } db ? $", PostgreSQL {db:0.0} s" : "";
        report.Add("machine CPU in measured phase", $"{run.MachineBusy:P0} of {Environment.ProcessorCount} cores busy: server {run.ServerCpu:0.0} s, bench {run.BenchCpu:0.0} s{database}, everything else {run.OtherCpu:0.0} s");
        report.Add("event polls in measured phase", $"{run.PollTimes.Count}, round trip {Stats.Latencies(run.PollTimes)}");
        report.Add("server log", $"{warnings} warnings, {errors} errors");
        Console.WriteLine();
        Console.WriteLine("== dispatch results");
        report.Print();
        foreach (var line in firstErrors)
        {
            Console.WriteLine($"  server: {line}");
        }
        PrintTargets(store, reference, settings, run, doubleBookings);
        return doubleBookings > 0 ? 3 : 0;
    }

    /// <summary>On PostgreSQL (unless --no-pgbench), pgbench -N on the same cluster before anything else runs.</summary>
    private static async Task<PgBenchResult?> ReferenceAsync(BenchArgs args, BenchStore store, CancellationToken ct)
    {
        if (store.Kind != "postgres")
        {
            Console.WriteLine("== store sqlite: no pgbench reference (SPEC §12's dispatch target is a share of PostgreSQL's pgbench tps)");
            return null;
        }
        if (args.Has("no-pgbench"))
        {
            Console.WriteLine("== --no-pgbench: no reference run");
            return null;
        }
        var result = await PgBench.RunAsync(args.String("postgres")!, args.Int("pgbench-clients", 1, 1_000), args.Int("pgbench-seconds", 1, 3_600),
            args.Int("pgbench-scale", 1, 10_000), store.DatabaseCpuSeconds, ct);
        var database = result.DatabaseCpu is { } cpu ? $", PostgreSQL {cpu:0.0} CPU-s" : "";
        Console.WriteLine($"== pgbench: {result.Tps:0} tps, latency average {result.LatencyMs:0.00} ms, {result.Transactions} transactions in {result.Seconds:0.0} s; machine {result.MachineBusy:P0} busy{database}");
        return result;
    }

    private static void PrintTargets(BenchStore store, PgBenchResult? reference, Settings settings, Run run, int doubleBookings)
    {
        var p99 = Stats.Percentile(run.Latencies, 99);
        Console.WriteLine();
        Console.WriteLine("== dispatch against SPEC §12");
        var report = new Report();
        report.Add("pgbench -N tps (reference)", reference is null
            ? (store.Kind == "postgres" ? "not run (--no-pgbench)" : "none: the store is SQLite; the figures below stand alone")
            : $"{reference.Tps:0} ({reference.Command})");
        report.Add("assignments/s", $"{run.AssignmentsPerSecond:0} (orders offered at {settings.Rate:0}/s, achieved {run.AchievedRate:0}/s)");
        report.Add("assignments/s ÷ pgbench tps", reference is null ? "n/a" : $"{run.AssignmentsPerSecond / reference.Tps:P0}");
        report.Add("p99 create→assigned", $"{p99:0.0} ms");
        report.Add("double bookings", $"{doubleBookings}");
        report.Print();
        var postgres = store.Kind == "postgres";
        Report.Target("assignments/s ≥ 50 % of pgbench -N tps", reference is null ? null : run.AssignmentsPerSecond >= 0.5 * reference.Tps,
            reference is null ? $"no pgbench reference on {store.Kind}" : $"{run.AssignmentsPerSecond:0} vs {reference.Tps:0} tps");
        Report.Target("assignments/s ≥ 500 (PostgreSQL)", postgres ? run.AssignmentsPerSecond >= 500 : null, $"{run.AssignmentsPerSecond:0}/s on {store.Kind}{(postgres ? "" : "; the target is for PostgreSQL")}");
        var size = settings.Rate >= 500 && settings.Drivers >= 10_000;
        Report.Target("p99 create→assigned ≤ 100 ms at 500 orders/s offered", size ? p99 <= 100 && run.Latencies.Count == run.Created : null,
            $"p99 {p99:0.0} ms, {run.Latencies.Count} of {run.Created} assigned, {settings.Rate:0}/s offered, {settings.Drivers} drivers" +
            (size ? "" : "; the target's size is 500/s and 10,000 drivers"));
        Report.Target("zero double bookings", doubleBookings == 0, $"{doubleBookings}");
    }

    private sealed record Settings(int Drivers, int Orders, double Rate, int Concurrency, int SetupConcurrency, TimeSpan Timeout, int Seed);

    private sealed record Fleet(string DispatcherToken, string[] DriverTokens, TimeSpan SetupTime, TimeSpan DriversTime, TimeSpan RefreshTime);

    /// <summary>
    /// A tenant, its dispatcher, and the drivers (platform fleet): each created by the admin, logged in, located and
    /// put online. Not measured beyond its duration.
    /// </summary>
    private static async Task<Fleet> SetUpAsync(Api api, string adminToken, Settings settings, City city, CancellationToken ct)
    {
        var total = Stopwatch.StartNew();
        Console.WriteLine($"== setup: tenant, dispatcher, {settings.Drivers} drivers ({settings.SetupConcurrency} requests in flight)");
        var tenant = await api.CallAsync(HttpMethod.Post, "/api/tenants", adminToken,
            new { name = $"Bench {ServerProcess.RandomText(6)}" }, HttpStatusCode.Created, ct);
        var tenantId = tenant.GetProperty("id").GetGuid();
        var password = ServerProcess.RandomText(12);
        await api.CallAsync(HttpMethod.Post, "/api/users", adminToken,
            new { email = DispatcherEmail, password, role = "dispatcher", tenantId, name = "Bench dispatcher" }, HttpStatusCode.Created, ct);
        var (dispatcherToken, _) = await api.LoginAsync(DispatcherEmail, password, ct);

        var drivers = Stopwatch.StartNew();
        var tokens = new string[settings.Drivers];
        var done = 0;
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = settings.SetupConcurrency, CancellationToken = ct };
        await Parallel.ForEachAsync(Enumerable.Range(0, settings.Drivers), parallel, async (i, token) =>
        {
            var email = $"driver{i:D6}@bench.test";
            await api.CallAsync(HttpMethod.Post, "/api/drivers", adminToken, new { email, password, name = $"Bench driver {i}" }, HttpStatusCode.Created, token);
            var (driverToken, _) = await api.LoginAsync(email, password, token);
            var (lat, lng) = city.Drivers[i];
            await api.CallAsync(HttpMethod.Post, "/api/drivers/me/location", driverToken, new { lat, lng }, HttpStatusCode.Accepted, token);
            await api.CallAsync(HttpMethod.Post, "/api/drivers/me/status", driverToken, new { online = true }, HttpStatusCode.OK, token);
            tokens[i] = driverToken;
            var count = Interlocked.Increment(ref done);
            if (count % Math.Max(1, settings.Drivers / 10) == 0)
            {
                Console.WriteLine($"   {count} drivers online after {drivers.Elapsed.TotalSeconds:0.0} s");
            }
        });
        drivers.Stop();

        // Candidates need a position fresher than Dispatch:MaxLocationAge (2 min): a long setup would age the first
        // drivers out, so every driver reports again, as a moving one would, just before the load starts.
        var refresh = Stopwatch.StartNew();
        await Parallel.ForEachAsync(Enumerable.Range(0, settings.Drivers), parallel, async (i, token) =>
        {
            var (lat, lng) = city.Drivers[i];
            await api.CallAsync(HttpMethod.Post, "/api/drivers/me/location", tokens[i], new { lat, lng }, HttpStatusCode.Accepted, token);
        });
        refresh.Stop();
        Console.WriteLine($"== setup took {total.Elapsed.TotalSeconds:0.0} s (drivers {drivers.Elapsed.TotalSeconds:0.0} s, location refresh {refresh.Elapsed.TotalSeconds:0.0} s)");
        return new Fleet(dispatcherToken, tokens, total.Elapsed, drivers.Elapsed, refresh.Elapsed);
    }

    private sealed record Run(
        int Created,
        string Failures,
        double AchievedRate,
        TimeSpan Wall,
        string StopReason,
        List<double> Latencies,
        List<double> PostLatencies,
        double AssignmentsPerSecond,
        int DispatchFailedEvents,
        double ServerCpu,
        double MachineBusy,
        double BenchCpu,
        double? DatabaseCpu,
        double OtherCpu,
        List<double> PollTimes);

    /// <summary>What the follower saw, written by its loop and read by the pacing loop.</summary>
    private sealed class Seen
    {
        public readonly ConcurrentDictionary<Guid, long> AssignedAt = new();
        public long LastAssignedAt;
        public int DispatchFailed;
    }

    private static async Task<Run> MeasureAsync(
        Api api, ServerProcess server, BenchStore store, string adminToken, Fleet fleet, Settings settings, City city, CancellationToken ct)
    {
        var seen = new Seen();
        var follower = new EventFollower(api, adminToken, (e, receivedAt) =>
        {
            switch (e.Type)
            {
                case "order.assigned" when e.OrderId is { } id:
                    if (seen.AssignedAt.TryAdd(id, receivedAt))
                    {
                        Volatile.Write(ref seen.LastAssignedAt, receivedAt);
                    }
                    break;
                case "order.dispatch_failed":
                    Interlocked.Increment(ref seen.DispatchFailed);
                    break;
            }
        });
        // Read the setup's events first, so the first orders do not wait behind ten pages of them.
        await follower.CatchUpAsync(ct);
        var pagesBefore = follower.PageTimes.Count;
        using var stopFollowing = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var following = follower.FollowAsync(stopFollowing.Token);

        var n = settings.Orders;
        var sent = new long[n];
        var answered = new long[n];
        var ids = new Guid[n];
        var statuses = new int[n];
        using var gate = new SemaphoreSlim(settings.Concurrency);
        var posts = new List<Task>(n);

        async Task PostAsync(int i)
        {
            try
            {
                var (pickup, dropoff) = city.Orders[i];
                var body = new
                {
                    pickup = new { lat = pickup.Lat, lng = pickup.Lng },
                    dropoff = new { lat = dropoff.Lat, lng = dropoff.Lng },
                };
                sent[i] = Stopwatch.GetTimestamp();
                var response = await api.SendAsync(HttpMethod.Post, "/api/orders", fleet.DispatcherToken, body, ct);
                answered[i] = response.ReceivedAt;
                statuses[i] = (int)response.Status;
                if (response.Status == HttpStatusCode.Created)
                {
                    ids[i] = response.Body.GetProperty("id").GetGuid();
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

        Console.WriteLine($"== measuring: {n} orders at {settings.Rate:0}/s, at most {settings.Concurrency} in flight");
        var serverCpuBefore = server.ReadUsage().CpuSeconds ?? double.NaN;
        var databaseCpuBefore = store.DatabaseCpuSeconds();
        var machineBefore = MachineCpu.Read();
        var benchCpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        var interval = Stopwatch.Frequency / settings.Rate;
        var start = Stopwatch.GetTimestamp();
        var stopReason = "every order assigned";
        var posted = 0;
        for (var i = 0; i < n; i++)
        {
            var due = start + (long)(i * interval);
            if (due - Stopwatch.GetTimestamp() is var wait and > 0)
            {
                await Task.Delay(TimeSpan.FromSeconds((double)wait / Stopwatch.Frequency), ct);
            }
            if (Stopwatch.GetElapsedTime(start) > settings.Timeout)
            {
                stopReason = $"timeout after {settings.Timeout.TotalSeconds:0} s while posting";
                break;
            }
            await gate.WaitAsync(ct);
            posts.Add(PostAsync(i));
            posted++;
        }
        await Task.WhenAll(posts);
        var allAnswered = Stopwatch.GetTimestamp();
        var created = statuses.Count(s => s == (int)HttpStatusCode.Created);

        while (seen.AssignedAt.Count < created)
        {
            server.EnsureRunning();
            var lastProgress = Math.Max(allAnswered, Volatile.Read(ref seen.LastAssignedAt));
            if (Stopwatch.GetElapsedTime(lastProgress) >= NoProgressLimit)
            {
                stopReason = $"no assignment for {NoProgressLimit.TotalSeconds:0} s ({Volatile.Read(ref seen.DispatchFailed)} dispatch_failed events)";
                break;
            }
            if (Stopwatch.GetElapsedTime(start) >= settings.Timeout)
            {
                stopReason = $"timeout after {settings.Timeout.TotalSeconds:0} s";
                break;
            }
            await Task.Delay(10, ct);
        }
        var stopped = Stopwatch.GetTimestamp();
        await stopFollowing.CancelAsync();
        await following;

        var serverCpu = (server.ReadUsage().CpuSeconds ?? double.NaN) - serverCpuBefore;
        var databaseCpu = store.DatabaseCpuSeconds() - databaseCpuBefore;
        var machineAfter = MachineCpu.Read();
        var machineBusy = MachineCpu.BusyShare(machineBefore, machineAfter);
        var benchCpu = (Process.GetCurrentProcess().TotalProcessorTime - benchCpuBefore).TotalSeconds;
        // Whatever else shares the machine: above zero, the figures are not clean.
        var otherCpu = MachineCpu.BusySeconds(machineBefore, machineAfter) - serverCpu - benchCpu - (databaseCpu ?? 0);

        var latencies = new List<double>(created);
        var postLatencies = new List<double>(created);
        for (var i = 0; i < posted; i++)
        {
            if (statuses[i] != (int)HttpStatusCode.Created)
            {
                continue;
            }
            postLatencies.Add(EventFollower.Milliseconds(sent[i], answered[i]));
            if (seen.AssignedAt.TryGetValue(ids[i], out var assignedAt))
            {
                latencies.Add(EventFollower.Milliseconds(sent[i], assignedAt));
            }
        }
        latencies.Sort();
        postLatencies.Sort();
        var lastAssigned = Volatile.Read(ref seen.LastAssignedAt);
        var assignedSpan = lastAssigned > start ? Stopwatch.GetElapsedTime(start, lastAssigned) : TimeSpan.Zero;
        var postSpan = posted > 1 ? Stopwatch.GetElapsedTime(start, sent[posted - 1]).TotalSeconds : 0;
        var failures = statuses.Take(posted).Where(s => s != (int)HttpStatusCode.Created)
            .GroupBy(s => s).Select(g => $"{g.Count()} × {(g.Key < 0 ? "connection error" : g.Key.ToString(CultureInfo.InvariantCulture))}").ToList();

        return new Run(
            created,
            failures.Count == 0 ? "" : $"; failed: {string.Join(", ", failures)}",
            postSpan > 0 ? (posted - 1) / postSpan : double.NaN,
            latencies.Count == created && lastAssigned > start ? assignedSpan : Stopwatch.GetElapsedTime(start, stopped),
            stopReason,
            latencies,
            postLatencies,
            assignedSpan > TimeSpan.Zero ? latencies.Count / assignedSpan.TotalSeconds : 0,
            Volatile.Read(ref seen.DispatchFailed),
            serverCpu,
            machineBusy,
            benchCpu,
            databaseCpu,
            otherCpu,
            [.. follower.PageTimes.Skip(pagesBefore).Order()]);
    }

    private sealed record FinalOrders(Dictionary<string, int> ByStatus, int ActiveOrders, int DistinctDrivers)
    {
        public string Describe() => string.Join(", ", ByStatus.OrderBy(s => s.Key, StringComparer.Ordinal).Select(s => $"{s.Value} {s.Key}"));
    }

    /// <summary>Every order of the tenant as the dispatcher sees it now.</summary>
    private static async Task<FinalOrders> ReadFinalOrdersAsync(Api api, string dispatcherToken, CancellationToken ct)
    {
        var byStatus = new Dictionary<string, int>(StringComparer.Ordinal);
        var drivers = new List<Guid>();
        string? cursor = null;
        do
        {
            var path = "/api/orders?limit=1000" + (cursor is null ? "" : "&cursor=" + Uri.EscapeDataString(cursor));
            var page = await api.CallAsync(HttpMethod.Get, path, dispatcherToken, null, HttpStatusCode.OK, ct);
            foreach (var order in page.GetProperty("items").EnumerateArray())
            {
                var status = order.GetProperty("status").GetString() ?? "?";
                byStatus[status] = byStatus.GetValueOrDefault(status) + 1;
                if (status is "ASSIGNED" or "PICKED_UP" or "IN_TRANSIT" && order.GetProperty("driverId") is { ValueKind: JsonValueKind.String } driver)
                {
                    drivers.Add(driver.GetGuid());
                }
            }
            cursor = page.TryGetProperty("nextCursor", out var next) && next.ValueKind == JsonValueKind.String ? next.GetString() : null;
        }
        while (cursor is not null);
        return new FinalOrders(byStatus, drivers.Count, drivers.Distinct().Count());
    }

    /// <summary>
    /// A square city of 20 km × 20 km around Amsterdam's centre (52.37, 4.89); positions are drawn up front from one
    /// seed, so two runs with the same seed put drivers and orders in the same places.
    /// </summary>
    private sealed class City
    {
        private const double CenterLat = 52.37;
        private const double CenterLng = 4.89;
        private const double HalfSideKm = 10;
        private const double KmPerDegreeLat = 111.2;

        public City(int seed, int drivers, int orders)
        {
            var random = new Random(seed);
            var halfLat = HalfSideKm / KmPerDegreeLat;
            var halfLng = HalfSideKm / (KmPerDegreeLat * Math.Cos(CenterLat * Math.PI / 180));
            (double Lat, double Lng) Point() =>
                (CenterLat + (((random.NextDouble() * 2) - 1) * halfLat), CenterLng + (((random.NextDouble() * 2) - 1) * halfLng));
            Drivers = [.. Enumerable.Range(0, drivers).Select(_ => Point())];
            Orders = [.. Enumerable.Range(0, orders).Select(_ => (Point(), Point()))];
        }

        public (double Lat, double Lng)[] Drivers { get; }

        public ((double Lat, double Lng) Pickup, (double Lat, double Lng) Dropoff)[] Orders { get; }
    }
}
