using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Data;
using GeoLogistics.Server.Dispatch;
using GeoLogistics.Server.Events;
using GeoLogistics.Server.Http;
using GeoLogistics.Server.Orders;
using GeoLogistics.Server.Tenants;
using GeoLogistics.Server.Users;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace GeoLogistics.Server.Drivers;

public static class DriversApi
{
    public static RouteGroupBuilder MapDrivers(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/drivers").WithTags("Drivers").RequireAuthorization();
        group.MapPost("/", Create).WithName("CreateDriver").WithSummary("Register a driver and its login (admin, or a dispatcher for its own fleet).")
            .Produces<DriverDto>(StatusCodes.Status201Created);
        group.MapGet("/", List).WithName("ListDrivers").WithSummary("Drivers the caller may see or assign: its own fleet whole, the platform fleet as far as it serves the caller.");
        group.MapGet("/{id:guid}", Get).WithName("GetDriver").WithSummary("One driver.");
        group.MapPost("/me/status", SetStatus).WithName("SetDriverStatus").WithSummary("The calling driver goes online or offline.");
        return group;
    }

    private static async Task<IResult> Create(
        CreateDriverRequest request, Caller caller, AppDb db, IPasswordHasher<User> hasher, TimeProvider clock, CancellationToken ct)
    {
        Guid? fleet;
        switch (caller.Role)
        {
            case Role.Admin:
                fleet = request.TenantId;
                if (fleet is { } tenant && !await db.Tenants.AnyAsync(t => t.Id == tenant, ct))
                {
                    return Problems.Invalid("tenantId", "There is no such tenant.");
                }
                break;
            case Role.Dispatcher when request.TenantId is null || request.TenantId == caller.TenantId:
                fleet = caller.TenantId;
                break;
            case Role.Dispatcher:
                return Problems.Forbidden("Dispatchers register drivers for their own fleet only.");
            default:
                return Problems.Forbidden("Only admins and dispatchers register drivers.");
        }
        var user = await UserAccounts.NewUserAsync(db, hasher, clock, request.Email!, request.Password!, Role.Driver, fleet, request.Name, ct);
        if (user is null)
        {
            return Problems.Conflict("A user with this email exists.");
        }
        var now = clock.Now();
        var driver = new Driver
        {
            Id = Guid.CreateVersion7(now),
            UserId = user.Id,
            TenantId = fleet,
            Name = request.Name!,
            Phone = request.Phone,
            Status = DriverStatus.Offline,
            Version = 1,
            CreatedAt = now,
            UpdatedAt = now,
        };
        db.Drivers.Add(driver);
        await db.SaveChangesAsync(ct);
        return TypedResults.Created($"/api/drivers/{driver.Id}", driver.ToDto(withPhone: true));
    }

    private static async Task<IResult> List(
        Caller caller, AppDb db, string? status, int? limit, IOptions<ApiOptions> options, CancellationToken ct)
    {
        if (caller.Role is Role.Customer)
        {
            return Problems.Forbidden("Customers do not list drivers.");
        }
        var max = options.Value.MaxPageSize * 10;
        var take = limit ?? options.Value.DefaultPageSize;
        if (take < 1 || take > max)
        {
            return Problems.Invalid("limit", $"limit must be between 1 and {max}.");
        }
        var drivers = db.Drivers.AsNoTracking().VisibleTo(db, caller);
        if (status is { Length: > 0 })
        {
            if (!Enum.TryParse<DriverStatus>(status, ignoreCase: true, out var wanted) || int.TryParse(status, out _))
            {
                return Problems.Invalid("status", "status is offline, available or busy.");
            }
            drivers = drivers.Where(d => d.Status == wanted);
        }
        var page = await drivers.OrderBy(d => d.Name).ThenBy(d => d.Id).Take(take).WithView(db, caller).ToListAsync(ct);
        return TypedResults.Ok(page.Select(s => s.ToDto()).ToList());
    }

    private static async Task<IResult> Get(Guid id, Caller caller, AppDb db, ILatestPositions positions, CancellationToken ct)
    {
        if (await db.Drivers.AsNoTracking().VisibleTo(db, caller).Where(d => d.Id == id).WithView(db, caller).FirstOrDefaultAsync(ct) is not { } seen)
        {
            return Problems.NotFound("The driver");
        }
        var driver = seen.Driver;
        // The store gets positions at a bounded rate; this node, or Redis, may know a newer one.
        if (await positions.LatestAsync(id, ct) is { } live && (driver.LocationAt is null || live.At > driver.LocationAt))
        {
            (driver.Lat, driver.Lng, driver.Heading, driver.Speed, driver.LocationAt) = (live.Lat, live.Lng, live.Heading, live.Speed, live.At);
        }
        return TypedResults.Ok(seen.ToDto());
    }

    private static async Task<IResult> SetStatus(
        DriverStatusRequest request, Caller caller, AppDb db, EventLog log, TimeProvider clock, CancellationToken ct)
    {
        if (caller.DriverId is not { } driverId)
        {
            return Problems.Forbidden("Only drivers go online or offline.");
        }
        var driver = await db.Drivers.FirstOrDefaultAsync(d => d.Id == driverId, ct);
        if (driver is null)
        {
            return Problems.NotFound("Your driver record");
        }
        var online = request.Online!.Value;
        var target = !online ? DriverStatus.Offline : driver.CurrentOrderId is null ? DriverStatus.Available : DriverStatus.Busy;
        if (target == driver.Status)
        {
            return TypedResults.Ok(driver.ToDto(withPhone: true));
        }

        var now = clock.Now();
        var events = new List<EventRecord>();
        if (!online && driver.CurrentOrderId is { } orderId &&
            await db.Orders.FirstOrDefaultAsync(o => o.Id == orderId, ct) is { } order)
        {
            // Going offline before pickup hands the order back to dispatch; with the goods on board it may not.
            if (order.Status != OrderStatus.Assigned)
            {
                return Problems.Conflict("Deliver the order on board before going offline.");
            }
            order.DriverId = null;
            OrderLifecycle.Apply(order, OrderLifecycle.DispatchableStatus(order.DispatchWhen), caller.Actor, now);
            events.Add(log.ForOrder(EventTypes.OrderStatusChanged, order, caller.Actor, ["status", "driverId", "version"]));
            driver.CurrentOrderId = null;
        }
        driver.Status = target;
        driver.Version++;
        driver.UpdatedAt = now;
        events.Add(log.ForDriver(driver, caller.Actor));
        try
        {
            await log.SaveAsync(events, ct);
        }
        catch (DbUpdateConcurrencyException)
        {
            return Problems.Conflict("Your driver record changed meanwhile (an assignment?); read it and retry.");
        }
        return TypedResults.Ok(driver.ToDto(withPhone: true));
    }
}
