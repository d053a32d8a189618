using System.Collections.Concurrent;
using System.Net.Http.Json;
using System.Text.Json;
using GeoLogistics.Server.Data;
using GeoLogistics.Server.Events;
using GeoLogistics.Tests.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using static GeoLogistics.Tests.Support.HttpTestExtensions;

namespace GeoLogistics.Tests.Events;

public class EventLogTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>
    /// Writers start together; each holds its transaction open for a while after writing its event and before
    /// committing, so transactions commit in another order than they started and wrote. A reader that keeps asking
    /// for <c>since=last</c> meanwhile must still end with every event exactly once, in seq order.
    /// </summary>
    [Fact]
    public async Task A_reader_following_since_gets_every_event_once_in_order_while_writers_commit_out_of_start_order()
    {
        await using var app = await TestApp.StartAsync();
        var admin = await app.AdminAsync();
        var dispatcher = await app.DispatcherAsync();
        var tenant = await app.TenantAsync("Demo Hospital");
        const int heldWriters = 24;
        const int restWriters = 24;
        using var go = new SemaphoreSlim(0);

        async Task HeldWriter(int i)
        {
            await go.WaitAsync(Ct);
            await using var scope = app.Services.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<AppDb>();
            var log = scope.ServiceProvider.GetRequiredService<EventLog>();
            await using var tx = await db.Database.BeginTransactionAsync(Ct);
            await log.SaveAsync([new EventRecord { Type = "test.marker", TenantId = tenant.Id, ActorEmail = "test", Data = $$"""{"marker":{{i}}}""" }], Ct);
            // Early starters hold on longest: they commit last.
            await Task.Delay(TimeSpan.FromMilliseconds((heldWriters - i) * 3), Ct);
            await tx.CommitAsync(Ct);
        }

        async Task RestWriter()
        {
            await go.WaitAsync(Ct);
            var response = await dispatcher.PostAsJsonAsync("/api/orders", NewOrder(), Ct);
            response.EnsureSuccessStatusCode();
        }

        var writers = Enumerable.Range(0, heldWriters).Select(i => Task.Run(() => HeldWriter(i), Ct))
            .Concat(Enumerable.Range(0, restWriters).Select(_ => Task.Run(RestWriter, Ct)))
            .ToList();
        var seen = new List<EventDto>();
        var since = 0L;
        go.Release(heldWriters + restWriters);
        var allWritten = Task.WhenAll(writers);
        while (true)
        {
            var done = allWritten.IsCompleted;
            var page = await admin.GetFromJsonAsync<EventPage>($"/api/events?since={since}&limit=7", TestApp.Json, Ct);
            seen.AddRange(page!.Events);
            since = page.LastSeq;
            // Events are numbered after commit: once every writer is done, read on until all of them are there.
            if (done && page.Events.Count == 0 && seen.Count >= heldWriters + restWriters)
            {
                break;
            }
        }
        await allWritten;

        Assert.Equal(heldWriters + restWriters, seen.Count);
        Assert.Equal(seen.Select(e => e.Seq).Order(), seen.Select(e => e.Seq));
        Assert.Equal(seen.Count, seen.Select(e => e.Seq).Distinct().Count());
        var markers = seen.Where(e => e.Type == "test.marker").Select(e => JsonDocument.Parse(e.Data.Json).RootElement.GetProperty("marker").GetInt32());
        Assert.Equal(Enumerable.Range(0, heldWriters), markers.Order());
        var stored = await app.WithDbAsync(db => db.Events.Where(e => e.Seq != null).OrderBy(e => e.Seq).Select(e => e.Seq!.Value).ToListAsync(Ct));
        Assert.Equal(seen.Select(e => e.Seq), stored);
    }

    [Fact]
    public async Task A_failed_change_leaves_no_event_and_uses_no_seq_a_reader_would_wait_for()
    {
        await using var app = await TestApp.StartAsync();
        var tenant = await app.TenantAsync("Demo Hospital");

        await using (var scope = app.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<AppDb>();
            var log = scope.ServiceProvider.GetRequiredService<EventLog>();
            await using var tx = await db.Database.BeginTransactionAsync(Ct);
            await log.SaveAsync([new EventRecord { Type = "test.marker", TenantId = tenant.Id, ActorEmail = "test" }], Ct);
            await tx.RollbackAsync(Ct);
        }
        var admin = await app.AdminAsync();
        await admin.PostAsJsonAsync("/api/orders", NewOrder(tenant.Id), Ct);

        var page = await admin.GetFromJsonAsync<EventPage>("/api/events?since=0", TestApp.Json, Ct);
        var only = Assert.Single(page!.Events);
        Assert.Equal((EventTypes.OrderCreated, 1L), (only.Type, only.Seq));
    }

    [Theory]
    [InlineData("limit=0")]
    [InlineData("limit=5000")]
    [InlineData("since=-1")]
    public async Task Bad_log_queries_answer_400(string query)
    {
        await using var app = await TestApp.StartAsync();

        var response = await (await app.AdminAsync()).GetAsync($"/api/events?{query}", Ct);

        Assert.Equal(System.Net.HttpStatusCode.BadRequest, response.StatusCode);
    }
}
