using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Text;

// SPEC §12's reference for the live path: a bare Kestrel WebSocket broadcaster. It keeps a list of sockets and sends
// each published message to all of them: the runtime's own cost, with no store, auth, filters, queues or keep-alive
// settings of its own (stock Kestrel and WebSocket defaults). It speaks just enough of /api/ws that the bench opens
// its sockets exactly as it opens our server's.
var builder = WebApplication.CreateBuilder(args);
// A 4 KiB receive buffer per socket, as the ASP.NET Core WebSocket sample has; or a zero-byte read while idle, and a
// pooled buffer only once data has arrived (what a server tuned for idle memory does).
var zeroByteReads = builder.Configuration.GetValue<bool>("Broadcaster:ZeroByteReads");
var app = builder.Build();

var subscribers = new ConcurrentDictionary<long, Subscriber>();
var nextId = 0L;
var ack = Encoding.UTF8.GetBytes("""{"type":"connection_ack"}""");
var subscribed = Encoding.UTF8.GetBytes("""{"type":"subscribed"}""");

app.UseWebSockets();

app.MapGet("/health/ready", () => Results.Ok());

// Our server answers connection_ack on open and subscribed to a subscribe: the same two messages here, and the socket
// joins the list once it has sent its first message, as a subscriber joins a topic. Anything it sends later is read
// and ignored.
app.Map("/api/ws", async (HttpContext http) =>
{
    if (!http.WebSockets.IsWebSocketRequest)
    {
        http.Response.StatusCode = StatusCodes.Status400BadRequest;
        return;
    }
    using var socket = await http.WebSockets.AcceptWebSocketAsync();
    var subscriber = new Subscriber(socket);
    var id = Interlocked.Increment(ref nextId);
    try
    {
        await subscriber.SendAsync(ack);
        var buffer = zeroByteReads ? null : new byte[4096];
        while (true)
        {
            var result = buffer is null
                ? await subscriber.ReceivePooledAsync(http.RequestAborted)
                : await socket.ReceiveAsync(buffer.AsMemory(), http.RequestAborted);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                break;
            }
            if (result.EndOfMessage && subscribers.TryAdd(id, subscriber))
            {
                await subscriber.SendAsync(subscribed);
            }
        }
    }
    catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException)
    {
        // The client went away: the bench aborts its sockets instead of closing them.
    }
    finally
    {
        subscribers.TryRemove(id, out _);
    }
});

// Publish: the request body is the message, sent as it is to every socket on the list; mirrors POST /api/orders on
// our server, which answers once the order is stored and sends its order.created to every subscriber of orders.
app.MapPost("/api/orders", async (HttpRequest request) =>
{
    using var body = new MemoryStream();
    await request.Body.CopyToAsync(body, request.HttpContext.RequestAborted);
    ReadOnlyMemory<byte> message = body.ToArray();
    var count = 0;
    foreach (var (_, subscriber) in subscribers)
    {
        _ = subscriber.SendAsync(message);
        count++;
    }
    return Results.Accepted(value: new { subscribers = count });
});

app.Run();

/// <summary>One socket on the list; a WebSocket allows one send at a time, so sends to it take turns.</summary>
internal sealed class Subscriber(WebSocket socket)
{
    private readonly SemaphoreSlim sending = new(1, 1);

    public async Task SendAsync(ReadOnlyMemory<byte> message)
    {
        await sending.WaitAsync();
        try
        {
            await socket.SendAsync(message, WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None);
        }
        catch (Exception e) when (e is WebSocketException or ObjectDisposedException or OperationCanceledException or IOException)
        {
            // A socket that went away misses the message; its receive loop takes it off the list.
        }
        finally
        {
            sending.Release();
        }
    }

    /// <summary>Waits for data without holding a buffer, then reads into a pooled one.</summary>
    public async ValueTask<ValueWebSocketReceiveResult> ReceivePooledAsync(CancellationToken ct)
    {
        var ready = await socket.ReceiveAsync(Memory<byte>.Empty, ct);
        if (ready.MessageType == WebSocketMessageType.Close)
        {
            return ready;
        }
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(4096);
        try
        {
            return await socket.ReceiveAsync(buffer.AsMemory(), ct);
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
