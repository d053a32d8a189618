using System.Text.Json.Serialization;
using GeoLogistics.Server.Http;

namespace GeoLogistics.Server.Auth;

[JsonConverter(typeof(LowerSnakeEnumConverter<Role>))]
public enum Role
{
    Admin,
    Dispatcher,
    Driver,
    Customer,
}

/// <summary>Who did something, as events and status histories record it; <see cref="System"/> for the server's own moves.</summary>
public sealed record Actor(Guid? UserId, string Email)
{
    public static readonly Actor System = new(null, "system");
}

/// <summary>Who is calling: the user behind a token's live session, as the store knows it (<see cref="Sessions"/>).</summary>
public sealed record Caller(Guid UserId, string Email, Role Role, Guid? TenantId, Guid? DriverId, Guid SessionId = default)
{
    public const string TenantClaim = "tenant_id";
    public const string DriverClaim = "driver_id";
    public const string RoleClaim = "role";
    public const string EmailClaim = "email";
    public const string SubjectClaim = "sub";
    public const string SessionClaim = "sid";

    public Actor Actor => new(UserId, Email);

    public bool IsAdmin => Role == Role.Admin;

    /// <summary>The role a token names, exactly as tokens are issued ("admin", …): no numbers, no other spelling.</summary>
    public static Role? ParseRole(string? claim) => claim switch
    {
        "admin" => Role.Admin,
        "dispatcher" => Role.Dispatcher,
        "driver" => Role.Driver,
        "customer" => Role.Customer,
        _ => null,
    };

    public static string RoleName(Role role) => role switch
    {
        Role.Admin => "admin",
        Role.Dispatcher => "dispatcher",
        Role.Driver => "driver",
        Role.Customer => "customer",
        _ => throw new ArgumentOutOfRangeException(nameof(role)),
    };

    /// <summary>Set by the bearer handler once the token's session checked out (<see cref="AuthSetup"/>).</summary>
    public static Caller? Of(HttpContext context) => context.Items[typeof(Caller)] as Caller;

    /// <summary>Minimal APIs bind <see cref="Caller"/> from the authenticated request.</summary>
    public static ValueTask<Caller?> BindAsync(HttpContext context) =>
        ValueTask.FromResult<Caller?>(Of(context) ?? throw new InvalidOperationException("An endpoint that takes a Caller must require authorization."));
}
