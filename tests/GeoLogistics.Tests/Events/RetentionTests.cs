using System.Net.Http.Json;
using System.Text.Json;
using GeoLogistics.Server.Events;
using GeoLogistics.Server.Realtime.Core;
using GeoLogistics.Tests.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace GeoLogistics.Tests.Events;

/// <summary>Retention of the event log (SPEC §7, §8): pruned to its limits, honest about what is gone, never under a replay.</summary>
public class RetentionTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string Type(JsonElement m) => m.GetProperty("type").GetString()!;

    /// <summary>Keeps the newest 5; prunes only when the test says (the first round at start-up finds little to prune).</summary>
    private static readonly Dictionary<string, string?> KeepFive = new()
    {
        ["Events:Retention:MaxEvents"] = "5",
        ["Events:Retention:Interval"] = "01:00:00",
    };

    private static async Task<List<long>> CreateOrdersAsync(TestApp app, int count)
    {
        var dispatcher = await app.DispatcherAsync();
        for (var i = 0; i < count; i++)
        {
            (await dispatcher.PostAsJsonAsync("/api/orders", HttpTestExtensions.NewOrder(), Ct)).EnsureSuccessStatusCode();
        }
        await app.WaitForFeedAsync();
        return await app.WithDbAsync(db => db.Events.Where(e => e.Seq != null && e.Type.StartsWith("order.")).OrderBy(e => e.Seq).Select(e => e.Seq!.Value).ToListAsync(Ct));
    }

    private static Task<long> OldestAsync(TestApp app) => app.WithDbAsync(async db => await db.Events.MinAsync(e => e.Seq, Ct) ?? 0);

    [Fact]
    public async Task The_log_is_pruned_to_its_limit_and_a_since_before_the_oldest_gets_replay_unavailable()
    {
        await using var app = await TestApp.StartAsync(KeepFive);
        await CreateOrdersAsync(app, 12);
        var head = await app.WithDbAsync(async db => await db.Events.MaxAsync(e => e.Seq, Ct) ?? 0);

        var deleted = await app.Services.GetRequiredService<EventRetention>().PruneAsync(Ct);

        var oldest = await OldestAsync(app);
        Assert.Equal(head - 4, oldest);
        Assert.True(deleted > 0);
        Assert.Equal(5, await app.WithDbAsync(db => db.Events.CountAsync(e => e.Seq != null, Ct)));
        await using var client = await WsClient.ConnectAsync(app.ServerUri, await app.TokenForAsync("admin@demo.test"), Ct);
        await client.NextAsync("connection_ack");
        await client.SendAsync(new { type = "subscribe", topic = "orders", since = 0 }, Ct);
        var unavailable = await client.NextAsync("replay_unavailable");
        Assert.Equal((0L, oldest), (unavailable.GetProperty("since").GetInt64(), unavailable.GetProperty("oldestSeq").GetInt64()));
        await client.NextAsync("subscribed");
        // Resuming from just before the oldest kept is fine: exactly what is kept.
        await client.SendAsync(new { type = "subscribe", id = "kept", topic = "orders", since = oldest - 1 }, Ct);
        var replayed = await client.UntilAsync(all => all.Any(m => Type(m) == "subscribed"));
        Assert.DoesNotContain(replayed, m => Type(m) == "replay_unavailable");
        Assert.Equal(
            await app.WithDbAsync(db => db.Events.Where(e => e.Type.StartsWith("order.")).OrderBy(e => e.Seq).Select(e => e.Seq!.Value).ToListAsync(Ct)),
            replayed.Where(m => m.TryGetProperty("seq", out _)).Select(m => m.GetProperty("seq").GetInt64()));
    }

    [Fact]
    public async Task A_replay_in_progress_is_not_pruned_under_it_and_gets_the_log_without_a_gap()
    {
        // Pages of 10 at two pages a second (each page is paid from the client's message budget): a replay of 100 events
        // is still running when the test prunes.
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?>(KeepFive)
        {
            ["Realtime:ReplayPageSize"] = "10",
            ["Realtime:MaxMessagesPerSecond"] = "2",
        });
        var log = await CreateOrdersAsync(app, 100);
        var subscriptions = app.Services.GetRequiredService<Subscriptions>();
        var retention = app.Services.GetRequiredService<EventRetention>();
        await using var client = await WsClient.ConnectAsync(app.ServerUri, await app.TokenForAsync("admin@demo.test"), Ct);
        await client.NextAsync("connection_ack");

        await client.SendAsync(new { type = "subscribe", topic = "orders", since = 0 }, Ct);
        using (var patience = new CancellationTokenSource(TimeSpan.FromSeconds(15)))
        {
            while (subscriptions.Lowest is not > 0)
            {
                await Task.Delay(10, patience.Token);
            }
        }
        var floor = subscriptions.Lowest!.Value;
        Assert.True(floor < log[^1] - 5, "the replay was still near the start when pruning ran");
        await retention.PruneAsync(Ct);
        var oldestDuring = await OldestAsync(app);
        // The replay only moves forward, and may have read its next page meanwhile: every prune so far saw a floor at
        // most this one (read after the oldest event was).
        var floorAfter = subscriptions.Lowest ?? log[^1];
        var replayed = await client.UntilAsync(all => all.Any(m => Type(m) == "subscribed"), TimeSpan.FromSeconds(60));
        await retention.PruneAsync(Ct);

        Assert.True(oldestDuring <= floorAfter + 1, $"pruned up to {oldestDuring - 1}, past the replay at {floorAfter}");
        Assert.DoesNotContain(replayed, m => Type(m) == "replay_unavailable");
        Assert.Equal(log, replayed.Where(m => m.TryGetProperty("seq", out _)).Select(m => m.GetProperty("seq").GetInt64()));
        Assert.Null(subscriptions.Lowest);
        Assert.Equal(log[^1] - 4, await OldestAsync(app));
    }
}
