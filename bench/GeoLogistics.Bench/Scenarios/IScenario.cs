using GeoLogistics.Bench.Harness;

namespace GeoLogistics.Bench.Scenarios;

/// <summary>One benchmark: <c>dotnet run --project bench/GeoLogistics.Bench -c Release -- NAME [options]</c>.</summary>
public interface IScenario
{
    string Name { get; }

    string Summary { get; }

    IReadOnlyList<BenchOption> Options { get; }

    /// <summary>Runs the scenario and prints its figures; the exit code says whether a checked invariant held.</summary>
    Task<int> RunAsync(BenchArgs args, CancellationToken ct);
}
