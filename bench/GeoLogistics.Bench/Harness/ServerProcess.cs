using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;

namespace GeoLogistics.Bench.Harness;

/// <summary>
/// The server as an operator runs it: <c>dotnet GeoLogistics.Server.dll</c> from the Release build, its own process,
/// Production environment, a bootstrap admin, on a free loopback port. Limits that would throttle the load
/// generator itself (login and location rate limits, page sizes) are raised; everything else is the default.
/// Disposing kills it, and so does the bench process exiting any other way. The live-path scenarios start the bare
/// broadcaster (bench/GeoLogistics.Bench.Broadcaster) the same way, as their reference.
/// </summary>
public sealed class ServerProcess : IAsyncDisposable
{
    public static readonly IReadOnlyList<BenchOption> Options =
    [
        new("no-build", "do not run `dotnet build src/GeoLogistics.Server -c Release` first", IsFlag: true),
        new("server-output", "echo the server's console output (warnings and errors at the default log level)", IsFlag: true),
        new("set", "one more server setting as an environment variable, KEY=VALUE (e.g. Dispatch__Workers=8); repeatable", IsRepeatable: true),
    ];

    private readonly Process process;
    private readonly LogTail output;
    private readonly EventHandler killOnExit;

    private ServerProcess(string name, Process process, Uri address, string adminEmail, string adminPassword, LogTail output)
    {
        Name = name;
        SigningKey = "";
        this.process = process;
        this.output = output;
        Address = address;
        AdminEmail = adminEmail;
        AdminPassword = adminPassword;
        killOnExit = (_, _) => Kill();
        AppDomain.CurrentDomain.ProcessExit += killOnExit;
    }

    /// <summary>The plain SignalR app's name in the bench's output.</summary>
    public const string PlainSignalR = "plain-signalr";

    /// <summary><c>server</c> (ours), <c>broadcaster</c> or <c>plain-signalr</c> (the references), as the bench's output names it.</summary>
    public string Name { get; }

    public Uri Address { get; }

    public string AdminEmail { get; }

    public string AdminPassword { get; }

    /// <summary>The token signing key: another node of the same deployment takes the same one, so a token works on both.</summary>
    private string SigningKey { get; set; }

    public int Pid => process.Id;

    /// <summary>Warnings and errors the server logged so far.</summary>
    public (int Warnings, int Errors, IReadOnlyList<string> FirstErrors) LogSummary => output.Summary;

    public static Task<ServerProcess> StartAsync(BenchArgs args, BenchStore store, CancellationToken ct) =>
        StartAsync(args, store, "server", sameDeploymentAs: null, new Dictionary<string, string>(), ct);

