using System.Diagnostics;
using System.Text.Json;
using System.Threading.Channels;

namespace GeoLogistics.Tests.Support;

/// <summary>
/// A client script under Node (tests/clients/*.mjs) that drives a real client library (Stomp.js, SockJS,
/// socket.io-client, @microsoft/signalr): the script writes one JSON object per line to stdout for what it saw, and
/// reads one JSON object per line from stdin for what to do next. scripts/test.sh installs the libraries (npm ci).
/// </summary>
public sealed class NodeClient : IAsyncDisposable
{
    private readonly Process process;
    private readonly Channel<JsonElement> lines = Channel.CreateUnbounded<JsonElement>();
    private readonly List<string> errors = [];
    // What the script wrote, for a failure's message.
    private readonly List<string> written = [];
    private readonly Task reading;

    private NodeClient(Process process)
    {
        this.process = process;
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (errors)
                {
                    errors.Add(e.Data);
                }
            }
        };
        process.BeginErrorReadLine();
        reading = Task.Run(ReadAsync);
    }

    /// <summary>The folder of the client scripts and their node_modules.</summary>
    public static string ClientsDirectory
    {
        get
        {
            var here = new DirectoryInfo(AppContext.BaseDirectory);
            while (here is not null && !File.Exists(Path.Combine(here.FullName, "GeoLogistics.slnx")))
            {
                here = here.Parent;
            }
            if (here is null)
            {
                throw new InvalidOperationException("Run from inside the repository: GeoLogistics.slnx not found above " + AppContext.BaseDirectory);
            }
            var clients = Path.Combine(here.FullName, "tests", "clients");
            if (!Directory.Exists(Path.Combine(clients, "node_modules")))
            {
                throw new InvalidOperationException($"The client libraries are not installed: run `npm ci --prefix {clients}` (scripts/test.sh does).");
            }
            return clients;
        }
    }

    /// <summary>Starts <c>node tests/clients/<paramref name="script"/></c> with <paramref name="environment"/>.</summary>
    public static NodeClient Start(string script, IReadOnlyDictionary<string, string> environment)
    {
        var directory = ClientsDirectory;
        var start = new ProcessStartInfo("node", [Path.Combine(directory, script)])
        {
            WorkingDirectory = directory,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }
        return new NodeClient(Process.Start(start) ?? throw new InvalidOperationException("node did not start"));
    }

    private async Task ReadAsync()
    {
        try
        {
            while (await process.StandardOutput.ReadLineAsync() is { } line)
            {
                if (line.StartsWith('{'))
                {
                    lock (written)
                    {
                        written.Add(line);
                    }
                    using var document = JsonDocument.Parse(line);
                    await lines.Writer.WriteAsync(document.RootElement.Clone());
                }
            }
        }
        finally
        {
            lines.Writer.TryComplete();
        }
    }

    /// <summary>Sends one command to the script.</summary>
    public async Task SendAsync(object command)
    {
        await process.StandardInput.WriteLineAsync(JsonSerializer.Serialize(command, TestApp.Json));
        await process.StandardInput.FlushAsync();
    }

    /// <summary>
    /// The next line the script wrote whose <c>kind</c> matches <paramref name="predicate"/>, skipping the others;
    /// fails with the script's stderr when it ends or <paramref name="timeout"/> (10 s) passes first.
    /// </summary>
    public async Task<JsonElement> NextAsync(Func<JsonElement, bool> predicate, TimeSpan? timeout = null, CancellationToken ct = default)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        limit.CancelAfter(timeout ?? TimeSpan.FromSeconds(10));
        try
        {
            while (await lines.Reader.WaitToReadAsync(limit.Token))
            {
                while (lines.Reader.TryRead(out var line))
                {
                    if (predicate(line))
                    {
                        return line;
                    }
                }
            }
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new TimeoutException("The client script did not report in time." + Transcript());
        }
        throw new InvalidOperationException("The client script ended." + Transcript());
    }

    /// <summary>The next line whose <c>kind</c> property is <paramref name="kind"/>.</summary>
    public Task<JsonElement> NextAsync(string kind, TimeSpan? timeout = null, CancellationToken ct = default) =>
        NextAsync(l => l.TryGetProperty("kind", out var k) && k.GetString() == kind, timeout, ct);

    /// <summary>Every line written so far and not yet taken, without waiting.</summary>
    public IReadOnlyList<JsonElement> Drain()
    {
        var drained = new List<JsonElement>();
        while (lines.Reader.TryRead(out var line))
        {
            drained.Add(line);
        }
        return drained;
    }

    /// <summary>What the script wrote to stdout (the last 40 lines) and to stderr, for a failure's message.</summary>
    private string Transcript()
    {
        string stdout;
        lock (written)
        {
            stdout = string.Join('\n', written.TakeLast(40));
        }
        return $"\nIts stdout (last 40 lines):\n{stdout}\nIts stderr:\n{Errors()}";
    }

    public string Errors()
    {
        lock (errors)
        {
            return string.Join('\n', errors);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
        }
        await process.WaitForExitAsync();
        // The reader ends with the process's stdout.
        await reading.WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        process.Dispose();
    }
}
