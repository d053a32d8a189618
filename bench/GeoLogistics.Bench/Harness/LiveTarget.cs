using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;

namespace GeoLogistics.Bench.Harness;

/// <summary>An order creation as the load generator saw it: the id the subscribers will see, the answer, and when.</summary>
public readonly record struct Posted(Guid? OrderId, int Status, long SentAt, long AnsweredAt);

/// <summary>
/// One side of a live-path comparison (SPEC §12). Our server: an order created over REST (<c>POST /api/orders</c>)
/// reaches every subscriber of <c>orders</c> as <c>order.created</c>. The bare broadcaster: the same
/// <c>order.created</c> message, posted to its <c>POST /api/orders</c>, is sent as it is to every socket. The bench
/// opens and reads both sides' sockets with the same client code. The plain SignalR app takes the same POST and sends
/// the event to its hub's subscribers, which the bench's SignalR client reads as it reads our hub's.
/// </summary>
public sealed class LiveTarget : IAsyncDisposable
{
    public static readonly IReadOnlyList<BenchOption> Options =
    [
        new("only", "server, broadcaster, or both (our server first, then the broadcaster under the same load)", "both"),
        new("zero-byte-reads", "the broadcaster waits on each idle socket with a zero-byte read instead of holding a 4 KiB buffer", IsFlag: true),
        Subscribers.Option,
    ];

    /// <summary>Only where the plain SignalR app's run is wired in: <c>connections</c> and <c>fanout-load</c>.</summary>
    public static readonly BenchOption PlainSignalR = new("plain-signalr",
        "also run the plain SignalR app (bench/GeoLogistics.Bench.PlainSignalR) last, with signalr subscribers under the same load: the reference of our SignalR adapter",
        IsFlag: true);

    /// <summary>
    /// Sent by the broadcaster when our server did not run first (<c>--only broadcaster</c>): an <c>order.created</c>
    /// as our server wrote it (same fields, same size within a few bytes); its order id is replaced in each message.
    /// </summary>
    private const string FallbackOrderCreated =
        """{"type":"order.created","seq":1,"ts":"2026-01-01T12:00:00.000000+00:00","tenantId":"6a0c59a4-04d9-4c4b-9a8e-3e8a1f0b6a11","orderId":"00000000-0000-0000-0000-000000000001","driverId":null,"actor":{"userId":"0b4b8b9e-7a0e-4c8a-8f5f-9a1c2d3e4f50","email":"dispatcher@bench.test"},"changed":[],"data":{"id":"00000000-0000-0000-0000-000000000001","number":"GLO-20260101-000001","tenantId":"6a0c59a4-04d9-4c4b-9a8e-3e8a1f0b6a11","customerId":null,"status":"PENDING","version":1,"pickup":{"lat":52.35613,"lng":4.891277,"address":null},"dropoff":{"lat":52.41035,"lng":4.80441,"address":null},"driverId":null,"etaMinutes":null,"priority":0,"kind":null,"notes":null,"dispatchWhen":"ready","createdAt":"2026-01-01T12:00:00.000000+00:00","updatedAt":"2026-01-01T12:00:00.000000+00:00","assignedAt":null,"pickedUpAt":null,"deliveredAt":null,"cancelledAt":null}}""";

    private readonly BenchStore? store;
    private readonly string? dispatcherToken;
    private readonly string? dispatchWhen;
    private readonly string? message;
    private readonly string? messageOrderId;

    private LiveTarget(ServerProcess process, Api api, BenchStore? store, string socketToken, string? dispatcherToken, string? dispatchWhen, string? message)
    {
        Process = process;
        Api = api;
        this.store = store;
        SocketToken = socketToken;
        this.dispatcherToken = dispatcherToken;
        this.dispatchWhen = dispatchWhen;
        if (message is not null)
        {
            this.message = message;
            using var doc = JsonDocument.Parse(message);
            messageOrderId = doc.RootElement.GetProperty("orderId").GetString();
        }
    }

    public ServerProcess Process { get; }

    /// <summary><c>server</c>, <c>broadcaster</c> or <c>plain-signalr</c>.</summary>
    public string Name => Process.Name;

    public Api Api { get; }

    /// <summary>The bearer token the sockets present: the admin's on our server; ignored by the references.</summary>
    public string SocketToken { get; }

