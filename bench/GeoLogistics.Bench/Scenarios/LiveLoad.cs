using System.Diagnostics;
using System.Globalization;
using System.Net.WebSockets;
using GeoLogistics.Bench.Harness;

namespace GeoLogistics.Bench.Scenarios;

/// <summary>
/// A live-path run: <see cref="Subscribers"/> sockets subscribed to <c>orders</c>, held idle for a settle, then
/// <see cref="Orders"/> orders created at <see cref="Rate"/> per second with at most <see cref="Concurrency"/> in flight
/// (none for an idle run). With <see cref="InTwoSteps"/>, the sockets are opened a third first and the rest after a
/// settle, and VmRSS is read in between as well: what a connection adds, apart from what opening any costs once.
/// </summary>
internal sealed record LoadShape(int Subscribers, int Orders, double Rate, int Concurrency, int OpenConcurrency, TimeSpan Settle, TimeSpan Wait)
{
    public bool InTwoSteps { get; init; }

    /// <summary>The sockets of the first step: all of them unless <see cref="InTwoSteps"/>.</summary>
    public int FirstStep => InTwoSteps && Subscribers >= 3 ? Subscribers / 3 : Subscribers;
}

/// <summary>What one side (our server or the broadcaster) did under a <see cref="LoadShape"/>, with subscribers of one protocol.</summary>
internal sealed class LiveResult
{
    public required string Side { get; init; }
    public required string Protocol { get; init; }
    public required LoadShape Shape { get; init; }
    public TimeSpan OpenTook { get; init; }
    public int StillOpen { get; init; }
    public long? RssBeforeKiB { get; init; }
    public long? RssIdleKiB { get; init; }
    /// <summary>VmRSS after the first step's sockets (<see cref="LoadShape.InTwoSteps"/>), settled.</summary>
    public long? RssFirstStepKiB { get; init; }
    public long? TimersBefore { get; init; }
    public long? TimersIdle { get; init; }
    public double OpenCpu { get; init; }
    public string? SocketStats { get; init; }
    public int? MessageBytes { get; set; }

    public int Created { get; set; }
    public double AchievedRate { get; set; }
    public string Failures { get; set; } = "";
    public long Expected { get; set; }
    public List<double> Each { get; set; } = [];
    public List<double> Complete { get; set; } = [];
    public List<double> Post { get; set; } = [];
    /// <summary>Per delivery, receipt − its POST's answer: the push apart from the write path (negative when it came first).</summary>
    public List<double> AfterAnswer { get; set; } = [];
    public List<double> PerEventRate { get; set; } = [];
    public double BurstSeconds { get; set; }
    public long OtherMessages { get; set; }
    public int ClosedByTarget { get; set; }
    public double Cpu { get; set; }
    public double KernelCpu { get; set; }
    public double? DatabaseCpu { get; set; }
    public double MeasuredSeconds { get; set; }
    public double BenchCpu { get; set; }
    public double BenchKernelCpu { get; set; }
    public double MachineBusy { get; set; }
    public long? RssEndKiB { get; set; }
    public long? PeakKiB { get; set; }
    public int Warnings { get; set; }
    public int Errors { get; set; }

    /// <summary>(VmRSS with the sockets − VmRSS before them) ÷ sockets, in KiB.</summary>
    public double? IdleKiBPerConnection =>
        RssBeforeKiB is { } before && RssIdleKiB is { } idle ? (double)(idle - before) / Shape.Subscribers : null;

    /// <summary>
    /// (VmRSS with every socket − VmRSS with the first step's) ÷ the sockets of the second step, in KiB: what one more
    /// connection costs, without what the server grows by once when sockets start to open (its GC's allocation room,
    /// its thread pool, Kestrel's buffer pool).
    /// </summary>
    public double? AddedKiBPerConnection =>
        RssFirstStepKiB is { } first && RssIdleKiB is { } idle ? (double)(idle - first) / (Shape.Subscribers - Shape.FirstStep) : null;

    public double P99 => Stats.Percentile(Each, 99);

    public bool AllDelivered => Each.Count == Expected;
}

internal static class LiveLoad
{
    public static BenchOption Settle(string seconds) => new("settle", "seconds to wait before each VmRSS reading (before and after opening the sockets)", seconds);

