using System.Diagnostics;
using System.Net.WebSockets;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR.Client;

namespace GeoLogistics.Bench.Harness;

/// <summary>
/// A SignalR subscriber at <c>/hubs/orders</c> with the .NET client (docs/realtime.md, "SignalR"): JSON hub protocol,
/// WebSockets, the token from <c>AccessTokenProvider</c> (an <c>Authorization</c> header on the WebSocket, as the JSON
/// client sends it). <c>negotiate</c> is skipped, so that the server holds the WebSocket alone, as on the other
/// protocols (a negotiated client leaves its HTTP connection idle in the server for a minute or more). Then
/// <c>Subscribe(topic, null, null)</c>, live once its <c>subscribed</c> event arrived; each event is a handler call
/// named by its type, with the SPEC §5 event as its argument, stamped as the handler is called.
/// </summary>
public sealed class SignalRClient : ISubscriber
{
    private static readonly string[] EventTypes =
    [
        "order.created", "order.updated", "order.status_changed", "order.assigned", "order.cancelled", "order.deleted",
        "order.dispatch_failed", "driver.status_changed", "driver.location", "order.eta", "order.conflict", "replay_unavailable",
    ];

    private readonly HubConnection connection;
    private readonly TaskCompletionSource subscribed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    // Held while the callback runs, and taken to stop it: no call after RunAsync returned.
    private readonly Lock gate = new();
    private Action<WsMessage, long>? onMessage;

    private SignalRClient(HubConnection connection)
    {
        this.connection = connection;
        foreach (var type in EventTypes)
        {
            connection.On<EventIds>(type, e => Deliver(type, e));
        }
        connection.On<JsonElement>("subscribed", _ => subscribed.TrySetResult());
        connection.Closed += _ =>
        {
            closed.TrySetResult();
            return Task.CompletedTask;
        };
    }

    public bool IsOpen => connection.State == HubConnectionState.Connected;

    public static async Task<SignalRClient> OpenAsync(Uri server, string token, string topic, CancellationToken ct)
    {
        var hub = new HubConnectionBuilder()
            .WithUrl(new Uri(server, "/hubs/orders"), HttpTransportType.WebSockets, o =>
            {
                o.SkipNegotiation = true;
                o.AccessTokenProvider = () => Task.FromResult<string?>(token);
            })
            .Build();
        var client = new SignalRClient(hub);
        try
        {
            await hub.StartAsync(ct);
            await hub.InvokeAsync<string>("Subscribe", topic, null, null, ct);
            await client.subscribed.Task.WaitAsync(TimeSpan.FromSeconds(30), ct);
        }
        catch
        {
            await hub.DisposeAsync();
            throw;
        }
        return client;
    }

    public async Task<WebSocketCloseStatus?> RunAsync(Action<WsMessage, long> onMessage, CancellationToken ct)
    {
        lock (gate)
        {
            this.onMessage = onMessage;
        }
        try
        {
            await closed.Task.WaitAsync(ct);
            // SignalR has no close codes (docs/realtime.md): the server ended the connection.
            return WebSocketCloseStatus.EndpointUnavailable;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            return null;
        }
        finally
        {
            lock (gate)
            {
                this.onMessage = null;
            }
        }
    }

    public ValueTask DisposeAsync() => connection.DisposeAsync();

    private void Deliver(string type, EventIds e)
    {
        var at = Stopwatch.GetTimestamp();
        lock (gate)
        {
            onMessage?.Invoke(new WsMessage(type, e.OrderId, e.DriverId, e.Seq), at);
        }
    }

    /// <summary>
    /// The fields of an event the bench reads, bound as a typed client binds its model (the hub protocol's camelCase
    /// names), rather than the whole event as a <see cref="JsonElement"/>, which costs the client a document per message.
    /// </summary>
    private sealed record EventIds(string? OrderId, string? DriverId, long? Seq);
}