    /// <summary>The size of each message posted to a reference; null for our server.</summary>
    public int? MessageBytes => message is null ? null : Encoding.UTF8.GetByteCount(message);

    /// <summary>CPU seconds of the PostgreSQL cluster so far, when the store is a local one; null otherwise.</summary>
    public double? DatabaseCpuSeconds() => store?.DatabaseCpuSeconds();

    /// <summary>
    /// What runs, in order, each its own process with its own subscribers: the sides <c>--only</c> asks for, with JSON
    /// subscribers; or, when <c>--protocols</c> names another protocol, our server once per protocol named (the
    /// broadcaster speaks only JSON). With <c>--plain-signalr</c>, the plain SignalR app last, with SignalR subscribers.
    /// </summary>
    public static IReadOnlyList<(string Side, string Protocol)> Runs(BenchArgs args)
    {
        var runs = OurRuns(args);
        return args.Has(PlainSignalR.Name) ? [.. runs, (ServerProcess.PlainSignalR, Subscribers.SignalR)] : runs;
    }

    private static IReadOnlyList<(string Side, string Protocol)> OurRuns(BenchArgs args)
    {
        var protocols = Subscribers.Parse(args);
        if (protocols is [Subscribers.Json])
        {
            return [.. Sides(args).Select(side => (side, Subscribers.Json))];
        }
        if (args.Has("only") && args.String("only") != "server")
        {
            throw new BenchException("--protocols compares our server's protocols, one run each; the broadcaster speaks only JSON: leave out --only.");
        }
        return [.. protocols.Select(protocol => ("server", protocol))];
    }

    private static IReadOnlyList<string> Sides(BenchArgs args) => args.String("only") switch
    {
        null or "both" => ["server", "broadcaster"],
        "server" => ["server"],
        "broadcaster" => ["broadcaster"],
        var other => throw new BenchException($"--only is server, broadcaster or both, not '{other}'."),
    };

    /// <summary>
    /// Our server on a fresh store, its admin logged in, a tenant and dispatcher made.
    /// <paramref name="dispatchWhen"/> is the orders' <c>dispatchWhen</c>: <c>ready</c> keeps them out of dispatch (no
    /// drivers exist here, so <c>created</c> adds an <c>order.dispatch_failed</c> to every subscriber per order).
    /// </summary>
    public static async Task<LiveTarget> StartServerAsync(BenchArgs args, string dispatchWhen, CancellationToken ct)
    {
        if (dispatchWhen is not ("created" or "ready"))
        {
            throw new BenchException($"--dispatch-when is created or ready, not '{dispatchWhen}'.");
        }
        var store = await BenchStore.CreateAsync(args, ct);
        ServerProcess? server = null;
        Api? api = null;
        try
        {
            server = await ServerProcess.StartAsync(args, store, ct);
            Console.WriteLine($"== server pid {server.Pid} on {server.Address}, store {store.Kind}");
            api = new Api(server.Address);
            var (adminToken, _) = await api.LoginAsync(server.AdminEmail, server.AdminPassword, ct);
            var dispatcher = await Scenarios.RealtimeSetup.DispatcherAsync(api, adminToken, ct);
            return new LiveTarget(server, api, store, adminToken, dispatcher, dispatchWhen, null);
        }
        catch
        {
            api?.Dispose();
            if (server is not null)
            {
                await server.DisposeAsync();
            }
            await store.DisposeAsync();
            throw;
        }
    }

    /// <summary>The broadcaster, sending <paramref name="orderCreated"/> (our server's, when it ran first) per publish.</summary>
    public static async Task<LiveTarget> StartBroadcasterAsync(BenchArgs args, string? orderCreated, CancellationToken ct)
    {
        var process = await ServerProcess.StartBroadcasterAsync(args, args.Has("zero-byte-reads"), ct);
        Console.WriteLine($"== broadcaster pid {process.Pid} on {process.Address}{(args.Has("zero-byte-reads") ? ", zero-byte reads" : ", 4 KiB receive buffer per socket")}");
        return new LiveTarget(process, new Api(process.Address), null, "broadcaster", null, null, orderCreated ?? FallbackOrderCreated);
    }

