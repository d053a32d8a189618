using GeoLogistics.Server.Orders;

namespace GeoLogistics.Server.Realtime;

public enum TopicKind
{
    Orders,
    Order,
    Tenant,
    Driver,
    Drivers,
}

/// <summary>A subscription's topic (SPEC §7): <c>orders</c>, <c>order:{id}</c>, <c>tenant:{id}</c>, <c>driver:{id}</c>, <c>drivers</c>.</summary>
public readonly record struct Topic(TopicKind Kind, Guid Id)
{
    public static bool TryParse(string? text, out Topic topic)
    {
        topic = default;
        switch (text)
        {
            case "orders":
                topic = new Topic(TopicKind.Orders, Guid.Empty);
                return true;
            case "drivers":
                topic = new Topic(TopicKind.Drivers, Guid.Empty);
                return true;
        }
        var colon = text?.IndexOf(':') ?? -1;
        if (colon < 0 || !Guid.TryParse(text.AsSpan(colon + 1), out var id))
        {
            return false;
        }
        TopicKind? kind = text![..colon] switch
        {
            "order" => TopicKind.Order,
            "tenant" => TopicKind.Tenant,
            "driver" => TopicKind.Driver,
            _ => null,
        };
        if (kind is null)
        {
            return false;
        }
        topic = new Topic(kind.Value, id);
        return true;
    }

    public override string ToString() => Kind switch
    {
        TopicKind.Orders => "orders",
        TopicKind.Drivers => "drivers",
        _ => $"{Kind.ToString().ToLowerInvariant()}:{Id}",
    };

    /// <summary>Whether a message about these objects belongs to this topic. Visibility is checked apart.</summary>
    public bool Covers(Envelope e) => Kind switch
    {
        TopicKind.Orders => e.IsOrderEvent,
        TopicKind.Order => e.OrderId == Id,
        TopicKind.Tenant => e.TenantId == Id,
        TopicKind.Driver => e.DriverId == Id,
        TopicKind.Drivers => e.IsDriverEvent,
        _ => false,
    };
}

/// <summary>Subscription filters: order statuses and kind. Empty means everything.</summary>
public sealed record Filters(IReadOnlySet<OrderStatus> Statuses, string? Kind)
{
    public static readonly Filters None = new(new HashSet<OrderStatus>(), null);

    /// <summary>Filters apply to order events; driver events pass.</summary>
    public bool Match(Envelope e) =>
        !e.IsOrderEvent ||
        ((Statuses.Count == 0 || (e.Status is { } s && Statuses.Contains(s))) && (Kind is null || e.Kind == Kind));
}
