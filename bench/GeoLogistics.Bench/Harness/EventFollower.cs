using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;

namespace GeoLogistics.Bench.Harness;

/// <summary>What the bench keeps of a durable event: enough to time it and to replay bookings.</summary>
/// <param name="Status"><c>data.status</c>: an order's (<c>ASSIGNED</c>) or a driver's (<c>busy</c>).</param>
/// <param name="Link">An order event's <c>data.driverId</c>, or a driver event's <c>data.currentOrderId</c>.</param>
public sealed record BenchEvent(long Seq, string Type, Guid? OrderId, Guid? DriverId, string? Status, Guid? Link);

/// <summary>
/// Reads <c>GET /api/events?since=…</c> as one caller, in seq order, handing each event to a callback with the
/// time its page arrived. Polls in a tight loop: at once after a full page, after ~5 ms otherwise.
/// </summary>
public sealed class EventFollower(Api api, string token, Action<BenchEvent, long> onEvent)
{
    public const int PageSize = 1000;

    public long LastSeq { get; private set; }

    /// <summary>Round trip of every page read, in ms, in the order read.</summary>
    public List<double> PageTimes { get; } = [];

    /// <summary>Reads until a page comes back short: the log as it is now.</summary>
    public async Task CatchUpAsync(CancellationToken ct)
    {
        while (await ReadPageAsync(ct) == PageSize)
        {
        }
    }

    /// <summary>Follows the log until <paramref name="ct"/> is cancelled; returns normally then.</summary>
    public async Task FollowAsync(CancellationToken ct)
    {
        try
        {
            while (true)
            {
                if (await ReadPageAsync(ct) < PageSize)
                {
                    await Task.Delay(5, ct);
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    private async Task<int> ReadPageAsync(CancellationToken ct)
    {
        var path = string.Create(CultureInfo.InvariantCulture, $"/api/events?since={LastSeq}&limit={PageSize}");
        var sent = Stopwatch.GetTimestamp();
        var response = await api.SendAsync(HttpMethod.Get, path, token, null, ct);
        PageTimes.Add(Milliseconds(sent, response.ReceivedAt));
        if (response.Status != HttpStatusCode.OK)
        {
            throw new BenchException($"GET {path} answered {(int)response.Status} {response.Status}.");
        }
        var count = 0;
        foreach (var e in response.Body.GetProperty("events").EnumerateArray())
        {
            var parsed = Parse(e);
            LastSeq = parsed.Seq;
            onEvent(parsed, response.ReceivedAt);
            count++;
        }
        return count;
    }

    private static BenchEvent Parse(JsonElement e)
    {
        var type = e.GetProperty("type").GetString() ?? "";
        var data = e.GetProperty("data");
        string? status = null;
        Guid? link = null;
        if (data.ValueKind == JsonValueKind.Object)
        {
            status = data.TryGetProperty("status", out var s) && s.ValueKind == JsonValueKind.String ? s.GetString() : null;
            var linkName = type.StartsWith("driver.", StringComparison.Ordinal) ? "currentOrderId" : "driverId";
            link = GuidOrNull(data, linkName);
        }
        return new BenchEvent(e.GetProperty("seq").GetInt64(), type, GuidOrNull(e, "orderId"), GuidOrNull(e, "driverId"), status, link);
    }

    private static Guid? GuidOrNull(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetGuid() : null;

    /// <summary>The whole log visible to <paramref name="token"/>'s caller, from seq 1.</summary>
    public static async Task<IReadOnlyList<BenchEvent>> ReadAllAsync(Api api, string token, CancellationToken ct)
    {
        var events = new List<BenchEvent>();
        await new EventFollower(api, token, (e, _) => events.Add(e)).CatchUpAsync(ct);
        return events;
    }

    public static double Milliseconds(long from, long to) => Stopwatch.GetElapsedTime(from, to).TotalMilliseconds;
}
