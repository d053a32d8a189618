using System.ComponentModel.DataAnnotations;
using System.Text.Json;
using System.Text.Json.Serialization;
using GeoLogistics.Server.Http;

namespace GeoLogistics.Server.Drivers;

[JsonConverter(typeof(LowerSnakeEnumConverter<DriverStatus>))]
public enum DriverStatus
{
    Offline,
    Available,
    Busy,
}

public sealed class Driver
{
    public Guid Id { get; set; }
    public Guid UserId { get; set; }
    /// <summary>The tenant whose own fleet this driver is in; null for the platform fleet, which serves every tenant.</summary>
    public Guid? TenantId { get; set; }
    public string Name { get; set; } = "";
    public string? Phone { get; set; }
    public DriverStatus Status { get; set; }
    /// <summary>Optimistic concurrency token: a booking succeeds only at the version it read.</summary>
    public int Version { get; set; }
    public Guid? CurrentOrderId { get; set; }
    public double? Lat { get; set; }
    public double? Lng { get; set; }
    public double? Heading { get; set; }
    public double? Speed { get; set; }
    public DateTimeOffset? LocationAt { get; set; }
    /// <summary>The grid cell of the last position (<see cref="Dispatch.GeoGrid"/>): indexed with the status for the candidate search.</summary>
    public long? Cell { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }

    public bool MayServe(Guid tenantId) => TenantId is null || TenantId == tenantId;

    public bool IsFree => Status == DriverStatus.Available && CurrentOrderId is null;

    /// <summary>Books the driver for an order. The version bump makes a concurrent booking of the same driver fail.</summary>
    public void Book(Guid orderId, DateTimeOffset now)
    {
        Status = DriverStatus.Busy;
        CurrentOrderId = orderId;
        Version++;
        UpdatedAt = now;
    }

    /// <summary>Frees the driver from its order; one who went offline meanwhile stays offline.</summary>
    public void Release(DateTimeOffset now)
    {
        if (Status == DriverStatus.Busy)
        {
            Status = DriverStatus.Available;
        }
        CurrentOrderId = null;
        Version++;
        UpdatedAt = now;
    }
}

public sealed record DriverLocationDto(double Lat, double Lng, double? Heading, double? Speed, DateTimeOffset At);

public sealed record DriverDto(
    Guid Id,
    Guid UserId,
    Guid? TenantId,
    string Name,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Phone,
    DriverStatus Status,
    int Version,
    Guid? CurrentOrderId,
    DriverLocationDto? Location,
    DateTimeOffset UpdatedAt);

public static class DriverMapping
{
    public static DriverDto ToDto(this Driver d, bool withPhone) => new(
        d.Id, d.UserId, d.TenantId, d.Name, withPhone ? d.Phone : null, d.Status, d.Version, d.CurrentOrderId,
        d is { Lat: { } lat, Lng: { } lng, LocationAt: { } at } ? new DriverLocationDto(lat, lng, d.Heading, d.Speed, at) : null,
        d.UpdatedAt);

    /// <summary>The driver as the caller may see it (Orders/DriverVisibility says how much).</summary>
    public static DriverDto ToDto(this SeenDriver seen)
    {
        if (seen.View == DriverView.Whole)
        {
            return seen.Driver.ToDto(withPhone: true);
        }
        var dto = seen.Driver.ToDto(withPhone: false);
        return dto with { CurrentOrderId = null, Location = seen.Driver.IsFree ? dto.Location : null };
    }
}

public sealed record CreateDriverRequest(
    [property: Required, EmailAddress, StringLength(254)] string? Email,
    [property: Required, StringLength(128, MinimumLength = 8)] string? Password,
    [property: Required, StringLength(200, MinimumLength = 1)] string? Name,
    [property: StringLength(40)] string? Phone,
    Guid? TenantId);

public sealed record DriverStatusRequest([property: Required] bool? Online);

/// <summary>A driver's reported position.</summary>
public sealed record Position(double Lat, double Lng, double? Heading, double? Speed, DateTimeOffset At, bool Flagged);

/// <summary>
/// The newest position of a driver that this node or Redis knows, or null: the store gets positions at a bounded
/// rate, so it may be behind. Tracking keeps them (Tracking/Tracker.cs).
/// </summary>
public interface ILatestPositions
{
    ValueTask<Position?> LatestAsync(Guid driverId, CancellationToken ct);
}

public sealed record LocationRequest(
    [property: Required, Range(-90.0, 90.0)] double? Lat,
    [property: Required, Range(-180.0, 180.0)] double? Lng,
    [property: Range(0.0, 360.0)] double? Heading,
    [property: Range(0.0, 100.0)] double? Speed,
    [property: Range(0.0, 100_000.0)] double? Accuracy,
    DateTimeOffset? RecordedAt);

/// <summary>Source-generated serialization of a driver: in answers and event payloads.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, Converters = [typeof(UtcTimestampConverter)])]
[JsonSerializable(typeof(DriverDto))]
public sealed partial class DriversJson : JsonSerializerContext;
