namespace GeoLogistics.Server.Orders;

/// <summary>The volatile <c>order.conflict</c> (SPEC §5): a stale write was refused; here is the order as it is.</summary>
public sealed record OrderConflict(Guid OrderId, int CurrentVersion, int AttemptedVersion, OrderDto Data)
{
    public string Type => "order.conflict";
}
