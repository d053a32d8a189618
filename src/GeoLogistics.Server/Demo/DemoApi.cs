using System.Text.Json;
using System.Text.Json.Serialization;
using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Data;
using GeoLogistics.Server.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;

namespace GeoLogistics.Server.Demo;

public static class DemoApi
{
    /// <summary>The demo city's map, and the simulator (which runs only in demo mode with <c>Demo:Simulate</c>).</summary>
    public static IServiceCollection AddDemo(this IServiceCollection services, IConfiguration config)
    {
        services.AddOptions<DemoOptions>()
            .Bind(config.GetSection("Demo"))
            .ValidateDataAnnotations()
            .Validate<IOptions<AuthOptions>>((demo, auth) => demo.PositionInterval >= TimeSpan.FromSeconds(1.0 / auth.Value.LocationUpdatesPerSecond),
                "Demo:PositionInterval is shorter than Auth:LocationUpdatesPerSecond allows (one position per 1/rate seconds); the server would drop the simulator's positions.")
            .Validate<IOptions<ApiOptions>, DemoMode>(
                (demo, api, mode) => !mode.Enabled || !demo.Simulate || demo.OrdersPerMinute <= api.Value.OrdersPerUserPerMinute,
                "Demo:OrdersPerMinute is more than Api:OrdersPerUserPerMinute allows one dispatcher; the server would refuse the simulator's orders.")
            .Validate(demo => demo.PositionInterval <= TimeSpan.FromMinutes(1),
                "Demo:PositionInterval is longer than a minute; dispatch would see the simulated drivers as gone.")
            .ValidateOnStart();
        services.Configure<JsonOptions>(o => o.SerializerOptions.TypeInfoResolverChain.Insert(0, DemoJson.Default));
        // Before anything that reads the store's rows starts (hosted services start in this order).
        services.AddHostedService<DemoDataSeeder>();
        services.AddHostedService<DemoSimulator>();
        return services;
    }

    public static IEndpointRouteBuilder MapDemo(this IEndpointRouteBuilder routes)
    {
        routes.MapGet("/api/map", Map).WithTags("Demo").WithName("CityMap")
            .WithSummary("The demo city: its streets as polylines, its river and parks as polygons, and the bounds, to draw the map.")
            .RequireAuthorization();
        return routes;
    }

    private static Ok<MapDto> Map() => TypedResults.Ok(CityMap.Demo.Dto);
}

/// <summary>Source-generated serialization of the map, in the app's JSON options.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(MapDto))]
public sealed partial class DemoJson : JsonSerializerContext;
