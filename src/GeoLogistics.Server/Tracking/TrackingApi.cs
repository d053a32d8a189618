using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Data;
using GeoLogistics.Server.Drivers;
using GeoLogistics.Server.Http;
using GeoLogistics.Server.Orders;
using Microsoft.EntityFrameworkCore;

namespace GeoLogistics.Server.Tracking;

public sealed record TrackingDriver(Guid Id, string Name, string? Phone);

public sealed record TrackingPosition(double Lat, double Lng, double? Heading, double? Speed, DateTimeOffset At, double AgeSeconds);

public sealed record RoutePoint(double Lat, double Lng, DateTimeOffset At, bool Flagged);

public sealed record TrackingDto(
    Guid OrderId,
    string Number,
    OrderStatus Status,
    int Version,
    GeoPoint Pickup,
    GeoPoint Dropoff,
    TrackingDriver? Driver,
    TrackingPosition? Position,
    double? EtaMinutes,
    string? Leg,
    IReadOnlyList<RoutePoint> Route,
    IReadOnlyList<StatusChangeDto> History,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    DateTimeOffset? ConfirmedAt,
    DateTimeOffset? AcceptedAt,
    DateTimeOffset? ReadyAt,
    DateTimeOffset? AssignedAt,
    DateTimeOffset? PickedUpAt,
    DateTimeOffset? InTransitAt,
    DateTimeOffset? DeliveredAt,
    DateTimeOffset? CancelledAt);

public sealed record LocationBatch(IReadOnlyList<LocationRequest>? Positions);

public static class TrackingApi
{
    private const int MaxRoutePoints = 5000;

    public static IServiceCollection AddTracking(this IServiceCollection services, IConfiguration config)
    {
        services.AddOptions<TrackingOptions>().Bind(config.GetSection("Tracking")).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<IEtaEstimator, GreatCircleEtaEstimator>();
        services.AddSingleton<ActiveOrders>();
        services.AddHostedService(sp => sp.GetRequiredService<ActiveOrders>());
        // ISharedPositions: the other nodes' positions come from the backplane (Nodes/NodesSetup.cs).
        services.AddSingleton<Tracker>();
        services.AddSingleton<ILatestPositions>(sp => sp.GetRequiredService<Tracker>());
        services.AddHostedService<TrackWriter>();
        return services;
    }

    public static IEndpointRouteBuilder MapTracking(this IEndpointRouteBuilder routes)
    {
        routes.MapGet("/api/orders/{id:guid}/tracking", Get).WithTags("Tracking").WithName("OrderTracking")
            .WithSummary("Where the order is: status, history, driver, last position and its age, ETA, the active leg's route.")
            .RequireAuthorization();
        routes.MapPost("/api/drivers/me/location", Post).WithTags("Tracking").WithName("PostDriverLocation")
            .WithSummary("The calling driver reports its position (also over the socket as driver.location).")
            .RequireAuthorization()
            .Produces(StatusCodes.Status202Accepted);
        routes.MapPost("/api/drivers/me/locations", PostBatch).WithTags("Tracking").WithName("PostDriverLocations")
            .WithSummary("The calling driver uploads positions buffered while offline: history first, live only if newest.")
            .RequireAuthorization()
            .Produces(StatusCodes.Status202Accepted);
        return routes;
    }

    private static async Task<IResult> Get(Guid id, Caller caller, AppDb db, Tracker tracker, TimeProvider clock, CancellationToken ct)
    {
        var order = await db.Orders.AsNoTracking().VisibleTo(caller).Include(o => o.History).FirstOrDefaultAsync(o => o.Id == id, ct);
        if (order is null)
        {
            return Problems.NotFound("The order");
        }
        var driver = order.DriverId is { } driverId ? await db.Drivers.AsNoTracking().FirstOrDefaultAsync(d => d.Id == driverId, ct) : null;
        var active = OrderLifecycle.HoldsDriver(order.Status);
        // The phone is for those who may call the driver about this order: the back office, and its customer while it runs.
        var withPhone = caller.Role is Role.Admin or Role.Dispatcher || caller.DriverId == order.DriverId ||
            (caller.Role == Role.Customer && active);
        var now = clock.Now();
        TrackingPosition? position = null;
        // Where the driver is belongs to this order only while the order holds it; after that it may serve someone else.
        if (driver is not null && active)
        {
            var live = await tracker.LatestAsync(driver.Id, ct);
            position = live is not null && (driver.LocationAt is null || live.At >= driver.LocationAt)
                ? new TrackingPosition(live.Lat, live.Lng, live.Heading, live.Speed, live.At, (now - live.At).TotalSeconds)
                : driver is { Lat: { } lat, Lng: { } lng, LocationAt: { } at }
                    ? new TrackingPosition(lat, lng, driver.Heading, driver.Speed, at, (now - at).TotalSeconds)
                    : null;
        }
        var leg = !active ? null : order.Status == OrderStatus.Assigned ? "pickup" : "dropoff";
        var route = new List<RoutePoint>();
        if (leg is not null)
        {
            // Points still waiting for the writer count too: read them before the store, so none falls in between.
            var waiting = tracker.PendingPoints(id, leg);
            var stored = await db.TrackPoints.AsNoTracking().Where(p => p.OrderId == id && p.Leg == leg).OrderBy(p => p.At).Take(MaxRoutePoints)
                .Select(p => new RoutePoint(p.Lat, p.Lng, p.At, p.Flagged)).ToListAsync(ct);
            route = [.. stored.Concat(waiting).Distinct().OrderBy(p => p.At).Take(MaxRoutePoints)];
        }
        var history = order.ToDto(withHistory: true).History!;
        return TypedResults.Ok(new TrackingDto(
            order.Id, order.Number, order.Status, order.Version, order.Pickup.ToDto(), order.Dropoff.ToDto(),
            driver is null ? null : new TrackingDriver(driver.Id, driver.Name, withPhone ? driver.Phone : null),
            position, active && order.DriverId is { } serving ? tracker.LastEta(serving, order.Id) ?? order.EtaMinutes : null, leg, route, history,
            order.CreatedAt, order.UpdatedAt, order.ConfirmedAt, order.AcceptedAt, order.ReadyAt, order.AssignedAt,
            order.PickedUpAt, order.InTransitAt, order.DeliveredAt, order.CancelledAt));
    }

    private static async Task<IResult> Post(LocationRequest request, Caller caller, Tracker tracker, HttpContext http, CancellationToken ct) =>
        caller.DriverId is { } driverId
            ? Answer(await tracker.ReportAsync(driverId, request, ct), http)
            : Problems.Forbidden("Only drivers report locations.");

    private static async Task<IResult> PostBatch(LocationBatch batch, Caller caller, Tracker tracker, HttpContext http, CancellationToken ct) =>
        caller.DriverId is { } driverId
            ? Answer(await tracker.ReportBatchAsync(driverId, batch.Positions ?? [], ct), http)
            : Problems.Forbidden("Only drivers report locations.");

    private static IResult Answer(LocationOutcome outcome, HttpContext http)
    {
        switch (outcome)
        {
            case LocationOutcome.Invalid invalid:
                return Problems.Invalid(invalid.Field, invalid.Message);
            case LocationOutcome.RateLimited limited:
                http.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(limited.RetryAfter.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
                return TypedResults.Problem(statusCode: StatusCodes.Status429TooManyRequests, title: "Too many requests",
                    detail: "Positions above the driver's rate are dropped; retry after the Retry-After delay.");
            default:
                return TypedResults.Accepted((string?)null);
        }
    }
}
