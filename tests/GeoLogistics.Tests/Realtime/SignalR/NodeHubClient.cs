using System.Text.Json;
using GeoLogistics.Tests.Support;

namespace GeoLogistics.Tests.Realtime.SignalR;

/// <summary>
/// tests/clients/signalr-client.mjs under Node (<c>@microsoft/signalr</c>, and its MessagePack protocol), on the orders
/// hub. Keeps every line it has read and not yet taken: a call's answer and the events around it come on two paths
/// (SignalR's completion, the session's events), in either order, and waiting for one must not drop the other.
/// </summary>
public sealed class NodeHubClient : IAsyncDisposable
{
    private readonly NodeClient node;
    private readonly List<JsonElement> unread = [];
    private int calls;

    private NodeHubClient(NodeClient node) => this.node = node;

    public static NodeHubClient Start(Uri server, string? token, string protocol) =>
        new(NodeClient.Start("signalr-client.mjs", new Dictionary<string, string>
        {
            ["SERVER"] = server.GetLeftPart(UriPartial.Authority),
            ["TOKEN"] = token ?? "",
            ["PROTOCOL"] = protocol,
        }));

    public static string? Kind(JsonElement line) => line.GetProperty("kind").GetString();

    public static bool IsEvent(JsonElement line, string type) => Kind(line) == "event" && line.GetProperty("type").GetString() == type;

    /// <summary>The first line, read or to come, that matches; the others stay for later.</summary>
    public async Task<JsonElement> NextAsync(Func<JsonElement, bool> predicate, CancellationToken ct)
    {
        while (true)
        {
            var at = unread.FindIndex(l => predicate(l));
            if (at >= 0)
            {
                var line = unread[at];
                unread.RemoveAt(at);
                return line;
            }
            unread.Add(await node.NextAsync(_ => true, ct: ct));
        }
    }

    public Task<JsonElement> NextAsync(string kind, CancellationToken ct) => NextAsync(l => Kind(l) == kind, ct);

    /// <summary>The next event's payload, in the order the events came.</summary>
    public async Task<JsonElement> NextEventAsync(CancellationToken ct) => (await NextAsync("event", ct)).GetProperty("payload");

    /// <summary>Invokes a hub method; the line that answers it: <c>result</c> with its value, or <c>error</c> with the message.</summary>
    public async Task<JsonElement> InvokeAsync(string method, object?[] args, CancellationToken ct)
    {
        var reference = ++calls;
        await node.SendAsync(new { op = "invoke", @ref = reference, method, args });
        return await NextAsync(l => Kind(l) is "result" or "error" && l.GetProperty("ref").GetInt32() == reference, ct);
    }

    /// <summary>Sends without waiting for an answer (SignalR's <c>send</c>).</summary>
    public Task SendAsync(string method, object?[] args) => node.SendAsync(new { op = "send", method, args });

    /// <summary>Every line read or written so far and not yet taken, without waiting.</summary>
    public List<JsonElement> Drain()
    {
        var all = new List<JsonElement>(unread);
        unread.Clear();
        all.AddRange(node.Drain());
        return all;
    }

    public ValueTask DisposeAsync() => node.DisposeAsync();
}