    public static readonly BenchOption DispatchWhen = new("dispatch-when",
        "the orders' dispatchWhen on our server: ready (not dispatched: order.created is the only message per order) or created (dispatched; with no drivers, order.dispatch_failed follows)",
        "ready");

    /// <summary>
    /// Runs each side <c>--only</c> asks for, one after the other, each its own process with its own sockets: our server
    /// first, so that the broadcaster then sends our server's own <c>order.created</c> (same bytes, new order id). With
    /// <c>--protocols</c>, our server once per protocol instead, in the order given; the plain SignalR app last, when
    /// asked for (<see cref="LiveTarget.Runs"/>).
    /// </summary>
    public static async Task<List<LiveResult>> RunSidesAsync(BenchArgs args, LoadShape shape, string dispatchWhen, CancellationToken ct)
    {
        EnsureFileLimit(shape.Subscribers);
        var results = new List<LiveResult>();
        string? sample = null;
        foreach (var (side, protocol) in LiveTarget.Runs(args))
        {
            Console.WriteLine();
            await using var target = side switch
            {
                "server" => await LiveTarget.StartServerAsync(args, dispatchWhen, ct),
                ServerProcess.PlainSignalR => await LiveTarget.StartPlainSignalRAsync(args, sample, ct),
                _ => await LiveTarget.StartBroadcasterAsync(args, sample, ct),
            };
            var result = await RunAsync(target, protocol, shape, ct);
            results.Add(result);
            if (shape.Orders > 0 && sample is null && await target.FirstOrderCreatedAsync(ct) is { } first)
            {
                sample = first;
                result.MessageBytes = System.Text.Encoding.UTF8.GetByteCount(first);
            }
        }
        return results;
    }

    private static void EnsureFileLimit(int sockets)
    {
        if (ProcFs.OpenFileLimit() is { } limit && sockets + 200 > limit)
        {
            throw new BenchException(
                $"{sockets} sockets need about {sockets + 200} open files in the bench (and as many in the server), but `ulimit -n` is {limit}: raise it, or open fewer.");
        }
    }

