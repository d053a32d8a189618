using System.ComponentModel.DataAnnotations;

namespace GeoLogistics.Server.Realtime;

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

    /// <summary>Server pings this often; a client that answers none for <see cref="IdleTimeout"/> is dropped.</summary>
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(20);

    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromSeconds(60);
}
