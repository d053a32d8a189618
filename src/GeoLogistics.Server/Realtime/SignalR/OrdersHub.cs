using GeoLogistics.Server.Drivers;
using GeoLogistics.Server.Orders;
using GeoLogistics.Server.Realtime.Core;
using GeoLogistics.Server.Tracking;
using MessagePack;
using Microsoft.AspNetCore.SignalR;

namespace GeoLogistics.Server.Realtime.SignalR;

/// <summary>
/// The SignalR hub of SPEC §9 at <c>/hubs/orders</c>, a thin translation over the live core: each method is one call
/// of the core, and a refusal is a <see cref="HubException"/> whose message starts with the JSON protocol's error code
/// (<c>forbidden: …</c>), so the client's <c>invoke</c> rejects with it. Events reach the client as invocations of
/// handlers named by the event's type (<see cref="HubTransport"/>), not through this class.
/// </summary>
public sealed class OrdersHub(Subscriptions subscriptions, Tracker tracker, LiveHub hub) : Hub
{
    private HubTransport Connection => OrdersHubSessions.TransportOf(Context);

    private LiveSession Session => Connection.Session;

    /// <summary>
    /// Subscribes to a topic (SPEC §7: <c>orders</c>, <c>order:{id}</c>, <c>tenant:{id}</c>, <c>driver:{id}</c>,
    /// <c>drivers</c>), with optional filters, replaying from <paramref name="since"/> first; returns the subscription's
    /// id once it is live. The replayed events and a <c>subscribed</c> event come before any live one.
    /// </summary>
    public async Task<string> Subscribe(string topic, SubscriptionFilters? filters, long? since)
    {
        if (!Topic.TryParse(topic, out var parsed))
        {
            throw Refused("bad_request", "topic is orders, drivers, order:{id}, tenant:{id} or driver:{id}.");
        }
        if (since < 0)
        {
            throw Refused("bad_request", "since is a seq: an integer of 0 or more.");
        }
        var connection = Connection;
        var session = connection.Session;
        var id = $"s{session.SubscriptionCount + 1}-{Guid.NewGuid().ToString("N")[..6]}";
        var request = new SubscribeRequest(id, parsed, FiltersOf(filters), since);
        return await subscriptions.SubscribeAsync(session, request, connection) switch
        {
            SubscribeOutcome.Subscribed => id,
            SubscribeOutcome.Forbidden => throw Refused("forbidden", $"You may not subscribe to {parsed}."),
            SubscribeOutcome.TooMany => throw Refused("too_many_subscriptions", $"At most {hub.Options.MaxSubscriptions} subscriptions per connection."),
            _ => throw Refused("bad_request", $"A subscription '{id}' exists on this connection."),
        };
    }

    public void Unsubscribe(string? id)
    {
        if (id is null || !Session.RemoveSubscription(id))
        {
            throw Refused("not_found", $"No subscription '{id}' on this connection.");
        }
    }

    /// <summary>The seeds' "hospital room": the tenant's topic, for its dispatchers and admins.</summary>
    public Task<string> JoinTenant(string tenantId) =>
        Guid.TryParse(tenantId, out var id)
            ? Subscribe($"tenant:{id}", null, null)
            : throw Refused("bad_request", "tenantId is a tenant's id (a UUID).");

    /// <summary>A driver's position, as the JSON protocol's <c>driver.location</c> and <c>POST /api/drivers/me/location</c>.</summary>
    public async Task ReportLocation(double? lat, double? lng, double? heading, double? speed)
    {
        var outcome = await tracker.ReportAsync(Session, new LocationRequest(lat, lng, heading, speed, Accuracy: null, RecordedAt: null));
        switch (outcome)
        {
            case null:
                throw Refused("forbidden", SocketPositions.NotADriver);
            case LocationOutcome.Invalid invalid:
                throw Refused("bad_request", invalid.Message);
            case LocationOutcome.RateLimited limited:
                throw Refused("rate_limited", $"{SocketPositions.Dropped} Retry after {(int)limited.RetryAfter.TotalMilliseconds} ms.");
        }
    }

    internal static HubException Refused(string code, string message) => new($"{code}: {message}");

    /// <summary>SPEC §7's filters, checked as the JSON protocol checks them.</summary>
    private static Filters FiltersOf(SubscriptionFilters? filters)
    {
        if (filters is null)
        {
            return Filters.None;
        }
        var statuses = new HashSet<string>(StringComparer.Ordinal);
        foreach (var name in filters.Status ?? [])
        {
            if (name is null || !OrderStatuses.TryParse(name, out var status))
            {
                throw Refused("bad_request", "filters.status holds order statuses such as \"PENDING\".");
            }
            statuses.Add(status.Name());
        }
        if (filters.Kind is { Length: 0 or > 32 })
        {
            throw Refused("bad_request", "filters.kind is a string of 1 to 32 characters.");
        }
        return new Filters(statuses, filters.Kind);
    }
}

/// <summary>
/// <c>Subscribe</c>'s filters: <c>{"status":["PENDING","ASSIGNED"],"kind":"IB"}</c>. The keys are named for MessagePack
/// too, whose clients send them as written.
/// </summary>
[MessagePackObject]
public sealed class SubscriptionFilters
{
    [Key("status")]
    public string?[]? Status { get; set; }

    [Key("kind")]
    public string? Kind { get; set; }
}
