using System.Diagnostics;
using System.Net;
using GeoLogistics.Bench.Harness;

namespace GeoLogistics.Bench.Scenarios;

/// <summary>Setup shared by the real-time scenarios (connections, fanout, pipeline, locations).</summary>
internal static class RealtimeSetup
{
    public static readonly BenchOption OpenConcurrency = new("open-concurrency", "most WebSocket handshakes in flight at once", "64");

    /// <summary>Opens <paramref name="count"/> JSON sockets with one token, each subscribed to <paramref name="topic"/>.</summary>
    public static Task<(WsClient[] Clients, TimeSpan Took)> OpenAsync(
        Uri server, string token, int count, string topic, int concurrency, CancellationToken ct) =>
        OpenAsync(count, concurrency, $"sockets subscribed to {topic}", t => WsClient.OpenAsync(server, token, topic, t), ct);

    /// <summary>Opens <paramref name="count"/> subscribers, <paramref name="concurrency"/> at a time, with <paramref name="open"/>.</summary>
    public static async Task<(T[] Clients, TimeSpan Took)> OpenAsync<T>(
        int count, int concurrency, string what, Func<CancellationToken, Task<T>> open, CancellationToken ct)
        where T : class, IAsyncDisposable
    {
        var clients = new T[count];
        var watch = Stopwatch.StartNew();
        var done = 0;
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = concurrency, CancellationToken = ct };
        try
        {
            await Parallel.ForEachAsync(Enumerable.Range(0, count), parallel, async (i, token) =>
            {
                clients[i] = await open(token);
                var n = Interlocked.Increment(ref done);
                if (count >= 100 && n % Math.Max(1, count / 5) == 0)
                {
                    Console.WriteLine($"   {n} {what} after {watch.Elapsed.TotalSeconds:0.0} s");
                }
            });
        }
        catch
        {
            await CloseAsync(clients);
            throw;
        }
        return (clients, watch.Elapsed);
    }

    /// <summary>Closes every subscriber at once (a SignalR client's close waits for its connection to stop).</summary>
    public static Task CloseAsync(IEnumerable<IAsyncDisposable?> clients) =>
        Task.WhenAll(clients.OfType<IAsyncDisposable>().Select(c => c.DisposeAsync().AsTask()));

    /// <summary>A tenant and its dispatcher; returns the dispatcher's token.</summary>
    public static async Task<string> DispatcherAsync(Api api, string adminToken, CancellationToken ct)
    {
        var tenant = await api.CallAsync(HttpMethod.Post, "/api/tenants", adminToken,
            new { name = $"Bench {ServerProcess.RandomText(6)}" }, HttpStatusCode.Created, ct);
        var tenantId = tenant.GetProperty("id").GetGuid();
        var password = ServerProcess.RandomText(12);
        const string email = "dispatcher@bench.test";
        await api.CallAsync(HttpMethod.Post, "/api/users", adminToken,
            new { email, password, role = "dispatcher", tenantId, name = "Bench dispatcher" }, HttpStatusCode.Created, ct);
        return (await api.LoginAsync(email, password, ct)).Token;
    }

    /// <summary>A plausible order body somewhere in a 20 km city.</summary>
    public static object Order(Random random)
    {
        double Lat() => 52.28 + random.NextDouble() * 0.18;
        double Lng() => 4.75 + random.NextDouble() * 0.29;
        return new { pickup = new { lat = Lat(), lng = Lng() }, dropoff = new { lat = Lat(), lng = Lng() } };
    }

    public static List<double> Sorted(IEnumerable<double> values)
    {
        var list = values.ToList();
        list.Sort();
        return list;
    }
}
