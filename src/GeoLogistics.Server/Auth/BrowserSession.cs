using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.Extensions.Options;

namespace GeoLogistics.Server.Auth;

/// <summary>
/// The dashboard's session: the same access token as the API's, kept by the browser in an HttpOnly,
/// SameSite=Strict cookie that page scripts cannot read. A request carrying only the cookie is trusted only from
/// the server's own origin (or one configured): a page elsewhere cannot ride on it.
/// </summary>
public static class BrowserSession
{
    public const string CookieName = "glo_access";

    private static readonly object FromCookie = new();

    /// <summary>
    /// Where the bearer handler finds a token when there is no <c>Authorization</c> header: <c>?access_token=</c> on
    /// the socket handshake (browsers cannot set its headers; SignalR's clients send it so to <c>/hubs/…</c>), else the
    /// dashboard's cookie.
    /// </summary>
    public static Task ReadToken(MessageReceivedContext context)
    {
        var request = context.Request;
        if (!string.IsNullOrEmpty(request.Headers.Authorization))
        {
            return Task.CompletedTask;
        }
        if ((request.Path.StartsWithSegments("/api/ws", StringComparison.Ordinal) || request.Path.StartsWithSegments("/hubs", StringComparison.Ordinal)) &&
            request.Query["access_token"].FirstOrDefault() is { Length: > 0 } fromQuery)
        {
            context.Token = fromQuery;
        }
        else if (request.Cookies[CookieName] is { Length: > 0 } fromCookie)
        {
            context.Token = fromCookie;
            context.HttpContext.Items[FromCookie] = true;
        }
        return Task.CompletedTask;
    }

    /// <summary>No Origin: not a browser. Else the server's own origin or one configured.</summary>
    public static bool OriginAllowed(HttpRequest request, AuthOptions options) =>
        OriginAllowed(request.Headers.Origin.ToString(), request.Scheme, request.Host.ToString(), options);

    /// <summary>The same rule for a request read without the HTTP pipeline: its Origin header, scheme and Host header.</summary>
    public static bool OriginAllowed(string? origin, string scheme, string host, AuthOptions options)
    {
        if (string.IsNullOrEmpty(origin))
        {
            return true;
        }
        var own = $"{scheme}://{host}";
        return string.Equals(origin, own, StringComparison.OrdinalIgnoreCase) ||
            options.AllowedOrigins.Contains(origin, StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>
    /// A change made with the cookie must come from an allowed page: browsers send <c>Origin</c> with every
    /// POST, PATCH and DELETE, so a missing one is refused too. SameSite=Strict already keeps the cookie off
    /// cross-site requests; this holds even where a browser does not honour it.
    /// </summary>
    public static IApplicationBuilder UseBrowserSessionOriginCheck(this IApplicationBuilder app) => app.Use(async (http, next) =>
    {
        var request = http.Request;
        if (http.Items.ContainsKey(FromCookie) &&
            !HttpMethods.IsGet(request.Method) && !HttpMethods.IsHead(request.Method) && !HttpMethods.IsOptions(request.Method) &&
            (request.Headers.Origin.Count == 0 || !OriginAllowed(request, http.RequestServices.GetRequiredService<IOptions<AuthOptions>>().Value)))
        {
            await Results.Problem(
                statusCode: StatusCodes.Status403Forbidden,
                title: "Forbidden",
                detail: "A change made with the dashboard's cookie must come from the dashboard's own origin.").ExecuteAsync(http);
            return;
        }
        await next(http);
    });

    public static void SetCookie(HttpContext http, IssuedToken token) =>
        http.Response.Cookies.Append(CookieName, token.AccessToken, Options(http, token.ExpiresAt));

    public static void ClearCookie(HttpContext http) =>
        http.Response.Cookies.Delete(CookieName, Options(http, expires: null));

    private static CookieOptions Options(HttpContext http, DateTimeOffset? expires) => new()
    {
        HttpOnly = true,
        SameSite = SameSiteMode.Strict,
        Secure = http.Request.IsHttps,
        Path = "/",
        Expires = expires,
        IsEssential = true,
    };
}
