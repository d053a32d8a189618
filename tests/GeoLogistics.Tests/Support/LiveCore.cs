using System.Text;
using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Events;
using GeoLogistics.Server.Orders;
using GeoLogistics.Server.Realtime.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace GeoLogistics.Tests.Support;

/// <summary>
/// The live core on its own, for tests without sockets or a store: a hub over an event feed that is never started
/// (committed events are offered by hand, as the feed would offer them), sessions over a <see cref="RecordingTransport"/>,
/// and events whose wire form is a short text that names them (<c>#12</c> for seq 12).
/// </summary>
public static class LiveCore
{
    public static LiveHub Hub(int outboundQueueLimit = 4096)
    {
        var scopes = new ServiceCollection().BuildServiceProvider().GetRequiredService<IServiceScopeFactory>();
        var feed = new EventFeed(scopes, new EventPayloads([]), Options.Create(new EventFeedOptions()), NullLogger<EventFeed>.Instance);
        return new LiveHub(feed, Options.Create(new RealtimeOptions { OutboundQueueLimit = outboundQueueLimit }));
    }

    /// <summary>A session of <paramref name="caller"/>, known to the hub, as a socket's would be once upgraded.</summary>
    public static LiveSession Session(LiveHub hub, Caller caller, RecordingTransport transport)
    {
        var session = new LiveSession(transport, caller, DateTimeOffset.MaxValue, hub, "test", CancellationToken.None);
        hub.Add(session);
        return session;
    }

    public static Caller Admin() => new(Guid.NewGuid(), "admin@core.test", Role.Admin, null, null);

    /// <summary>Subscribes with nothing to replay: the reply (<c>subscribed {id}</c>) is written, then live events.</summary>
    public static async Task SubscribeLiveAsync(this LiveSession session, string id, Topic topic, Filters filters)
    {
        var head = session.AddReplaying(id, topic, filters);
        await session.GoLiveAsync(id, head, Utf8($"subscribed {id}"));
    }

    public static ReadOnlyMemory<byte> Utf8(string text) => Encoding.UTF8.GetBytes(text);

    /// <summary>The wire form of the durable event <paramref name="seq"/>.</summary>
    public static string Name(long seq) => $"#{seq}";

    /// <summary>A committed order event as the feed hands it out: with the order it carries, whose status and kind filters read.</summary>
    public static CommittedEvent OrderEvent(
        long seq, string type = "order.created", Guid? tenantId = null, Guid? orderId = null, Guid? customerId = null,
        Guid? driverId = null, OrderStatus status = OrderStatus.Pending, string? kind = null)
    {
        var tenant = tenantId ?? Guid.Empty;
        var order = orderId ?? Guid.NewGuid();
        var now = DateTimeOffset.UtcNow;
        return new CommittedEvent
        {
            Seq = seq,
            Type = type,
            Ts = now,
            TenantId = tenantId,
            OrderId = order,
            DriverId = driverId,
            CustomerId = customerId,
            Payload = new OrderDto(order, $"GLO-{seq:000000}", tenant, customerId, status, 1, new GeoPoint(52.37, 4.89), new GeoPoint(52.36, 4.90),
                driverId, null, 0, kind, null, DispatchWhen.Created, now, now, null, null, null, null, null, null, null, null, null),
            OrderStatus = status.Name(),
            OrderKind = kind,
            Utf8 = Utf8(Name(seq)),
        };
    }

    /// <summary>A committed driver event (<c>driver.status_changed</c>), which carries no order.</summary>
    public static CommittedEvent DriverEvent(long seq, Guid driverId, Guid? tenantId = null) => new()
    {
        Seq = seq,
        Type = "driver.status_changed",
        Ts = DateTimeOffset.UtcNow,
        TenantId = tenantId,
        DriverId = driverId,
        Utf8 = Utf8(Name(seq)),
    };

    /// <summary>The durable event <paramref name="seq"/> as a replay reads it from the store.</summary>
    public static LiveMessage Replayed(long seq) => LiveMessage.Of(OrderEvent(seq));

    /// <summary>A driver's position as the tracker publishes it; <paramref name="text"/> is its wire form.</summary>
    public static LiveMessage Position(Guid driverId, string text, Guid? tenantId = null, Guid? orderId = null, Guid? customerId = null) => new()
    {
        Type = "driver.location",
        DriverId = driverId,
        TenantId = tenantId,
        OrderId = orderId,
        CustomerId = customerId,
        Utf8 = Utf8(text),
    };
}
