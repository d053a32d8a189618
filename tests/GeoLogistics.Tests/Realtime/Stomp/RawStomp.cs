using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using GeoLogistics.Server.Realtime.Stomp;

namespace GeoLogistics.Tests.Realtime.Stomp;

/// <summary>
/// A bare <see cref="ClientWebSocket"/> speaking STOMP by hand, for what no client library sends: broken frames,
/// floods, silence. Every message received is queued; frames are read with the server's own parser.
/// </summary>
public sealed class RawStomp : IAsyncDisposable
{
    private readonly ClientWebSocket socket;
    private readonly Channel<string> inbox = Channel.CreateUnbounded<string>();
    private readonly Task receiving;

    private RawStomp(ClientWebSocket socket, bool sockJs)
    {
        this.socket = socket;
        SockJs = sockJs;
        receiving = Task.Run(ReceiveAsync);
    }

    public bool SockJs { get; }

    public WebSocketCloseStatus? CloseStatus => socket.CloseStatus;

    public string? SubProtocol => socket.SubProtocol;

    public static async Task<RawStomp> OpenAsync(Uri server, CancellationToken ct, bool sockJs = false, string[]? subProtocols = null,
        string? handshakeToken = null)
    {
        var socket = new ClientWebSocket();
        foreach (var protocol in subProtocols ?? (sockJs ? [] : ["v12.stomp", "v11.stomp", "v10.stomp"]))
        {
            socket.Options.AddSubProtocol(protocol);
        }
        if (handshakeToken is not null)
        {
            socket.Options.SetRequestHeader("Authorization", $"Bearer {handshakeToken}");
        }
        var path = sockJs ? "/ws-registry/000/raw12345/websocket" : "/ws-registry";
        await socket.ConnectAsync(new UriBuilder(server) { Scheme = "ws", Path = path }.Uri, ct);
        return new RawStomp(socket, sockJs);
    }

    public static string Connect(string? token, string heartBeat = "0,0") =>
        $"CONNECT\naccept-version:1.2,1.1,1.0\nheart-beat:{heartBeat}\n{(token is null ? "" : $"Authorization:Bearer {token}\n")}\n\0";

    /// <summary>Sends <paramref name="stomp"/> as one WebSocket message (over SockJS, as a JSON array of one string).</summary>
    public Task SendAsync(string stomp, CancellationToken ct) =>
        SendRawAsync(SockJs ? JsonSerializer.Serialize(new[] { stomp }) : stomp, ct);

    public async Task SendRawAsync(string message, CancellationToken ct) =>
        await socket.SendAsync(Encoding.UTF8.GetBytes(message), WebSocketMessageType.Text, endOfMessage: true, ct);

    public async Task SendBytesAsync(byte[] message, CancellationToken ct) =>
        await socket.SendAsync(message, WebSocketMessageType.Binary, endOfMessage: true, ct);

    /// <summary>The next WebSocket message as it came (over SockJS: <c>o</c>, <c>a[…]</c>, <c>c[…]</c>).</summary>
    public async Task<string> NextMessageAsync(TimeSpan? within = null)
    {
        using var timeout = new CancellationTokenSource(within ?? TimeSpan.FromSeconds(10));
        return await inbox.Reader.ReadAsync(timeout.Token);
    }

    /// <summary>The next STOMP frame, skipping heart-beats (and SockJS's open frame); null once the socket closed.</summary>
    public async Task<StompFrame?> NextFrameAsync(TimeSpan? within = null)
    {
        using var timeout = new CancellationTokenSource(within ?? TimeSpan.FromSeconds(10));
        while (await inbox.Reader.WaitToReadAsync(timeout.Token))
        {
            var message = await inbox.Reader.ReadAsync(timeout.Token);
            if (SockJs)
            {
                if (!message.StartsWith('a'))
                {
                    continue;
                }
                message = string.Concat(JsonSerializer.Deserialize<string[]>(message[1..])!);
            }
            var parse = StompParser.Parse(Encoding.UTF8.GetBytes(message), new StompLimits(1 << 20));
            if (parse.Status == StompParseStatus.Frame)
            {
                return parse.Frame;
            }
        }
        return null;
    }

    /// <summary>Every message received until the server closed the socket, and the close status.</summary>
    public async Task<(List<string> Messages, WebSocketCloseStatus? Status)> ClosedAsync(TimeSpan? within = null)
    {
        await receiving.WaitAsync(within ?? TimeSpan.FromSeconds(10));
        var messages = new List<string>();
        while (inbox.Reader.TryRead(out var message))
        {
            messages.Add(message);
        }
        return (messages, socket.CloseStatus);
    }

    private async Task ReceiveAsync()
    {
        var buffer = new byte[1 << 20];
        try
        {
            while (socket.State == WebSocketState.Open)
            {
                var length = 0;
                ValueWebSocketReceiveResult result;
                do
                {
                    result = await socket.ReceiveAsync(buffer.AsMemory(length), CancellationToken.None);
                    length += result.Count;
                }
                while (!result.EndOfMessage);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    // Answer the close, as a client does.
                    await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
                    break;
                }
                inbox.Writer.TryWrite(Encoding.UTF8.GetString(buffer, 0, length));
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
        inbox.Writer.TryComplete();
    }

    public async ValueTask DisposeAsync()
    {
        socket.Abort();
        await receiving.WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        socket.Dispose();
    }
}
