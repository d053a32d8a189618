using GeoLogistics.Server.Auth;

namespace GeoLogistics.Server.Realtime.Core;

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
    public bool Covers(LiveMessage e) => Kind switch
    {
        TopicKind.Orders => e.IsOrderEvent,
        TopicKind.Order => e.OrderId == Id,
        TopicKind.Tenant => e.TenantId == Id,
        TopicKind.Driver => e.DriverId == Id,
        TopicKind.Drivers => e.IsDriverEvent,
        _ => false,
    };
}

/// <summary>Whom a route of the broad topics (<c>orders</c>, <c>drivers</c>) is for: the part of SPEC §2 that the message itself tells.</summary>
public enum RouteScope
{
    /// <summary>A topic with an id: <c>order:{id}</c>, <c>tenant:{id}</c>, <c>driver:{id}</c>.</summary>
    Exact,
    /// <summary>Admins: everything.</summary>
    All,
    Tenant,
    Customer,
    Driver,
}

/// <summary>
/// Where messages, durable and volatile, are looked up (docs/realtime.md): a subscription is filed under one route,
/// made of its topic and, for the broad topics, of whom its user may see; a message names the few routes that may want
/// it. So a message costs the sessions that may want it, not every session. The route is only a pre-selection: the
/// session still checks the topic, the filters and the visibility.
/// </summary>
public readonly record struct Route(TopicKind Kind, RouteScope Scope, Guid Id)
{
    /// <summary>The most routes one message names (see <see cref="Of(LiveMessage, Span{Route})"/>).</summary>
    public const int MaxPerMessage = 7;

    /// <summary>The route of a subscription to <paramref name="topic"/> by <paramref name="caller"/>; null when it can see nothing of it.</summary>
    public static Route? Of(Topic topic, Caller caller) => topic.Kind switch
    {
        TopicKind.Orders or TopicKind.Drivers => caller.Role switch
        {
            Role.Admin => new Route(topic.Kind, RouteScope.All, Guid.Empty),
            Role.Dispatcher when caller.TenantId is { } tenant => new Route(topic.Kind, RouteScope.Tenant, tenant),
            Role.Customer => new Route(topic.Kind, RouteScope.Customer, caller.UserId),
            Role.Driver when caller.DriverId is { } driver => new Route(topic.Kind, RouteScope.Driver, driver),
            _ => null,
        },
        _ => new Route(topic.Kind, RouteScope.Exact, topic.Id),
    };

    /// <summary>The routes a message may be wanted on, into <paramref name="routes"/>; returns how many.</summary>
    public static int Of(LiveMessage e, Span<Route> routes)
    {
        var n = 0;
        void Broad(TopicKind kind, ref int n, Span<Route> routes)
        {
            routes[n++] = new Route(kind, RouteScope.All, Guid.Empty);
            if (e.TenantId is { } tenant)
            {
                routes[n++] = new Route(kind, RouteScope.Tenant, tenant);
            }
            if (e.CustomerId is { } customer)
            {
                routes[n++] = new Route(kind, RouteScope.Customer, customer);
            }
            if (e.DriverId is { } driver)
            {
                routes[n++] = new Route(kind, RouteScope.Driver, driver);
            }
        }
        if (e.IsOrderEvent)
        {
            Broad(TopicKind.Orders, ref n, routes);
        }
        else if (e.IsDriverEvent)
        {
            Broad(TopicKind.Drivers, ref n, routes);
        }
        if (e.OrderId is { } order)
        {
            routes[n++] = new Route(TopicKind.Order, RouteScope.Exact, order);
        }
        if (e.TenantId is { } t)
        {
            routes[n++] = new Route(TopicKind.Tenant, RouteScope.Exact, t);
        }
        if (e.DriverId is { } d)
        {
            routes[n++] = new Route(TopicKind.Driver, RouteScope.Exact, d);
        }
        return n;
    }
}

/// <summary>Subscription filters: order statuses (as clients name them) and kind. Empty means everything.</summary>
public sealed record Filters(IReadOnlySet<string> Statuses, string? Kind)
{
    public static readonly Filters None = new(new HashSet<string>(), null);

    /// <summary>Filters apply to order events; driver events pass.</summary>
    public bool Match(LiveMessage e) =>
        !e.IsOrderEvent ||
        ((Statuses.Count == 0 || (e.Status is { } s && Statuses.Contains(s))) && (Kind is null || e.Kind == Kind));
}
