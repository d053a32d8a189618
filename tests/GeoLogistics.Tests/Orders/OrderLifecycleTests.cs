using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Orders;
using static GeoLogistics.Server.Orders.OrderStatus;

namespace GeoLogistics.Tests.Orders;

/// <summary>Every pair of statuses, allowed or forbidden, against SPEC §3 written out independently here.</summary>
public class OrderLifecycleTests
{
    // SPEC §3's diagram, edge by edge. For an order dispatched on creation; see the ready case below.
    private static readonly HashSet<(OrderStatus, OrderStatus)> AllowedWhenDispatchedOnCreate =
    [
        (Pending, Confirmed), (Confirmed, Accepted), (Accepted, ReadyForPickup),
        (Pending, Assigned), (ReadyForPickup, Assigned),
        (Assigned, PickedUp), (PickedUp, InTransit), (InTransit, Delivered),
        (Pending, Cancelled), (Confirmed, Cancelled), (Accepted, Cancelled), (ReadyForPickup, Cancelled), (Assigned, Cancelled),
        (Assigned, Pending),
    ];

    public static TheoryData<OrderStatus, OrderStatus> EveryPair()
    {
        var data = new TheoryData<OrderStatus, OrderStatus>();
        foreach (var from in Enum.GetValues<OrderStatus>())
        {
            foreach (var to in Enum.GetValues<OrderStatus>())
            {
                data.Add(from, to);
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(EveryPair))]
    public void Transition_is_allowed_exactly_when_the_lifecycle_has_the_edge(OrderStatus from, OrderStatus to)
    {
        var found = OrderLifecycle.Find(from, to, DispatchWhen.Created);

        Assert.Equal(AllowedWhenDispatchedOnCreate.Contains((from, to)), found is not null);
    }

    [Theory]
    [MemberData(nameof(EveryPair))]
    public void An_order_dispatched_when_ready_returns_to_ready_not_to_pending(OrderStatus from, OrderStatus to)
    {
        var expected = AllowedWhenDispatchedOnCreate.Contains((from, to)) && (from, to) != (Assigned, Pending)
            || (from, to) == (Assigned, ReadyForPickup);

        Assert.Equal(expected, OrderLifecycle.Find(from, to, DispatchWhen.Ready) is not null);
    }

    [Theory]
    [InlineData(Role.Dispatcher, Pending, Confirmed, true)]
    [InlineData(Role.Dispatcher, InTransit, Delivered, false)]
    [InlineData(Role.Driver, Assigned, PickedUp, true)]
    [InlineData(Role.Driver, InTransit, Delivered, true)]
    [InlineData(Role.Driver, Pending, Confirmed, false)]
    [InlineData(Role.Driver, Pending, Cancelled, false)]
    [InlineData(Role.Driver, Assigned, Pending, true)]
    [InlineData(Role.Customer, Pending, Cancelled, true)]
    [InlineData(Role.Customer, Assigned, Cancelled, true)]
    [InlineData(Role.Customer, Pending, Confirmed, false)]
    [InlineData(Role.Customer, Assigned, PickedUp, false)]
    [InlineData(Role.Admin, InTransit, Delivered, true)]
    [InlineData(Role.Admin, Pending, Confirmed, true)]
    public void Who_may_take_a_step_follows_the_roles_of_the_spec(Role role, OrderStatus from, OrderStatus to, bool allowed)
    {
        var transition = OrderLifecycle.Find(from, to, DispatchWhen.Created)!;

        Assert.Equal(allowed, OrderLifecycle.MayTake(role, transition.Kind));
    }

    [Fact]
    public void Applying_a_transition_stamps_its_time_bumps_the_version_and_records_the_actor()
    {
        var order = new Order { Id = Guid.NewGuid(), Status = Pending, Version = 1 };
        var at = new DateTimeOffset(2026, 11, 22, 10, 15, 3, TimeSpan.Zero);

        OrderLifecycle.Apply(order, Confirmed, new Actor(Guid.Empty, "d@x.test"), at);

        Assert.Equal(Confirmed, order.Status);
        Assert.Equal(2, order.Version);
        Assert.Equal(at, order.ConfirmedAt);
        var entry = Assert.Single(order.History);
        Assert.Equal((Confirmed, at, "d@x.test"), (entry.Status, entry.At, entry.ActorEmail));
    }
}
