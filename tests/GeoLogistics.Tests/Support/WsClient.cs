using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;

namespace GeoLogistics.Tests.Support;

/// <summary>A real <see cref="ClientWebSocket"/> that queues every message it receives, for tests to read in order.</summary>
public sealed class WsClient : IAsyncDisposable
{
    private readonly ClientWebSocket socket;
    private readonly Channel<JsonElement> inbox = Channel.CreateUnbounded<JsonElement>();
    private Task receiving;
    private readonly CancellationTokenSource stop = new();

    private WsClient(ClientWebSocket socket, bool read)
    {
        this.socket = socket;
        receiving = read ? Task.Run(ReceiveAsync) : Task.CompletedTask;
    }

    public WebSocketCloseStatus? CloseStatus => socket.CloseStatus;

    public WebSocketState State => socket.State;

    /// <summary>Opens <c>/api/ws</c> at <paramref name="server"/> (http://host:port). Throws on a refused handshake.</summary>
    public static async Task<WsClient> ConnectAsync(
        Uri server, string? token, CancellationToken ct, string? query = null, Action<ClientWebSocketOptions>? configure = null, bool read = true)
    {
        var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        if (token is not null)
        {
            socket.Options.SetRequestHeader("Authorization", $"Bearer {token}");
        }
        configure?.Invoke(socket.Options);
        var uri = new UriBuilder(server) { Scheme = server.Scheme == "https" ? "wss" : "ws", Path = "/api/ws", Query = query ?? "" }.Uri;
        await socket.ConnectAsync(uri, ct);
        return new WsClient(socket, read);
    }

    /// <summary>The status of a refused handshake.</summary>
    public static async Task<System.Net.HttpStatusCode> RefusalAsync(Uri server, string? token, CancellationToken ct, string? query = null, Action<ClientWebSocketOptions>? configure = null)
    {
        using var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        if (token is not null)
        {
            socket.Options.SetRequestHeader("Authorization", $"Bearer {token}");
        }
        configure?.Invoke(socket.Options);
        var uri = new UriBuilder(server) { Scheme = "ws", Path = "/api/ws", Query = query ?? "" }.Uri;
        try
        {
            await socket.ConnectAsync(uri, ct);
        }
        catch (WebSocketException)
        {
            return socket.HttpStatusCode;
        }
        return System.Net.HttpStatusCode.SwitchingProtocols;
    }

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public Task SendAsync(object message, CancellationToken ct) => SendRawAsync(JsonSerializer.Serialize(message, Json), ct);

    public async Task SendRawAsync(string text, CancellationToken ct) =>
        await socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, endOfMessage: true, ct);

    /// <summary>The next message (of a type, if given), skipping others; fails after the timeout.</summary>
    public async Task<JsonElement> NextAsync(string? type = null, TimeSpan? within = null)
    {
        using var timeout = new CancellationTokenSource(within ?? TimeSpan.FromSeconds(15));
        while (true)
        {
            var message = await inbox.Reader.ReadAsync(timeout.Token);
            if (type is null || message.GetProperty("type").GetString() == type)
            {
                return message;
            }
        }
    }

    /// <summary>Every message received until <paramref name="done"/> says so.</summary>
    public async Task<List<JsonElement>> UntilAsync(Func<List<JsonElement>, bool> done, TimeSpan? within = null)
    {
        using var timeout = new CancellationTokenSource(within ?? TimeSpan.FromSeconds(30));
        var all = new List<JsonElement>();
        while (!done(all))
        {
            all.Add(await inbox.Reader.ReadAsync(timeout.Token));
        }
        return all;
    }

    /// <summary>
    /// Everything the server queued for this client before the call: the answer to a ping comes after it, since a
    /// connection's messages leave in the order they were queued.
    /// </summary>
    public async Task<List<JsonElement>> QueuedSoFarAsync(CancellationToken ct)
    {
        await SendAsync(new { type = "ping" }, ct);
        var all = await UntilAsync(all => all.Count > 0 && all[^1].GetProperty("type").GetString() == "pong");
        return all[..^1];
    }

    /// <summary>What arrived so far, without waiting.</summary>
    public List<JsonElement> Drain()
    {
        var all = new List<JsonElement>();
        while (inbox.Reader.TryRead(out var message))
        {
            all.Add(message);
        }
        return all;
    }

    /// <summary>Waits until the server closes the socket, returning the close status.</summary>
    public async Task<WebSocketCloseStatus?> ClosedAsync(TimeSpan? within = null)
    {
        await receiving.WaitAsync(within ?? TimeSpan.FromSeconds(30));
        return socket.CloseStatus;
    }

    private async Task ReceiveAsync()
    {
        var buffer = new byte[1 << 20];
        try
        {
            while (socket.State == WebSocketState.Open)
            {
                var length = 0;
                WebSocketReceiveResult result;
                do
                {
                    result = await socket.ReceiveAsync(new ArraySegment<byte>(buffer, length, buffer.Length - length), stop.Token);
                    length += result.Count;
                }
                while (!result.EndOfMessage);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    break;
                }
                inbox.Writer.TryWrite(JsonDocument.Parse(buffer.AsMemory(0, length)).RootElement.Clone());
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException)
        {
        }
        inbox.Writer.TryComplete();
    }

    /// <summary>Starts reading for a client made with <c>read: false</c> (the slow consumer that wakes up).</summary>
    public void StartReading() => receiving = Task.Run(ReceiveAsync);

    public async ValueTask DisposeAsync()
    {
        await stop.CancelAsync();
        try
        {
            if (socket.State == WebSocketState.Open)
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", timeout.Token);
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException)
        {
        }
        socket.Dispose();
        stop.Dispose();
    }
}
