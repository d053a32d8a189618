namespace GeoLogistics.Server.Nodes;

/// <summary>Settings of this node (section <c>Node</c>).</summary>
public sealed class NodeOptions
{
    /// <summary>The node's name in logs, stats and metrics; unset: the host's name and the process id.</summary>
    public string? Name { get; set; }

    /// <summary>
    /// On a clean stop, how long the node stays up reporting not ready before it closes its live connections: about
    /// a balancer's readiness probe interval, so that no new client is sent here meanwhile.
    /// </summary>
    public TimeSpan DrainDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long the closing connections get to say goodbye before the host stops regardless.</summary>
    public TimeSpan DrainPatience { get; set; } = TimeSpan.FromSeconds(5);
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
