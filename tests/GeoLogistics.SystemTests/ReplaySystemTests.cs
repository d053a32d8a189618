using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using GeoLogistics.Tests.Support;

namespace GeoLogistics.SystemTests;

public class ReplaySystemTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string Type(JsonElement m) => m.GetProperty("type").GetString()!;

    private static async Task<string> TokenAsync(ServerProcess server, string email, string password)
    {
        using var http = new HttpClient { BaseAddress = server.Address };
        var login = await (await http.PostAsJsonAsync("/api/auth/login", new { email, password }, Ct)).Content.ReadFromJsonAsync<JsonElement>(Ct);
        return login.GetProperty("accessToken").GetString()!;
    }

    [Fact]
    public async Task A_client_resuming_with_since_after_kill_9_and_a_restart_gets_every_event_once_in_order()
    {
        await using var store = await TestStore.CreateAsync();
        var server = await ServerProcess.StartAsync(store, Ct);
        var fleet = await Fleet.CreateAsync(server, drivers: 0, Ct);
        var received = new List<JsonElement>();
        await using (var client = await WsClient.ConnectAsync(server.Address, await TokenAsync(server, "dispatch@system.test", "fleet-password"), Ct))
        {
            Assert.Equal("connection_ack", Type(await client.NextAsync()));
            await client.SendAsync(new { type = "subscribe", topic = "orders", since = 0 }, Ct);
            for (var i = 0; i < 10; i++)
            {
                await Fleet.PostAsync(fleet.Dispatcher, "/api/orders", Fleet.Order(i), Ct);
            }
            received.AddRange((await client.UntilAsync(all => all.Count(m => m.TryGetProperty("seq", out _)) == 10)).Where(m => m.TryGetProperty("seq", out _)));
        }

        // Writers go on until the process dies under them. It dies once the log shows some of their writes committed,
        // so the kill lands in the burst, with more writes in flight.
        var acknowledged = new ConcurrentBag<Guid>();
        var writers = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            for (var i = 0; ; i++)
            {
                try
                {
                    var response = await fleet.Dispatcher.PostAsJsonAsync("/api/orders", Fleet.Order(i), Ct);
                    if (response.StatusCode == HttpStatusCode.Created)
                    {
                        acknowledged.Add((await response.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("id").GetGuid());
                    }
                }
                catch (HttpRequestException)
                {
                    // The server was killed under this request: it may or may not have committed.
                    return;
                }
            }
        }, Ct)).ToList();
        var before = received[^1].GetProperty("seq").GetInt64();
        using (var patience = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            while ((await fleet.Admin.GetFromJsonAsync<JsonElement>($"/api/events?since={before}&limit=1000", patience.Token))
                .GetProperty("events").GetArrayLength() < 10)
            {
                await Task.Delay(10, patience.Token);
            }
        }
        Assert.DoesNotContain(writers, w => w.IsCompleted);
        server.KillHard();
        await Task.WhenAll(writers);
        await server.DisposeAsync();

        await using var restarted = await ServerProcess.StartAsync(store, Ct);
        var dispatcher = await restarted.LoginAsync("dispatch@system.test", "fleet-password", Ct);
        await using var again = await WsClient.ConnectAsync(restarted.Address, await TokenAsync(restarted, "dispatch@system.test", "fleet-password"), Ct);
        Assert.Equal("connection_ack", Type(await again.NextAsync()));
        await again.SendAsync(new { type = "subscribe", topic = "orders", since = received[^1].GetProperty("seq").GetInt64() }, Ct);
        for (var i = 0; i < 5; i++)
        {
            await Fleet.PostAsync(dispatcher, "/api/orders", Fleet.Order(i), Ct);
        }
        var log = await Fleet.AllEventsAsync(await restarted.AdminAsync(Ct), Ct);
        var rest = await again.UntilAsync(all => all.Count(m => m.TryGetProperty("seq", out _)) == log.Count - received.Count);
        received.AddRange(rest.Where(m => m.TryGetProperty("seq", out _)));

        Assert.Equal(log.Select(e => e.GetProperty("seq").GetInt64()), received.Select(m => m.GetProperty("seq").GetInt64()));
        Assert.Equal(received.Count, received.Select(m => m.GetProperty("seq").GetInt64()).Distinct().Count());
        Assert.True(log.Count >= 25);
        var created = log.Where(e => Type(e) == "order.created").Select(e => e.GetProperty("orderId").GetGuid()).ToHashSet();
        Assert.All(acknowledged, id => Assert.Contains(id, created));
    }
}
