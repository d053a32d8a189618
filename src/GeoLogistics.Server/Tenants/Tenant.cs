using System.ComponentModel.DataAnnotations;

namespace GeoLogistics.Server.Tenants;

public sealed class Tenant
{
    public Guid Id { get; set; }
    public string Name { get; set; } = "";
    public DateTimeOffset CreatedAt { get; set; }
}

public sealed record TenantDto(Guid Id, string Name);

public sealed record CreateTenantRequest([property: Required, StringLength(200, MinimumLength = 1)] string? Name);
