namespace GeoLogistics.Server.Realtime.Core;

/// <summary>Why the server ends a session; each protocol says it in its own words (a WebSocket close code, an ERROR frame).</summary>
public enum CloseReason
{
    /// <summary>The client left, or said goodbye.</summary>
    Normal,
    /// <summary>It let more pile up than <see cref="RealtimeOptions.OutboundQueueLimit"/>: it resumes with <c>since</c>.</summary>
    SlowConsumer,
    /// <summary>It sent more than <see cref="RealtimeOptions.MaxMessagesPerSecond"/>.</summary>
    Flood,
    /// <summary>It sent a message over <see cref="RealtimeOptions.MaxMessageBytes"/>.</summary>
    TooBig,
    /// <summary>Its token expired, or its session ended (a logout, a disabled user).</summary>
    Unauthorized,
    /// <summary>The node is stopping: the client resumes with <c>since</c>, on another node or once it is back.</summary>
    Restart,
}

public sealed record SessionClose(CloseReason Reason, string Text)
{
    public static readonly SessionClose Bye = new(CloseReason.Normal, "bye");
    public static readonly SessionClose SlowConsumer = new(CloseReason.SlowConsumer, "slow consumer: resume with since");
    public static readonly SessionClose Restart = new(CloseReason.Restart, "server restarting: resume with since");
}
