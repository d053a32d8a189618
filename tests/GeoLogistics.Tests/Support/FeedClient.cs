using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace GeoLogistics.Tests.Support;

/// <summary>
/// A socket client for tests that open thousands of them: a small buffer that grows only for a large message, and of
/// each message only what such a test compares (type, seq, error code), where <see cref="WsClient"/> keeps every
/// message whole and a megabyte of buffer per socket.
/// </summary>
public sealed class FeedClient : IAsyncDisposable
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
    };

    private readonly ClientWebSocket socket;
    private readonly Lock gate = new();
    private readonly List<Received> received = [];
    private readonly Task receiving;
    private TaskCompletionSource changed = NewSignal();
    private bool ended;

    /// <summary>
    /// One message: its <c>type</c>, its <c>seq</c> (durable events only), its <c>code</c> (errors only), the
    /// <c>headSeq</c> of a <c>connection_ack</c>.
    /// </summary>
    public readonly record struct Received(string Type, long? Seq, string? Code, long? HeadSeq);

    private FeedClient(ClientWebSocket socket)
    {
        this.socket = socket;
        receiving = Task.Run(ReceiveAsync);
    }

    public static async Task<FeedClient> ConnectAsync(Uri server, string token, CancellationToken ct)
    {
        var socket = new ClientWebSocket();
        socket.Options.SetRequestHeader("Authorization", $"Bearer {token}");
        socket.Options.SetBuffer(4096, 4096);
        try
        {
            await socket.ConnectAsync(new UriBuilder(server) { Scheme = "ws", Path = "/api/ws" }.Uri, ct);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        return new FeedClient(socket);
    }

    /// <summary>Sends <paramref name="message"/> as JSON, leaving out what is null.</summary>
    public Task SendAsync(object message, CancellationToken ct) =>
        socket.SendAsync(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(message, Json)), WebSocketMessageType.Text, endOfMessage: true, ct);

    /// <summary>Every message so far, without waiting.</summary>
    public IReadOnlyList<Received> SoFar
    {
        get
        {
            lock (gate)
            {
                return [.. received];
            }
        }
    }

    /// <summary>Every message so far, once <paramref name="done"/> holds for them; fails after the timeout or when the socket ends first.</summary>
    public async Task<List<Received>> UntilAsync(Func<IReadOnlyList<Received>, bool> done, TimeSpan within)
    {
        using var timeout = new CancellationTokenSource(within);
        while (true)
        {
            Task next;
            lock (gate)
            {
                if (done(received))
                {
                    return [.. received];
                }
                if (ended)
                {
                    throw new InvalidOperationException($"The socket ended ({socket.CloseStatus}) after {received.Count} messages.");
                }
                next = changed.Task;
            }
            try
            {
                await next.WaitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                lock (gate)
                {
                    throw new TimeoutException($"Still waiting after {within}: {received.Count} messages, the last {received.LastOrDefault()}.");
                }
            }
        }
    }

    private async Task ReceiveAsync()
    {
        var buffer = new byte[8192];
        try
        {
            while (socket.State == WebSocketState.Open)
            {
                var length = 0;
                ValueWebSocketReceiveResult result;
                do
                {
                    if (length == buffer.Length)
                    {
                        Array.Resize(ref buffer, buffer.Length * 2);
                    }
                    result = await socket.ReceiveAsync(buffer.AsMemory(length), CancellationToken.None);
                    length += result.Count;
                }
                while (!result.EndOfMessage);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    break;
                }
                Add(Read(buffer.AsSpan(0, length)));
            }
        }
        catch (WebSocketException)
        {
            // The connection went away: what arrived is what the test sees.
        }
        TaskCompletionSource was;
        lock (gate)
        {
            ended = true;
            was = changed;
        }
        was.TrySetResult();
    }

    private static Received Read(ReadOnlySpan<byte> message)
    {
        var reader = new Utf8JsonReader(message);
        using var doc = JsonDocument.ParseValue(ref reader);
        var root = doc.RootElement;
        return new Received(
            root.GetProperty("type").GetString()!,
            root.TryGetProperty("seq", out var seq) ? seq.GetInt64() : null,
            root.TryGetProperty("code", out var code) ? code.GetString() : null,
            root.TryGetProperty("headSeq", out var head) ? head.GetInt64() : null);
    }

    private void Add(Received message)
    {
        TaskCompletionSource was;
        lock (gate)
        {
            received.Add(message);
            was = changed;
            changed = NewSignal();
        }
        was.TrySetResult();
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (socket.State == WebSocketState.Open)
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "done", timeout.Token);
                await receiving.WaitAsync(timeout.Token);
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or TimeoutException)
        {
        }
        socket.Dispose();
    }
}
