using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Data;
using GeoLogistics.Server.Http;
using Microsoft.EntityFrameworkCore;

namespace GeoLogistics.Server.Tenants;

public static class TenantsApi
{
    public static RouteGroupBuilder MapTenants(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/tenants").WithTags("Tenants").RequireAuthorization();
        group.MapPost("/", Create).WithName("CreateTenant").WithSummary("Create a tenant (admin).").Produces<TenantDto>(StatusCodes.Status201Created);
        group.MapGet("/", List).WithName("ListTenants").WithSummary("Tenants: all for an admin, one's own otherwise.");
        return group;
    }

    private static async Task<IResult> Create(CreateTenantRequest request, Caller caller, AppDb db, TimeProvider clock, CancellationToken ct)
    {
        if (!caller.IsAdmin)
        {
            return Problems.Forbidden("Only admins create tenants.");
        }
        var name = request.Name!.Trim();
        if (name.Length == 0)
        {
            return Problems.Invalid("name", "The name is empty.");
        }
        if (await db.Tenants.AnyAsync(t => t.Name == name, ct))
        {
            return Problems.Conflict("A tenant with this name exists.");
        }
        var tenant = new Tenant { Id = Guid.CreateVersion7(), Name = name, CreatedAt = clock.Now() };
        db.Tenants.Add(tenant);
        await db.SaveChangesAsync(ct);
        return TypedResults.Created($"/api/tenants/{tenant.Id}", new TenantDto(tenant.Id, tenant.Name));
    }

    private static async Task<IResult> List(Caller caller, AppDb db, CancellationToken ct)
    {
        var tenants = db.Tenants.AsNoTracking();
        if (!caller.IsAdmin)
        {
            tenants = tenants.Where(t => t.Id == caller.TenantId);
        }
        return TypedResults.Ok(await tenants.OrderBy(t => t.Name).Select(t => new TenantDto(t.Id, t.Name)).ToListAsync(ct));
    }
}
