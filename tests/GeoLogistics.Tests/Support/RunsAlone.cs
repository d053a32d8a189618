namespace GeoLogistics.Tests.Support;

/// <summary>
/// Tests that load the whole machine (thousands of sockets on one server) run in this collection: alone, after the
/// others, so that they neither slow down nor are slowed by tests that wait with timeouts.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class RunsAlone
{
    public const string Name = "Runs alone";
}