    /// <summary>The plain SignalR app, sending <paramref name="orderCreated"/> (our server's, when it ran first) per publish.</summary>
    public static async Task<LiveTarget> StartPlainSignalRAsync(BenchArgs args, string? orderCreated, CancellationToken ct)
    {
        var process = await ServerProcess.StartPlainSignalRAsync(args, ct);
        Console.WriteLine($"== {process.Name} pid {process.Pid} on {process.Address}, stock SignalR options");
        return new LiveTarget(process, new Api(process.Address), null, process.Name, null, null, orderCreated ?? FallbackOrderCreated);
    }

    /// <summary>
    /// One order: on our server a POST of a new order (201 with its id); on the broadcaster a POST of an
    /// <c>order.created</c> with a new order id (202), and so on the plain SignalR app.
    /// </summary>
    public async Task<Posted> CreateOrderAsync(object order, CancellationToken ct)
    {
        try
        {
            if (message is null)
            {
                var sent = Stopwatch.GetTimestamp();
                var response = await Api.SendAsync(HttpMethod.Post, "/api/orders", dispatcherToken, WithDispatchWhen(order), ct);
                Guid? id = response.Status == HttpStatusCode.Created ? response.Body.GetProperty("id").GetGuid() : null;
                return new Posted(id, (int)response.Status, sent, response.ReceivedAt);
            }
            var orderId = Guid.NewGuid();
            var body = Encoding.UTF8.GetBytes(message.Replace(messageOrderId!, orderId.ToString(), StringComparison.Ordinal));
            var at = Stopwatch.GetTimestamp();
            var published = await Api.SendUtf8Async(HttpMethod.Post, "/api/orders", null, body, ct);
            return new Posted(published.Status == HttpStatusCode.Accepted ? orderId : null, (int)published.Status, at, published.ReceivedAt);
        }
        catch (HttpRequestException)
        {
            return new Posted(null, -1, 0, 0);
        }
    }

    private object WithDispatchWhen(object order)
    {
        var json = JsonSerializer.SerializeToElement(order, new JsonSerializerOptions(JsonSerializerDefaults.Web));
        var fields = json.EnumerateObject().ToDictionary(p => p.Name, p => (object?)p.Value);
        fields["dispatchWhen"] = dispatchWhen;
        return fields;
    }

    /// <summary>
    /// The first <c>order.created</c> in our server's log, as its subscribers received it (the socket sends the
    /// event log's JSON); null on the broadcaster or when there is none.
    /// </summary>
    public async Task<string?> FirstOrderCreatedAsync(CancellationToken ct)
    {
        if (message is not null)
        {
            return null;
        }
        var page = await Api.CallAsync(HttpMethod.Get, "/api/events?since=0&limit=100", SocketToken, null, HttpStatusCode.OK, ct);
        return page.GetProperty("events").EnumerateArray().FirstOrDefault(e => e.GetProperty("type").GetString() == "order.created") is { ValueKind: JsonValueKind.Object } first
            ? first.GetRawText()
            : null;
    }

    /// <summary>Our server's <c>/api/ws/stats</c>, shortened; null on the broadcaster.</summary>
    public async Task<string?> SocketStatsAsync(CancellationToken ct)
    {
        if (message is not null)
        {
            return null;
        }
        var stats = (await Api.CallAsync(HttpMethod.Get, "/api/ws/stats", SocketToken, null, HttpStatusCode.OK, ct)).ToString();
        return stats.Length > 400 ? stats[..400] + "…" : stats;
    }

    /// <summary>
    /// Our server's live timers: the runtime's <c>dotnet.timer.count</c> from its <c>/metrics</c> (the issue asks for
    /// no timer per connection). Null for the references, which export no metrics.
    /// </summary>
    public async Task<long?> TimersAsync(CancellationToken ct)
    {
        if (message is not null)
        {
            return null;
        }
        var scrape = await Api.GetTextAsync("/metrics", ct);
        var line = scrape.Split('\n').FirstOrDefault(l => l.StartsWith("dotnet_timer_count", StringComparison.Ordinal));
        return line is null ? null : (long)double.Parse(line[(line.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Stops the process, then removes its store.</summary>
    public async ValueTask DisposeAsync()
    {
        Api.Dispose();
        await Process.DisposeAsync();
        if (store is not null)
        {
            await store.DisposeAsync();
        }
    }
}
