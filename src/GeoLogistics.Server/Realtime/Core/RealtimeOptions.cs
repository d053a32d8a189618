using System.ComponentModel.DataAnnotations;

namespace GeoLogistics.Server.Realtime.Core;

/// <summary>Real-time gateway settings (section <c>Realtime</c>).</summary>
public sealed class RealtimeOptions
{
    /// <summary>Messages waiting to be sent to one connection; a client that lets more pile up is closed (1013).</summary>
    [Range(16, 1_000_000)]
    public int OutboundQueueLimit { get; set; } = 4096;

    /// <summary>The largest message a client may send; larger closes the connection (1009).</summary>
    [Range(1024, 1024 * 1024)]
    public int MaxMessageBytes { get; set; } = 16 * 1024;

    /// <summary>Messages a client may send per second, with a burst of twice that; more closes the connection (1008).</summary>
    [Range(1, 100_000)]
    public int MaxMessagesPerSecond { get; set; } = 50;

    [Range(1, 10_000)]
    public int MaxSubscriptions { get; set; } = 100;

    /// <summary>
    /// Sockets one user may hold at once, on every protocol together; one more is refused before the upgrade (429).
    /// A dashboard tab or a driver app holds one: 32 leaves room for many tabs and devices, and keeps one token from
    /// taking a node's file descriptors.
    /// </summary>
    [Range(1, 1_000_000)]
    public int MaxConnectionsPerUser { get; set; } = 32;

    /// <summary>
    /// Events a replay reads from the store at a time. The next page is read once the client has read the previous
    /// one down to half, and each page costs one message of the client's <see cref="MaxMessagesPerSecond"/>.
    /// </summary>
    [Range(1, 100_000)]
    public int ReplayPageSize { get; set; } = 2000;

    /// <summary>Server pings this often; a client that answers none for <see cref="IdleTimeout"/> is dropped.</summary>
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(20);

    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromSeconds(60);
}
