using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Realtime.Core;

namespace GeoLogistics.Tests.Realtime;

/// <summary>Volatile fan-out looks subscribers up by route: a message must name the route of everyone who may get it.</summary>
public class RouteTests
{
    private static readonly Guid Tenant = Guid.NewGuid(), Customer = Guid.NewGuid(), Driver = Guid.NewGuid(), Order = Guid.NewGuid();

    private static readonly Caller[] Callers =
    [
        new(Guid.NewGuid(), "admin", Role.Admin, null, null),
        new(Guid.NewGuid(), "dispatcher", Role.Dispatcher, Tenant, null),
        new(Guid.NewGuid(), "other dispatcher", Role.Dispatcher, Guid.NewGuid(), null),
        new(Customer, "customer", Role.Customer, null, null),
        new(Guid.NewGuid(), "other customer", Role.Customer, null, null),
        new(Guid.NewGuid(), "driver", Role.Driver, null, Driver),
        new(Guid.NewGuid(), "other driver", Role.Driver, null, Guid.NewGuid()),
    ];

    private static readonly Topic[] Topics =
    [
        new(TopicKind.Orders, Guid.Empty), new(TopicKind.Drivers, Guid.Empty), new(TopicKind.Order, Order),
        new(TopicKind.Tenant, Tenant), new(TopicKind.Driver, Driver), new(TopicKind.Order, Guid.NewGuid()),
    ];

    private static LiveMessage Message(string type, Guid? orderId, Guid? tenantId, Guid? customerId) => new()
    {
        Type = type,
        OrderId = orderId,
        TenantId = tenantId,
        DriverId = Driver,
        CustomerId = customerId,
        Utf8 = "{}"u8.ToArray(),
    };

    [Fact]
    public void A_message_names_the_route_of_every_subscription_that_may_get_it_and_no_route_of_one_that_may_not()
    {
        LiveMessage[] messages =
        [
            Message("driver.location", Order, Tenant, Customer),
            Message("driver.location", null, Tenant, null),
            Message("driver.location", null, null, null),
            Message("order.eta", Order, Tenant, Customer),
        ];
        var named = new Route[Route.MaxPerMessage];
        foreach (var message in messages)
        {
            var routes = named[..Route.Of(message, named)].ToArray();
            foreach (var caller in Callers)
            {
                foreach (var topic in Topics)
                {
                    var gets = topic.Covers(message) && message.VisibleTo(caller);
                    var routed = Route.Of(topic, caller) is { } route && routes.Contains(route);
                    Assert.True(!gets || routed, $"{message.Type} {caller.Email} {topic}: may get it but is not on its routes");
                    if (topic.Kind is TopicKind.Orders or TopicKind.Drivers)
                    {
                        Assert.True(gets || !routed, $"{message.Type} {caller.Email} {topic}: on its routes but may not get it");
                    }
                }
            }
        }
    }
}
