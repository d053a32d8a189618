using System.Net.Http.Json;
using System.Text.Json;

namespace GeoLogistics.SystemTests;

/// <summary>A tenant with a dispatcher and online drivers, set up through the API as a user would.</summary>
public sealed class Fleet
{
    public const double Lat = 52.370;
    public const double Lng = 4.890;
    private const string Password = "fleet-password";

    public required HttpClient Dispatcher { get; init; }
    public required HttpClient Admin { get; init; }
    public required Dictionary<Guid, HttpClient> Drivers { get; init; }

    public static async Task<Fleet> CreateAsync(ServerProcess server, int drivers, CancellationToken ct)
    {
        var admin = await server.AdminAsync(ct);
        var tenant = await PostAsync(admin, "/api/tenants", new { name = "System Hospital" }, ct);
        await PostAsync(admin, "/api/users", new { email = "dispatch@system.test", password = Password, role = "dispatcher", tenantId = tenant.GetProperty("id").GetGuid() }, ct);
        var fleet = new Fleet
        {
            Admin = admin,
            Dispatcher = await server.LoginAsync("dispatch@system.test", Password, ct),
            Drivers = [],
        };
        for (var i = 0; i < drivers; i++)
        {
            var email = $"driver{i}@system.test";
            var created = await PostAsync(admin, "/api/drivers", new { email, password = Password, name = $"Driver {i}" }, ct);
            var client = await server.LoginAsync(email, Password, ct);
            await PostAsync(client, "/api/drivers/me/location", new { lat = Lat + (i * 0.0005), lng = Lng }, ct);
            await PostAsync(client, "/api/drivers/me/status", new { online = true }, ct);
            fleet.Drivers[created.GetProperty("id").GetGuid()] = client;
        }
        return fleet;
    }

    public static async Task<JsonElement> PostAsync(HttpClient client, string url, object body, CancellationToken ct)
    {
        var response = await client.PostAsJsonAsync(url, body, ct);
        response.EnsureSuccessStatusCode();
        return response.StatusCode == System.Net.HttpStatusCode.Accepted ? default : await response.Content.ReadFromJsonAsync<JsonElement>(ct);
    }

    public static object Order(int i) => new
    {
        pickup = new { lat = Lat + ((i % 10) * 0.001), lng = Lng },
        dropoff = new { lat = Lat - 0.01, lng = Lng + 0.01 },
        kind = "SYS",
    };

    public static async Task<List<JsonElement>> AllOrdersAsync(HttpClient admin, CancellationToken ct)
    {
        var all = new List<JsonElement>();
        string? cursor = null;
        do
        {
            var page = await admin.GetFromJsonAsync<JsonElement>($"/api/orders?limit=100{(cursor is null ? "" : $"&cursor={cursor}")}", ct);
            all.AddRange(page.GetProperty("items").EnumerateArray());
            cursor = page.GetProperty("nextCursor").GetString();
        }
        while (cursor is not null);
        return all;
    }

    public static async Task<List<JsonElement>> AllEventsAsync(HttpClient admin, CancellationToken ct)
    {
        var all = new List<JsonElement>();
        var since = 0L;
        while (true)
        {
            var page = await admin.GetFromJsonAsync<JsonElement>($"/api/events?since={since}&limit=1000", ct);
            var events = page.GetProperty("events").EnumerateArray().ToList();
            if (events.Count == 0)
            {
                return all;
            }
            all.AddRange(events);
            since = page.GetProperty("lastSeq").GetInt64();
        }
    }

    /// <summary>
    /// Replays the log in seq order and returns every moment a driver was booked while on another active order,
    /// or an order was booked while it had a driver. Empty means the invariants of SPEC §4 held throughout.
    /// </summary>
    public static List<string> DoubleBookings(IEnumerable<JsonElement> events)
    {
        var orderOfDriver = new Dictionary<Guid, Guid>();
        var driverOfOrder = new Dictionary<Guid, Guid>();
        var problems = new List<string>();
        foreach (var e in events)
        {
            var type = e.GetProperty("type").GetString();
            if (type is null || !type.StartsWith("order.", StringComparison.Ordinal))
            {
                continue;
            }
            var data = e.GetProperty("data");
            var orderId = data.GetProperty("id").GetGuid();
            var status = data.GetProperty("status").GetString();
            if (type == "order.assigned")
            {
                var driverId = data.GetProperty("driverId").GetGuid();
                if (orderOfDriver.TryGetValue(driverId, out var other) && other != orderId)
                {
                    problems.Add($"seq {e.GetProperty("seq")}: driver {driverId} booked for {orderId} while on {other}");
                }
                if (driverOfOrder.TryGetValue(orderId, out var previous) && previous != driverId)
                {
                    problems.Add($"seq {e.GetProperty("seq")}: order {orderId} booked to {driverId} while held by {previous}");
                }
                orderOfDriver[driverId] = orderId;
                driverOfOrder[orderId] = driverId;
            }
            else if (status is not ("ASSIGNED" or "PICKED_UP" or "IN_TRANSIT") && driverOfOrder.Remove(orderId, out var freed))
            {
                orderOfDriver.Remove(freed);
            }
        }
        return problems;
    }
}
