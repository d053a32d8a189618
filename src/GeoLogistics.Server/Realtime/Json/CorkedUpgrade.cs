using Microsoft.AspNetCore.Http.Features;

namespace GeoLogistics.Server.Realtime.Json;

/// <summary>
/// Puts a <see cref="SocketStream"/> around the stream of a request upgraded through HTTP, as a socket served off the
/// connection has one around its pipes: so that a burst leaves in one write, the server's keep-alive can ping and cut
/// off the socket, and no timer is started per socket. Registered before <c>UseWebSockets</c>, for upgrade requests only.
/// </summary>
public static class CorkedUpgrade
{
    public static IApplicationBuilder UseCorkedUpgrades(this IApplicationBuilder app) => app.Use((context, next) =>
    {
        if (context.Features.Get<IHttpUpgradeFeature>() is { IsUpgradableRequest: true } upgrade)
        {
            context.Features.Set<IHttpUpgradeFeature>(new Feature(upgrade, context));
        }
        return next(context);
    });

    /// <summary>The socket stream of an upgraded request, once upgraded; null otherwise.</summary>
    public static SocketStream? StreamOf(HttpContext context) => (context.Features.Get<IHttpUpgradeFeature>() as Feature)?.Stream;

    private sealed class Feature(IHttpUpgradeFeature inner, HttpContext context) : IHttpUpgradeFeature
    {
        public SocketStream? Stream { get; private set; }

        public bool IsUpgradableRequest => inner.IsUpgradableRequest;

        public async Task<Stream> UpgradeAsync() => Stream = new SocketStream(await inner.UpgradeAsync(), cutOff: context.Abort);
    }
}
