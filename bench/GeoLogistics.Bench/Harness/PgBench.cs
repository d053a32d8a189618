using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Npgsql;

namespace GeoLogistics.Bench.Harness;

/// <summary>What one <c>pgbench -N</c> run reported, and what the machine did meanwhile.</summary>
public sealed record PgBenchResult(string Command, double Tps, double LatencyMs, long Transactions, double MachineBusy, double? DatabaseCpu, double Seconds);

/// <summary>
/// The store's own reference for dispatch (SPEC §12): <c>pgbench -N</c> (simple-update: per transaction an UPDATE of
/// one account, a SELECT and an INSERT into history, each client on its own connection) against the same PostgreSQL
/// cluster, in a database <c>pgbench_&lt;random&gt;</c> of its own that is created, initialised and dropped.
/// </summary>
public static partial class PgBench
{
    public static readonly IReadOnlyList<BenchOption> Options =
    [
        new("pgbench-clients", "clients (-c) of the pgbench -N reference run, on PostgreSQL", "8"),
        new("pgbench-seconds", "seconds (-T) of the pgbench reference run", "20"),
        new("pgbench-scale", "scale (-i -s) of the pgbench database; 1 is 100,000 accounts", "1"),
        new("no-pgbench", "skip the pgbench reference on PostgreSQL", IsFlag: true),
    ];

    /// <summary>pgbench on PATH, else the newest /usr/lib/postgresql/*/bin/pgbench.</summary>
    public static string Find()
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, "pgbench");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        var installed = Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql")
                .Select(d => Path.Combine(d, "bin", "pgbench"))
                .Where(File.Exists)
                .OrderByDescending(p => Version.TryParse(VersionOf(p), out var v) ? v : new Version(0, 0))
                .FirstOrDefault()
            : null;
        return installed ?? throw new BenchException(
            "pgbench is not on PATH nor under /usr/lib/postgresql/*/bin: install PostgreSQL's client programs, or pass --no-pgbench.");

        // /usr/lib/postgresql/15/bin/pgbench → "15.0"
        static string VersionOf(string path)
        {
            var name = Path.GetFileName(Path.GetDirectoryName(Path.GetDirectoryName(path)))!;
            return name.Contains('.', StringComparison.Ordinal) ? name : name + ".0";
        }
    }

    public static async Task<PgBenchResult> RunAsync(
        string connectionString, int clients, int seconds, int scale, Func<double?> databaseCpu, CancellationToken ct)
    {
        var pgbench = Find();
        var given = new NpgsqlConnectionStringBuilder(connectionString);
        var admin = BenchStore.Maintenance(given).ConnectionString;
        var database = $"pgbench_{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6))}";
        List<string> connect = [];
        if (!string.IsNullOrEmpty(given.Host))
        {
            connect.AddRange(["-h", given.Host]);
        }
        connect.AddRange(["-p", given.Port.ToString(CultureInfo.InvariantCulture)]);
        if (!string.IsNullOrEmpty(given.Username))
        {
            connect.AddRange(["-U", given.Username]);
        }
        try
        {
            await BenchStore.ExecuteAsync(admin, $"CREATE DATABASE \"{database}\"", ct);
        }
        catch (NpgsqlException e)
        {
            throw new BenchException($"Could not create database {database} for pgbench: {e.Message}");
        }
        try
        {
            Console.WriteLine($"== pgbench -i -s {scale} into a throw-away database {database} ({pgbench})");
            await RunProcessAsync(pgbench, ["-i", "-q", "-s", scale.ToString(CultureInfo.InvariantCulture), .. connect, database], given.Password, ct);

            // pgbench's own threads share the two cores with PostgreSQL, as the server does in the dispatch run.
            var jobs = Math.Min(clients, Environment.ProcessorCount);
            List<string> run = ["-N", "-c", $"{clients}", "-j", $"{jobs}", "-T", $"{seconds}", .. connect, database];
            var command = "pgbench " + string.Join(' ', run);
            Console.WriteLine($"== {command}");
            var machineBefore = MachineCpu.Read();
            var databaseBefore = databaseCpu();
            var watch = Stopwatch.StartNew();
            var output = await RunProcessAsync(pgbench, run, given.Password, ct);
            var elapsed = watch.Elapsed.TotalSeconds;
            var machineBusy = MachineCpu.BusyShare(machineBefore, MachineCpu.Read());
            return new PgBenchResult(
                command,
                Number(Tps(), output, "tps"),
                Number(Latency(), output, "latency average"),
                (long)Number(Transactions(), output, "number of transactions actually processed"),
                machineBusy,
                databaseCpu() - databaseBefore,
                elapsed);
        }
        finally
        {
            try
            {
                await BenchStore.ExecuteAsync(admin, $"DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)", CancellationToken.None);
            }
            catch (NpgsqlException e)
            {
                await Console.Error.WriteLineAsync($"warning: could not drop database {database}: {e.Message}");
            }
        }
    }

    private static double Number(Regex pattern, string output, string what) =>
        pattern.Match(output) is { Success: true } m
            ? double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)
            : throw new BenchException($"pgbench printed no '{what}' line:{Environment.NewLine}{output}");

    [GeneratedRegex(@"^tps = ([0-9.]+) \(without initial connection time\)", RegexOptions.Multiline)]
    private static partial Regex Tps();

    [GeneratedRegex(@"^latency average = ([0-9.]+) ms", RegexOptions.Multiline)]
    private static partial Regex Latency();

    [GeneratedRegex(@"^number of transactions actually processed: ([0-9]+)", RegexOptions.Multiline)]
    private static partial Regex Transactions();

    /// <summary>Runs pgbench to the end; returns its standard output, or throws with both outputs when it fails.</summary>
    private static async Task<string> RunProcessAsync(string pgbench, IEnumerable<string> arguments, string? password, CancellationToken ct)
    {
        var start = new ProcessStartInfo(pgbench)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        if (!string.IsNullOrEmpty(password))
        {
            start.Environment["PGPASSWORD"] = password;
        }
        using var process = Process.Start(start) ?? throw new BenchException($"{pgbench} did not start.");
        var stdout = process.StandardOutput.ReadToEndAsync(ct);
        var stderr = process.StandardError.ReadToEndAsync(ct);
        try
        {
            await process.WaitForExitAsync(ct);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        if (process.ExitCode != 0)
        {
            throw new BenchException($"pgbench exited with {process.ExitCode}:{Environment.NewLine}{await stdout}{await stderr}");
        }
        return await stdout;
    }
}
