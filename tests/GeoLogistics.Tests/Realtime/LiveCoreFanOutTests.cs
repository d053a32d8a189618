using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Events;
using GeoLogistics.Server.Orders;
using GeoLogistics.Server.Realtime.Core;
using GeoLogistics.Tests.Support;

namespace GeoLogistics.Tests.Realtime;

/// <summary>
/// Fan-out in the live core, without sockets: every role, on every topic and filter, gets exactly the durable and
/// volatile messages that SPEC §2 and §7 let it see, in the order they were offered, and each once, also with two
/// subscriptions that both match. Each case runs twice: with every session in one hub (a message names routes that
/// many sessions are filed under) and with each session alone in a hub of its own (a message finds one route).
/// </summary>
public class LiveCoreFanOutTests
{
    private static readonly Guid TenantA = Guid.NewGuid(), TenantB = Guid.NewGuid();
    private static readonly Guid CustomerA = Guid.NewGuid(), CustomerB = Guid.NewGuid();
    private static readonly Guid Driver1 = Guid.NewGuid(), Driver2 = Guid.NewGuid(), Driver3 = Guid.NewGuid(), Driver4 = Guid.NewGuid();
    private static readonly Guid Order1 = Guid.NewGuid(), Order2 = Guid.NewGuid(), Order3 = Guid.NewGuid();

    private static readonly Caller[] Callers =
    [
        new(Guid.NewGuid(), "admin", Role.Admin, null, null),
        new(Guid.NewGuid(), "dispatcher A", Role.Dispatcher, TenantA, null),
        new(Guid.NewGuid(), "dispatcher B", Role.Dispatcher, TenantB, null),
        new(CustomerA, "customer A", Role.Customer, null, null),
        new(CustomerB, "customer B", Role.Customer, null, null),
        new(Guid.NewGuid(), "driver 1", Role.Driver, null, Driver1),
        new(Guid.NewGuid(), "driver 2", Role.Driver, null, Driver2),
    ];

    private static readonly Topic Orders = new(TopicKind.Orders, Guid.Empty), Drivers = new(TopicKind.Drivers, Guid.Empty);

    private static readonly Topic[] Topics =
    [
        Orders, Drivers, new(TopicKind.Order, Order1), new(TopicKind.Order, Order3), new(TopicKind.Tenant, TenantA),
        new(TopicKind.Tenant, TenantB), new(TopicKind.Driver, Driver1), new(TopicKind.Driver, Driver2),
    ];

    private static Filters Statuses(params string[] statuses) => new(new HashSet<string>(statuses), null);

    private static readonly Filters[] FilterSets =
    [
        Filters.None, Statuses("PENDING"), Statuses("ASSIGNED", "DELIVERED"), new(new HashSet<string>(), "IB"),
        new(new HashSet<string> { "ASSIGNED" }, "OB"),
    ];

    /// <summary>A message to offer, with the facts about it that the test reads SPEC §2 and §7 from.</summary>
    private sealed record Offered(string Name, string Type, long Seq = 0, Guid? Tenant = null, Guid? Order = null, Guid? Driver = null,
        Guid? Customer = null, OrderStatus? Status = null, string? Kind = null)
    {
        public bool IsDurable => Seq > 0;

        public CommittedEvent Committed() => Type.StartsWith("order.", StringComparison.Ordinal)
            ? LiveCore.OrderEvent(Seq, Type, Tenant, Order, Customer, Driver, Status!.Value, Kind)
            : LiveCore.DriverEvent(Seq, Driver!.Value, Tenant);

        public LiveMessage Volatile() => new()
        {
            Type = Type,
            TenantId = Tenant,
            OrderId = Order,
            DriverId = Driver,
            CustomerId = Customer,
            Utf8 = LiveCore.Utf8(Name),
        };
    }

    private static Offered Event(long seq, string type, Guid tenant, Guid order, Guid? customer, OrderStatus status, string kind, Guid? driver = null) =>
        new(LiveCore.Name(seq), type, seq, tenant, order, driver, customer, status, kind);

