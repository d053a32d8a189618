using Microsoft.Extensions.FileProviders;

namespace GeoLogistics.Server.Dashboard;

/// <summary>
/// The dashboard's two pages (SPEC §11). Their scripts and styles are static assets under <c>wwwroot/</c>; all live
/// data reaches them over the WebSocket, their first state over the REST API, both with the session cookie.
/// </summary>
public static class DashboardPages
{
    // Only our own scripts, styles and socket; no page may frame the dashboard.
    private const string ContentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

    public static IEndpointRouteBuilder MapDashboard(this IEndpointRouteBuilder routes)
    {
        routes.MapGet("/", () => Results.Redirect("/dashboard")).ExcludeFromDescription();
        routes.MapGet("/login", (HttpContext http, IWebHostEnvironment env) => Page(http, env.WebRootFileProvider, "login.html"))
            .AllowAnonymous().ExcludeFromDescription();
        // The cookie is read by the bearer handler like a header; without a valid one the browser goes to /login.
        routes.MapGet("/dashboard", (HttpContext http, IWebHostEnvironment env) =>
                http.User.Identity?.IsAuthenticated == true
                    ? Page(http, env.WebRootFileProvider, "dashboard.html")
                    : Results.Redirect("/login"))
            .AllowAnonymous().ExcludeFromDescription();
        return routes;
    }

    private static IResult Page(HttpContext http, IFileProvider files, string name)
    {
        var file = files.GetFileInfo(name);
        if (!file.Exists)
        {
            return Results.Problem(statusCode: StatusCodes.Status500InternalServerError, title: "The dashboard is not installed",
                detail: $"wwwroot/{name} is missing from this build.");
        }
        var headers = http.Response.Headers;
        headers.CacheControl = "no-store";
        headers.ContentSecurityPolicy = ContentSecurityPolicy;
        headers.XContentTypeOptions = "nosniff";
        headers["Referrer-Policy"] = "no-referrer";
        return Results.Stream(file.CreateReadStream(), "text/html; charset=utf-8");
    }
}
