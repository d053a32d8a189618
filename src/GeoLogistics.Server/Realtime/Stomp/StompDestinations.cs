using GeoLogistics.Server.Realtime.Core;

namespace GeoLogistics.Server.Realtime.Stomp;

/// <summary>STOMP destinations in the words of the Spring clients (SPEC §9), and the core topic each one is.</summary>
public static class StompDestinations
{
    /// <summary>Where a driver SENDs its position (a §7 <c>driver.location</c> body).</summary>
    public const string DriverLocation = "/app/drivers/location";

    public const string Known = "/topic/orders, /topic/orders/{orderId}, /topic/tenants/{tenantId}, /topic/drivers, /topic/drivers/{driverId}";

    public static bool TryParse(string? destination, out Topic topic)
    {
        topic = default;
        switch (destination)
        {
            case "/topic/orders":
                topic = new Topic(TopicKind.Orders, Guid.Empty);
                return true;
            case "/topic/drivers":
                topic = new Topic(TopicKind.Drivers, Guid.Empty);
                return true;
            case null:
                return false;
        }
        var slash = destination.LastIndexOf('/');
        if (slash < 0 || !Guid.TryParse(destination.AsSpan(slash + 1), out var id))
        {
            return false;
        }
        TopicKind? kind = destination[..slash] switch
        {
            "/topic/orders" => TopicKind.Order,
            "/topic/tenants" => TopicKind.Tenant,
            "/topic/drivers" => TopicKind.Driver,
            _ => null,
        };
        if (kind is null)
        {
            return false;
        }
        topic = new Topic(kind.Value, id);
        return true;
    }
}