    /// <summary>
    /// What the hub is offered, step by step: a batch of committed events, or one volatile message. Order 1 (tenant A,
    /// customer A, IB) is delivered by platform driver 1; order 2 (tenant A, no customer, OB) is cancelled and deleted;
    /// order 3 (tenant B, customer B) goes to tenant B's own driver 2 and becomes OB. Driver 4, of tenant A's fleet, and
    /// platform driver 3 serve no one. Each driver has one position here: a second one still waiting would replace it.
    /// </summary>
    private static readonly Offered[][] Script =
    [
        [
            Event(1, "order.created", TenantA, Order1, CustomerA, OrderStatus.Pending, "IB"),
            Event(2, "order.created", TenantA, Order2, null, OrderStatus.Pending, "OB"),
            Event(3, "order.created", TenantB, Order3, CustomerB, OrderStatus.Pending, "IB"),
        ],
        [new("position of driver 4", "driver.location", 0, TenantA, Driver: Driver4)],
        [
            Event(4, "order.status_changed", TenantA, Order1, CustomerA, OrderStatus.Confirmed, "IB"),
            Event(5, "order.assigned", TenantA, Order1, CustomerA, OrderStatus.Assigned, "IB", Driver1),
            new(LiveCore.Name(6), "driver.status_changed", 6, Driver: Driver1),
            new(LiveCore.Name(7), "driver.status_changed", 7, TenantB, Driver: Driver2),
        ],
        [new("position of driver 1 on order 1", "driver.location", 0, TenantA, Order1, Driver1, CustomerA)],
        [new("eta of order 1", "order.eta", 0, TenantA, Order1, Driver1, CustomerA)],
        [
            Event(8, "order.assigned", TenantB, Order3, CustomerB, OrderStatus.Assigned, "IB", Driver2),
            Event(9, "order.status_changed", TenantA, Order1, CustomerA, OrderStatus.Delivered, "IB", Driver1),
            Event(10, "order.cancelled", TenantA, Order2, null, OrderStatus.Cancelled, "OB"),
            Event(11, "order.updated", TenantB, Order3, CustomerB, OrderStatus.Assigned, "OB", Driver2),
            Event(12, "order.deleted", TenantA, Order2, null, OrderStatus.Cancelled, "OB"),
        ],
        [new("position of driver 2 on order 3", "driver.location", 0, TenantB, Order3, Driver2, CustomerB)],
        [new("conflict on order 3", "order.conflict", 0, TenantB, Order3, Driver2, CustomerB)],
        [new("position of driver 3", "driver.location", Driver: Driver3)],
    ];

    // ---- SPEC §2 and §7, read by the test on its own ----

    private static bool MaySee(Caller caller, Offered m) => caller.Role switch
    {
        Role.Admin => true,
        Role.Dispatcher => m.Tenant == caller.TenantId,
        Role.Customer => m.Customer == caller.UserId,
        Role.Driver => m.Driver == caller.DriverId,
        _ => false,
    };

    private static bool Wants(Topic topic, Filters filters, Offered m)
    {
        var isOrder = m.Type.StartsWith("order.", StringComparison.Ordinal);
        var inTopic = topic.Kind switch
        {
            TopicKind.Orders => isOrder,
            TopicKind.Drivers => m.Type.StartsWith("driver.", StringComparison.Ordinal),
            TopicKind.Order => m.Order == topic.Id,
            TopicKind.Tenant => m.Tenant == topic.Id,
            TopicKind.Driver => m.Driver == topic.Id,
            _ => false,
        };
        // Filters are about orders: a message with no status (an ETA) does not pass a status filter.
        var status = m.Status is { } s ? s.Name() : null;
        var passes = !isOrder ||
            ((filters.Statuses.Count == 0 || (status is not null && filters.Statuses.Contains(status))) &&
             (filters.Kind is null || filters.Kind == m.Kind));
        return inTopic && passes;
    }

    private sealed record Plan(Caller Caller, (Topic Topic, Filters Filters)[] Subscriptions)
    {
        public IEnumerable<string> Expected => Script.SelectMany(step => step)
            .Where(m => MaySee(Caller, m) && Subscriptions.Any(s => Wants(s.Topic, s.Filters, m)))
            .Select(m => m.Name);

        public override string ToString() =>
            $"{Caller.Email} on {string.Join(" + ", Subscriptions.Select(s => $"{s.Topic} [{string.Join(",", s.Filters.Statuses)}|{s.Filters.Kind}]"))}";
    }

    private const string End = "end";

