using System.ComponentModel.DataAnnotations;
using GeoLogistics.Server.Auth;

namespace GeoLogistics.Server.Users;

public sealed class User
{
    public Guid Id { get; set; }
    /// <summary>Stored lower-cased: the unique login name.</summary>
    public string Email { get; set; } = "";
    public string PasswordHash { get; set; } = "";
    public Role Role { get; set; }
    public Guid? TenantId { get; set; }
    public string? Name { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    /// <summary>A disabled user cannot log in, and its sessions were ended when it was disabled.</summary>
    public bool Disabled { get; set; }

    public static string NormalizeEmail(string email) => email.Trim().ToLowerInvariant();
}

public sealed record UserDto(Guid Id, string Email, string? Name, Role Role, Guid? TenantId, Guid? DriverId, bool Disabled = false);

public sealed record CreateUserRequest(
    [property: Required, EmailAddress, StringLength(254)] string? Email,
    [property: Required, StringLength(128, MinimumLength = 8)] string? Password,
    [property: Required] Role? Role,
    Guid? TenantId,
    [property: StringLength(200)] string? Name);

/// <summary>What an admin changes of a user; absent fields stay as they are.</summary>
public sealed record UpdateUserRequest(Role? Role, bool? Disabled);

public static class UserMapping
{
    public static UserDto ToDto(this User u, Guid? driverId) => new(u.Id, u.Email, u.Name, u.Role, u.TenantId, driverId, u.Disabled);

    /// <summary>The user as a caller, before it has a session (<see cref="Sessions.StartAsync"/> starts one).</summary>
    public static Caller ToCaller(this User u, Guid? driverId) => new(u.Id, u.Email, u.Role, u.TenantId, driverId);
}
