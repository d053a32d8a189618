using System.Text;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace GeoLogistics.Server.Http;

/// <summary>
/// The body of <c>/health/ready</c>: the overall status, then one line per check that is not healthy, naming it.
/// The status code says ready or not (Degraded is ready); the lines say why, without the checks' error details,
/// since the probe needs no login.
/// </summary>
public static class Readiness
{
    public static Task WriteAsync(HttpContext http, HealthReport report)
    {
        var text = new StringBuilder(report.Status.ToString());
        foreach (var (name, entry) in report.Entries.Where(e => e.Value.Status != HealthStatus.Healthy).OrderBy(e => e.Key, StringComparer.Ordinal))
        {
            text.Append('\n').Append(name).Append(": ").Append(entry.Status);
        }
        http.Response.ContentType = "text/plain; charset=utf-8";
        return http.Response.WriteAsync(text.ToString(), http.RequestAborted);
    }
}
