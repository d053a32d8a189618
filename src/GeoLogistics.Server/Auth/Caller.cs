using System.Security.Claims;
using System.Text.Json.Serialization;
using GeoLogistics.Server.Http;
using GeoLogistics.Server.Orders;

namespace GeoLogistics.Server.Auth;

[JsonConverter(typeof(LowerSnakeEnumConverter<Role>))]
public enum Role
{
    Admin,
    Dispatcher,
    Driver,
    Customer,
}

/// <summary>Who is calling, read once from the token's claims.</summary>
public sealed record Caller(Guid UserId, string Email, Role Role, Guid? TenantId, Guid? DriverId)
{
    public const string TenantClaim = "tenant_id";
    public const string DriverClaim = "driver_id";
    public const string RoleClaim = "role";
    public const string EmailClaim = "email";
    public const string SubjectClaim = "sub";

    public Actor Actor => new(UserId, Email);

    public bool IsAdmin => Role == Role.Admin;

    public static Caller From(ClaimsPrincipal user)
    {
        var id = Guid.Parse(user.FindFirstValue(SubjectClaim) ?? throw new InvalidOperationException("token without sub"));
        var role = Enum.Parse<Role>(user.FindFirstValue(RoleClaim) ?? "", ignoreCase: true);
        return new Caller(
            id,
            user.FindFirstValue(EmailClaim) ?? "",
            role,
            ParseGuid(user.FindFirstValue(TenantClaim)),
            ParseGuid(user.FindFirstValue(DriverClaim)));
    }

    private static Guid? ParseGuid(string? value) => Guid.TryParse(value, out var g) ? g : null;

    /// <summary>Minimal APIs bind <see cref="Caller"/> from the authenticated principal.</summary>
    public static ValueTask<Caller?> BindAsync(HttpContext context) => ValueTask.FromResult<Caller?>(From(context.User));
}
