using GeoLogistics.Server.Auth;
using static GeoLogistics.Server.Orders.OrderStatus;

namespace GeoLogistics.Server.Orders;

/// <summary>What kind of step a transition is; it decides who may take it.</summary>
public enum StepKind
{
    /// <summary>Confirm, accept, ready: the merchant's side.</summary>
    Merchant,
    /// <summary>A driver is booked: dispatch or a manual assign, never a plain status change.</summary>
    Assign,
    /// <summary>Back to dispatchable: a driver declines, a dispatcher unassigns.</summary>
    Unassign,
    /// <summary>Pick-up, transit, delivery: the driver's side.</summary>
    Drive,
    Cancel,
}

public sealed record Transition(OrderStatus From, OrderStatus To, StepKind Kind);

/// <summary>The order lifecycle of SPEC §3 as one table. Whatever is not in it is forbidden.</summary>
public static class OrderLifecycle
{
    public static readonly IReadOnlyList<Transition> Transitions =
    [
        new(Pending, Confirmed, StepKind.Merchant),
        new(Confirmed, Accepted, StepKind.Merchant),
        new(Accepted, ReadyForPickup, StepKind.Merchant),
        new(Pending, Assigned, StepKind.Assign),
        new(ReadyForPickup, Assigned, StepKind.Assign),
        new(Assigned, Pending, StepKind.Unassign),
        new(Assigned, ReadyForPickup, StepKind.Unassign),
        new(Assigned, PickedUp, StepKind.Drive),
        new(PickedUp, InTransit, StepKind.Drive),
        new(InTransit, Delivered, StepKind.Drive),
        new(Pending, Cancelled, StepKind.Cancel),
        new(Confirmed, Cancelled, StepKind.Cancel),
        new(Accepted, Cancelled, StepKind.Cancel),
        new(ReadyForPickup, Cancelled, StepKind.Cancel),
        new(Assigned, Cancelled, StepKind.Cancel),
    ];

    /// <summary>The transition from one status to another for this order, or null when it is forbidden.</summary>
    public static Transition? Find(OrderStatus from, OrderStatus to, DispatchWhen dispatchWhen)
    {
        var transition = Transitions.FirstOrDefault(t => t.From == from && t.To == to);
        // Unassigning returns to the one status this order is dispatched from, not to any earlier one.
        if (transition is { Kind: StepKind.Unassign } && to != DispatchableStatus(dispatchWhen))
        {
            return null;
        }
        return transition;
    }

    public static bool MayTake(Role role, StepKind kind) => (role, kind) switch
    {
        (Role.Admin, _) => true,
        (Role.Dispatcher, StepKind.Merchant or StepKind.Assign or StepKind.Unassign or StepKind.Cancel) => true,
        (Role.Driver, StepKind.Drive or StepKind.Unassign) => true,
        (Role.Customer, StepKind.Cancel) => true,
        _ => false,
    };

    public static OrderStatus DispatchableStatus(DispatchWhen when) =>
        when == DispatchWhen.Ready ? ReadyForPickup : Pending;

    public static bool IsDispatchable(OrderStatus status, DispatchWhen when) => status == DispatchableStatus(when);

    /// <summary>A driver is on the order: the order holds the driver until delivery or cancellation.</summary>
    public static bool HoldsDriver(OrderStatus status) => status is Assigned or PickedUp or InTransit;

    public static bool IsFinal(OrderStatus status) => status is Delivered or Cancelled;

    /// <summary>Moves the order, stamping the status time and the history. The caller has checked the transition.</summary>
    public static void Apply(Order order, OrderStatus to, Actor actor, DateTimeOffset now)
    {
        order.Status = to;
        order.Version++;
        order.UpdatedAt = now;
        switch (to)
        {
            case Confirmed: order.ConfirmedAt = now; break;
            case Accepted: order.AcceptedAt = now; break;
            case ReadyForPickup: order.ReadyAt ??= now; break;
            case Assigned: order.AssignedAt = now; break;
            case PickedUp: order.PickedUpAt = now; break;
            case InTransit: order.InTransitAt = now; break;
            case Delivered: order.DeliveredAt = now; break;
            case Cancelled: order.CancelledAt = now; break;
        }
        order.History.Add(new OrderStatusChange
        {
            OrderId = order.Id,
            Status = to,
            At = now,
            ActorUserId = actor.UserId,
            ActorEmail = actor.Email,
        });
    }
}
