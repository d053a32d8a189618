using System.Globalization;
using GeoLogistics.Server.Data;
using GeoLogistics.Server.Http;
using GeoLogistics.Server.Realtime.Core;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace GeoLogistics.Server.Orders;

/// <summary>Optimistic concurrency over HTTP: the version is the ETag; a stale write answers 409 with the current order.</summary>
internal static class OrderVersions
{
    internal static string ETag(int version) => $"\"{version}\"";

    /// <summary>The version the client read: <c>If-Match: "7"</c> (weak or strong) or <c>version</c> in the body.</summary>
    internal static bool TryReadExpectedVersion(HttpRequest request, int? bodyVersion, out int version, out IResult? error)
    {
        error = null;
        version = 0;
        var ifMatch = request.Headers.IfMatch.ToString();
        if (ifMatch.Length > 0)
        {
            var text = ifMatch.StartsWith("W/", StringComparison.Ordinal) ? ifMatch[2..] : ifMatch;
            if (!int.TryParse(text.Trim('"'), NumberStyles.None, CultureInfo.InvariantCulture, out version))
            {
                error = Problems.Invalid("If-Match", "If-Match must be the ETag of the order, e.g. \"3\".");
                return false;
            }
            if (bodyVersion is { } v && v != version)
            {
                error = Problems.Invalid("version", "version and If-Match disagree.");
                return false;
            }
            return true;
        }
        if (bodyVersion is { } fromBody)
        {
            version = fromBody;
            return true;
        }
        error = TypedResults.Problem(
            statusCode: StatusCodes.Status428PreconditionRequired,
            title: "Precondition required",
            detail: "Send the version you read: an If-Match header with the ETag, or version in the body.");
        return false;
    }

    /// <summary>409 with the current order, and an <c>order.conflict</c> to whoever watches the order.</summary>
    internal static ProblemHttpResult Stale(ILivePublisher live, Order current, int attempted)
    {
        live.Publish(LiveMessage.Volatile(
            new OrderConflict(current.Id, current.Version, attempted, current.ToDto()), OrdersJson.Default.OrderConflict, "order.conflict",
            current.TenantId, current.Id, current.DriverId, current.CustomerId));
        return Problems.Conflict(
            $"The order changed since version {attempted}; it is now at version {current.Version}.",
            new Dictionary<string, object?>
            {
                ["currentVersion"] = current.Version,
                ["attemptedVersion"] = attempted,
                ["current"] = current.ToDto(),
            });
    }

    internal static async Task<IResult> StaleAfterRace(AppDb db, ILivePublisher live, Guid id, int attempted, CancellationToken ct)
    {
        db.ChangeTracker.Clear();
        var current = await db.Orders.AsNoTracking().FirstOrDefaultAsync(o => o.Id == id, ct);
        return current is null ? Problems.NotFound("The order") : Stale(live, current, attempted);
    }
}
