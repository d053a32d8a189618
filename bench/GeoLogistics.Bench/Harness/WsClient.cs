using System.Diagnostics;
using System.Globalization;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace GeoLogistics.Bench.Harness;

/// <summary>The top-level fields of one server message the real-time scenarios look at.</summary>
public readonly record struct WsMessage(string? Type, string? OrderId, string? DriverId, long? Seq, double? Lat = null);

/// <summary>
/// One WebSocket to <c>/api/ws</c>, authenticated with a bearer header: connect (reads <c>connection_ack</c>),
/// subscribe (reads up to <c>subscribed</c>), then a receive loop that stamps each message with
/// <see cref="Stopwatch.GetTimestamp"/> and hands its top-level fields to a callback.
/// </summary>
public sealed class WsClient : IDisposable
{
    private readonly ClientWebSocket socket;
    private byte[] buffer = new byte[2048];

    private WsClient(ClientWebSocket socket) => this.socket = socket;

    public WebSocketState State => socket.State;

    public static async Task<WsClient> ConnectAsync(Uri server, string token, CancellationToken ct)
    {
        var socket = new ClientWebSocket();
        socket.Options.SetRequestHeader("Authorization", $"Bearer {token}");
        socket.Options.KeepAliveInterval = TimeSpan.Zero;
        socket.Options.SetBuffer(4096, 1024);
        var uri = new UriBuilder(server) { Scheme = "ws", Path = "/api/ws" }.Uri;
        try
        {
            await socket.ConnectAsync(uri, ct);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        var client = new WsClient(socket);
        var (ack, _) = await client.ReceiveAsync(ct);
        if (ack.Type != "connection_ack")
        {
            client.Dispose();
            throw new BenchException($"/api/ws: expected connection_ack, got '{ack.Type}'.");
        }
        return client;
    }

    /// <summary>Subscribes and reads until <c>subscribed</c>; anything before it is ignored.</summary>
    public async Task SubscribeAsync(string topic, CancellationToken ct)
    {
        await SendTextAsync(Encoding.UTF8.GetBytes($$"""{"type":"subscribe","topic":"{{topic}}"}"""), ct);
        while (true)
        {
            var (m, _) = await ReceiveAsync(ct);
            if (m.Type == "subscribed")
            {
                return;
            }
            if (m.Type is "error" or null)
            {
                throw new BenchException($"/api/ws: subscribing to {topic} answered '{m.Type}'.");
            }
        }
    }

    /// <summary>
    /// Subscribes with <c>since</c> and reads the replay up to <c>subscribed</c>, handing each message before it to
    /// <paramref name="onReplayed"/>; returns when <c>subscribed</c> arrived (<see cref="Stopwatch.GetTimestamp"/>).
    /// </summary>
    public async Task<long> ReplayAsync(string topic, long since, Action<WsMessage, long> onReplayed, CancellationToken ct)
    {
        await SendTextAsync(Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture,
            $$"""{"type":"subscribe","topic":"{{topic}}","since":{{since}}}""")), ct);
        while (true)
        {
            var (m, at) = await ReceiveAsync(ct);
            switch (m.Type)
            {
                case "subscribed":
                    return at;
                case "error" or "replay_unavailable" or null:
                    throw new BenchException($"/api/ws: subscribing to {topic} since {since} answered '{m.Type}'.");
                default:
                    onReplayed(m, at);
                    break;
            }
        }
    }

    public Task SendTextAsync(ReadOnlyMemory<byte> utf8, CancellationToken ct) =>
        socket.SendAsync(utf8, WebSocketMessageType.Text, endOfMessage: true, ct).AsTask();

    public Task SendLocationAsync(double lat, double lng, CancellationToken ct) =>
        SendTextAsync(Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture,
            $$"""{"type":"driver.location","lat":{{lat:0.000000}},"lng":{{lng:0.000000}}}""")), ct);

    /// <summary>Reads until the socket closes or <paramref name="ct"/> fires; returns the close status, if any.</summary>
    public async Task<WebSocketCloseStatus?> RunAsync(Action<WsMessage, long> onMessage, CancellationToken ct)
    {
        try
        {
            while (socket.State == WebSocketState.Open)
            {
                var (m, at) = await ReceiveAsync(ct);
                if (m.Type is null && socket.State != WebSocketState.Open)
                {
                    break;
                }
                onMessage(m, at);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (WebSocketException)
        {
        }
        return socket.CloseStatus;
    }

    private async Task<(WsMessage Message, long At)> ReceiveAsync(CancellationToken ct)
    {
        var length = 0;
        while (true)
        {
            if (length == buffer.Length)
            {
                Array.Resize(ref buffer, buffer.Length * 2);
            }
            var r = await socket.ReceiveAsync(buffer.AsMemory(length), ct);
            if (r.MessageType == WebSocketMessageType.Close)
            {
                return (default, Stopwatch.GetTimestamp());
            }
            length += r.Count;
            if (r.EndOfMessage)
            {
                break;
            }
        }
        var at = Stopwatch.GetTimestamp();
        return (Parse(buffer.AsSpan(0, length)), at);
    }

    private static WsMessage Parse(ReadOnlySpan<byte> json)
    {
        string? type = null, orderId = null, driverId = null;
        long? seq = null;
        double? lat = null;
        var reader = new Utf8JsonReader(json);
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            return default;
        }
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var name = reader.ValueSpan;
            var isType = name.SequenceEqual("type"u8);
            var isOrder = name.SequenceEqual("orderId"u8);
            var isDriver = name.SequenceEqual("driverId"u8);
            var isSeq = name.SequenceEqual("seq"u8);
            var isLat = name.SequenceEqual("lat"u8);
            reader.Read();
            if (reader.TokenType == JsonTokenType.String && (isType || isOrder || isDriver))
            {
                var value = reader.GetString();
                if (isType)
                {
                    type = value;
                }
                else if (isOrder)
                {
                    orderId = value;
                }
                else
                {
                    driverId = value;
                }
            }
            else if (isSeq && reader.TokenType == JsonTokenType.Number)
            {
                seq = reader.GetInt64();
            }
            else if (isLat && reader.TokenType == JsonTokenType.Number)
            {
                lat = reader.GetDouble();
            }
            else
            {
                reader.Skip();
            }
        }
        return new WsMessage(type, orderId, driverId, seq, lat);
    }

    /// <summary>Aborts the socket: the bench does not wait for close handshakes.</summary>
    public void Dispose()
    {
        socket.Abort();
        socket.Dispose();
    }
}

/// <summary>Fields of /proc/PID/status in KiB (VmRSS, VmHWM, …); null when not there.</summary>
public static class ProcStatus
{
    public static long? KiB(int pid, string field)
    {
        try
        {
            var prefix = field + ":";
            var line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal));
            return line is null ? null : long.Parse(line[prefix.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Milliseconds between two <see cref="Stopwatch.GetTimestamp"/> readings.</summary>
    public static double Ms(long from, long to) => (to - from) * 1000.0 / Stopwatch.Frequency;
}