    /// <summary>Offers the script to a session per plan, and returns, for each plan that got other than it should, why.</summary>
    private static async Task<List<string>> RunAsync(IReadOnlyList<Plan> plans, bool oneHub)
    {
        var shared = oneHub ? LiveCore.Hub() : null;
        var sessions = new List<(Plan Plan, LiveHub Hub, LiveSession Session, RecordingTransport Transport)>();
        foreach (var plan in plans)
        {
            var hub = shared ?? LiveCore.Hub();
            var transport = new RecordingTransport();
            var session = LiveCore.Session(hub, plan.Caller, transport);
            for (var i = 0; i < plan.Subscriptions.Length; i++)
            {
                await session.SubscribeLiveAsync($"s{i}", plan.Subscriptions[i].Topic, plan.Subscriptions[i].Filters);
            }
            sessions.Add((plan, hub, session, transport));
        }

        foreach (var hub in sessions.Select(s => s.Hub).Distinct())
        {
            foreach (var step in Script)
            {
                if (step[0].IsDurable)
                {
                    hub.OfferCommitted([.. step.Select(m => m.Committed())]);
                }
                else
                {
                    hub.Publish(step[0].Volatile());
                }
            }
        }
        // Offered after everything else, so queued after it: once it is written, all the rest has been.
        sessions.ForEach(s => s.Session.Send(LiveCore.Utf8(End)));

        var failures = new List<string>();
        foreach (var (plan, _, _, transport) in sessions)
        {
            var written = await transport.WaitUntilAsync(sent => sent.Count > 0 && sent[^1] == End);
            var got = written.SkipLast(1).Where(m => !m.StartsWith("subscribed ", StringComparison.Ordinal)).ToList();
            if (!got.SequenceEqual(plan.Expected))
            {
                failures.Add($"{plan}: expected [{string.Join(", ", plan.Expected)}], got [{string.Join(", ", got)}]");
            }
        }
        return failures;
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Every_role_gets_exactly_what_its_topic_filters_and_visibility_let_through(bool oneHub)
    {
        var plans = (
            from caller in Callers
            from topic in Topics
            from filters in FilterSets
            select new Plan(caller, [(topic, filters)])).ToList();

        var failures = await RunAsync(plans, oneHub);

        Assert.True(failures.Count == 0, $"{failures.Count} of {plans.Count} sessions:\n{string.Join("\n", failures)}");
        // The script is not one that nobody sees: every role gets something, and no role everything.
        Assert.All(Callers.Where(c => c.Role != Role.Admin), c =>
            Assert.InRange(plans.Where(p => p.Caller == c).SelectMany(p => p.Expected).Distinct().Count(), 1, Script.Sum(s => s.Length) - 1));
    }

    public static TheoryData<bool, string> Pairs() => new()
    {
        { true, "orders twice" }, { false, "orders twice" },
        { true, "orders, and orders of some statuses" }, { false, "orders, and orders of some statuses" },
        { true, "orders of a kind, and orders of a status" }, { false, "orders of a kind, and orders of a status" },
        { true, "orders, and a tenant" }, { false, "orders, and a tenant" },
        { true, "an order, and its tenant" }, { false, "an order, and its tenant" },
        { true, "an order twice" }, { false, "an order twice" },
        { true, "drivers, and one driver" }, { false, "drivers, and one driver" },
        { true, "drivers twice" }, { false, "drivers twice" },
        { true, "a driver, and its order" }, { false, "a driver, and its order" },
    };

    private static readonly Dictionary<string, (Topic, Filters)[]> PairsByName = new()
    {
        ["orders twice"] = [(Orders, Filters.None), (Orders, Filters.None)],
        ["orders, and orders of some statuses"] = [(Orders, Filters.None), (Orders, Statuses("PENDING", "ASSIGNED"))],
        ["orders of a kind, and orders of a status"] = [(Orders, new(new HashSet<string>(), "IB")), (Orders, Statuses("ASSIGNED"))],
        ["orders, and a tenant"] = [(Orders, Filters.None), (new(TopicKind.Tenant, TenantA), Filters.None)],
        ["an order, and its tenant"] = [(new(TopicKind.Order, Order1), Filters.None), (new(TopicKind.Tenant, TenantA), Filters.None)],
        ["an order twice"] = [(new(TopicKind.Order, Order1), Filters.None), (new(TopicKind.Order, Order1), Filters.None)],
        ["drivers, and one driver"] = [(Drivers, Filters.None), (new(TopicKind.Driver, Driver1), Filters.None)],
        ["drivers twice"] = [(Drivers, Filters.None), (Drivers, Filters.None)],
        ["a driver, and its order"] = [(new(TopicKind.Driver, Driver1), Filters.None), (new(TopicKind.Order, Order1), Filters.None)],
    };

    [Theory]
    [MemberData(nameof(Pairs))]
    public async Task A_session_with_two_subscriptions_that_both_match_gets_each_message_once(bool oneHub, string pair)
    {
        var plans = Callers.Select(caller => new Plan(caller, PairsByName[pair])).ToList();

        var failures = await RunAsync(plans, oneHub);

        Assert.True(failures.Count == 0, $"{failures.Count} of {plans.Count} sessions:\n{string.Join("\n", failures)}");
    }

    /// <summary>
    /// "Nothing per message allocates what can be pooled or shared": an event offered to thousands of sessions costs
    /// the fan-out thread its one message (serialized once), not a slot per session woken. Counted on the fan-out
    /// thread only (the sends run on the pool), after a warm-up, so the first use of each pool is not counted.
    /// </summary>
    [Fact]
    public async Task An_event_offered_to_thousands_of_sessions_allocates_nothing_per_session_on_the_fan_out()
    {
        const int sessions = 2000;
        var hub = LiveCore.Hub();
        var transports = new List<RecordingTransport>();
        for (var i = 0; i < sessions; i++)
        {
            var transport = new RecordingTransport();
            await LiveCore.Session(hub, LiveCore.Admin(), transport).SubscribeLiveAsync("s", Orders, Filters.None);
            transports.Add(transport);
        }
        for (var seq = 1; seq <= 3; seq++)
        {
            hub.OfferCommitted([LiveCore.OrderEvent(seq)]);
            foreach (var transport in transports)
            {
                await transport.WaitUntilAsync(sent => sent.Count == seq + 1);
            }
        }

        CommittedEvent[] next = [LiveCore.OrderEvent(4)];
        var before = GC.GetAllocatedBytesForCurrentThread();
        hub.OfferCommitted(next);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        foreach (var transport in transports)
        {
            await transport.WaitUntilAsync(sent => sent.Count == 5);
        }
        Assert.True(allocated < sessions * sizeof(long), $"{allocated} bytes allocated to offer one event to {sessions} sessions");
    }
}
