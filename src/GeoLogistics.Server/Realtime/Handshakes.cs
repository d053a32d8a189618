using System.Security.Claims;
using GeoLogistics.Server.Realtime.Core;
using Microsoft.IdentityModel.JsonWebTokens;

namespace GeoLogistics.Server.Realtime;

/// <summary>What every protocol's socket handshake answers and reads (JSON, STOMP, Socket.IO, SignalR): one wording each.</summary>
public static class Handshakes
{
    /// <summary>503 while the node stops: the client connects again (to another node, behind a balancer) at once.</summary>
    public static IResult NodeDraining(HttpContext http)
    {
        http.Response.Headers.RetryAfter = "1";
        return TypedResults.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "Node stopping",
            detail: "This node is stopping; connect again, and resume with since.");
    }

    /// <summary>429 for a user at <see cref="RealtimeOptions.MaxConnectionsPerUser"/>, on every protocol's handshake.</summary>
    internal static IResult TooManySockets(HttpContext http, RealtimeOptions options)
    {
        http.Response.Headers.RetryAfter = "5";
        return TypedResults.Problem(statusCode: StatusCodes.Status429TooManyRequests, title: "Too many sockets",
            detail: $"A user may hold {options.MaxConnectionsPerUser} sockets at once; close one before opening another.",
            extensions: new Dictionary<string, object?> { ["limit"] = options.MaxConnectionsPerUser });
    }

    /// <summary>When the handshake's token expires: the session is closed then (<see cref="TokenExpiry"/>).</summary>
    internal static DateTimeOffset ExpiryOf(HttpContext http)
    {
        var exp = http.User.FindFirst(JwtRegisteredClaimNames.Exp)?.Value;
        return long.TryParse(exp, out var seconds) ? DateTimeOffset.FromUnixTimeSeconds(seconds) : DateTimeOffset.MaxValue;
    }

    /// <summary>
    /// A request upgraded to a socket lives as long as the socket. Once the session has what it reads from the request
    /// (the <see cref="Caller"/> in its items, the token's expiry), the token's principal is let go: its
    /// <c>JsonWebToken</c> and claims are about 4 KiB per connection. Setting the user also drops the authentication
    /// result that held the same principal.
    /// </summary>
    internal static void ForgetToken(HttpContext http)
    {
        var exp = http.User.FindFirst(JwtRegisteredClaimNames.Exp);
        http.User = new ClaimsPrincipal(new ClaimsIdentity(exp is null ? [] : [new Claim(exp.Type, exp.Value)], http.User.Identity?.AuthenticationType));
    }
}