    /// <summary>
    /// A server named <paramref name="name"/> in the bench's output, with <paramref name="settings"/> of its own (before
    /// --set). Given <paramref name="sameDeploymentAs"/>, it is another node of that one's deployment: the same signing
    /// key and admin (the store, already made by the first, bootstraps nobody), so a token works on both; start it
    /// once the first is ready. The build is done once, for the first.
    /// </summary>
    public static async Task<ServerProcess> StartAsync(
        BenchArgs args, BenchStore store, string name, ServerProcess? sameDeploymentAs, IReadOnlyDictionary<string, string> settings, CancellationToken ct)
    {
        var dll = await BuildOutputAsync(sameDeploymentAs is null && !args.Has("no-build"), Path.Combine("src", "GeoLogistics.Server"), "GeoLogistics.Server.dll", ct);
        var adminEmail = sameDeploymentAs?.AdminEmail ?? "bench@bench.test";
        var adminPassword = sameDeploymentAs?.AdminPassword ?? RandomText(18);
        var signingKey = sameDeploymentAs?.SigningKey ?? RandomText(48);
        var start = StartInfo(dll, out var port);
        var env = start.Environment;
        // Whatever store the calling shell points at is not this run's.
        foreach (var key in env.Keys.Where(k => k.StartsWith("ConnectionStrings__", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            env.Remove(key);
        }
        env["Jwt__SigningKey"] = signingKey;
        env["Bootstrap__AdminEmail"] = adminEmail;
        env["Bootstrap__AdminPassword"] = adminPassword;
        env["PasswordHasher__IterationCount"] = "1000";
        env["Auth__LoginAttemptsPerMinute"] = "1000000";
        env["Auth__LocationUpdatesPerSecond"] = "1000";
        env["Api__OrdersPerUserPerMinute"] = "1000000";
        env["Api__OrderBurst"] = "1000000";
        env["Api__MaxPageSize"] = "1000";
        // The bench opens thousands of sockets with one admin token; a real user holds a few.
        env["Realtime__MaxConnectionsPerUser"] = "1000000";
        env["Dispatch__MaxRadiusKm"] = "15";
        foreach (var (key, value) in store.Settings.Concat(settings))
        {
            env[key] = value;
        }
        foreach (var setting in args.All("set"))
        {
            if (setting.IndexOf('=', StringComparison.Ordinal) is not (var eq and > 0))
            {
                throw new BenchException($"--set takes KEY=VALUE, not '{setting}'.");
            }
            env[setting[..eq]] = setting[(eq + 1)..];
            Console.WriteLine($"== server setting {setting[..eq]}={setting[(eq + 1)..]}");
        }
        var server = await LaunchAsync(name, start, port, adminEmail, adminPassword, args.Has("server-output"), ct);
        server.SigningKey = signingKey;
        return server;
    }

    /// <summary>
    /// The bare Kestrel WebSocket broadcaster (bench/GeoLogistics.Bench.Broadcaster), the reference of the live-path
    /// scenarios: same environment, same kind of port, no store and no settings of ours.
    /// </summary>
    public static async Task<ServerProcess> StartBroadcasterAsync(BenchArgs args, bool zeroByteReads, CancellationToken ct)
    {
        var dll = await BuildOutputAsync(!args.Has("no-build"), Path.Combine("bench", "GeoLogistics.Bench.Broadcaster"), "GeoLogistics.Bench.Broadcaster.dll", ct);
        var start = StartInfo(dll, out var port);
        if (zeroByteReads)
        {
            start.Environment["Broadcaster__ZeroByteReads"] = "true";
        }
        return await LaunchAsync("broadcaster", start, port, "", "", args.Has("server-output"), ct);
    }

    /// <summary>
    /// The plain SignalR app (bench/GeoLogistics.Bench.PlainSignalR), the reference of our SignalR adapter: started as
    /// the broadcaster is, with stock SignalR options.
    /// </summary>
    public static async Task<ServerProcess> StartPlainSignalRAsync(BenchArgs args, CancellationToken ct)
    {
        var dll = await BuildOutputAsync(!args.Has("no-build"), Path.Combine("bench", "GeoLogistics.Bench.PlainSignalR"), "GeoLogistics.Bench.PlainSignalR.dll", ct);
        var start = StartInfo(dll, out var port);
        return await LaunchAsync(PlainSignalR, start, port, "", "", args.Has("server-output"), ct);
    }

    /// <summary>Builds the project when <paramref name="build"/> (not --no-build), and returns the path of its Release output.</summary>
    private static async Task<string> BuildOutputAsync(bool build, string project, string dllName, CancellationToken ct)
    {
        var projectDir = Path.Combine(RepositoryRoot(), project);
        if (build)
        {
            await BuildAsync(projectDir, project, ct);
        }
        var dll = Path.Combine(projectDir, "bin", "Release", "net10.0", dllName);
        if (!File.Exists(dll))
        {
            throw new BenchException($"{dll} does not exist: run `dotnet build {project} -c Release` (or drop --no-build).");
        }
        return dll;
    }

    /// <summary><c>dotnet DLL</c> in its own folder, in Production, on a free loopback port, warnings and up logged.</summary>
    private static ProcessStartInfo StartInfo(string dll, out int port)
    {
        port = FreePort();
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = Path.GetDirectoryName(dll),
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(dll);
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        start.Environment["Urls"] = $"http://127.0.0.1:{port}";
        start.Environment["Logging__LogLevel__Default"] = "Warning";
        return start;
    }

    private static async Task<ServerProcess> LaunchAsync(
        string name, ProcessStartInfo start, int port, string adminEmail, string adminPassword, bool echo, CancellationToken ct)
    {
        var output = new LogTail(echo ? $"[{name}] " : null);
        var process = Process.Start(start) ?? throw new BenchException("dotnet did not start.");
        // Drain both pipes, or a chatty server blocks on a full one.
        process.OutputDataReceived += (_, e) => output.Add(e.Data);
        process.ErrorDataReceived += (_, e) => output.Add(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var server = new ServerProcess(name, process, new Uri($"http://127.0.0.1:{port}"), adminEmail, adminPassword, output);
        try
        {
            await server.WaitReadyAsync(ct);
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
        return server;
    }

    private static async Task BuildAsync(string projectDir, string project, CancellationToken ct)
    {
        Console.WriteLine($"== dotnet build {project} -c Release");
        var build = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in (string[])["build", projectDir, "-c", "Release", "--nologo", "-v", "quiet"])
        {
            build.ArgumentList.Add(arg);
        }
        using var process = Process.Start(build) ?? throw new BenchException("dotnet build did not start.");
        var stdout = process.StandardOutput.ReadToEndAsync(ct);
        var stderr = process.StandardError.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct);
        if (process.ExitCode != 0)
        {
            await Console.Error.WriteLineAsync(await stdout);
            await Console.Error.WriteLineAsync(await stderr);
            throw new BenchException($"Building {project} failed (exit {process.ExitCode}).");
        }
    }

    private async Task WaitReadyAsync(CancellationToken ct)
    {
        using var http = new HttpClient { BaseAddress = Address, Timeout = TimeSpan.FromSeconds(5) };
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(120))
        {
            if (process.HasExited)
            {
                throw new BenchException($"The {Name} exited with {process.ExitCode} before it was ready:{Environment.NewLine}{output.Tail(40)}");
            }
            try
            {
                using var response = await http.GetAsync(new Uri("/health/ready", UriKind.Relative), ct);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException) when (!ct.IsCancellationRequested)
            {
            }
            await Task.Delay(100, ct);
        }
        throw new BenchException($"The {Name} was not ready within 120 s:{Environment.NewLine}{output.Tail(40)}");
    }

    /// <summary>Resident set now (VmRSS) in KiB; null where /proc is not there.</summary>
    public long? ResidentKiB() => ProcStatus.KiB(process.Id, "VmRSS");

    /// <summary>Peak resident set (VmHWM) and CPU time so far (all, and the kernel's), from /proc; nulls where /proc is not there.</summary>
    public ProcessUsage ReadUsage()
    {
        var stat = ProcFs.Stat(process.Id);
        return new(ProcFs.PeakWorkingSetKiB(process.Id), stat?.CpuSeconds, stat?.KernelCpuSeconds);
    }

    /// <summary>Throws with the server's last output if it died.</summary>
    public void EnsureRunning()
    {
        if (process.HasExited)
        {
            throw new BenchException($"The {Name} exited with {process.ExitCode}:{Environment.NewLine}{output.Tail(40)}");
        }
    }

    private void Kill()
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }

