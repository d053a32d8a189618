using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using GeoLogistics.Tests.Support;

namespace GeoLogistics.SystemTests;

/// <summary>
/// The server as a user runs it: its own process (Production environment, bootstrap admin), on a free loopback
/// port, over the test's store. <see cref="KillHard"/> is <c>kill -9</c>.
/// </summary>
public sealed class ServerProcess : IAsyncDisposable
{
    public const string AdminEmail = "admin@system.test";
    public const string AdminPassword = "system-admin-password";
    private const string SigningKey = "system-test-signing-key-long-enough-for-hs256-0123456789";

    private readonly Process process;
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> output = new();

    private ServerProcess(Process process, Uri address)
    {
        this.process = process;
        Address = address;
        // Drain its output so a full pipe never blocks it, and keep the tail for a failure message.
        process.OutputDataReceived += (_, e) => Keep(e.Data);
        process.ErrorDataReceived += (_, e) => Keep(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    private void Keep(string? line)
    {
        if (line is null)
        {
            return;
        }
        output.Enqueue(line);
        while (output.Count > 40)
        {
            output.TryDequeue(out _);
        }
    }

    public Uri Address { get; }

    /// <summary>The operating system's id of the server process.</summary>
    public int ProcessId => process.Id;

    public int Port => Address.Port;

    public static Task<ServerProcess> StartAsync(TestStore store, CancellationToken ct) => StartAsync(store, port: null, settings: null, ct);

    /// <summary>On <paramref name="port"/> (a restart comes back where the browser left it), with extra settings.</summary>
    public static async Task<ServerProcess> StartAsync(
        TestStore store, int? port, IReadOnlyDictionary<string, string>? settings, CancellationToken ct)
    {
        port ??= FreePort();
        var serverDir = ServerDirectory();
        var start = new ProcessStartInfo("dotnet", [Path.Combine(serverDir, "GeoLogistics.Server.dll")])
        {
            WorkingDirectory = serverDir,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        var env = start.Environment;
        env["ASPNETCORE_ENVIRONMENT"] = "Production";
        env["Urls"] = $"http://127.0.0.1:{port}";
        env["Jwt__SigningKey"] = SigningKey;
        env["Bootstrap__AdminEmail"] = AdminEmail;
        env["Bootstrap__AdminPassword"] = AdminPassword;
        env["PasswordHasher__IterationCount"] = "1000";
        env["Auth__LoginAttemptsPerMinute"] = "100000";
        env["Auth__LocationUpdatesPerSecond"] = "1000";
        env["Api__OrdersPerUserPerMinute"] = "1000000";
        env["Api__OrderBurst"] = "1000000";
        env["Dispatch__SweepInterval"] = "00:00:01";
        env["Events__PollInterval"] = "00:00:00.100";
        env["Logging__LogLevel__Default"] = "Warning";
        foreach (var (key, value) in store.Settings.Concat(settings?.Select(p => KeyValuePair.Create(p.Key, (string?)p.Value)) ?? []))
        {
            env[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        }
        var process = Process.Start(start) ?? throw new InvalidOperationException("The server did not start.");
        var server = new ServerProcess(process, new Uri($"http://127.0.0.1:{port}"));
        await server.WaitReadyAsync(ct);
        return server;
    }

    private async Task WaitReadyAsync(CancellationToken ct)
    {
        using var http = new HttpClient { BaseAddress = Address, Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"The server exited with {process.ExitCode} before it was ready:\n{string.Join('\n', output)}");
            }
            try
            {
                if ((await http.GetAsync("/health/ready", ct)).StatusCode == HttpStatusCode.OK)
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
        throw new TimeoutException("The server was not ready within 60 s.");
    }

    /// <summary>SIGTERM: the clean stop a deploy or an orchestrator sends.</summary>
    public void Terminate()
    {
        using var kill = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!;
        kill.WaitForExit();
    }

    /// <summary>The exit code once the process has ended; fails after <paramref name="within"/>.</summary>
    public async Task<int> ExitedAsync(TimeSpan within)
    {
        using var timeout = new CancellationTokenSource(within);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"The server had not exited {within.TotalSeconds:0} s after it was told to stop.");
        }
        return process.ExitCode;
    }

    /// <summary>SIGKILL: no shutdown, no flush, no goodbye.</summary>
    public void KillHard()
    {
        process.Kill(entireProcessTree: true);
        process.WaitForExit();
    }

    public async Task<HttpClient> LoginAsync(string email, string password, CancellationToken ct)
    {
        var http = new HttpClient { BaseAddress = Address };
        var response = await http.PostAsJsonAsync("/api/auth/login", new { email, password }, ct);
        response.EnsureSuccessStatusCode();
        var body = await response.Content.ReadFromJsonAsync<JsonElement>(ct);
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", body.GetProperty("accessToken").GetString());
        return http;
    }

    public Task<HttpClient> AdminAsync(CancellationToken ct) => LoginAsync(AdminEmail, AdminPassword, ct);

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>The server's build output beside this test's: same configuration, same framework.</summary>
    private static string ServerDirectory()
    {
        var here = new DirectoryInfo(AppContext.BaseDirectory);
        var framework = here.Name;
        var configuration = here.Parent!.Name;
        var root = here;
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "GeoLogistics.slnx")))
        {
            root = root.Parent;
        }
        if (root is null)
        {
            throw new InvalidOperationException("Run from inside the repository: GeoLogistics.slnx not found above " + AppContext.BaseDirectory);
        }
        return Path.Combine(root.FullName, "src", "GeoLogistics.Server", "bin", configuration, framework);
    }

    public async ValueTask DisposeAsync()
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
        process.Dispose();
    }
}
