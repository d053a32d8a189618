using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;

namespace GeoLogistics.Bench.Harness;

/// <summary>An answer: its status, its JSON body (default when empty), and when the last byte of it arrived.</summary>
public readonly record struct ApiResponse(HttpStatusCode Status, JsonElement Body, long ReceivedAt, TimeSpan? RetryAfter);

/// <summary>
/// The REST API over one shared connection pool. Requests carry their own bearer token, so one client serves the
/// admin, the dispatcher and ten thousand drivers.
/// </summary>
public sealed class Api : IDisposable
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private readonly HttpClient http;

    public Api(Uri address)
    {
        var handler = new SocketsHttpHandler
        {
            // Loopback: connections are cheap, and the concurrency is bounded by the callers.
            MaxConnectionsPerServer = int.MaxValue,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            UseCookies = false,
        };
        http = new HttpClient(handler) { BaseAddress = address, Timeout = TimeSpan.FromSeconds(60) };
    }

    /// <summary>Sends once and returns whatever came back, stamped with <see cref="Stopwatch.GetTimestamp"/>.</summary>
    public Task<ApiResponse> SendAsync(HttpMethod method, string path, string? token, object? body, CancellationToken ct) =>
        SendUtf8Async(method, path, token, body is null ? null : JsonSerializer.SerializeToUtf8Bytes(body, Json), ct);

    /// <summary>A GET whose answer is text (Prometheus' <c>/metrics</c>).</summary>
    public Task<string> GetTextAsync(string path, CancellationToken ct) => http.GetStringAsync(new Uri(path, UriKind.Relative), ct);

    /// <summary>Sends a JSON body that is already bytes, as it is.</summary>
    public async Task<ApiResponse> SendUtf8Async(HttpMethod method, string path, string? token, byte[]? utf8, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(method, new Uri(path, UriKind.Relative));
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
        if (utf8 is not null)
        {
            request.Content = new ByteArrayContent(utf8);
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        }
        using var response = await http.SendAsync(request, ct);
        var bytes = await response.Content.ReadAsByteArrayAsync(ct);
        var received = Stopwatch.GetTimestamp();
        var json = default(JsonElement);
        if (bytes.Length > 0 && response.Content.Headers.ContentType?.MediaType?.Contains("json", StringComparison.Ordinal) == true)
        {
            using var doc = JsonDocument.Parse(bytes);
            json = doc.RootElement.Clone();
        }
        return new ApiResponse(response.StatusCode, json, received, response.Headers.RetryAfter?.Delta);
    }

    /// <summary>
    /// Setup traffic: expects <paramref name="expected"/>, waits out a 429 as its Retry-After says, and throws a
    /// <see cref="BenchException"/> naming the request for anything else.
    /// </summary>
    public async Task<JsonElement> CallAsync(
        HttpMethod method, string path, string? token, object? body, HttpStatusCode expected, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            var response = await SendAsync(method, path, token, body, ct);
            if (response.Status == expected)
            {
                return response.Body;
            }
            if (response.Status is HttpStatusCode.TooManyRequests or HttpStatusCode.ServiceUnavailable && attempt < 20)
            {
                await Task.Delay(response.RetryAfter ?? TimeSpan.FromSeconds(1), ct);
                continue;
            }
            var detail = response.Body.ValueKind == JsonValueKind.Object && response.Body.TryGetProperty("detail", out var d) ? d.GetString() : null;
            throw new BenchException($"{method} {path} answered {(int)response.Status} {response.Status}{(detail is null ? "" : $": {detail}")}");
        }
    }

    public async Task<(string Token, JsonElement User)> LoginAsync(string email, string password, CancellationToken ct)
    {
        var body = await CallAsync(HttpMethod.Post, "/api/auth/login", null, new { email, password }, HttpStatusCode.OK, ct);
        return (body.GetProperty("accessToken").GetString()!, body.GetProperty("user"));
    }

    public void Dispose() => http.Dispose();
}
