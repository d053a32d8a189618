using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text.Json;
using GeoLogistics.Tests.Support;

namespace GeoLogistics.SystemTests;

/// <summary>A clean stop (SIGTERM) of one of two nodes, as a rolling deploy does it (docs/adr/0009).</summary>
public class DrainSystemTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string Type(JsonElement m) => m.GetProperty("type").GetString()!;

    private static readonly Dictionary<string, string> Drain = new() { ["Node:DrainDelay"] = "00:00:01" };

    [Fact]
    public async Task On_SIGTERM_a_node_turns_unready_closes_its_sockets_with_1012_loses_no_acknowledged_write_and_its_clients_resume_on_the_other()
    {
        await using var store = await TestStore.CreateAsync();
        await using var a = await ServerProcess.StartAsync(store, port: null, Drain, Ct);
        await using var b = await ServerProcess.StartAsync(store, port: null, Drain, Ct);
        var fleet = await Fleet.CreateAsync(a, drivers: 0, Ct);
        var token = fleet.Dispatcher.DefaultRequestHeaders.Authorization!.Parameter!;
        await using var client = await WsClient.ConnectAsync(a.Address, token, Ct);
        Assert.Equal("connection_ack", Type(await client.NextAsync()));
        await client.SendAsync(new { type = "subscribe", topic = "orders", since = 0 }, Ct);
        Assert.Equal("subscribed", Type(await client.NextAsync("subscribed")));

        // Writers go on until the node refuses them; what it acknowledged must be in the log.
        var acknowledged = new ConcurrentBag<Guid>();
        var writers = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            for (var i = 0; ; i++)
            {
                try
                {
                    var response = await fleet.Dispatcher.PostAsJsonAsync("/api/orders", Fleet.Order(i), Ct);
                    if (response.StatusCode != HttpStatusCode.Created)
                    {
                        return;
                    }
                    acknowledged.Add((await response.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("id").GetGuid());
                }
                catch (HttpRequestException)
                {
                    return;
                }
            }
        }, Ct)).ToList();
        using (var patience = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            while (acknowledged.Count < 20)
            {
                await Task.Delay(10, patience.Token);
            }
        }

        a.Terminate();
        // Not ready at once, while it still serves.
        using var probe = new HttpClient { BaseAddress = a.Address, Timeout = TimeSpan.FromSeconds(2) };
        HttpStatusCode? ready = null;
        using (var patience = new CancellationTokenSource(TimeSpan.FromSeconds(5)))
        {
            while (ready != HttpStatusCode.ServiceUnavailable && !patience.IsCancellationRequested)
            {
                ready = (await probe.GetAsync("/health/ready", Ct)).StatusCode;
            }
        }
        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready);
        // The socket is told to go elsewhere, and the node exits cleanly soon after, not at the host's 30 s timeout.
        Assert.Equal((WebSocketCloseStatus)1012, await client.ClosedAsync(TimeSpan.FromSeconds(15)));
        Assert.Equal(0, await a.ExitedAsync(TimeSpan.FromSeconds(20)));
        await Task.WhenAll(writers);

        // The client resumes on B after the last seq it had: every acknowledged order is there, each once, in order.
        var events = client.Drain().Where(m => m.TryGetProperty("seq", out _)).ToList();
        var since = events.Count == 0 ? 0 : events.Max(m => m.GetProperty("seq").GetInt64());
        var seen = events.Where(m => Type(m) == "order.created").Select(m => m.GetProperty("orderId").GetGuid()).ToHashSet();
        await using var resumed = await WsClient.ConnectAsync(b.Address, token, Ct);
        Assert.Equal("connection_ack", Type(await resumed.NextAsync()));
        await resumed.SendAsync(new { type = "subscribe", topic = "orders", since }, Ct);
        var replay = (await resumed.UntilAsync(all => all.Any(m => Type(m) == "subscribed"))).Where(m => m.TryGetProperty("seq", out _)).ToList();
        var seqs = replay.Select(m => m.GetProperty("seq").GetInt64()).ToList();
        Assert.All(seqs, s => Assert.True(s > since));
        Assert.Equal(seqs.Order().Distinct(), seqs);
        seen.UnionWith(replay.Where(m => Type(m) == "order.created").Select(m => m.GetProperty("orderId").GetGuid()));
        Assert.Empty(acknowledged.Except(seen));
    }
}
