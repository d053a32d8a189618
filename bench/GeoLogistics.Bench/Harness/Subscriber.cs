using System.Diagnostics;
using System.Net.WebSockets;

namespace GeoLogistics.Bench.Harness;

/// <summary>
/// A subscriber to every order its user may see, on one of the server's protocols (SPEC §7 and §9), as the live-path
/// scenarios use it: opened and subscribed by <see cref="Subscribers.OpenOrdersAsync"/>, then a receive loop that
/// stamps each event with <see cref="Stopwatch.GetTimestamp"/> as it arrives and hands over the fields the JSON
/// protocol's client reads (an order's creation is <c>order.created</c> with its <c>orderId</c> on every protocol).
/// </summary>
public interface ISubscriber : IAsyncDisposable
{
    bool IsOpen { get; }

    /// <summary>
    /// Reads until the server closes the connection or <paramref name="ct"/> fires; returns a close status when the
    /// server closed it. The callback is never called twice at once, nor after this returns.
    /// </summary>
    Task<WebSocketCloseStatus?> RunAsync(Action<WsMessage, long> onMessage, CancellationToken ct);
}

/// <summary>The protocols a subscriber speaks, and how each one subscribes to the orders.</summary>
public static class Subscribers
{
    public const string Json = "json";

    public const string SignalR = "signalr";

    public static readonly IReadOnlyList<string> Known = [Json, "stomp", "socketio", SignalR];

    public static readonly BenchOption Option = new("protocols",
        "the subscribers' protocols, comma-separated: json (/api/ws), stomp (/ws-registry), socketio (/socket.io/, namespace /realtime), " +
        "signalr (/hubs/orders); more than one runs our server once per protocol, one after the other, and compares each with json",
        Json);

    /// <summary>The protocols <c>--protocols</c> names, in its order, each once.</summary>
    public static IReadOnlyList<string> Parse(BenchArgs args)
    {
        var protocols = (args.String(Option.Name) ?? Json).Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(p => p.ToLowerInvariant()).Distinct().ToList();
        if (protocols.Count == 0 || protocols.FirstOrDefault(p => !Known.Contains(p)) is { } unknown)
        {
            throw new BenchException($"--protocols takes a comma list of {string.Join(", ", Known)}; not '{args.String(Option.Name)}'.");
        }
        return protocols;
    }

    /// <summary>
    /// One subscriber of every order the token's user may see: <c>orders</c> on <c>/api/ws</c> and on the SignalR hub,
    /// <c>/topic/orders</c> over STOMP, and the automatic rooms of Socket.IO's <c>/realtime</c> namespace. Returns once
    /// the subscription is live (the protocol's own "subscribed").
    /// </summary>
    public static async Task<ISubscriber> OpenOrdersAsync(string protocol, Uri server, string token, CancellationToken ct) => protocol switch
    {
        Json => await WsClient.OpenAsync(server, token, "orders", ct),
        "stomp" => await StompClient.OpenAsync(server, token, "/topic/orders", ct),
        "socketio" => await SocketIoClient.OpenAsync(server, token, "/realtime", ct),
        SignalR => await SignalRClient.OpenAsync(server, token, "orders", ct),
        _ => throw new BenchException($"Unknown protocol '{protocol}'."),
    };
}
