using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Realtime.Core;
using GeoLogistics.Server.Users;
using GeoLogistics.Tests.Support;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using static GeoLogistics.Tests.Support.HttpTestExtensions;

namespace GeoLogistics.Tests.Realtime;

/// <summary>
/// The live core under the JSON protocol with thousands of sockets on one server: correctness, not speed. Each
/// socket's durable events are compared with what the REST log shows its user (SPEC §2), narrowed by the socket's
/// own topics and filters, exactly: in seq order, with no gap, no duplicate and nothing more.
/// </summary>
[Collection(RunsAlone.Name)]
public class LiveCoreManySocketsTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private const int Sockets = 2000;
    private const int Tenants = 4;
    private const int DispatchersPerTenant = 15;
    private const int CustomersPerTenant = 2;
    private const int OrdersPerTenant = 16;

    private sealed record Member(string Email, string Role, int Tenant, string Token);

    /// <summary>One subscription: a topic, optional filters, and whether the user may have it.</summary>
    private sealed record Sub(string Topic, Guid? TenantId = null, string[]? Statuses = null, string? Kind = null, bool Forbidden = false)
    {
        public bool Wants(JsonElement e)
        {
            var type = e.GetProperty("type").GetString()!;
            var inTopic = Topic == "orders"
                ? type.StartsWith("order.", StringComparison.Ordinal)
                : e.TryGetProperty("tenantId", out var tenant) && tenant.ValueKind == JsonValueKind.String && tenant.GetGuid() == TenantId;
            var data = e.GetProperty("data");
            return inTopic &&
                (Statuses is null || Statuses.Contains(data.GetProperty("status").GetString())) &&
                (Kind is null || (data.TryGetProperty("kind", out var kind) && kind.ValueKind == JsonValueKind.String && kind.GetString() == Kind));
        }

        public override string ToString() =>
            $"{(TenantId is { } t ? $"tenant:{t}" : Topic)}{(Statuses is null ? "" : $" status {string.Join(",", Statuses)}")}{(Kind is null ? "" : $" kind {Kind}")}{(Forbidden ? " (forbidden)" : "")}";

        public object Message(string id, long? since) => new
        {
            type = "subscribe",
            id,
            topic = TenantId is { } t ? $"tenant:{t}" : Topic,
            filters = Statuses is null && Kind is null ? null : new { status = Statuses, kind = Kind },
            since,
        };
    }

    /// <summary>What one socket asks for. A late one comes while orders are being written, and asks from seq 0.</summary>
    private sealed record Plan(int Index, Member User, Sub[] Subs, bool Late);

    private static Sub[] SubsFor(Member user, int variant, IReadOnlyList<Guid> tenants)
    {
        var own = tenants[user.Tenant];
        var other = tenants[(user.Tenant + 1) % tenants.Count];
        return user.Role switch
        {
            "admin" => (variant % 4) switch
            {
                0 => [new("orders")],
                1 => [new("tenant", tenants[variant % tenants.Count])],
                2 => [new("orders", Statuses: ["CONFIRMED"])],
                _ => [new("orders", Kind: "OB"), new("tenant", tenants[0])],
            },
            "dispatcher" => (variant % 7) switch
            {
                0 => [new("orders")],
                1 => [new("orders", Statuses: ["PENDING"])],
                2 => [new("orders", Statuses: ["CONFIRMED", "CANCELLED"])],
                3 => [new("orders", Kind: "IB")],
                4 => [new("tenant", own)],
                5 => [new("orders"), new("tenant", own)],
                _ => [new("tenant", other, Forbidden: true), new("orders", Statuses: ["CANCELLED"], Kind: "OB")],
            },
            _ => (variant % 3) switch
            {
                0 => [new("orders")],
                1 => [new("orders", Statuses: ["PENDING", "CONFIRMED"])],
                _ => [new("tenant", own, Forbidden: true), new("orders", Kind: "IB")],
            },
        };
    }

    private static async Task<Guid> CreatedIdAsync(HttpResponseMessage response)
    {
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.ReadJsonAsync()).GetProperty("id").GetGuid();
    }

    /// <summary>Opens the socket, and subscribes as planned; returns once every subscription is answered.</summary>
    private static async Task<FeedClient> OpenAsync(TestApp app, Plan plan)
    {
        var client = await FeedClient.ConnectAsync(app.ServerUri, plan.User.Token, Ct);
        try
        {
            for (var i = 0; i < plan.Subs.Length; i++)
            {
                await client.SendAsync(plan.Subs[i].Message($"s{i}", plan.Late ? 0 : null), Ct);
            }
            var answers = await client.UntilAsync(all => all.Count(m => m.Type is "subscribed" or "error") == plan.Subs.Length, TimeSpan.FromSeconds(30));
            Assert.Equal(plan.Subs.Where(s => s.Forbidden).Select(_ => "forbidden"), answers.Where(m => m.Type == "error").Select(m => m.Code));
            return client;
        }
        catch
        {
            await client.DisposeAsync();
            throw;
        }
    }

    private static async Task<List<JsonElement>> LogAsSeenByAsync(TestApp app, string token)
    {
        var client = app.ClientWithToken(token);
        var all = new List<JsonElement>();
        while (true)
        {
            var since = all.Count == 0 ? 0 : all[^1].GetProperty("seq").GetInt64();
            var page = await client.GetFromJsonAsync<JsonElement>($"/api/events?since={since}&limit=1000", Ct);
            var events = page.GetProperty("events").EnumerateArray().ToList();
            if (events.Count == 0)
            {
                return all;
            }
            all.AddRange(events);
        }
    }

    [Fact]
    public async Task Two_thousand_sockets_each_get_exactly_the_events_their_user_may_see_and_asked_for_in_seq_order()
    {
        var clock = Stopwatch.StartNew();
        await using var app = await TestApp.StartAsync();
        var admin = await app.AdminAsync();
        var tenants = new List<Guid>();
        for (var t = 0; t < Tenants; t++)
        {
            tenants.Add(await CreatedIdAsync(await admin.PostAsJsonAsync("/api/tenants", new { name = $"Dock {t}" }, Ct)));
        }
        // Many users, so that no one holds more sockets than Realtime:MaxConnectionsPerUser (32) allows; made in the
        // store at once, as the seed makes its users, and each given a session as a login would.
        var accounts = new List<(string Email, Role Role, int Tenant)>();
        accounts.AddRange(Enumerable.Range(1, 3).Select(a => ($"admin{a}@load.test", Role.Admin, 0)));
        for (var t = 0; t < Tenants; t++)
        {
            accounts.AddRange(Enumerable.Range(0, DispatchersPerTenant).Select(d => ($"dispatcher{d}.{t}@load.test", Role.Dispatcher, t)));
            accounts.AddRange(Enumerable.Range(0, CustomersPerTenant).Select(c => ($"customer{c}.{t}@load.test", Role.Customer, t)));
        }
        var made = await app.WithDbAsync(async db =>
        {
            var hasher = app.Services.GetRequiredService<IPasswordHasher<User>>();
            var now = app.Services.GetRequiredService<TimeProvider>();
            var added = new List<(User User, int Tenant)> { (await db.Users.SingleAsync(u => u.Email == "admin@demo.test", Ct), 0) };
            foreach (var (email, role, tenant) in accounts)
            {
                var tenantId = role == Role.Dispatcher ? tenants[tenant] : (Guid?)null;
                added.Add(((await UserAccounts.NewUserAsync(db, hasher, now, email, "load-test-password", role, tenantId, email, Ct))!, tenant));
            }
            await db.SaveChangesAsync(Ct);
            return added;
        });
        var sessions = app.Services.GetRequiredService<Sessions>();
        var users = new Member[made.Count];
        await Parallel.ForEachAsync(Enumerable.Range(0, made.Count), new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = Ct }, async (i, ct) =>
        {
            var (user, tenant) = made[i];
            users[i] = new Member(user.Email, Caller.RoleName(user.Role), tenant, (await sessions.StartAsync(user.ToCaller(driverId: null), ct)).AccessToken);
        });
        Assert.True((Sockets + users.Length - 1) / users.Length <= 32, "no user is over the socket cap");
        var setUp = clock.Elapsed;
        Assert.Empty(await LogAsSeenByAsync(app, users[0].Token));

        // Socket i is user i mod n's; its place among that user's sockets picks what it asks for.
        var plans = Enumerable.Range(0, Sockets)
            .Select(i => users[i % users.Length] is var user && SubsFor(user, i / users.Length, tenants) is var subs && i % 5 == 0
                // A late socket replays with since=0: one subscription, or it would get the log once per subscription.
                ? new Plan(i, user, [subs.First(s => !s.Forbidden)], Late: true)
                : new Plan(i, user, subs, Late: false))
            .ToList();
        var clients = new FeedClient?[Sockets];
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = 64, CancellationToken = Ct };
        try
        {
            await Parallel.ForEachAsync(plans.Where(p => !p.Late), parallel, async (plan, _) => clients[plan.Index] = await OpenAsync(app, plan));
            var opened = clock.Elapsed;

            // Orders written in every tenant at once by its first dispatcher and its customers: every event is written
            // after the early sockets subscribed. The late sockets come in four waves while the log grows, so that
            // their replays meet live events at the switch-over.
            var total = Tenants * (OrdersPerTenant + (OrdersPerTenant / 2) + (OrdersPerTenant / 3));
            var writing = Parallel.ForEachAsync(Enumerable.Range(0, Tenants), new ParallelOptions { MaxDegreeOfParallelism = Tenants, CancellationToken = Ct }, async (t, ct) =>
            {
                var dispatcher = app.ClientWithToken(users.First(u => u.Role == "dispatcher" && u.Tenant == t).Token);
                var customers = users.Where(u => u.Role == "customer" && u.Tenant == t).Select(u => app.ClientWithToken(u.Token)).ToList();
                for (var n = 0; n < OrdersPerTenant; n++)
                {
                    var by = n % 4 == 3 ? customers[n % customers.Count] : dispatcher;
                    var id = await CreatedIdAsync(await by.PostAsJsonAsync("/api/orders", NewOrder(tenants[t], n % 2 == 0 ? "IB" : "OB"), ct));
                    if (n % 2 == 1)
                    {
                        Assert.Equal(HttpStatusCode.OK, (await dispatcher.PostAsJsonAsync($"/api/orders/{id}/status", new { status = "CONFIRMED" }, ct)).StatusCode);
                    }
                    if (n % 3 == 2)
                    {
                        Assert.Equal(HttpStatusCode.OK, (await dispatcher.PostAsync($"/api/orders/{id}/cancel", null, ct)).StatusCode);
                    }
                    await Task.Delay(50, ct);
                }
            });
            var hub = app.Services.GetRequiredService<LiveHub>();
            var late = plans.Where(p => p.Late).ToList();
            for (var wave = 0; wave < 4; wave++)
            {
                while (hub.Head < total * (wave + 1) / 6 && !writing.IsCompleted)
                {
                    await Task.Delay(10, Ct);
                }
                await Parallel.ForEachAsync(late.Where((_, i) => i % 4 == wave), parallel, async (plan, _) => clients[plan.Index] = await OpenAsync(app, plan));
            }
            var lateOpened = clock.Elapsed;
            await writing;
            var written = clock.Elapsed;
            await app.WaitForFeedAsync();

            var logs = new Dictionary<string, List<JsonElement>>();
            foreach (var user in users)
            {
                logs[user.Email] = await LogAsSeenByAsync(app, user.Token);
            }
            Assert.Equal(total, logs[users[0].Email].Count);
            // Some late sockets came while the log was being written (their replay met live events), not all after.
            var lateHeads = plans.Where(p => p.Late).Select(p => clients[p.Index]!.SoFar.First(m => m.Type == "connection_ack").HeadSeq).ToList();
            var midWrite = lateHeads.Count(head => head > 0 && head < total);
            Assert.True(midWrite > 0, $"no late socket connected while orders were being written: heads {string.Join(",", lateHeads.Distinct())}");
            var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
            var delivered = 0L;
            await Parallel.ForEachAsync(plans, parallel, async (plan, _) =>
            {
                var expected = logs[plan.User.Email]
                    .Where(e => plan.Subs.Any(s => !s.Forbidden && s.Wants(e)))
                    .Select(e => e.GetProperty("seq").GetInt64()).ToList();
                var client = clients[plan.Index]!;
                // The feed has handed every event to the sockets' queues, and every late socket has gone live: what
                // the answer to a ping finds queued before it is all that socket will ever get.
                await client.SendAsync(new { type = "ping" }, Ct);
                var all = await client.UntilAsync(all => all.Count > 0 && all[^1].Type == "pong", TimeSpan.FromSeconds(30));
                var seqs = all.Where(m => m.Seq is not null).Select(m => m.Seq!.Value).ToList();
                Interlocked.Add(ref delivered, seqs.Count);
                if (!seqs.SequenceEqual(expected))
                {
                    failures.Add($"socket {plan.Index} ({plan.User.Email}, {string.Join(" + ", plan.Subs)}{(plan.Late ? ", since 0" : "")}): " +
                        $"expected [{string.Join(",", expected)}], got [{string.Join(",", seqs)}]");
                }
            });

            Assert.True(failures.IsEmpty, $"{failures.Count} of {Sockets} sockets:\n{string.Join("\n", failures.Take(20))}");
            TestContext.Current.TestOutputHelper?.WriteLine(
                $"users made by {setUp.TotalSeconds:F1}s, {Sockets - late.Count} sockets opened by {opened.TotalSeconds:F1}s, {late.Count} late ones " +
                $"({midWrite} connected mid-write) by {lateOpened.TotalSeconds:F1}s, written by {written.TotalSeconds:F1}s, " +
                $"{delivered} events delivered and checked by {clock.Elapsed.TotalSeconds:F1}s");
        }
        finally
        {
            await Parallel.ForEachAsync(clients.OfType<FeedClient>(), new ParallelOptions { MaxDegreeOfParallelism = 64 }, async (client, _) => await client.DisposeAsync());
        }
    }
}
