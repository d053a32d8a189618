namespace GeoLogistics.Server.Realtime.Stomp;

/// <summary>STOMP adapter settings (section <c>Realtime:Stomp</c>); sizes and rates are the core's (<c>Realtime</c>).</summary>
public sealed class StompOptions
{
    /// <summary>
    /// The heart-beat the server offers both ways (CONNECTED's <c>heart-beat</c>); each way runs at the slower of this
    /// and what the client asks, and zero on either side turns it off. A client silent for twice its interval and a second more is closed.
    /// </summary>
    public TimeSpan HeartBeat { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>A socket that has not sent its CONNECT frame by then is closed: until it has, it is nobody's.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);
}
