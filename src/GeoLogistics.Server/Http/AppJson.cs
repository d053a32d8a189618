using System.Text.Json;
using System.Text.Json.Serialization;
using GeoLogistics.Server.Drivers;
using GeoLogistics.Server.Events;
using GeoLogistics.Server.Orders;

namespace GeoLogistics.Server.Http;

/// <summary>Source-generated serialization for what is written on every change: event payloads.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, Converters = [typeof(UtcTimestampConverter)])]
[JsonSerializable(typeof(OrderDto))]
[JsonSerializable(typeof(DriverDto))]
[JsonSerializable(typeof(EventDto))]
[JsonSerializable(typeof(IReadOnlyList<string>))]
public sealed partial class AppJson : JsonSerializerContext;
