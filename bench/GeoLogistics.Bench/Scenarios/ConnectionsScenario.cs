using GeoLogistics.Bench.Harness;

namespace GeoLogistics.Bench.Scenarios;

/// <summary>
/// SPEC §12 "concurrent WebSocket connections held": N idle sockets, one admin token, each subscribed to
/// <c>orders</c>; server memory per connection from VmRSS before and after, each read after a 3 s settle.
/// </summary>
public sealed class ConnectionsScenario : IScenario
{
    public string Name => "connections";

    public string Summary => "N idle WebSockets subscribed to orders; server memory per connection (VmRSS delta ÷ N) and time to open them.";

    public IReadOnlyList<BenchOption> Options { get; } =
    [
        .. BenchStore.Options,
        .. ServerProcess.Options,
        new("connections", "idle sockets to open", "5000"),
        RealtimeSetup.OpenConcurrency,
        new("settle", "seconds to wait before each VmRSS reading", "3"),
    ];

    public async Task<int> RunAsync(BenchArgs args, CancellationToken ct)
    {
        var n = args.Int("connections", 1, 1_000_000);
        var concurrency = args.Int("open-concurrency", 1, 10_000);
        var settle = TimeSpan.FromSeconds(args.Int("settle", 0, 600));

        await using var store = await BenchStore.CreateAsync(args, ct);
        await using var server = await ServerProcess.StartAsync(args, store, ct);
        Console.WriteLine($"== server pid {server.Pid} on {server.Address}, store {store.Kind}");
        using var api = new Api(server.Address);
        var (adminToken, _) = await api.LoginAsync(server.AdminEmail, server.AdminPassword, ct);

        // Warm the WebSocket path once, so its first-use cost is not counted per connection.
        var (warm, _) = await RealtimeSetup.OpenAsync(server.Address, adminToken, 10, "orders", 10, ct);
        RealtimeSetup.Close(warm);
        await Task.Delay(settle, ct);
        var before = ProcStatus.KiB(server.Pid, "VmRSS");
        var cpuBefore = server.ReadUsage().CpuSeconds;

        Console.WriteLine($"== opening {n} sockets ({concurrency} handshakes in flight), VmRSS before {before} KiB");
        var (clients, took) = await RealtimeSetup.OpenAsync(server.Address, adminToken, n, "orders", concurrency, ct);
        try
        {
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var loops = clients.Select(c => c.RunAsync((_, _) => { }, stop.Token)).ToList();
            await Task.Delay(settle, ct);
            server.EnsureRunning();
            var after = ProcStatus.KiB(server.Pid, "VmRSS");
            var usage = server.ReadUsage();
            var open = clients.Count(c => c.State == System.Net.WebSockets.WebSocketState.Open);
            var stats = await api.CallAsync(HttpMethod.Get, "/api/ws/stats", adminToken, null, System.Net.HttpStatusCode.OK, ct);
            await stop.CancelAsync();
            await Task.WhenAll(loops);

            var report = new Report();
            report.Add("store", store.Kind);
            report.Add("connections opened", $"{n} ({open} still open after the settle)");
            report.Add("open time", $"{took.TotalSeconds:0.00} s ({n / took.TotalSeconds:0} connections/s incl. subscribe)");
            report.Add("server VmRSS before / after", $"{before} / {after} KiB");
            report.Add("memory per connection", before is { } b && after is { } a ? $"{(a - b) * 1024.0 / n / 1024:0.00} KiB" : "n/a");
            report.Add("server peak working set", usage.PeakWorkingSetKiB is { } kib ? $"{kib / 1024.0:0} MiB (VmHWM)" : "n/a");
            report.Add("server CPU while opening+settle", usage.CpuSeconds is { } c2 && cpuBefore is { } c1 ? $"{c2 - c1:0.0} s" : "n/a");
            report.Add("/api/ws/stats", stats.ToString().Length > 400 ? stats.ToString()[..400] + "…" : stats.ToString());
            var (warnings, errors, _) = server.LogSummary;
            report.Add("server log", $"{warnings} warnings, {errors} errors");
            Console.WriteLine();
            Console.WriteLine("== connections results");
            report.Print();
            return 0;
        }
        finally
        {
            RealtimeSetup.Close(clients);
        }
    }
}
