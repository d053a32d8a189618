using System.Text.Json;
using Microsoft.AspNetCore.SignalR;

// The reference of our SignalR adapter: a plain ASP.NET Core SignalR app, as the SignalR docs write one. A hub at
// /hubs/orders with stock options (JSON hub protocol, every transport, the default keep-alive and buffers), a group per
// topic, and each published event sent to the group with SendAsync. It speaks just enough of our hub that the bench's
// SignalR subscriber connects, subscribes and reads it exactly as it does ours; no auth, no store, no filters.
var builder = WebApplication.CreateBuilder(args);
builder.Services.AddSignalR();
var app = builder.Build();

app.MapGet("/health/ready", () => Results.Ok());

app.MapHub<OrdersHub>("/hubs/orders");

// Publish, as on the bare broadcaster: the request body is an event (our server's order.created), sent to every
// subscriber of orders as an invocation of the handler named by its type. SignalR serializes it once per hub protocol.
app.MapPost("/api/orders", async (JsonElement message, IHubContext<OrdersHub> hub, CancellationToken ct) =>
{
    var type = message.GetProperty("type").GetString()!;
    await hub.Clients.Group("orders").SendAsync(type, message, ct);
    return Results.Accepted();
});

app.Run();

/// <summary>
/// Our hub's <c>Subscribe(topic, filters, since)</c>, stock: the connection joins the topic's group, gets a
/// <c>subscribed</c> event (the reply's shape on our hub) and the subscription's id as the call's result.
/// </summary>
internal sealed class OrdersHub : Hub
{
    public async Task<string> Subscribe(string topic, JsonElement? filters, long? since)
    {
        var id = $"s1-{Guid.NewGuid().ToString("N")[..6]}";
        await Groups.AddToGroupAsync(Context.ConnectionId, topic);
        await Clients.Caller.SendAsync("subscribed", new { type = "subscribed", id, topic, filters = new { status = Array.Empty<string>(), kind = (string?)null }, replayed = 0 });
        return id;
    }
}
