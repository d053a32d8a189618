using System.Globalization;
using System.Text.Json;
using GeoLogistics.Server.Drivers;

namespace GeoLogistics.Server.Realtime;

/// <summary>
/// A driver's position as the socket protocols carry it (SPEC §7 <c>driver.location</c>: lat, lng, heading, speed,
/// accuracy, recordedAt or ts), read once for all of them; the tracker then judges it as it judges one sent over REST.
/// </summary>
public static class LocationMessage
{
    /// <summary>The request, or the field that is wrong and why.</summary>
    public static bool TryRead(JsonElement root, out LocationRequest request, out (string Field, string Message) error)
    {
        request = null!;
        error = default;
        if (root.ValueKind != JsonValueKind.Object)
        {
            error = ("", "A position is an object: {\"lat\":…,\"lng\":…}.");
            return false;
        }
        double? lat = null, lng = null, heading = null, speed = null, accuracy = null;
        if (!TryNumber(root, "lat", ref lat, ref error) || !TryNumber(root, "lng", ref lng, ref error) ||
            !TryNumber(root, "heading", ref heading, ref error) || !TryNumber(root, "speed", ref speed, ref error) ||
            !TryNumber(root, "accuracy", ref accuracy, ref error))
        {
            return false;
        }
        DateTimeOffset? recordedAt = null;
        var field = root.TryGetProperty("recordedAt", out var when) && when.ValueKind != JsonValueKind.Null ? "recordedAt" : "ts";
        if (root.TryGetProperty(field, out when) && when.ValueKind != JsonValueKind.Null)
        {
            if (when.ValueKind != JsonValueKind.String || when.GetString()!.Length is 0 or > 40 ||
                !DateTimeOffset.TryParse(when.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed))
            {
                error = ("recordedAt", "recordedAt is an ISO 8601 time.");
                return false;
            }
            recordedAt = parsed;
        }
        request = new LocationRequest(lat, lng, heading, speed, accuracy, recordedAt);
        return true;
    }

    private static bool TryNumber(JsonElement root, string name, ref double? number, ref (string Field, string Message) error)
    {
        if (!root.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return true;
        }
        if (value.ValueKind == JsonValueKind.Number && value.TryGetDouble(out var parsed))
        {
            number = parsed;
            return true;
        }
        error = (name, $"{name} is a number.");
        return false;
    }
}
