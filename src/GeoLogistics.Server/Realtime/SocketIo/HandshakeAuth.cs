using GeoLogistics.Server.Auth;

namespace GeoLogistics.Server.Realtime.SocketIo;

/// <summary>What the handshake request said about its caller: a valid header token, a refused one, or none.</summary>
public sealed record HandshakeAuth(Caller? Caller, DateTimeOffset Expires, string? Refusal)
{
    public static readonly HandshakeAuth None = new(null, DateTimeOffset.MaxValue, null);
}
