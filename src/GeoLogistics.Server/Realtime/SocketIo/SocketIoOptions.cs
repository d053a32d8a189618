using System.ComponentModel.DataAnnotations;

namespace GeoLogistics.Server.Realtime.SocketIo;

/// <summary>Socket.IO adapter settings (section <c>SocketIo</c>); sizes and rates come from <see cref="Core.RealtimeOptions"/>.</summary>
public sealed class SocketIoOptions
{
    /// <summary>The server pings this often (Engine.IO 4: the server pings, the client answers).</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00")]
    public TimeSpan PingInterval { get; set; } = TimeSpan.FromSeconds(25);

    /// <summary>A client that has not answered a ping within this is gone.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00")]
    public TimeSpan PingTimeout { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>An Engine.IO connection that has connected no namespace within this is closed: an anonymous handshake costs little, and not for long.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00")]
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Bytes framed for one connection and not yet on the network (or taken by a poll). Beyond it the sessions' outboxes
    /// fill instead, and their bound closes a client that does not read (slow consumer).
    /// </summary>
    [Range(4096, 64 * 1024 * 1024)]
    public int MaxBufferedBytes { get; set; } = 256 * 1024;
}
