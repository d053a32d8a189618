namespace GeoLogistics.Server.Orders;

/// <summary>The routes of /api/orders; each handler lives with its job (creation, queries, edits, status changes, assignment).</summary>
public static class OrdersApi
{
    public static RouteGroupBuilder MapOrders(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/orders").WithTags("Orders").RequireAuthorization();

        group.MapPost("/", OrderCreation.Create).WithName("CreateOrder").WithSummary("Create an order; dispatch follows in the background.")
            .Produces<OrderDto>(StatusCodes.Status201Created);
        group.MapGet("/", OrderQueries.List).WithName("ListOrders").WithSummary("Orders the caller may see, newest first, a page at a time.");
        group.MapGet("/board", OrderQueries.Board).WithName("OrderBoard")
            .WithSummary("The dashboard's first state: how many visible orders each status has, and the newest of each, read at one instant.");
        group.MapGet("/{id:guid}", OrderQueries.Get).WithName("GetOrder").WithSummary("One order with its status history; ETag is its version.");
        group.MapPatch("/{id:guid}", OrderEdits.Update).WithName("UpdateOrder").WithSummary("Edit an order at the version read (If-Match or version).");
        group.MapPost("/{id:guid}/status", OrderStatusChanges.ChangeStatus).WithName("ChangeOrderStatus").WithSummary("Move an order along its lifecycle.");
        group.MapPost("/{id:guid}/cancel", OrderStatusChanges.Cancel).WithName("CancelOrder").WithSummary("Cancel an order before pickup.");
        group.MapPost("/{id:guid}/assign", OrderAssignment.Assign).WithName("AssignOrder").WithSummary("Book a driver for an order by hand (or reassign it).");
        group.MapDelete("/{id:guid}", OrderStatusChanges.Delete).WithName("DeleteOrder").WithSummary("Delete an order (admin).");
        group.MapGet("/{id:guid}/events", OrderQueries.Events).WithName("OrderEvents").WithSummary("The order's durable events in seq order.");
        return group;
    }
}
