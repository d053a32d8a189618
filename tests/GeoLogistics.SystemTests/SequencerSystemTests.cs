using System.Net.Http.Json;
using System.Text.Json;
using GeoLogistics.Tests.Support;
using Npgsql;

namespace GeoLogistics.SystemTests;

/// <summary>One sequencer per PostgreSQL store, elected among the nodes, and taken over when its node dies.</summary>
public class SequencerSystemTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string Type(JsonElement m) => m.GetProperty("type").GetString()!;

    private static long Seq(JsonElement m) => m.GetProperty("seq").GetInt64();

    /// <summary>The process whose connection holds the sequencer's advisory lock (it names itself in pg_stat_activity).</summary>
    private static async Task<int?> SequencerProcessAsync(TestStore store)
    {
        await using var connection = new NpgsqlConnection(store.PostgresConnectionString);
        await connection.OpenAsync(Ct);
        await using var command = new NpgsqlCommand("""
            SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE l.locktype = 'advisory' AND l.granted AND a.datname = current_database()
            """, connection);
        return await command.ExecuteScalarAsync(Ct) is string name && name.StartsWith("geologistics-sequencer-", StringComparison.Ordinal)
            ? int.Parse(name["geologistics-sequencer-".Length..], System.Globalization.CultureInfo.InvariantCulture)
            : null;
    }

    private static async Task<long> UnnumberedAsync(TestStore store)
    {
        await using var connection = new NpgsqlConnection(store.PostgresConnectionString);
        await connection.OpenAsync(Ct);
        await using var command = new NpgsqlCommand("""SELECT count(*) FROM "Events" WHERE "Seq" IS NULL""", connection);
        return (long)(await command.ExecuteScalarAsync(Ct))!;
    }

    private static async Task<string> TokenAsync(ServerProcess server, string email, string password)
    {
        using var http = new HttpClient { BaseAddress = server.Address };
        var login = await (await http.PostAsJsonAsync("/api/auth/login", new { email, password }, Ct)).Content.ReadFromJsonAsync<JsonElement>(Ct);
        return login.GetProperty("accessToken").GetString()!;
    }

    /// <summary>
    /// Two nodes on one PostgreSQL, both taking orders; the node that numbers events is killed with <c>kill -9</c>
    /// mid-burst. The other takes over: every committed event ends up numbered exactly once, 1..N with no gap, and a
    /// client that followed the killed node and resumes on the survivor with <c>since</c> gets exactly the log.
    /// </summary>
    [Fact]
    public async Task When_the_sequencer_node_is_killed_the_other_node_takes_over_and_no_event_is_lost_or_numbered_twice()
    {
        if (TestStore.PostgresServer is null)
        {
            Assert.Skip("Several nodes need PostgreSQL: set GEOLOGISTICS_TEST_POSTGRES.");
        }
        await using var store = await TestStore.CreateAsync();
        var first = await ServerProcess.StartAsync(store, Ct);
        await Fleet.CreateAsync(first, drivers: 0, Ct);
        var second = await ServerProcess.StartAsync(store, Ct);
        int? holder = null;
        while ((holder = await SequencerProcessAsync(store)) is null)
        {
            await Task.Delay(50, Ct);
        }
        var (victim, survivor) = holder == first.ProcessId ? (first, second) : (second, first);
        Assert.Equal(victim.ProcessId, holder);

        var onVictim = await victim.LoginAsync("dispatch@system.test", "fleet-password", Ct);
        var onSurvivor = await survivor.LoginAsync("dispatch@system.test", "fleet-password", Ct);
        var received = new List<JsonElement>();
        await using (var client = await WsClient.ConnectAsync(victim.Address, await TokenAsync(victim, "dispatch@system.test", "fleet-password"), Ct))
        {
            Assert.Equal("connection_ack", Type(await client.NextAsync()));
            await client.SendAsync(new { type = "subscribe", topic = "orders", since = 0 }, Ct);
            for (var i = 0; i < 10; i++)
            {
                await Fleet.PostAsync(i % 2 == 0 ? onVictim : onSurvivor, "/api/orders", Fleet.Order(i), Ct);
            }
            received.AddRange((await client.UntilAsync(all => all.Count(m => m.TryGetProperty("seq", out _)) == 10)).Where(m => m.TryGetProperty("seq", out _)));

            // Both nodes keep writing while the sequencer's node dies.
            using var stop = new CancellationTokenSource();
            async Task Write(HttpClient node)
            {
                for (var i = 0; !stop.IsCancellationRequested; i++)
                {
                    try
                    {
                        await node.PostAsJsonAsync("/api/orders", Fleet.Order(i), Ct);
                    }
                    catch (HttpRequestException)
                    {
                        // The killed node: the request may or may not have committed.
                        return;
                    }
                }
            }
            var writers = new[] { Write(onVictim), Write(onVictim), Write(onSurvivor), Write(onSurvivor) };
            received.AddRange((await client.UntilAsync(all => all.Count(m => m.TryGetProperty("seq", out _)) >= 10)).Where(m => m.TryGetProperty("seq", out _)));
            victim.KillHard();
            received.AddRange(client.Drain().Where(m => m.TryGetProperty("seq", out _)));
            // The survivor takes over and numbers what the victim left, and what it writes itself.
            while (await SequencerProcessAsync(store) != survivor.ProcessId)
            {
                await Task.Delay(50, Ct);
            }
            await Fleet.PostAsync(onSurvivor, "/api/orders", Fleet.Order(0), Ct);
            var afterKill = Seq((await Fleet.AllEventsAsync(await survivor.AdminAsync(Ct), Ct))[^1]);
            await stop.CancelAsync();
            await Task.WhenAll(writers);
            Assert.True(afterKill > Seq(received[^1]));
        }
        await victim.DisposeAsync();

        // Everything committed is numbered: nothing waits without a seq once the survivor has run.
        while (await UnnumberedAsync(store) > 0)
        {
            await Task.Delay(50, Ct);
        }
        var log = await Fleet.AllEventsAsync(await survivor.AdminAsync(Ct), Ct);
        Assert.Equal(Enumerable.Range(1, log.Count).Select(n => (long)n), log.Select(Seq));

        await using var again = await WsClient.ConnectAsync(survivor.Address, await TokenAsync(survivor, "dispatch@system.test", "fleet-password"), Ct);
        Assert.Equal("connection_ack", Type(await again.NextAsync()));
        await again.SendAsync(new { type = "subscribe", topic = "orders", since = Seq(received[^1]) }, Ct);
        var orderEvents = log.Where(e => Type(e).StartsWith("order.", StringComparison.Ordinal)).ToList();
        var expected = orderEvents.Count(e => Seq(e) > Seq(received[^1]));
        var rest = await again.UntilAsync(all => all.Count(m => m.TryGetProperty("seq", out _)) == expected);
        received.AddRange(rest.Where(m => m.TryGetProperty("seq", out _)));

        Assert.Equal(orderEvents.Select(Seq), received.Select(Seq));
        await survivor.DisposeAsync();
    }
}
