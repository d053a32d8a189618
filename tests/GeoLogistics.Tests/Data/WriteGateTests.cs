using System.Net;
using System.Net.Http.Json;
using GeoLogistics.Server.Data;
using GeoLogistics.Server.Events;
using GeoLogistics.Server.Orders;
using GeoLogistics.Server.Tenants;
using GeoLogistics.Tests.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using static GeoLogistics.Tests.Support.HttpTestExtensions;

namespace GeoLogistics.Tests.Data;

/// <summary>On SQLite the server's writers take turns at the write gate (Data/StoreWriteGate) instead of sleeping in SQLite's busy handler.</summary>
public class WriteGateTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Long enough for a turn on a busy machine; a turn never given back would take the gate's 30 s.</summary>
    private static readonly TimeSpan Soon = TimeSpan.FromSeconds(10);

    private static TestApp StartOnSqlite(TestStore store, string connectionOptions = "")
    {
        if (store.IsPostgres)
        {
            Assert.Skip("The write gate is SQLite's; PostgreSQL writers do not take turns.");
        }
        var connection = store.Settings["ConnectionStrings:Sqlite"] + connectionOptions;
        return TestApp.StartOn(store, new Dictionary<string, string?> { ["ConnectionStrings:Sqlite"] = connection });
    }

    private static async Task RenameTenantAsync(AppDb db, string name)
    {
        var tenant = await db.Tenants.OrderBy(t => t.Name).FirstAsync(Ct);
        tenant.Name = name;
        await db.SaveChangesAsync(Ct);
    }

    [Fact]
    public async Task Two_hundred_concurrent_order_creations_all_succeed_though_a_busy_wait_would_fail_after_a_second()
    {
        await using var store = await TestStore.CreateAsync();
        // SQLite's busy handler and Microsoft.Data.Sqlite's retry give up after one second (Default Timeout), with a
        // 503: writers that queued for the file's lock itself would not all get it in time. Taking turns, none waits there.
        await using var app = StartOnSqlite(store, ";Default Timeout=1");
        var dispatcher = await app.DispatcherAsync();
        using var go = new SemaphoreSlim(0);
        var creations = Enumerable.Range(0, 200).Select(_ => Task.Run(async () =>
        {
            await go.WaitAsync(Ct);
            return (await dispatcher.PostAsJsonAsync("/api/orders", NewOrder(), Ct)).StatusCode;
        }, Ct)).ToList();

        go.Release(creations.Count);
        var answers = await Task.WhenAll(creations);

        Assert.True(answers.All(a => a == HttpStatusCode.Created), string.Join(", ", answers.GroupBy(a => a).Select(g => $"{g.Key} x{g.Count()}")));
        Assert.Equal(200, await app.WithDbAsync(db => db.Orders.CountAsync(Ct)));
        await app.WaitForFeedAsync();
        Assert.Equal(200, await app.WithDbAsync(db => db.Events.CountAsync(e => e.Seq != null, Ct)));
    }

    [Fact]
    public async Task A_reader_does_not_wait_for_a_writer_holding_its_turn_and_the_next_writer_waits_until_it_commits()
    {
        await using var store = await TestStore.CreateAsync();
        await using var app = StartOnSqlite(store);
        await using var holding = app.Services.CreateAsyncScope();
        var holder = holding.ServiceProvider.GetRequiredService<AppDb>();
        await using var held = await holder.Database.BeginTransactionAsync(Ct);
        await RenameTenantAsync(holder, "Held Hospital");

        var read = app.WithDbAsync(async db =>
        {
            await using var snapshot = await db.BeginReadAsync(Ct);
            return (await db.Tenants.AsNoTracking().Select(t => t.Name).ToListAsync(Ct), await db.Orders.CountAsync(Ct));
        });
        var (names, _) = await read.WaitAsync(Soon, Ct);
        var writing = app.WithDbAsync(db => RenameTenantAsync(db, "Next Hospital"));
        await Task.Delay(300, Ct);

        Assert.DoesNotContain("Held Hospital", names);
        Assert.False(writing.IsCompleted, "the second writer waits for its turn");
        await held.CommitAsync(Ct);
        await writing.WaitAsync(Soon, Ct);
        Assert.Contains("Next Hospital", await app.WithDbAsync(db => db.Tenants.Select(t => t.Name).ToListAsync(Ct)));
    }

    [Fact]
    public async Task A_write_transaction_disposed_without_commit_gives_its_turn_back()
    {
        await using var store = await TestStore.CreateAsync();
        await using var app = StartOnSqlite(store);

        await app.WithDbAsync(async db =>
        {
            await using var abandoned = await db.Database.BeginTransactionAsync(Ct);
            await RenameTenantAsync(db, "Never Hospital");
        });

        await app.WithDbAsync(db => RenameTenantAsync(db, "Later Hospital")).WaitAsync(Soon, Ct);
        var names = await app.WithDbAsync(db => db.Tenants.Select(t => t.Name).ToListAsync(Ct));
        Assert.Contains("Later Hospital", names);
        Assert.DoesNotContain("Never Hospital", names);
    }

    [Fact]
    public async Task Saves_and_statements_inside_a_write_transaction_take_no_second_turn_and_a_failed_save_gives_its_turn_back()
    {
        await using var store = await TestStore.CreateAsync();
        await using var app = StartOnSqlite(store);
        var dispatcher = await app.DispatcherAsync();
        var order = await (await dispatcher.PostAsJsonAsync("/api/orders", NewOrder(), Ct)).ReadAsync<OrderDto>();

        await app.WithDbAsync(async db =>
        {
            await using var tx = await db.Database.BeginTransactionAsync(Ct);
            await RenameTenantAsync(db, "Nested Hospital");
            await db.Orders.Where(o => o.Id == order.Id).ExecuteUpdateAsync(s => s.SetProperty(o => o.Notes, "nested"), Ct);
            await tx.CommitAsync(Ct);
        }).WaitAsync(Soon, Ct);
        // A save that fails (a stale version) ends its turn too.
        await app.WithDbAsync(async db =>
        {
            var stale = await db.Orders.SingleAsync(o => o.Id == order.Id, Ct);
            stale.Version = 99;
            stale.Notes = "stale";
            db.Entry(stale).Property(o => o.Version).OriginalValue = 99;
            await Assert.ThrowsAsync<DbUpdateConcurrencyException>(() => db.SaveChangesAsync(Ct));
        });

        await app.WithDbAsync(db => RenameTenantAsync(db, "After Hospital")).WaitAsync(Soon, Ct);
        Assert.Equal("nested", (await dispatcher.GetFromJsonAsync<OrderDto>($"/api/orders/{order.Id}", TestApp.Json, Ct))!.Notes);
    }
}