    private static async Task<LiveResult> RunAsync(LiveTarget target, string protocol, LoadShape shape, CancellationToken ct)
    {
        var n = shape.Subscribers;
        var process = target.Process;
        Task<ISubscriber> Open(CancellationToken token) => Subscribers.OpenOrdersAsync(protocol, process.Address, target.SocketToken, token);

        // Warm the protocol's path once, so its first-use cost is not counted per connection; and the order path, with
        // a few subscribers on it, so that the measured orders do not pay for compiling it (its first ones stall for
        // about half a second on a 2-core machine: the JIT, EF Core's first queries).
        var (warm, _) = await RealtimeSetup.OpenAsync(Math.Min(10, n), 10, "warm-up", Open, ct);
        if (shape.Orders > 0)
        {
            var count = Math.Min(shape.Orders, Math.Max(60, (int)(shape.Rate * 3)));
            Console.WriteLine($"== {process.Name}: warming up with {count} orders at {shape.Rate:0.#}/s (not counted)");
            var random = new Random(2);
            await PostOnScheduleAsync(target, [.. Enumerable.Range(0, count).Select(_ => RealtimeSetup.Order(random))], shape, ct);
        }
        await RealtimeSetup.CloseAsync(warm);
        await Task.Delay(shape.Settle, ct);
        var rssBefore = process.ResidentKiB();
        var timersBefore = await target.TimersAsync(ct);
        var cpuBeforeOpen = process.ReadUsage().CpuSeconds ?? double.NaN;
        Console.WriteLine($"== {process.Name}: opening {n} {protocol} subscribers on orders ({shape.OpenConcurrency} handshakes in flight), VmRSS before {rssBefore} KiB");
        var (clients, took) = await RealtimeSetup.OpenAsync(shape.FirstStep, shape.OpenConcurrency, $"{protocol} subscribers on orders", Open, ct);
        long? rssFirstStep = null;
        try
        {
            if (shape.FirstStep < n)
            {
                await Task.Delay(shape.Settle, ct);
                rssFirstStep = process.ResidentKiB();
                Console.WriteLine($"   {shape.FirstStep} open after the settle, VmRSS {rssFirstStep} KiB; opening {n - shape.FirstStep} more");
                var (more, tookMore) = await RealtimeSetup.OpenAsync(n - shape.FirstStep, shape.OpenConcurrency, $"more {protocol} subscribers on orders", Open, ct);
                clients = [.. clients, .. more];
                took += tookMore;
            }
            // Each subscriber's loop is sequential: its own list needs no lock.
            var receipts = new List<(Guid OrderId, long At)>[n];
            var others = new long[n];
            var delivered = new long[1];
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var loops = new List<Task<WebSocketCloseStatus?>>(n);
            for (var i = 0; i < n; i++)
            {
                var mine = receipts[i] = new List<(Guid, long)>(shape.Orders);
                var index = i;
                loops.Add(clients[i].RunAsync((message, at) =>
                {
                    if (message.Type == "order.created" && Guid.TryParse(message.OrderId, out var id))
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
            await Task.Delay(shape.Settle, ct);
            process.EnsureRunning();
            var result = new LiveResult
            {
                Side = process.Name,
                Protocol = protocol,
                Shape = shape,
                OpenTook = took,
                StillOpen = clients.Count(c => c.IsOpen),
                RssBeforeKiB = rssBefore,
                RssIdleKiB = process.ResidentKiB(),
                RssFirstStepKiB = rssFirstStep,
                TimersBefore = timersBefore,
                TimersIdle = await target.TimersAsync(ct),
                OpenCpu = (process.ReadUsage().CpuSeconds ?? double.NaN) - cpuBeforeOpen,
                SocketStats = await target.SocketStatsAsync(ct),
                MessageBytes = target.MessageBytes,
            };
            Console.WriteLine($"   {result.StillOpen} open after the settle, VmRSS {result.RssIdleKiB} KiB");
            var load = shape.Orders > 0 ? await LoadAsync(target, shape, result, delivered, ct) : default;
            await stop.CancelAsync();
            var closes = await Task.WhenAll(loops);
            if (load.Posts is not null)
            {
                Analyse(result, load.Posts, load.Start, load.End, receipts);
            }
            result.ClosedByTarget = closes.Count(c => c is not null);
            result.OtherMessages = others.Sum();
            var usage = process.ReadUsage();
            result.PeakKiB = usage.PeakWorkingSetKiB;
            (result.Warnings, result.Errors, _) = process.LogSummary;
            return result;
        }
        finally
        {
            await RealtimeSetup.CloseAsync(clients);
        }
    }

    /// <summary>Creates the orders on schedule and waits for their deliveries; returns what was posted, and when the phase began and ended.</summary>
    private static async Task<(Posted[] Posts, long Start, long End)> LoadAsync(
        LiveTarget target, LoadShape shape, LiveResult result, long[] delivered, CancellationToken ct)
    {
        var m = shape.Orders;
        var process = target.Process;
        Console.WriteLine($"== {process.Name}: {m} orders at {shape.Rate:0.#}/s, at most {shape.Concurrency} in flight");
        var random = new Random(1);
        var bodies = Enumerable.Range(0, m).Select(_ => RealtimeSetup.Order(random)).ToArray();

        var usageBefore = process.ReadUsage();
        var databaseBefore = target.DatabaseCpuSeconds();
        var bench = Process.GetCurrentProcess();
        var (benchBefore, benchKernelBefore) = (bench.TotalProcessorTime, bench.PrivilegedProcessorTime);
        var machineBefore = MachineCpu.Read();
        var start = Stopwatch.GetTimestamp();
        var posts = await PostOnScheduleAsync(target, bodies, shape, ct);
        var lastPost = posts.Max(p => p.SentAt);
        result.AchievedRate = m > 1 ? (m - 1) / ProcStatus.Ms(start, lastPost) * 1000 : double.NaN;
        result.Created = posts.Count(p => p.OrderId is not null);
        result.Failures = string.Join(", ", posts.Where(p => p.OrderId is null).GroupBy(p => p.Status)
            .Select(g => $"{g.Count()} × {(g.Key < 0 ? "connection error" : g.Key.ToString(CultureInfo.InvariantCulture))}"));
        result.Expected = (long)result.Created * shape.Subscribers;
        var waiting = Stopwatch.StartNew();
        while (Interlocked.Read(ref delivered[0]) < result.Expected && waiting.Elapsed < shape.Wait)
        {
            process.EnsureRunning();
            await Task.Delay(20, ct);
        }
        var end = Stopwatch.GetTimestamp();
        var usage = process.ReadUsage();
        result.Cpu = (usage.CpuSeconds ?? double.NaN) - (usageBefore.CpuSeconds ?? double.NaN);
        result.KernelCpu = (usage.KernelCpuSeconds ?? double.NaN) - (usageBefore.KernelCpuSeconds ?? double.NaN);
        result.DatabaseCpu = target.DatabaseCpuSeconds() - databaseBefore;
        bench.Refresh();
        result.BenchCpu = (bench.TotalProcessorTime - benchBefore).TotalSeconds;
        result.BenchKernelCpu = (bench.PrivilegedProcessorTime - benchKernelBefore).TotalSeconds;
        result.MachineBusy = MachineCpu.BusyShare(machineBefore, MachineCpu.Read());
        result.MeasuredSeconds = ProcStatus.Ms(start, end) / 1000;
        result.RssEndKiB = process.ResidentKiB();
        return (posts, start, end);
    }

    /// <summary>Creates the orders at <see cref="LoadShape.Rate"/>, at most <see cref="LoadShape.Concurrency"/> in flight; what each POST got, and when.</summary>
    private static async Task<Posted[]> PostOnScheduleAsync(LiveTarget target, object[] bodies, LoadShape shape, CancellationToken ct)
    {
        var posts = new Posted[bodies.Length];
        using var gate = new SemaphoreSlim(shape.Concurrency);
        var tasks = new List<Task>(bodies.Length);

        async Task PostAsync(int i)
        {
            try
            {
                posts[i] = await target.CreateOrderAsync(bodies[i], ct);
            }
            finally
            {
                gate.Release();
            }
        }

        var start = Stopwatch.GetTimestamp();
        var interval = Stopwatch.Frequency / shape.Rate;
        for (var i = 0; i < bodies.Length; i++)
        {
            var due = start + (long)(i * interval);
            if (due - Stopwatch.GetTimestamp() is var wait and > 0)
            {
                await Task.Delay(TimeSpan.FromSeconds((double)wait / Stopwatch.Frequency), ct);
            }
            await gate.WaitAsync(ct);
            tasks.Add(PostAsync(i));
        }
        await Task.WhenAll(tasks);
        return posts;
    }

    /// <summary>Latencies and rates from the receipts, once the receive loops have stopped; receipts after the end are not counted.</summary>
    private static void Analyse(LiveResult result, Posted[] posts, long start, long end, List<(Guid OrderId, long At)>[] receipts)
    {
        var m = posts.Length;
        var index = new Dictionary<Guid, int>(m);
        for (var i = 0; i < m; i++)
        {
            if (posts[i].OrderId is { } id)
            {
                index[id] = i;
            }
        }
        var lastAt = new long[m];
        var reached = new int[m];
        var each = new List<double>((int)Math.Min(result.Expected, int.MaxValue));
        var afterAnswer = new List<double>(each.Capacity);
        var lastReceipt = start;
        foreach (var list in receipts)
        {
            foreach (var (id, at) in list)
            {
                if (index.TryGetValue(id, out var i) && at <= end)
                {
                    lastAt[i] = Math.Max(lastAt[i], at);
                    reached[i]++;
                    each.Add(ProcStatus.Ms(posts[i].SentAt, at));
                    afterAnswer.Add(ProcStatus.Ms(posts[i].AnsweredAt, at));
                    lastReceipt = Math.Max(lastReceipt, at);
                }
            }
        }
        each.Sort();
        result.Each = each;
        afterAnswer.Sort();
        result.AfterAnswer = afterAnswer;
        var accepted = Enumerable.Range(0, m).Where(i => posts[i].OrderId is not null).ToList();
        result.Complete = RealtimeSetup.Sorted(accepted.Where(i => reached[i] == result.Shape.Subscribers).Select(i => ProcStatus.Ms(posts[i].SentAt, lastAt[i])));
        // Per event: subscribers reached ÷ (last receipt − POST sent): the fan-out rate of one event on its own.
        result.PerEventRate = RealtimeSetup.Sorted(accepted.Where(i => reached[i] > 0)
            .Select(i => reached[i] / (ProcStatus.Ms(posts[i].SentAt, lastAt[i]) / 1000)));
        result.Post = RealtimeSetup.Sorted(accepted.Select(i => ProcStatus.Ms(posts[i].SentAt, posts[i].AnsweredAt)));
        result.BurstSeconds = ProcStatus.Ms(start, lastReceipt) / 1000;
    }

    /// <summary>
    /// Every figure of each run in a column, then each run ÷ the reference: our server ÷ the broadcaster where both ran;
    /// with several protocols on our server, each run ÷ our JSON. Where the plain SignalR app ran, also our SignalR ÷ it.
    /// </summary>
    public static void Print(string title, IReadOnlyList<LiveResult> results)
    {
        var ours = results.Where(r => r.Side == "server").ToList();
        var byProtocol = ours.Select(r => r.Protocol).Distinct().Count() > 1;
        // Our server's columns are named by protocol unless it ran JSON alone; a reference's by its name.
        var oursByProtocol = byProtocol || ours.Any(r => r.Protocol != Subscribers.Json);
        string Label(LiveResult r) => r.Side == "server" && oursByProtocol ? r.Protocol : r.Side;
        var reference = byProtocol ? ours.FirstOrDefault(r => r.Protocol == Subscribers.Json) : results.FirstOrDefault(r => r.Side == "broadcaster");
        var ratios = reference is null ? [] : results.Where(r => r != reference).Select(r => (Of: r, To: reference)).ToList();
        if (results.FirstOrDefault(r => r.Side == ServerProcess.PlainSignalR) is { } plain && ours.FirstOrDefault(r => r.Protocol == Subscribers.SignalR) is { } signalr)
        {
            ratios.Add((signalr, plain));
        }
        var table = new Table(["figure", .. results.Select(Label), .. ratios.Select(p => $"{Label(p.Of)} ÷ {Label(p.To)}")]);
        var shape = results[0].Shape;

        void Row(string figure, Func<LiveResult, string> value, Func<LiveResult, double>? ratioOf = null)
        {
            var cells = new List<string> { figure };
            cells.AddRange(results.Select(value));
            if (ratioOf is not null)
            {
                cells.AddRange(ratios.Select(p => ratioOf(p.Of) / ratioOf(p.To) is var ratio && double.IsFinite(ratio) ? $"{ratio:0.00}×" : "n/a"));
            }
            table.Add([.. cells]);
        }

        static string Kib(long? kib) => kib is { } k ? $"{k:N0} KiB" : "n/a";

        Row(byProtocol ? "subscribers on orders" : "sockets on orders", r => $"{shape.Subscribers} ({r.StillOpen} open after the settle)");
        Row("open time (incl. subscribe)", r => $"{r.OpenTook.TotalSeconds:0.0} s ({shape.Subscribers / r.OpenTook.TotalSeconds:0}/s)");
        Row("VmRSS before → with the sockets", r => $"{Kib(r.RssBeforeKiB)} → {Kib(r.RssIdleKiB)}");
        Row("idle memory per connection", r => r.IdleKiBPerConnection is { } kib ? $"{kib:0.00} KiB" : "n/a", r => r.IdleKiBPerConnection ?? double.NaN);
        if (shape.FirstStep < shape.Subscribers)
        {
            Row($"VmRSS with {shape.FirstStep} sockets", r => Kib(r.RssFirstStepKiB));
            Row($"idle memory per connection added ({shape.FirstStep} → {shape.Subscribers})",
                r => r.AddedKiBPerConnection is { } kib ? $"{kib:0.00} KiB" : "n/a", r => r.AddedKiBPerConnection ?? double.NaN);
        }
        Row("live timers (dotnet.timer.count) before → with the sockets", r => r.TimersIdle is { } idle ? $"{r.TimersBefore} → {idle}" : "n/a");
        Row("CPU opening + settle", r => $"{r.OpenCpu:0.0} s", r => r.OpenCpu);
        if (shape.Orders > 0)
        {
            Row("order.created message size", r => r.MessageBytes is { } b ? $"{b} bytes" : "n/a");
            Row("orders accepted", r => $"{r.Created} of {shape.Orders}{(r.Failures.Length > 0 ? $" (failed: {r.Failures})" : "")}");
            Row("order rate", r => $"target {shape.Rate:0.#}/s, achieved {r.AchievedRate:0.#}/s");
            Row("messages delivered", r => $"{r.Each.Count} of {r.Expected}{(r.AllDelivered ? " (all)" : $" ({r.Expected - r.Each.Count} missing)")}");
            Row("other messages received", r => $"{r.OtherMessages}");
            Row("sockets closed by the target", r => $"{r.ClosedByTarget}");
            Row("POST sent → received p50/p95/p99/max", r => Stats.Latencies(r.Each));
            Row("p99 POST sent → received", r => $"{r.P99:0.0} ms", r => r.P99);
            Row("POST sent → every subscriber p50/p95/p99/max", r => Stats.Latencies(r.Complete) + $" ({r.Complete.Count} of {r.Created} orders)");
            Row("POST answered p50/p95/p99/max", r => Stats.Latencies(r.Post));
            Row("POST answered → received p50/p95/p99/max", r => Stats.Latencies(r.AfterAnswer));
            Row("per-event fan-out p50 / min", r => r.PerEventRate.Count == 0 ? "n/a" : $"{Stats.Percentile(r.PerEventRate, 50):N0} / {r.PerEventRate[0]:N0} messages/s");
            Row("messages/s, first POST → last receipt", r => $"{r.Each.Count / r.BurstSeconds:N0} ({r.BurstSeconds:0.00} s)");
            Row("target CPU in measured phase", r => $"{r.Cpu:0.0} s in {r.MeasuredSeconds:0.0} s ({r.Cpu / r.MeasuredSeconds:0.00} cores)", r => r.Cpu);
            Row("… of which in the kernel (system time)", r => $"{r.KernelCpu:0.0} s ({r.KernelCpu / r.Cpu:P0})", r => r.KernelCpu);
            if (results.Any(r => r.DatabaseCpu is not null))
            {
                Row("PostgreSQL CPU in measured phase", r => r.DatabaseCpu is { } db ? $"{db:0.0} s" : "none (no store)");
            }
            Row("bench CPU (kernel's share); machine busy", r => $"{r.BenchCpu / r.MeasuredSeconds:0.00} cores ({r.BenchKernelCpu / r.BenchCpu:P0}); {r.MachineBusy:P0} of {Environment.ProcessorCount} cores", r => r.BenchCpu);
            Row("VmRSS at the end; peak (VmHWM)", r => $"{Kib(r.RssEndKiB)}; {Kib(r.PeakKiB)}");
        }
        else
        {
            Row("peak (VmHWM)", r => Kib(r.PeakKiB));
        }
        Row("log", r => $"{r.Warnings} warnings, {r.Errors} errors");
        Console.WriteLine();
        Console.WriteLine($"== {title}");
        table.Print();
        foreach (var r in results.Where(r => shape.Orders == 0 && r.SocketStats is not null))
        {
            Console.WriteLine($"server /api/ws/stats with the sockets open{(byProtocol ? $" ({r.Protocol})" : "")}: {r.SocketStats}");
        }
        Console.WriteLine($"load average now: {LoadAverage()} (above 0, something else shared the {Environment.ProcessorCount} cores)");
    }

    /// <summary>
    /// SPEC §12 "adapters": STOMP, Socket.IO and SignalR subscribers each within 1.2× of the JSON protocol's p99 (with
    /// every message delivered) and idle memory per connection, measured in the same invocation. Nothing without JSON.
    /// </summary>
    public static void AdapterTargets(IReadOnlyList<LiveResult> results)
    {
        var json = results.FirstOrDefault(r => r.Side == "server" && r.Protocol == Subscribers.Json);
        foreach (var r in results.Where(r => r.Side == "server" && r.Protocol != Subscribers.Json))
        {
            if (r.Shape.Orders > 0)
            {
                Report.Target($"{r.Protocol}: every message delivered", r.AllDelivered, $"{r.Each.Count} of {r.Expected}");
                Report.Target($"{r.Protocol}: p99 POST sent → received ≤ 1.2× JSON's", json is null ? null : r.P99 <= 1.2 * json.P99,
                    $"{r.P99:0.0} vs {json?.P99:0.0} ms, {r.P99 / json?.P99:0.00}×");
            }
            Report.Target($"{r.Protocol}: idle memory per connection ≤ 1.2× JSON's",
                r.IdleKiBPerConnection is { } ours && json?.IdleKiBPerConnection is { } reference ? ours <= 1.2 * reference : null,
                $"{r.IdleKiBPerConnection:0.00} vs {json?.IdleKiBPerConnection:0.00} KiB, {r.IdleKiBPerConnection / json?.IdleKiBPerConnection:0.00}×");
        }
    }

    private static string LoadAverage()
    {
        try
        {
            return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return "n/a";
        }
    }
}
