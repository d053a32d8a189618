using System.Text.Json;
using System.Text.Json.Serialization;
using GeoLogistics.Server.Http;

namespace GeoLogistics.Server.Orders;

/// <summary>The volatile <c>order.conflict</c> (SPEC §5): a stale write was refused; here is the order as it is.</summary>
public sealed record OrderConflict(Guid OrderId, int CurrentVersion, int AttemptedVersion, OrderDto Data)
{
    public string Type => "order.conflict";
}

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, Converters = [typeof(UtcTimestampConverter)])]
[JsonSerializable(typeof(OrderConflict))]
public sealed partial class OrdersJson : JsonSerializerContext;
