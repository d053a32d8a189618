using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using GeoLogistics.Tests.Support;
using static GeoLogistics.Tests.Realtime.Direct.DirectSocketTests;

namespace GeoLogistics.Tests.Realtime.Direct;

/// <summary>
/// STOMP (plain and SockJS's websocket transport) and Engine.IO's WebSocket-only handshake upgraded straight off the
/// connection (docs/adr/0011), over raw TCP as in <see cref="DirectSocketTests"/>: Kestrel's HTTP answers carry a
/// <c>Server</c> header, the direct 101 does not.
/// </summary>
public class DirectAdapterSocketTests
{
    private const string SockJsPath = "/ws-registry/000/direct01/websocket";
    private const string EngineIoPath = "/socket.io/?EIO=4&transport=websocket";

    private static Dictionary<string, string?> Direct(bool on) => new() { ["Realtime:DirectSockets"] = on ? "true" : "false" };

    private static Task<string> NextTextAsync(WebSocket socket) => DirectSocketTests.NextTextAsync(socket);

    private static Task SendTextAsync(WebSocket socket, string text) =>
        socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, endOfMessage: true, Ct);

    private static string Connect(string token) => $"CONNECT\naccept-version:1.2\nheart-beat:0,0\nAuthorization:Bearer {token}\n\n\0";

    private static async Task<(string Head, string Body)> TryAsync(Uri server, string target, params string[] headers)
    {
        using var raw = await Raw.OpenAsync(server);
        await raw.WriteAsync(Upgrade(server, target, headers));
        return await raw.ReadResponseAsync();
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_STOMP_socket_is_answered_off_the_connection_or_through_HTTP_alike(bool direct)
    {
        await using var app = await TestApp.StartAsync(Direct(direct));
        var token = await app.TokenForAsync("dispatcher@demo.test");
        using var raw = await Raw.OpenAsync(app.ServerUri);
        // As @stomp/stompjs asks: no token on the handshake, the subprotocols it speaks; CONNECT brings the token.
        await raw.WriteAsync(Upgrade(app.ServerUri, "/ws-registry", "Sec-WebSocket-Protocol: v10.stomp, v11.stomp, v12.stomp"));
        var head = await raw.ReadHeadAsync();

        Assert.StartsWith("HTTP/1.1 101 ", head);
        Assert.Contains($"Sec-WebSocket-Accept: {Accept}\r\n", head);
        Assert.Contains("Sec-WebSocket-Protocol: v12.stomp\r\n", head);
        Assert.Equal(!direct, HasHeader(head, "Server"));
        using var socket = raw.AsWebSocket();
        await SendTextAsync(socket, Connect(token));
        Assert.StartsWith("CONNECTED\n", await NextTextAsync(socket));
        await SendTextAsync(socket, "SUBSCRIBE\nid:s1\ndestination:/topic/orders\nreceipt:r1\n\n\0");
        Assert.StartsWith("RECEIPT\nreceipt-id:r1\n", await NextTextAsync(socket));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_STOMP_socket_with_a_token_on_the_handshake_is_answered_alike(bool direct)
    {
        await using var app = await TestApp.StartAsync(Direct(direct));
        var token = await app.TokenForAsync("dispatcher@demo.test");
        using var raw = await Raw.OpenAsync(app.ServerUri);
        await raw.WriteAsync(Upgrade(app.ServerUri, $"/ws-registry?access_token={token}"));
        var head = await raw.ReadHeadAsync();

        Assert.StartsWith("HTTP/1.1 101 ", head);
        Assert.False(HasHeader(head, "Sec-WebSocket-Protocol"));
        Assert.Equal(!direct, HasHeader(head, "Server"));
        using var socket = raw.AsWebSocket();
        // The handshake's token stands: CONNECT needs none.
        await SendTextAsync(socket, "CONNECT\naccept-version:1.2\nheart-beat:0,0\n\n\0");
        Assert.StartsWith("CONNECTED\n", await NextTextAsync(socket));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_SockJS_websocket_is_answered_off_the_connection_or_through_HTTP_alike(bool direct)
    {
        await using var app = await TestApp.StartAsync(Direct(direct));
        var token = await app.TokenForAsync("dispatcher@demo.test");
        using var raw = await Raw.OpenAsync(app.ServerUri);
        await raw.WriteAsync(Upgrade(app.ServerUri, SockJsPath, "Origin: " + app.ServerUri.GetLeftPart(UriPartial.Authority)));
        var head = await raw.ReadHeadAsync();

        Assert.StartsWith("HTTP/1.1 101 ", head);
        Assert.False(HasHeader(head, "Sec-WebSocket-Protocol"));
        Assert.Equal(!direct, HasHeader(head, "Server"));
        using var socket = raw.AsWebSocket();
        Assert.Equal("o", await NextTextAsync(socket));
        await SendTextAsync(socket, JsonSerializer.Serialize(new[] { Connect(token) }));
        Assert.StartsWith("a[\"CONNECTED\\n", await NextTextAsync(socket));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task An_EngineIO_websocket_only_socket_is_answered_off_the_connection_or_through_HTTP_alike(bool direct)
    {
        await using var app = await TestApp.StartAsync(Direct(direct));
        var token = await app.TokenForAsync("dispatcher@demo.test");
        using var raw = await Raw.OpenAsync(app.ServerUri);
        await raw.WriteAsync(Upgrade(app.ServerUri, EngineIoPath));
        var head = await raw.ReadHeadAsync();

        Assert.StartsWith("HTTP/1.1 101 ", head);
        Assert.False(HasHeader(head, "Sec-WebSocket-Protocol"));
        Assert.Equal(!direct, HasHeader(head, "Server"));
        using var socket = raw.AsWebSocket();
        var open = await NextTextAsync(socket);
        Assert.StartsWith("0{", open);
        var handshake = JsonDocument.Parse(open[1..]).RootElement;
        Assert.False(string.IsNullOrEmpty(handshake.GetProperty("sid").GetString()));
        Assert.Equal(0, handshake.GetProperty("upgrades").GetArrayLength());
        await SendTextAsync(socket, $$"""40/orders,{"token":"{{token}}"}""");
        Assert.StartsWith("40/orders,{\"sid\":", await NextTextAsync(socket));
    }

    [Fact]
    public async Task An_EngineIO_token_in_the_handshake_header_stands_for_the_namespaces()
    {
        await using var app = await TestApp.StartAsync();
        var token = await app.TokenForAsync("dispatcher@demo.test");
        using var raw = await Raw.OpenAsync(app.ServerUri);
        await raw.WriteAsync(Upgrade(app.ServerUri, EngineIoPath, $"Authorization: Bearer {token}"));
        var head = await raw.ReadHeadAsync();

        Assert.StartsWith("HTTP/1.1 101 ", head);
        Assert.False(HasHeader(head, "Server"));
        using var socket = raw.AsWebSocket();
        Assert.StartsWith("0{", await NextTextAsync(socket));
        await SendTextAsync(socket, "40/orders,");
        Assert.StartsWith("40/orders,{\"sid\":", await NextTextAsync(socket));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_bad_handshake_token_gets_the_answer_HTTP_gives(bool direct)
    {
        await using var app = await TestApp.StartAsync(Direct(direct));

        Assert.StartsWith("HTTP/1.1 401 ", (await TryAsync(app.ServerUri, "/ws-registry?access_token=not.a.token")).Head);
        Assert.StartsWith("HTTP/1.1 401 ", (await TryAsync(app.ServerUri, "/ws-registry", "Authorization: Bearer not.a.token")).Head);
        Assert.StartsWith("HTTP/1.1 401 ", (await TryAsync(app.ServerUri, "/ws-registry", "Authorization: Basic dXNlcjpwYXNz")).Head);
        Assert.StartsWith("HTTP/1.1 401 ", (await TryAsync(app.ServerUri, SockJsPath + "?access_token=not.a.token")).Head);
        Assert.StartsWith("HTTP/1.1 401 ", (await TryAsync(app.ServerUri, SockJsPath, "Authorization: Bearer not.a.token")).Head);

        // Engine.IO refuses a bad handshake token at the namespace CONNECT, not before the upgrade: HTTP upgrades it.
        using var raw = await Raw.OpenAsync(app.ServerUri);
        await raw.WriteAsync(Upgrade(app.ServerUri, EngineIoPath, "Authorization: Bearer not.a.token"));
        var head = await raw.ReadHeadAsync();
        Assert.StartsWith("HTTP/1.1 101 ", head);
        Assert.True(HasHeader(head, "Server"));
        using var socket = raw.AsWebSocket();
        Assert.StartsWith("0{", await NextTextAsync(socket));
        await SendTextAsync(socket, "40/orders,");
        Assert.Equal("""44/orders,{"message":"The token is not valid."}""", await NextTextAsync(socket));
    }

    [Fact]
    public async Task Refused_adapter_upgrades_get_the_answers_HTTP_gives()
    {
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?> { ["Realtime:MaxConnectionsPerUser"] = "1" });
        var token = await app.TokenForAsync("dispatcher@demo.test");

        var foreign = "Origin: https://evil.test";
        Assert.StartsWith("HTTP/1.1 403 ", (await TryAsync(app.ServerUri, "/ws-registry", foreign)).Head);
        Assert.StartsWith("HTTP/1.1 403 ", (await TryAsync(app.ServerUri, SockJsPath, foreign)).Head);
        Assert.StartsWith("HTTP/1.1 403 ", (await TryAsync(app.ServerUri, EngineIoPath, foreign)).Head);
        Assert.StartsWith("HTTP/1.1 400 ", (await TryAsync(app.ServerUri, "/socket.io/?EIO=3&transport=websocket")).Head);
        Assert.StartsWith("HTTP/1.1 400 ", (await TryAsync(app.ServerUri, "/socket.io/?EIO=4&transport=websocket&sid=unknown")).Head);
        Assert.StartsWith("HTTP/1.1 404 ", (await TryAsync(app.ServerUri, "/ws-registry/0.0/direct01/websocket")).Head);

        using var first = await Raw.OpenAsync(app.ServerUri);
        await first.WriteAsync(Upgrade(app.ServerUri, $"/ws-registry?access_token={token}"));
        var head = await first.ReadHeadAsync();
        Assert.StartsWith("HTTP/1.1 101 ", head);
        Assert.False(HasHeader(head, "Server"));
        var overCap = await TryAsync(app.ServerUri, "/ws-registry", $"Authorization: Bearer {token}");
        Assert.StartsWith("HTTP/1.1 429 ", overCap.Head);
        Assert.Contains("Too many sockets", overCap.Body);
    }
}
