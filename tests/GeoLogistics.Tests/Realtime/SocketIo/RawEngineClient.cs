using System.Net;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace GeoLogistics.Tests.Realtime.SocketIo;

/// <summary>
/// Engine.IO by hand, for sending what no client library would: a WebSocket-only connection (<see cref="ConnectAsync"/>)
/// or long-polling requests (<see cref="HandshakeAsync"/>, <see cref="PostAsync"/>, <see cref="PollAsync"/>).
/// </summary>
public sealed class RawEngineClient : IAsyncDisposable
{
    private readonly ClientWebSocket socket;

    private RawEngineClient(ClientWebSocket socket) => this.socket = socket;

    public WebSocketCloseStatus? CloseStatus => socket.CloseStatus;

    public string? CloseText => socket.CloseStatusDescription;

    private static Uri Address(Uri server, string scheme, string query) =>
        new UriBuilder(server) { Scheme = scheme, Path = "/socket.io/", Query = query }.Uri;

    /// <summary>A WebSocket-only connection; reads the open packet.</summary>
    public static async Task<(RawEngineClient Client, JsonElement Open)> ConnectAsync(Uri server, CancellationToken ct)
    {
        var socket = new ClientWebSocket();
        await socket.ConnectAsync(Address(server, "ws", "EIO=4&transport=websocket"), ct);
        var client = new RawEngineClient(socket);
        var open = await client.ReceiveAsync(ct);
        Assert.StartsWith("0", open);
        return (client, JsonDocument.Parse(open![1..]).RootElement.Clone());
    }

    /// <summary>Connects <paramref name="ns"/> with a token and reads the CONNECT answer.</summary>
    public async Task ConnectNamespaceAsync(string ns, string token, CancellationToken ct)
    {
        await SendAsync($"40{ns},{{\"token\":\"{token}\"}}", ct);
        Assert.StartsWith($"40{ns},{{\"sid\":", await ReceiveAsync(ct, skipPings: true));
    }

    public Task SendAsync(string text, CancellationToken ct) => SendAsync(Encoding.UTF8.GetBytes(text), ct);

    public async Task SendAsync(byte[] bytes, CancellationToken ct) =>
        await socket.SendAsync(bytes, WebSocketMessageType.Text, endOfMessage: true, ct);

    /// <summary>The next text frame; null once the server closed the socket.</summary>
    public async Task<string?> ReceiveAsync(CancellationToken ct, bool skipPings = false)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(15));
        var buffer = new byte[1 << 16];
        while (true)
        {
            var length = 0;
            WebSocketReceiveResult result;
            do
            {
                result = await socket.ReceiveAsync(new ArraySegment<byte>(buffer, length, buffer.Length - length), timeout.Token);
                length += result.Count;
            }
            while (!result.EndOfMessage);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                if (socket.State == WebSocketState.CloseReceived)
                {
                    await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, timeout.Token);
                }
                return null;
            }
            var text = Encoding.UTF8.GetString(buffer, 0, length);
            if (skipPings && text == "2")
            {
                await SendAsync("3", ct);
                continue;
            }
            return text;
        }
    }

    /// <summary>Frames until the server closes (pings answered); the last ones tell why.</summary>
    public async Task<List<string>> UntilClosedAsync(CancellationToken ct)
    {
        var frames = new List<string>();
        while (await ReceiveAsync(ct, skipPings: true) is { } frame)
        {
            frames.Add(frame);
        }
        return frames;
    }

    // ---- Long-polling ----

    public static async Task<string> HandshakeAsync(HttpClient http, CancellationToken ct)
    {
        var open = await http.GetStringAsync("/socket.io/?EIO=4&transport=polling", ct);
        Assert.StartsWith("0", open);
        return JsonDocument.Parse(open[1..]).RootElement.GetProperty("sid").GetString()!;
    }

    /// <summary>A long-polling connection with <c>/orders</c> connected (the CONNECT posted, its answer polled): its sid.</summary>
    public static async Task<string> ConnectPollingAsync(HttpClient http, string token, CancellationToken ct)
    {
        var sid = await HandshakeAsync(http, ct);
        Assert.Equal(HttpStatusCode.OK, (await PostAsync(http, sid, $"40/orders,{{\"token\":\"{token}\"}}", ct)).StatusCode);
        Assert.StartsWith("40/orders,{\"sid\":", (await PollAsync(http, sid, ct)).Body);
        return sid;
    }

    public static Task<HttpResponseMessage> PostAsync(HttpClient http, string sid, string body, CancellationToken ct) =>
        http.PostAsync($"/socket.io/?EIO=4&transport=polling&sid={sid}", new StringContent(body, Encoding.UTF8, "text/plain"), ct);

    public static async Task<(HttpStatusCode Status, string Body)> PollAsync(HttpClient http, string sid, CancellationToken ct)
    {
        var response = await http.GetAsync($"/socket.io/?EIO=4&transport=polling&sid={sid}", ct);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(ct));
    }

    public async ValueTask DisposeAsync()
    {
        socket.Abort();
        socket.Dispose();
        await Task.CompletedTask;
    }
}
