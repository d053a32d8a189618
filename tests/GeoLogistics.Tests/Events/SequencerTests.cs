using System.Net.Http.Json;
using System.Text.Json;
using GeoLogistics.Server.Data;
using GeoLogistics.Server.Events;
using GeoLogistics.Tests.Support;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using static GeoLogistics.Tests.Support.HttpTestExtensions;

namespace GeoLogistics.Tests.Events;

/// <summary>Events are numbered after commit, by one sequencer (docs/adr/0002).</summary>
public class SequencerTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private sealed record Committed(int Marker, long BeganCommit, long EndedCommit);

    /// <summary>
    /// Long transactions (each holds its event uncommitted for a while, the early starters longest, so they commit
    /// out of start order) beside short ones (orders created over the API), while two readers follow the log with
    /// <c>since</c>. Every committed event gets exactly one seq, the seqs are 1..N without a gap, they follow commit
    /// order (as docs/adr/0002 defines it), and no page a reader got ever skipped a seq.
    /// </summary>
    [Fact]
    public async Task Concurrent_long_and_short_writers_get_gapless_seqs_in_commit_order_and_readers_never_see_a_gap()
    {
        await using var app = await TestApp.StartAsync();
        var admin = await app.AdminAsync();
        var dispatcher = await app.DispatcherAsync();
        var tenant = await app.TenantAsync("Demo Hospital");
        const int longWriters = 30;
        const int shortWriters = 60;
        using var go = new SemaphoreSlim(0);
        var committed = new System.Collections.Concurrent.ConcurrentBag<Committed>();
        var clock = System.Diagnostics.Stopwatch.StartNew();

        async Task LongWriter(int i)
        {
            await go.WaitAsync(Ct);
            await using var scope = app.Services.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<AppDb>();
            var log = scope.ServiceProvider.GetRequiredService<EventLog>();
            await using var tx = await db.Database.BeginTransactionAsync(Ct);
            await log.SaveAsync([new EventRecord { Type = "test.marker", TenantId = tenant.Id, ActorEmail = "test", Data = $$"""{"marker":{{i}}}""" }], Ct);
            await Task.Delay(TimeSpan.FromMilliseconds((longWriters - i) * 10), Ct);
            var began = clock.ElapsedTicks;
            await tx.CommitAsync(Ct);
            committed.Add(new Committed(i, began, clock.ElapsedTicks));
        }

        async Task ShortWriter()
        {
            await go.WaitAsync(Ct);
            (await dispatcher.PostAsJsonAsync("/api/orders", NewOrder(), Ct)).EnsureSuccessStatusCode();
        }

        async Task<List<EventDto>> Follow(Func<bool> written)
        {
            var seen = new List<EventDto>();
            var since = 0L;
            while (true)
            {
                var done = written() && !await app.WithDbAsync(db => db.Events.AnyAsync(e => e.Seq == null, Ct));
                var page = (await admin.GetFromJsonAsync<EventPage>($"/api/events?since={since}&limit=5", TestApp.Json, Ct))!;
                // Never N+1 before N: each page continues exactly where the last ended.
                Assert.Equal(Enumerable.Range(0, page.Events.Count).Select(k => since + 1 + k), page.Events.Select(e => e.Seq));
                seen.AddRange(page.Events);
                since = page.LastSeq;
                if (done && page.Events.Count == 0)
                {
                    return seen;
                }
            }
        }

        var writers = Enumerable.Range(0, longWriters).Select(i => Task.Run(() => LongWriter(i), Ct))
            .Concat(Enumerable.Range(0, shortWriters).Select(_ => Task.Run(ShortWriter, Ct)))
            .ToList();
        var writing = Task.WhenAll(writers);
        var readers = new[] { Task.Run(() => Follow(() => writing.IsCompleted), Ct), Task.Run(() => Follow(() => writing.IsCompleted), Ct) };
        go.Release(longWriters + shortWriters);
        await writing;
        var seenBy = await Task.WhenAll(readers);

        var stored = await app.WithDbAsync(db => db.Events.AsNoTracking().OrderBy(e => e.Id).ToListAsync(Ct));
        Assert.All(stored, e => Assert.NotNull(e.Seq));
        Assert.Equal(longWriters + shortWriters, stored.Count);
        Assert.Equal(Enumerable.Range(1, stored.Count).Select(n => (long)n), stored.Select(e => e.Seq!.Value).Order());
        foreach (var seen in seenBy)
        {
            Assert.Equal(stored.Select(e => e.Seq!.Value).Order(), seen.Select(e => e.Seq));
        }
        // Commit order: a transaction whose commit ended before another's began has the lower seq, unless both were
        // numbered by one batch (both committed before it read the log), which orders them by insertion key.
        var markers = stored.Where(e => e.Type == "test.marker")
            .ToDictionary(e => JsonDocument.Parse(e.Data).RootElement.GetProperty("marker").GetInt32());
        foreach (var a in committed)
        {
            foreach (var b in committed.Where(b => a.EndedCommit < b.BeganCommit))
            {
                var (first, second) = (markers[a.Marker], markers[b.Marker]);
                Assert.True(first.Seq < second.Seq || first.Id > second.Id,
                    $"marker {a.Marker} committed before {b.Marker} began to, yet got seq {first.Seq} > {second.Seq} out of insertion order");
            }
        }
    }

    /// <summary>
    /// On SQLite a writer numbers its own events as it commits (writers take turns there anyway): a reader never sees
    /// a committed event without its seq, whatever wrote it (orders over the API, a booking, a caller's transaction).
    /// </summary>
    [Fact]
    public async Task On_sqlite_events_are_numbered_in_their_own_commit_so_no_reader_sees_one_unnumbered()
    {
        await using var app = await TestApp.StartAsync();
        if (app.Store.IsPostgres)
        {
            Assert.Skip("On PostgreSQL the sequencer numbers events after their commit (docs/adr/0002).");
        }
        var dispatcher = await app.DispatcherAsync();
        var tenant = await app.TenantAsync("Demo Hospital");
        var driverId = (await app.DriverRecordAsync(1)).Id;
        var driver = await app.DriverAsync(1);
        var unnumberedSeen = 0;
        var reads = 0;
        using var stop = new CancellationTokenSource();

        async Task Watch()
        {
            await using var connection = new SqliteConnection(app.Store.Settings["ConnectionStrings:Sqlite"]);
            await connection.OpenAsync(Ct);
            await using var command = new SqliteCommand("""SELECT COUNT(*) FROM "Events" WHERE "Seq" IS NULL""", connection);
            while (!stop.IsCancellationRequested)
            {
                unnumberedSeen += Convert.ToInt32(await command.ExecuteScalarAsync(Ct), System.Globalization.CultureInfo.InvariantCulture);
                reads++;
            }
        }

        async Task CallersTransaction(int i)
        {
            await using var scope = app.Services.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<AppDb>();
            var log = scope.ServiceProvider.GetRequiredService<EventLog>();
            await using var tx = await db.Database.BeginTransactionAsync(Ct);
            await log.SaveAsync([new EventRecord { Type = "test.marker", TenantId = tenant.Id, ActorEmail = "test", Data = $$"""{"marker":{{i}}}""" }], Ct);
            await tx.CommitAsync(Ct);
        }

        var watching = Task.Run(Watch, Ct);
        var created = await Task.WhenAll(Enumerable.Range(0, 40).Select(_ => Task.Run(async () =>
            (await (await dispatcher.PostAsJsonAsync("/api/orders", NewOrder(), Ct)).ReadJsonAsync()).GetProperty("id").GetGuid(), Ct)));
        await Task.WhenAll(Enumerable.Range(0, 40).Select(i => Task.Run(() => CallersTransaction(i), Ct)));
        // A booking (its own statements, in its own transaction).
        (await driver.PostAsJsonAsync("/api/drivers/me/status", new { online = true }, Ct)).EnsureSuccessStatusCode();
        (await dispatcher.PostAsJsonAsync($"/api/orders/{created[0]}/assign", new { driverId }, Ct)).EnsureSuccessStatusCode();
        await stop.CancelAsync();
        await watching;

        Assert.True(reads > 0);
        Assert.Equal(0, unnumberedSeen);
        var stored = await app.WithDbAsync(db => db.Events.AsNoTracking().Select(e => e.Seq).ToListAsync(Ct));
        Assert.Equal(Enumerable.Range(1, stored.Count).Select(n => (long?)n), stored.Order());
        // 40 orders, 40 markers, the driver online, and the booking's order and driver events.
        Assert.True(stored.Count >= 83, $"{stored.Count} events");
    }

    /// <summary>
    /// The process dies after a change committed and before its event was numbered: the row is in the log without a
    /// seq. The next server numbers it when it starts, after everything numbered before, and a client resuming with
    /// <c>since</c> gets it.
    /// </summary>
    [Fact]
    public async Task An_event_committed_but_not_numbered_before_a_crash_is_numbered_and_delivered_after_restart()
    {
        await using var store = await TestStore.CreateAsync();
        long lastSeq;
        await using (var first = TestApp.StartOn(store))
        {
            var dispatcher = await first.DispatcherAsync();
            (await dispatcher.PostAsJsonAsync("/api/orders", NewOrder(), Ct)).EnsureSuccessStatusCode();
            lastSeq = (await (await first.AdminAsync()).GetFromJsonAsync<EventPage>("/api/events?since=0", TestApp.Json, Ct))!.LastSeq;
        }

        // As a change's transaction leaves it: committed, unnumbered; no server is running.
        const string insert = """
            INSERT INTO "Events" ("Type", "Ts", "TenantId", "OrderId", "DriverId", "CustomerId", "ActorUserId", "ActorEmail", "Changed", "Data")
            SELECT 'order.updated', "Ts", "TenantId", "OrderId", "DriverId", "CustomerId", "ActorUserId", "ActorEmail", '["notes"]', "Data"
            FROM "Events" WHERE "Seq" = @last
            """;
        if (store.IsPostgres)
        {
            await using var connection = new NpgsqlConnection(store.PostgresConnectionString);
            await connection.OpenAsync(Ct);
            await using var command = new NpgsqlCommand(insert, connection);
            command.Parameters.AddWithValue("last", lastSeq);
            Assert.Equal(1, await command.ExecuteNonQueryAsync(Ct));
        }
        else
        {
            await using var connection = new SqliteConnection(store.Settings["ConnectionStrings:Sqlite"]);
            await connection.OpenAsync(Ct);
            await using var command = new SqliteCommand(insert, connection);
            command.Parameters.AddWithValue("@last", lastSeq);
            Assert.Equal(1, await command.ExecuteNonQueryAsync(Ct));
        }

        await using var restarted = TestApp.StartOn(store);
        await using var client = await WsClient.ConnectAsync(restarted.ServerUri, await restarted.TokenForAsync("dispatcher@demo.test"), Ct);
        Assert.Equal("connection_ack", (await client.NextAsync()).GetProperty("type").GetString());
        await client.SendAsync(new { type = "subscribe", topic = "orders", since = lastSeq }, Ct);

        var updated = await client.NextAsync("order.updated");
        Assert.Equal(lastSeq + 1, updated.GetProperty("seq").GetInt64());
        var log = (await (await restarted.AdminAsync()).GetFromJsonAsync<EventPage>($"/api/events?since={lastSeq}", TestApp.Json, Ct))!;
        Assert.Equal([(EventTypes.OrderUpdated, lastSeq + 1)], log.Events.Select(e => (e.Type, e.Seq)));
    }
}
