using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using GeoLogistics.Tests.Support;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;

namespace GeoLogistics.Tests.Realtime.SignalR;

/// <summary>
/// The .NET SignalR client (<c>Microsoft.AspNetCore.SignalR.Client</c>) on the orders hub, with the JSON or the
/// MessagePack hub protocol: queues every event it is sent, by type, for a test to read in order.
/// </summary>
public sealed class HubClient : IAsyncDisposable
{
    public const string Json = "json";
    public const string MessagePack = "messagepack";

    /// <summary>The events the hub may send, each a handler name (SPEC §5 and §7).</summary>
    public static readonly string[] EventTypes =
    [
        "order.created", "order.updated", "order.status_changed", "order.assigned", "order.cancelled", "order.deleted",
        "order.dispatch_failed", "driver.status_changed", "driver.location", "order.eta", "order.conflict",
        "order.driver_arriving", "subscribed", "replay_unavailable",
    ];

    private readonly Channel<(string Type, JsonElement Payload)> inbox = Channel.CreateUnbounded<(string, JsonElement)>();
    private readonly TaskCompletionSource<Exception?> closed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private HubClient(HubConnection connection)
    {
        Connection = connection;
        foreach (var type in EventTypes)
        {
            connection.On<object?>(type, payload => inbox.Writer.TryWrite((type, ToJson(payload))));
        }
        connection.Closed += error =>
        {
            closed.TrySetResult(error);
            return Task.CompletedTask;
        };
    }

    public HubConnection Connection { get; }

    /// <summary>Completes when the connection closes, with the error the server gave (null for none); fails after 15 s.</summary>
    public Task<Exception?> ClosedAsync() => closed.Task.WaitAsync(TimeSpan.FromSeconds(15));

    public static HubConnection Build(Uri server, string? token, string protocol)
    {
        var builder = new HubConnectionBuilder().WithUrl(new Uri(server, "/hubs/orders"), o =>
        {
            if (token is not null)
            {
                o.AccessTokenProvider = () => Task.FromResult<string?>(token);
            }
            o.Transports = HttpTransportType.WebSockets;
        });
        if (protocol == MessagePack)
        {
            builder.AddMessagePackProtocol();
        }
        return builder.Build();
    }

    public static async Task<HubClient> ConnectAsync(TestApp app, string email, string protocol, CancellationToken ct) =>
        await ConnectAsync(app.ServerUri, await app.TokenForAsync(email), protocol, ct);

    public static async Task<HubClient> ConnectAsync(Uri server, string token, string protocol, CancellationToken ct)
    {
        var client = new HubClient(Build(server, token, protocol));
        await client.Connection.StartAsync(ct);
        return client;
    }

    /// <summary>Subscribes and waits for the <c>subscribed</c> event that follows the replay; returns the id and the events before it.</summary>
    public async Task<(string Id, List<JsonElement> Replayed)> SubscribeAsync(string topic, object? filters = null, long? since = null)
    {
        var id = await Connection.InvokeAsync<string>("Subscribe", topic, filters, since);
        var before = new List<JsonElement>();
        while (true)
        {
            var (type, payload) = await NextWithTypeAsync();
            if (type == "subscribed" && payload.GetProperty("id").GetString() == id)
            {
                return (id, before);
            }
            before.Add(payload);
        }
    }

    /// <summary>The next event of <paramref name="type"/> (any type when null), skipping others; fails after the timeout.</summary>
    public async Task<JsonElement> NextAsync(string? type = null, TimeSpan? within = null)
    {
        while (true)
        {
            var (t, payload) = await NextWithTypeAsync(within);
            if (type is null || t == type)
            {
                return payload;
            }
        }
    }

    public async Task<(string Type, JsonElement Payload)> NextWithTypeAsync(TimeSpan? within = null)
    {
        using var timeout = new CancellationTokenSource(within ?? TimeSpan.FromSeconds(15));
        return await inbox.Reader.ReadAsync(timeout.Token);
    }

    /// <summary>Every event queued so far, without waiting.</summary>
    public List<(string Type, JsonElement Payload)> Drain()
    {
        var drained = new List<(string, JsonElement)>();
        while (inbox.Reader.TryRead(out var message))
        {
            drained.Add(message);
        }
        return drained;
    }

    /// <summary>
    /// An event's payload as JSON: the JSON protocol hands the client a <see cref="JsonElement"/>; MessagePack a map of
    /// objects, which is turned back into the JSON it was made from.
    /// </summary>
    private static JsonElement ToJson(object? payload) => payload switch
    {
        JsonElement element => element.Clone(),
        _ => JsonSerializer.SerializeToElement(ToNode(payload)),
    };

    private static JsonNode? ToNode(object? value) => value switch
    {
        null => null,
        IDictionary<object, object> map => new JsonObject(map.Select(p => KeyValuePair.Create((string)p.Key, ToNode(p.Value)))),
        object[] items => new JsonArray([.. items.Select(ToNode)]),
        string s => JsonValue.Create(s),
        bool b => JsonValue.Create(b),
        double d => JsonValue.Create(d),
        float f => JsonValue.Create(f),
        _ => JsonValue.Create(Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture)),
    };

    /// <summary>
    /// What the hub said when it refused a call: SignalR puts its own words first (<c>An unexpected error occurred
    /// invoking 'Subscribe' on the server. HubException: forbidden: …</c>), the hub's come after <c>HubException: </c>.
    /// </summary>
    public static string Refusal(Exception e)
    {
        const string marker = "HubException: ";
        var at = e.Message.IndexOf(marker, StringComparison.Ordinal);
        return at < 0 ? e.Message : e.Message[(at + marker.Length)..];
    }

    public async ValueTask DisposeAsync() => await Connection.DisposeAsync();
}
