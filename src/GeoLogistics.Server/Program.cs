using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Dashboard;
using GeoLogistics.Server.Data;
using GeoLogistics.Server.Demo;
using GeoLogistics.Server.Dispatch;
using GeoLogistics.Server.Drivers;
using GeoLogistics.Server.Events;
using GeoLogistics.Server.Http;
using GeoLogistics.Server.Nodes;
using GeoLogistics.Server.Observability;
using GeoLogistics.Server.Orders;
using GeoLogistics.Server.Realtime;
using GeoLogistics.Server.Realtime.Direct;
using GeoLogistics.Server.Realtime.Json;
using GeoLogistics.Server.Realtime.SocketIo;
using GeoLogistics.Server.Redis;
using GeoLogistics.Server.Tenants;
using GeoLogistics.Server.Tracking;
using GeoLogistics.Server.Users;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http.Json;
using Scalar.AspNetCore;

// `--demo` is a switch, not a key=value setting: take it out before configuration reads the arguments.
var demo = args.Contains("--demo");
var builder = WebApplication.CreateBuilder(args.Where(a => a != "--demo").ToArray());
demo |= builder.Configuration.GetValue<bool>("Demo:Enabled");

// Logging: no bearer token in any log line (the socket's ?access_token= is in the URL that hosting logs). To the console
// and to EventSource (dotnet-trace, dotnet-monitor); not to the debugger's provider, which writes only under a debugger
// and makes the logging scope Kestrel holds for each connection's life a composite of three.
builder.Services.AddLogRedaction();
builder.Logging.ClearProviders().AddConsole().AddEventSourceLogger();

// Store: SQLite file by default, PostgreSQL when ConnectionStrings:Postgres is set.
builder.Services.AddStore(builder.Configuration, builder.Environment);
builder.Services.AddSingleton(new DemoMode(demo));
builder.Services.AddHostedService<StoreInitializer>();
builder.Services.AddDemo(builder.Configuration);
builder.Services.AddSingleton(TimeProvider.System);

// Writes with events: the outbox (a change and its events commit together), what order and driver events carry read
// back by their own modules (once per event, for every consumer of the feed), and the booking of a driver for an
// order that dispatch and a dispatcher's assign share.
builder.Services.AddScoped<EventLog>();
builder.Services.AddEvents(builder.Configuration);
builder.Services.AddSingleton(OrderEvents.Payload);
builder.Services.AddSingleton(DriverEvents.Payload);
builder.Services.AddScoped<Booking>();

// Redis, when Redis:Configuration is set: the backplane that makes several nodes one for volatile messages and the
// latest positions (durable events reach every node through the store); in readiness too. The node's identity.
builder.Services.AddRedis(builder.Configuration);
builder.Services.AddNodes(builder.Configuration);

// Dispatch: the committed event feed wakes background workers that book the nearest free driver.
builder.Services.AddDispatch(builder.Configuration);

// Real time: the event hub over the feed, the JSON WebSocket protocol; tracking: positions, ETA, routes.
builder.Services.AddRealtime(builder.Configuration);
builder.Services.AddSocketIo();
builder.Services.AddTracking(builder.Configuration);

// Auth: HS256 bearer tokens, roles from SPEC §2, login and location throttles; users: passwords, the accounts behind sessions.
builder.Services.AddAuth(builder.Configuration, builder.Environment);
builder.Services.AddUsers(builder.Configuration);

// HTTP: problem details for every error, validated requests, one JSON shape, a bounded body, a rate of new orders per user.
builder.Services.AddOptions<ApiOptions>().Bind(builder.Configuration.GetSection("Api")).ValidateDataAnnotations().ValidateOnStart();
builder.Services.AddProblemDetails(o => o.CustomizeProblemDetails = ProblemShape.CamelCaseFieldNames);
// The store's handler first: what it threw is a 409 or a 503; the API's handler answers the rest.
builder.Services.AddExceptionHandler<StoreExceptionHandler>();
builder.Services.AddExceptionHandler<ApiExceptionHandler>();
builder.Services.AddValidation();
builder.Services.AddSingleton<OrderCreationLimit>();
builder.Services.Configure<JsonOptions>(o =>
{
    // Source-generated shapes of what every change writes (orders, drivers, events), as each feature declares them.
    o.SerializerOptions.TypeInfoResolverChain.Insert(0, JsonTypeInfoResolver.Combine(OrdersJson.Default, DriversJson.Default, EventsJson.Default));
    o.SerializerOptions.Converters.Add(new UtcTimestampConverter());
    // A field the request does not have is refused (400 naming it), never silently dropped.
    o.SerializerOptions.UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow;
});
builder.Services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
builder.WebHost.ConfigureKestrel((context, kestrel) =>
{
    kestrel.Limits.MaxRequestBodySize = context.Configuration.GetValue("Api:MaxRequestBodyBytes", new ApiOptions().MaxRequestBodyBytes);
    // JSON-protocol sockets upgraded straight off the connection, without the HTTP pipeline's per-request state.
    kestrel.ConfigureEndpointDefaults(listen => listen.UseDirectSockets());
});

// Ops: OpenAPI document and reference page (in Development, or with Api:Docs), health probes, /metrics.
builder.Services.AddOpenApi();
builder.Services.AddObservability();

// Dashboard: its scripts and styles from wwwroot/, also when a built (not published) server runs outside Development.
builder.WebHost.UseStaticWebAssets();

var app = builder.Build();
app.AnnounceNode();

app.UseExceptionHandler();
app.UseStatusCodePages();
app.UseAuthentication();
app.UseBrowserSessionOriginCheck();
app.UseAuthorization();
app.UseRateLimiter();
app.UseCorkedUpgrades();
// No keep-alive timer per socket: JSON and STOMP sockets are pinged by one sweep (SocketKeepAlive), Engine.IO and
// SignalR ping in their own protocols.
app.UseWebSockets(new WebSocketOptions { KeepAliveInterval = TimeSpan.Zero });

app.MapAuth();
app.MapUsers();
app.MapTenants();
app.MapOrders();
app.MapDrivers();
app.MapDemo();
app.MapEvents();
app.MapRealtime();
app.MapSocketIo();
app.MapTracking();

if (app.Configuration.GetValue<bool?>("Api:Docs") ?? app.Environment.IsDevelopment())
{
    app.MapOpenApi();
    app.MapScalarApiReference("/docs");
}
app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false });
app.MapHealthChecks("/health/ready", new HealthCheckOptions { Predicate = check => check.Tags.Contains("ready"), ResponseWriter = Readiness.WriteAsync });
app.MapObservability();
app.MapStaticAssets();
app.MapDashboard();

await app.RunAsync();

public partial class Program;
