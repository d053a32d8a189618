namespace GeoLogistics.Server.Nodes;

/// <summary>Settings of this node (section <c>Node</c>).</summary>
public sealed class NodeOptions
{
    /// <summary>The node's name in logs, stats and metrics; unset: the host's name and the process id.</summary>
    public string? Name { get; set; }
}

/// <summary>
/// Who this node is among several on one store: <see cref="Name"/> for people (logs, stats), and
/// <see cref="Instance"/>, new on every start, for the backplane to know its own messages even when two nodes were
/// given one name by mistake (or run in one process, as tests do).
/// </summary>
public sealed class NodeIdentity(Microsoft.Extensions.Options.IOptions<NodeOptions> options)
{
    public string Name { get; } = string.IsNullOrWhiteSpace(options.Value.Name)
        ? $"{Environment.MachineName}-{Environment.ProcessId}"
        : options.Value.Name.Trim();

    public Guid Instance { get; } = Guid.NewGuid();
}
