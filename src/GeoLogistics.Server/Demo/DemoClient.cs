using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Drivers;
using GeoLogistics.Server.Http;
using GeoLogistics.Server.Orders;
using GeoLogistics.Server.Users;

namespace GeoLogistics.Server.Demo;

/// <summary>
/// One demo user as the simulator plays it: a session started in-process, as login would start it (login itself
/// is throttled per client address, and every simulated user shares one), with a fresh token when half its life is
/// gone.
/// </summary>
public sealed class DemoIdentity(User user, Guid? driverId, Sessions sessions, TimeProvider clock)
{
    private readonly SemaphoreSlim gate = new(1, 1);
    private IssuedToken? token;
    private DateTimeOffset renewAt;

    public string Email => user.Email;

    public string Name => user.Name ?? user.Email;

    public Guid? DriverId => driverId;

    public async Task<string> TokenAsync(CancellationToken ct)
    {
        await gate.WaitAsync(ct);
        try
        {
            var now = clock.GetUtcNow();
            if (token is null || now >= renewAt)
            {
                token = await sessions.StartAsync(user.ToCaller(driverId), ct);
                renewAt = now + ((token.ExpiresAt - now) / 2);
            }
            return token.AccessToken;
        }
        finally
        {
            gate.Release();
        }
    }
}

/// <summary>The REST side of the simulator: the server's own API over loopback, as any client calls it.</summary>
public sealed class DemoHttp(HttpClient http)
{
    public Uri BaseAddress => http.BaseAddress!;

    /// <summary>The WebSocket address of the same server.</summary>
    public Uri SocketAddress => new UriBuilder(BaseAddress) { Scheme = BaseAddress.Scheme == Uri.UriSchemeHttps ? "wss" : "ws", Path = "/api/ws" }.Uri;

    public async Task<HttpResponseMessage> PostAsync<T>(
        string path, DemoIdentity who, T body, JsonTypeInfo<T> type, CancellationToken ct, string? idempotencyKey = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body, type) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", await who.TokenAsync(ct));
        if (idempotencyKey is not null)
        {
            request.Headers.Add("Idempotency-Key", idempotencyKey);
        }
        return await http.SendAsync(request, ct);
    }

    /// <summary>The answer's body, or null for 404; any other failure throws, naming the call.</summary>
    public async Task<T?> GetAsync<T>(string path, DemoIdentity who, JsonTypeInfo<T> type, CancellationToken ct)
        where T : class
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", await who.TokenAsync(ct));
        using var response = await http.SendAsync(request, ct);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
        Ensure(response, "GET", path);
        return await response.Content.ReadFromJsonAsync(type, ct);
    }

    public static void Ensure(HttpResponseMessage response, string method, string path)
    {
        if (!response.IsSuccessStatusCode)
        {
            throw new HttpRequestException($"{method} {path} answered {(int)response.StatusCode} {response.ReasonPhrase}.", null, response.StatusCode);
        }
    }

    /// <summary>Worth another try later: the server is busy, failing, or asked to wait.</summary>
    public static bool IsTransient(HttpStatusCode status) => (int)status >= 500 || status == HttpStatusCode.TooManyRequests;

    public static async Task SendAsync<T>(ClientWebSocket socket, T message, JsonTypeInfo<T> type, CancellationToken ct) =>
        await socket.SendAsync(JsonSerializer.SerializeToUtf8Bytes(message, type), WebSocketMessageType.Text, endOfMessage: true, ct);
}

// What a driver app sends over the socket (docs/realtime.md).

public sealed record SubscribeMessage(string Id, string Topic)
{
    public string Type => "subscribe";
}

public sealed record AuthMessage(string Token)
{
    public string Type => "auth";
}

public sealed record LocationMessage(double Lat, double Lng, double Heading, double Speed)
{
    public string Type => "driver.location";
}

/// <summary>The simulator's side of the API's JSON: the requests it sends and the answers and events it reads.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, Converters = [typeof(UtcTimestampConverter)],
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(CreateOrderRequest))]
[JsonSerializable(typeof(StatusRequest))]
[JsonSerializable(typeof(DriverStatusRequest))]
[JsonSerializable(typeof(CreateDriverRequest))]
[JsonSerializable(typeof(OrderPage))]
[JsonSerializable(typeof(OrderDto))]
[JsonSerializable(typeof(DriverDto))]
[JsonSerializable(typeof(SubscribeMessage))]
[JsonSerializable(typeof(AuthMessage))]
[JsonSerializable(typeof(LocationMessage))]
public sealed partial class DemoClientJson : JsonSerializerContext;
