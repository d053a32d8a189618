using System.Text.Json;
using System.Text.Json.Serialization;
using GeoLogistics.Server.Http;

namespace GeoLogistics.Server.Tracking;

// The volatile messages of SPEC §5 that tracking publishes, serialized once each by source generation.

public sealed record DriverLocation(Guid DriverId, Guid? OrderId, double Lat, double Lng, double? Heading, double? Speed, DateTimeOffset Ts)
{
    public string Type => "driver.location";
}

public sealed record OrderEta(Guid OrderId, double EtaMinutes, double DistanceKm)
{
    public string Type => "order.eta";
}

public sealed record DriverArriving(Guid OrderId, Guid DriverId, string Leg, double DistanceMeters)
{
    public string Type => "order.driver_arriving";
}

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, Converters = [typeof(UtcTimestampConverter)])]
[JsonSerializable(typeof(DriverLocation))]
[JsonSerializable(typeof(OrderEta))]
[JsonSerializable(typeof(DriverArriving))]
public sealed partial class TrackingJson : JsonSerializerContext;
