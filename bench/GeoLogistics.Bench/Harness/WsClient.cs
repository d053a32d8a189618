using System.Diagnostics;
using System.Globalization;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace GeoLogistics.Bench.Harness;

/// <summary>The top-level fields of one server message the real-time scenarios look at.</summary>
public readonly record struct WsMessage(string? Type, string? OrderId, string? DriverId, long? Seq, double? Lat = null)
{
    /// <summary>The fields of a JSON object (SPEC §5's event, or another message of <c>/api/ws</c>); default when it is none.</summary>
    public static WsMessage Parse(ReadOnlySpan<byte> json)
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
}

/// <summary>
/// One WebSocket to <c>/api/ws</c>, authenticated with a bearer header: connect (reads <c>connection_ack</c>),
/// subscribe (reads up to <c>subscribed</c>), then a receive loop that stamps each message with
/// <see cref="Stopwatch.GetTimestamp"/> and hands its top-level fields to a callback.
/// </summary>
public sealed class WsClient : ISubscriber, IDisposable
{
    private readonly TextSocket socket;

    private WsClient(TextSocket socket) => this.socket = socket;

    public WebSocketState State => socket.State;

    public bool IsOpen => socket.State == WebSocketState.Open;

    public static async Task<WsClient> ConnectAsync(Uri server, string token, CancellationToken ct)
    {
        var client = new WsClient(await TextSocket.ConnectAsync(TextSocket.Address(server, "/api/ws"), token, null, ct));
        var (ack, _) = await client.ReceiveAsync(ct);
        if (ack.Type != "connection_ack")
        {
            await client.DisposeAsync();
            throw new BenchException($"/api/ws: expected connection_ack, got '{ack.Type}'.");
        }
        return client;
    }

    /// <summary>Connects and subscribes to <paramref name="topic"/>: a subscriber of the live-path scenarios.</summary>
    public static async Task<WsClient> OpenAsync(Uri server, string token, string topic, CancellationToken ct)
    {
        var client = await ConnectAsync(server, token, ct);
        try
        {
            await client.SubscribeAsync(topic, ct);
        }
        catch
        {
            await client.DisposeAsync();
            throw;
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

    public Task SendTextAsync(ReadOnlyMemory<byte> utf8, CancellationToken ct) => socket.SendAsync(utf8, ct);

    public Task SendLocationAsync(double lat, double lng, CancellationToken ct) =>
        SendTextAsync(Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture,
            $$"""{"type":"driver.location","lat":{{lat:0.000000}},"lng":{{lng:0.000000}}}""")), ct);

    /// <summary>Reads until the socket closes or <paramref name="ct"/> fires; returns the close status, if any.</summary>
    public Task<WebSocketCloseStatus?> RunAsync(Action<WsMessage, long> onMessage, CancellationToken ct) =>
        socket.RunAsync((message, at) =>
        {
            onMessage(WsMessage.Parse(message.Span), at);
            return ValueTask.CompletedTask;
        }, ct);

    private async Task<(WsMessage Message, long At)> ReceiveAsync(CancellationToken ct)
    {
        var (message, at, closed) = await socket.ReceiveAsync(ct);
        return (closed ? default : WsMessage.Parse(message.Span), at);
    }

    /// <summary>Aborts the socket: the bench does not wait for close handshakes.</summary>
    public void Dispose() => socket.Dispose();

    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
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
