using GeoLogistics.Bench.Harness;
using GeoLogistics.Bench.Scenarios;

// Every scenario the tool knows: a new one is one file under Scenarios/ and one entry here.
IScenario[] scenarios =
[
    new DispatchScenario(), new ConnectionsScenario(), new FanoutScenario(), new FanoutLoadScenario(), new PipelineScenario(),
    new ReplayScenario(), new LocationsScenario(), new NodesScenario(),
];

if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
{
    Usage.Print(scenarios);
    return args.Length == 0 ? 2 : 0;
}
var scenario = scenarios.FirstOrDefault(s => s.Name == args[0]);
if (scenario is null)
{
    Console.Error.WriteLine($"Unknown scenario '{args[0]}'.");
    Usage.Print(scenarios);
    return 2;
}

// Ctrl+C cancels the run; the scenario's `await using` blocks still stop the server and drop the database.
using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
};

try
{
    var options = BenchArgs.Parse(args[1..], scenario.Options);
    if (options.Has("help"))
    {
        Usage.Print(scenario);
        return 0;
    }
    return await scenario.RunAsync(options, cancel.Token);
}
catch (OperationCanceledException) when (cancel.IsCancellationRequested)
{
    Console.Error.WriteLine("Cancelled.");
    return 130;
}
catch (BenchException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 1;
}
