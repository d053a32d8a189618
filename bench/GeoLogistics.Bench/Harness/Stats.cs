using System.Globalization;

namespace GeoLogistics.Bench.Harness;

public static class Stats
{
    /// <summary>Nearest-rank percentile of an ascending list; NaN for an empty one.</summary>
    public static double Percentile(IReadOnlyList<double> sorted, double percent)
    {
        if (sorted.Count == 0)
        {
            return double.NaN;
        }
        var rank = (int)Math.Ceiling(percent / 100 * sorted.Count);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Count - 1)];
    }

    /// <summary><c>p50 / p95 / p99 / max</c> in ms of an ascending list.</summary>
    public static string Latencies(IReadOnlyList<double> sorted) => sorted.Count == 0
        ? "n/a"
        : string.Create(CultureInfo.InvariantCulture,
            $"{Percentile(sorted, 50):0.0} / {Percentile(sorted, 95):0.0} / {Percentile(sorted, 99):0.0} / {sorted[^1]:0.0} ms");
}

/// <summary>Busy and total jiffies of the whole machine, from the first line of /proc/stat.</summary>
public readonly record struct MachineCpu(long Busy, long Total)
{
    public static MachineCpu Read()
    {
        try
        {
            using var reader = new StreamReader("/proc/stat");
            var fields = (reader.ReadLine() ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1)
                .Select(f => long.Parse(f, CultureInfo.InvariantCulture)).ToArray();
            // user nice system idle iowait irq softirq steal [guest guest_nice, already counted in user and nice]
            var total = fields.Take(8).Sum();
            var idle = fields[3] + fields[4];
            return new MachineCpu(total - idle, total);
        }
        catch (IOException)
        {
            return default;
        }
    }

    /// <summary>CPU seconds all cores together spent busy between two readings (USER_HZ jiffies, 100 a second).</summary>
    public static double BusySeconds(MachineCpu from, MachineCpu to) => (to.Busy - from.Busy) / 100.0;

    /// <summary>Share of all cores that was busy between two readings, 0..1.</summary>
    public static double BusyShare(MachineCpu from, MachineCpu to) =>
        to.Total == from.Total ? double.NaN : (double)(to.Busy - from.Busy) / (to.Total - from.Total);
}

/// <summary>Lines of <c>name: value</c>, names padded to one column.</summary>
public sealed class Report
{
    private readonly List<(string Name, string Value)> lines = [];

    public void Add(string name, string value) => lines.Add((name, value));

    /// <summary>One line per SPEC §12 target: met, not met, or not measured (a run smaller than the target's size, or no reference).</summary>
    public static void Target(string what, bool? met, string measured) =>
        Console.WriteLine($"target {what}: {(met is null ? "not measured" : met.Value ? "met" : "NOT met")} ({measured})");

    public void Print()
    {
        var width = lines.Max(l => l.Name.Length) + 1;
        foreach (var (name, value) in lines)
        {
            Console.WriteLine($"{(name + ":").PadRight(width)} {value}");
        }
    }
}

/// <summary>Rows of cells under a header, each column padded to its widest cell: figures side by side.</summary>
public sealed class Table(params string[] header)
{
    private readonly List<string[]> rows = [header];

    public void Add(params string[] cells) => rows.Add(cells);

    public void Print()
    {
        var columns = rows.Max(r => r.Length);
        var widths = Enumerable.Range(0, columns).Select(c => rows.Max(r => c < r.Length ? r[c].Length : 0)).ToArray();
        foreach (var row in rows)
        {
            Console.WriteLine(string.Join("  ", row.Select((cell, c) => c == row.Length - 1 ? cell : cell.PadRight(widths[c]))));
        }
    }
}
