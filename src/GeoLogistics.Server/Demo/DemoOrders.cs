using System.Net.Http.Json;
using GeoLogistics.Server.Orders;

namespace GeoLogistics.Server.Demo;

/// <summary>
/// The demo's customers, through the two demo dispatchers: orders at a configured rate (a couple at once, so the
/// board is never empty), between two crossings of the city some way apart, each with an idempotency key that a
/// retry after a failed call reuses.
/// </summary>
public sealed partial class DemoOrders(
    DemoHttp http,
    DemoIdentity admin,
    IReadOnlyList<DemoIdentity> dispatchers,
    CityMap map,
    DemoOptions options,
    Random random,
    TimeProvider clock,
    ILogger logger)
{
    private const int Attempts = 3;
    private const int RightAway = 2;
    private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(2);

    /// <summary>What each tenant sends: a hospital's samples and supplies, a kitchen's food.</summary>
    private sealed record Errand(string Kind, int Priority, string? Notes);

    private static readonly Dictionary<string, Errand[]> Errands = new(StringComparer.OrdinalIgnoreCase)
    {
        ["dispatcher@demo.test"] =
        [
            new("lab-samples", 5, "Samples for the lab: keep upright"),
            new("blood", 8, "Blood units: keep cold, no stops"),
            new("pharmacy", 3, null),
            new("equipment", 1, "Handle with care"),
            new("documents", 0, null),
        ],
        ["dispatcher2@demo.test"] =
        [
            new("meal", 2, "Hot food: straight there"),
            new("groceries", 0, null),
            new("catering", 1, "Ring at the side door"),
            new("bakery", 1, null),
        ],
    };

    public async Task RunAsync(CancellationToken ct)
    {
        if (options.OrdersPerMinute <= 0 || dispatchers.Count == 0)
        {
            return;
        }
        var mean = TimeSpan.FromMinutes(1 / options.OrdersPerMinute);
        try
        {
            for (var n = 0; !ct.IsCancellationRequested; n++)
            {
                if (n >= RightAway)
                {
                    // Irregular arrivals around the rate, as real ones are.
                    await Task.Delay(mean * (0.5 + random.NextDouble()), clock, ct);
                }
                try
                {
                    await ArriveAsync(ct);
                }
                catch (Exception e) when (!ct.IsCancellationRequested)
                {
                    LogFailed(logger, e.Message);
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    private async Task ArriveAsync(CancellationToken ct)
    {
        var waiting = await http.GetAsync($"/api/orders?status=PENDING&limit={options.MaxWaitingOrders}", admin, DemoClientJson.Default.OrderPage, ct);
        if (waiting is not null && waiting.Items.Count >= options.MaxWaitingOrders)
        {
            LogBacklog(logger, waiting.Items.Count);
            return;
        }
        var dispatcher = dispatchers[random.Next(dispatchers.Count)];
        var request = NewOrder(map, random, Errands.GetValueOrDefault(dispatcher.Email) ?? Errands["dispatcher@demo.test"], options.MinTripMeters);
        var key = $"demo-{Guid.NewGuid():N}";
        for (var attempt = 1; attempt <= Attempts; attempt++)
        {
            string reason;
            try
            {
                using var response = await http.PostAsync("/api/orders", dispatcher, request, DemoClientJson.Default.CreateOrderRequest, ct, key);
                if (response.IsSuccessStatusCode)
                {
                    var order = await response.Content.ReadFromJsonAsync(DemoClientJson.Default.OrderDto, ct);
                    LogCreated(logger, dispatcher.Email, order?.Number ?? "", request.Kind ?? "", request.Pickup!.Address ?? "", request.Dropoff!.Address ?? "");
                    return;
                }
                if (!DemoHttp.IsTransient(response.StatusCode))
                {
                    var body = await response.Content.ReadAsStringAsync(ct);
                    LogRefused(logger, dispatcher.Email, (int)response.StatusCode, body.Length > 300 ? body[..300] : body);
                    return;
                }
                reason = $"POST /api/orders answered {(int)response.StatusCode}";
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
            {
                reason = e.Message;
            }
            LogRetry(logger, dispatcher.Email, reason, attempt, Attempts);
            if (attempt < Attempts)
            {
                await Task.Delay(RetryDelay, clock, ct);
            }
        }
    }

    /// <summary>
    /// An order between two crossings at least <paramref name="minTripMeters"/> apart (or as far apart as a few tries
    /// found), with street addresses, and one of the tenant's errands.
    /// </summary>
    private static CreateOrderRequest NewOrder(CityMap map, Random random, IReadOnlyList<Errand> errands, double minTripMeters)
    {
        var pickup = random.Next(map.Nodes.Count);
        var dropoff = pickup;
        var farthest = 0.0;
        for (var attempt = 0; attempt < 50 && farthest < minTripMeters; attempt++)
        {
            var candidate = random.Next(map.Nodes.Count);
            var meters = CityMap.Distance(map.Nodes[pickup], map.Nodes[candidate]);
            if (meters > farthest)
            {
                (dropoff, farthest) = (candidate, meters);
            }
        }
        var errand = errands[random.Next(errands.Count)];
        return new CreateOrderRequest(
            TenantId: null,
            Pickup: Place(map, pickup, random),
            Dropoff: Place(map, dropoff, random),
            Kind: errand.Kind,
            Priority: Math.Clamp(errand.Priority + random.Next(0, 2), 0, 10),
            Notes: errand.Notes,
            DispatchWhen: null);
    }

    /// <summary>For tests: an order as the hospital's dispatcher would send it.</summary>
    internal static CreateOrderRequest NewHospitalOrder(CityMap map, Random random, double minTripMeters) =>
        NewOrder(map, random, Errands["dispatcher@demo.test"], minTripMeters);

    private static GeoPoint Place(CityMap map, int node, Random random) =>
        new(map.Nodes[node].Lat, map.Nodes[node].Lng, $"{random.Next(1, 180)} {map.StreetOf(node)}");

    [LoggerMessage(Level = LogLevel.Information, Message = "Demo: {Email} ordered {Number} ({Kind}) from {Pickup} to {Dropoff}.")]
    private static partial void LogCreated(ILogger logger, string email, string number, string kind, string pickup, string dropoff);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Demo: {Count} orders wait for a driver; no new one for now.")]
    private static partial void LogBacklog(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Demo: creating an order as {Email} failed ({Reason}); attempt {Attempt} of {Attempts}.")]
    private static partial void LogRetry(ILogger logger, string email, string reason, int attempt, int attempts);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Demo: the server refused an order from {Email} ({Status}): {Body}")]
    private static partial void LogRefused(ILogger logger, string email, int status, string body);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Demo: no order this time: {Reason}")]
    private static partial void LogFailed(ILogger logger, string reason);
}