    public async ValueTask DisposeAsync()
    {
        AppDomain.CurrentDomain.ProcessExit -= killOnExit;
        Kill();
        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            await process.WaitForExitAsync(wait.Token);
        }
        catch (OperationCanceledException)
        {
            await Console.Error.WriteLineAsync($"warning: {Name} process {process.Id} did not exit within 10 s of SIGKILL.");
        }
        process.Dispose();
    }

    private static string RepositoryRoot()
    {
        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "GeoLogistics.slnx")))
                {
                    return dir.FullName;
                }
            }
        }
        throw new BenchException("GeoLogistics.slnx not found above the current folder: run the bench from inside the repository.");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>URL-safe random text; <paramref name="bytes"/> random bytes give 4/3 as many characters.</summary>
    public static string RandomText(int bytes) =>
        Convert.ToBase64String(RandomNumberGenerator.GetBytes(bytes)).Replace('+', '-').Replace('/', '_').TrimEnd('=');
}

/// <summary>Peak resident set in KiB, user+system CPU seconds of a process, and the system (kernel) part alone.</summary>
public sealed record ProcessUsage(long? PeakWorkingSetKiB, double? CpuSeconds, double? KernelCpuSeconds);

/// <summary>The server's recent console lines, and a count of what it logged as warnings and errors.</summary>
internal sealed class LogTail(string? echoPrefix)
{
    private const int Keep = 200;
    private readonly Lock gate = new();
    private readonly Queue<string> lines = new();
    private readonly List<string> firstErrors = [];
    private int warnings;
    private int errors;
    private int messageLines;

    public void Add(string? line)
    {
        if (line is null)
        {
            return;
        }
        if (echoPrefix is not null)
        {
            Console.Error.WriteLine($"{echoPrefix}{line}");
        }
        lock (gate)
        {
            lines.Enqueue(line);
            if (lines.Count > Keep)
            {
                lines.Dequeue();
            }
            // The console logger starts an entry with "warn: ", "fail: " or "crit: " and the category; the message follows.
            if (messageLines > 0 && line.StartsWith(' '))
            {
                firstErrors[^1] += " " + line.Trim();
                messageLines--;
            }
            else
            {
                messageLines = 0;
            }
            if (line.StartsWith("warn:", StringComparison.Ordinal))
            {
                warnings++;
            }
            else if (line.StartsWith("fail:", StringComparison.Ordinal) || line.StartsWith("crit:", StringComparison.Ordinal))
            {
                errors++;
                if (firstErrors.Count < 5)
                {
                    firstErrors.Add(line);
                    messageLines = 4;
                }
            }
        }
    }

    public string Tail(int count)
    {
        lock (gate)
        {
            return string.Join(Environment.NewLine, lines.Skip(Math.Max(0, lines.Count - count)));
        }
    }

    public (int, int, IReadOnlyList<string>) Summary
    {
        get
        {
            lock (gate)
            {
                return (warnings, errors, firstErrors.ToList());
            }
        }
    }
}
