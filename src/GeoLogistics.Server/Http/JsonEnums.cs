using System.Text.Json;
using System.Text.Json.Serialization;

namespace GeoLogistics.Server.Http;

/// <summary>Enum names as SPEC.md spells them: <c>READY_FOR_PICKUP</c>. Numbers are refused.</summary>
public sealed class UpperSnakeEnumConverter<T>() : JsonStringEnumConverter<T>(JsonNamingPolicy.SnakeCaseUpper, allowIntegerValues: false)
    where T : struct, Enum;

/// <summary>Enum names as SPEC.md spells them: <c>available</c>. Numbers are refused.</summary>
public sealed class LowerSnakeEnumConverter<T>() : JsonStringEnumConverter<T>(JsonNamingPolicy.SnakeCaseLower, allowIntegerValues: false)
    where T : struct, Enum;
