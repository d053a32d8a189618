using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Http.Json;

namespace GeoLogistics.Server.Demo;

public static class DemoApi
{
    /// <summary>The demo city's map.</summary>
    public static IServiceCollection AddDemo(this IServiceCollection services, IConfiguration config)
    {
        services.Configure<JsonOptions>(o => o.SerializerOptions.TypeInfoResolverChain.Insert(0, DemoJson.Default));
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
