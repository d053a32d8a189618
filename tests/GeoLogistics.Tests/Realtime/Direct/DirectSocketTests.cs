using System.Net.Sockets;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using GeoLogistics.Tests.Support;

namespace GeoLogistics.Tests.Realtime.Direct;

/// <summary>
/// JSON sockets upgraded straight off the connection (docs/adr/0011), over raw TCP so that the bytes on the wire are
/// the test's: what is served directly, what is left to HTTP, and that HTTP answers it as before.
/// </summary>
public class DirectSocketTests
{
    internal const string Key = "dGhlIHNhbXBsZSBub25jZQ==";
    internal const string Accept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="; // RFC 6455 §1.3's example

    internal static CancellationToken Ct => TestContext.Current.CancellationToken;

    internal static string Upgrade(Uri server, string target, params string[] headers) =>
        $"GET {target} HTTP/1.1\r\nHost: {server.Authority}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
        $"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {Key}\r\n" + string.Concat(headers.Select(h => h + "\r\n")) + "\r\n";

    internal sealed class Raw(TcpClient tcp) : IDisposable
    {
        public NetworkStream Stream { get; } = tcp.GetStream();

        public static async Task<Raw> OpenAsync(Uri server)
        {
            var tcp = new TcpClient { NoDelay = true };
            await tcp.ConnectAsync(server.Host, server.Port, Ct);
            return new Raw(tcp);
        }

        public Task WriteAsync(string text) => WriteAsync(Encoding.ASCII.GetBytes(text));

        public async Task WriteAsync(byte[] bytes) => await Stream.WriteAsync(bytes, Ct);

        /// <summary>The response's head (status line and headers), byte by byte so nothing after it is read.</summary>
        public async Task<string> ReadHeadAsync()
        {
            var head = new StringBuilder();
            var one = new byte[1];
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(30));
            while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
            {
                if (await Stream.ReadAsync(one, timeout.Token) == 0)
                {
                    break;
                }
                head.Append((char)one[0]);
            }
            return head.ToString();
        }

        /// <summary>A response's head and its body (of Content-Length bytes, or chunked).</summary>
        public async Task<(string Head, string Body)> ReadResponseAsync()
        {
            var head = await ReadHeadAsync();
            var headers = head.Split("\r\n").Select(l => l.Split(':', 2)).Where(p => p.Length == 2)
                .ToDictionary(p => p[0].Trim(), p => p[1].Trim(), StringComparer.OrdinalIgnoreCase);
            var body = new MemoryStream();
            if (headers.TryGetValue("Content-Length", out var length))
            {
                await CopyAsync(body, int.Parse(length));
            }
            else if (headers.GetValueOrDefault("Transfer-Encoding") == "chunked")
            {
                for (var size = await ChunkSizeAsync(); size > 0; size = await ChunkSizeAsync())
                {
                    await CopyAsync(body, size);
                    await CopyAsync(System.IO.Stream.Null, 2);
                }
                await CopyAsync(System.IO.Stream.Null, 2);
            }
            return (head, Encoding.UTF8.GetString(body.ToArray()));
        }

        private async Task<int> ChunkSizeAsync()
        {
            var line = new StringBuilder();
            var one = new byte[1];
            while (!line.ToString().EndsWith("\r\n", StringComparison.Ordinal))
            {
                await Stream.ReadExactlyAsync(one, Ct);
                line.Append((char)one[0]);
            }
            return Convert.ToInt32(line.ToString().Trim(), 16);
        }

        private async Task CopyAsync(Stream to, int count)
        {
            var bytes = new byte[count];
            await Stream.ReadExactlyAsync(bytes, Ct);
            await to.WriteAsync(bytes, Ct);
        }

        /// <summary>After a 101: the socket as its client sees it.</summary>
        public WebSocket AsWebSocket() => WebSocket.CreateFromStream(Stream, new WebSocketCreationOptions { IsServer = false });

