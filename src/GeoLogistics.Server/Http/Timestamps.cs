using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace GeoLogistics.Server.Http;

public static class Timestamps
{
    /// <summary>
    /// Now in UTC at millisecond precision: what both stores keep exactly, so a value read back equals the value
    /// written, in answers and in event payloads alike.
    /// </summary>
    public static DateTimeOffset Now(this TimeProvider clock) => Truncate(clock.GetUtcNow());

    public static DateTimeOffset Truncate(DateTimeOffset value)
    {
        var utc = value.ToUniversalTime();
        return new DateTimeOffset(utc.Ticks - (utc.Ticks % TimeSpan.TicksPerMillisecond), TimeSpan.Zero);
    }
}

/// <summary>Times go out as SPEC §5 writes them: <c>2026-11-22T10:15:03.120Z</c>.</summary>
public sealed class UtcTimestampConverter : JsonConverter<DateTimeOffset>
{
    public override DateTimeOffset Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.GetDateTimeOffset();

    public override void Write(Utf8JsonWriter writer, DateTimeOffset value, JsonSerializerOptions options) =>
        writer.WriteStringValue(value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture));
}
