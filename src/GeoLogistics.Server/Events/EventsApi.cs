using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Data;
using GeoLogistics.Server.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace GeoLogistics.Server.Events;

/// <summary>A page of the log: read on with <c>since=lastSeq</c>.</summary>
public sealed record EventPage(IReadOnlyList<EventDto> Events, long LastSeq);

public static class EventsApi
{
    public static RouteGroupBuilder MapEvents(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/events").WithTags("Events").RequireAuthorization();
        group.MapGet("/", Read).WithName("ReadEvents").WithSummary("Durable events after since that the caller may see, in seq order.");
        return group;
    }

    private static async Task<Results<Ok<EventPage>, ValidationProblem>> Read(
        long? since, int? limit, Caller caller, AppDb db, IOptions<ApiOptions> options, CancellationToken ct)
    {
        var max = options.Value.MaxEventPageSize;
        var take = limit ?? 100;
        if (take < 1 || take > max)
        {
            return Problems.Invalid("limit", $"limit must be between 1 and {max}.");
        }
        if (since is < 0)
        {
            return Problems.Invalid("since", "since is a seq: 0 or more.");
        }
        var after = since ?? 0;
        var events = await db.Events.AsNoTracking().VisibleTo(caller)
            .Where(e => e.Seq > after)
            .OrderBy(e => e.Seq)
            .Take(take)
            .ToListAsync(ct);
        return TypedResults.Ok(new EventPage([.. events.Select(e => e.ToDto())], events.Count > 0 ? events[^1].Seq!.Value : after));
    }
}