        public void Dispose() => tcp.Dispose();
    }

    private static async Task<JsonElement> NextAsync(WebSocket socket) => JsonDocument.Parse(await NextTextAsync(socket)).RootElement.Clone();

    /// <summary>The next whole text message, within 30 s.</summary>
    internal static async Task<string> NextTextAsync(WebSocket socket)
    {
        var buffer = new byte[64 * 1024];
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        var length = 0;
        ValueWebSocketReceiveResult result;
        do
        {
            result = await socket.ReceiveAsync(buffer.AsMemory(length), timeout.Token);
            length += result.Count;
        }
        while (!result.EndOfMessage);
        Assert.Equal(WebSocketMessageType.Text, result.MessageType);
        return Encoding.UTF8.GetString(buffer, 0, length);
    }

    private static string Type(JsonElement message) => message.GetProperty("type").GetString()!;

    internal static bool HasHeader(string head, string name) =>
        head.Split("\r\n").Any(l => l.StartsWith(name + ":", StringComparison.OrdinalIgnoreCase));

    /// <summary>A client frame: FIN, text, masked (RFC 6455 §5.3).</summary>
    private static byte[] TextFrame(string text)
    {
        var payload = Encoding.UTF8.GetBytes(text);
        Assert.InRange(payload.Length, 0, 125);
        var mask = RandomNumberGenerator.GetBytes(4);
        return [0x81, (byte)(0x80 | payload.Length), .. mask, .. payload.Select((b, i) => (byte)(b ^ mask[i % 4]))];
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_valid_upgrade_is_answered_off_the_connection_or_through_HTTP_alike(bool direct)
    {
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?> { ["Realtime:DirectSockets"] = direct ? "true" : "false" });
        var token = await app.TokenForAsync("dispatcher@demo.test");
        using var raw = await Raw.OpenAsync(app.ServerUri);
        await raw.WriteAsync(Upgrade(app.ServerUri, "/api/ws", $"Authorization: Bearer {token}"));
        var head = await raw.ReadHeadAsync();

        Assert.StartsWith("HTTP/1.1 101 ", head);
        Assert.Contains($"Sec-WebSocket-Accept: {Accept}\r\n", head);
        // Kestrel's HTTP answers name it; the direct answer carries only what RFC 6455 asks for.
        Assert.Equal(!direct, HasHeader(head, "Server"));
        using var socket = raw.AsWebSocket();
        var ack = await NextAsync(socket);
        Assert.Equal("connection_ack", Type(ack));
        Assert.Equal("dispatcher@demo.test", ack.GetProperty("user").GetProperty("email").GetString());
    }

    [Fact]
    public async Task Frames_sent_with_the_handshake_are_read_after_it()
    {
        await using var app = await TestApp.StartAsync();
        var token = await app.TokenForAsync("dispatcher@demo.test");
        using var raw = await Raw.OpenAsync(app.ServerUri);
        // The head, a ping and a subscribe in one write: the server must take exactly the head and leave the frames.
        await raw.WriteAsync([
            .. Encoding.ASCII.GetBytes(Upgrade(app.ServerUri, $"/api/ws?access_token={token}")),
            .. TextFrame("""{"type":"ping"}"""),
            .. TextFrame("""{"type":"subscribe","topic":"orders"}"""),
        ]);
        Assert.StartsWith("HTTP/1.1 101 ", await raw.ReadHeadAsync());
        using var socket = raw.AsWebSocket();
        Assert.Equal("connection_ack", Type(await NextAsync(socket)));
        Assert.Equal("pong", Type(await NextAsync(socket)));
        Assert.Equal("subscribed", Type(await NextAsync(socket)));
    }

    [Fact]
    public async Task A_head_that_arrives_in_pieces_is_read_whole()
    {
        await using var app = await TestApp.StartAsync();
        var token = await app.TokenForAsync("dispatcher@demo.test");
        using var raw = await Raw.OpenAsync(app.ServerUri);
        var bytes = Encoding.ASCII.GetBytes(Upgrade(app.ServerUri, $"/api/ws?access_token={token}"));
        foreach (var piece in bytes.Chunk(97))
        {
            await raw.WriteAsync(piece);
            await Task.Delay(20, Ct);
        }
        Assert.StartsWith("HTTP/1.1 101 ", await raw.ReadHeadAsync());
        using var socket = raw.AsWebSocket();
        Assert.Equal("connection_ack", Type(await NextAsync(socket)));
    }

    [Fact]
    public async Task Refused_upgrades_get_the_answers_HTTP_gives()
    {
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?> { ["Realtime:MaxConnectionsPerUser"] = "1" });
        var token = await app.TokenForAsync("dispatcher@demo.test");

        async Task<(string Head, string Body)> TryAsync(string target, params string[] headers)
        {
            using var raw = await Raw.OpenAsync(app.ServerUri);
            await raw.WriteAsync(Upgrade(app.ServerUri, target, headers));
            return await raw.ReadResponseAsync();
        }

        var badToken = await TryAsync("/api/ws?access_token=not.a.token");
        Assert.StartsWith("HTTP/1.1 401 ", badToken.Head);
        var noToken = await TryAsync("/api/ws");
        Assert.StartsWith("HTTP/1.1 401 ", noToken.Head);
        var otherScheme = await TryAsync("/api/ws", $"Authorization: Basic {token}");
        Assert.StartsWith("HTTP/1.1 401 ", otherScheme.Head);

        var foreignOrigin = await TryAsync($"/api/ws?access_token={token}", "Origin: https://evil.test");
        Assert.StartsWith("HTTP/1.1 403 ", foreignOrigin.Head);
        Assert.Contains("application/problem+json", foreignOrigin.Head);
        Assert.Contains("origin", foreignOrigin.Body, StringComparison.OrdinalIgnoreCase);

        using var first = await Raw.OpenAsync(app.ServerUri);
        await first.WriteAsync(Upgrade(app.ServerUri, $"/api/ws?access_token={token}"));
        Assert.StartsWith("HTTP/1.1 101 ", await first.ReadHeadAsync());
        var overCap = await TryAsync($"/api/ws?access_token={token}");
        Assert.StartsWith("HTTP/1.1 429 ", overCap.Head);
        Assert.Contains("Too many sockets", overCap.Body);
    }

    [Fact]
    public async Task Other_requests_on_the_port_are_served_by_HTTP_as_before()
    {
        await using var app = await TestApp.StartAsync();
        var token = await app.TokenForAsync("dispatcher@demo.test");
        using var raw = await Raw.OpenAsync(app.ServerUri);
        await raw.WriteAsync($"GET /health/live HTTP/1.1\r\nHost: {app.ServerUri.Authority}\r\n\r\n");
        var health = await raw.ReadResponseAsync();
        Assert.StartsWith("HTTP/1.1 200 ", health.Head);

        // The same connection, kept alive, upgrades on its second request: HTTP serves that one.
        await raw.WriteAsync(Upgrade(app.ServerUri, $"/api/ws?access_token={token}"));
        var head = await raw.ReadHeadAsync();
        Assert.StartsWith("HTTP/1.1 101 ", head);
        Assert.True(HasHeader(head, "Server"));
        using var socket = raw.AsWebSocket();
        Assert.Equal("connection_ack", Type(await NextAsync(socket)));
    }

    [Fact]
    public async Task An_upgrade_of_another_version_gets_HTTPs_error()
    {
        await using var app = await TestApp.StartAsync();
        var token = await app.TokenForAsync("dispatcher@demo.test");
        using var raw = await Raw.OpenAsync(app.ServerUri);
        await raw.WriteAsync(Upgrade(app.ServerUri, $"/api/ws?access_token={token}").Replace("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 8"));
        var (head, body) = await raw.ReadResponseAsync();
        Assert.StartsWith("HTTP/1.1 400 ", head);
        Assert.Contains("WebSocket upgrade required", body);
    }
}
