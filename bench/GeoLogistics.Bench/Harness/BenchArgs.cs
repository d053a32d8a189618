using System.Globalization;

namespace GeoLogistics.Bench.Harness;

/// <summary>A command-line option: <c>--name value</c>, or <c>--name</c> alone when <paramref name="IsFlag"/>.</summary>
/// <param name="IsRepeatable">Given more than once, every value is kept (<see cref="BenchArgs.All"/>).</param>
public sealed record BenchOption(string Name, string Help, string? Default = null, bool IsFlag = false, bool IsRepeatable = false);

/// <summary>A failure the bench explains in one line: bad arguments, a server that would not start, an unexpected answer.</summary>
public sealed class BenchException(string message) : Exception(message);

/// <summary>The options given after the scenario name, checked against what the scenario declares.</summary>
public sealed class BenchArgs
{
    private readonly Dictionary<string, string> values;
    private readonly Dictionary<string, List<string>> repeated;
    private readonly IReadOnlyList<BenchOption> known;

    private BenchArgs(Dictionary<string, string> values, Dictionary<string, List<string>> repeated, IReadOnlyList<BenchOption> known)
    {
        this.values = values;
        this.repeated = repeated;
        this.known = known;
    }

    public static BenchArgs Parse(IReadOnlyList<string> args, IReadOnlyList<BenchOption> known)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        var repeated = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (arg is "-h" or "--help")
            {
                values["help"] = "true";
                continue;
            }
            if (!arg.StartsWith("--", StringComparison.Ordinal))
            {
                throw new BenchException($"Unexpected argument '{arg}'; options look like --name value.");
            }
            var name = arg[2..];
            string? value = null;
            if (name.IndexOf('=', StringComparison.Ordinal) is var eq and >= 0)
            {
                value = name[(eq + 1)..];
                name = name[..eq];
            }
            var option = known.FirstOrDefault(o => o.Name == name)
                ?? throw new BenchException($"Unknown option --{name}. Known: {string.Join(", ", known.Select(o => "--" + o.Name))}.");
            if (option.IsFlag)
            {
                values[name] = value ?? "true";
                continue;
            }
            if (value is null)
            {
                if (i + 1 >= args.Count)
                {
                    throw new BenchException($"--{name} needs a value.");
                }
                value = args[++i];
            }
            values[name] = value;
            if (option.IsRepeatable)
            {
                (repeated.TryGetValue(name, out var all) ? all : repeated[name] = []).Add(value);
            }
        }
        return new BenchArgs(values, repeated, known);
    }

    public bool Has(string name) => values.TryGetValue(name, out var v) && v is not ("false" or "0");

    public string? String(string name) => values.TryGetValue(name, out var v) ? v : Declared(name).Default;

    /// <summary>Every value of a repeatable option, in the order given.</summary>
    public IReadOnlyList<string> All(string name) => repeated.TryGetValue(name, out var all) ? all : [];

    public int Int(string name, int min, int max)
    {
        var text = String(name) ?? throw new BenchException($"--{name} is required.");
        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
        {
            throw new BenchException($"--{name} must be a whole number from {min} to {max}, not '{text}'.");
        }
        return value;
    }

    public double Double(string name, double min, double max)
    {
        var text = String(name) ?? throw new BenchException($"--{name} is required.");
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
        {
            throw new BenchException($"--{name} must be a number from {min} to {max}, not '{text}'.");
        }
        return value;
    }

    private BenchOption Declared(string name) =>
        known.FirstOrDefault(o => o.Name == name) ?? throw new InvalidOperationException($"Option --{name} is not declared.");
}

public static class Usage
{
    private const string Command = "dotnet run --project bench/GeoLogistics.Bench -c Release --";

    public static void Print(IReadOnlyList<Scenarios.IScenario> scenarios)
    {
        Console.WriteLine($"usage: {Command} SCENARIO [options]   ({Command} SCENARIO --help for its options)");
        Console.WriteLine();
        foreach (var s in scenarios)
        {
            Console.WriteLine($"  {s.Name,-12} {s.Summary}");
        }
    }

    public static void Print(Scenarios.IScenario scenario)
    {
        Console.WriteLine($"usage: {Command} {scenario.Name} [options]");
        Console.WriteLine();
        Console.WriteLine(scenario.Summary);
        Console.WriteLine();
        foreach (var o in scenario.Options)
        {
            var left = o.IsFlag ? $"--{o.Name}" : $"--{o.Name} VALUE";
            var fallback = o.Default is null || o.IsFlag ? "" : $" (default {o.Default})";
            Console.WriteLine($"  {left,-24} {o.Help}{fallback}");
        }
    }
}
