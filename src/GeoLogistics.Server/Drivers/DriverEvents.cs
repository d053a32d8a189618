using System.Text.Json;
using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Events;

namespace GeoLogistics.Server.Drivers;

/// <summary>
/// The <c>driver.status_changed</c> event of SPEC §5: written from the driver after the change, and read back once per
/// event by the feed (<see cref="Payload"/>) for its consumers, which find the driver on <c>e.Driver</c>.
/// </summary>
public static class DriverEvents
{
    /// <summary>A driver's status event is seen by admins, the driver and its own fleet's dispatchers.</summary>
    public static EventRecord ForDriver(this EventLog log, Driver driver, Actor actor)
    {
        var e = log.Record(EventTypes.DriverStatusChanged, actor, ["status"],
            JsonSerializer.Serialize(driver.ToDto(withPhone: false), DriversJson.Default.DriverDto));
        e.TenantId = driver.TenantId;
        e.DriverId = driver.Id;
        e.OrderId = driver.CurrentOrderId;
        return e;
    }

    public static readonly EventPayloadReader Payload = new("driver.", static json =>
        new EventPayload(JsonSerializer.Deserialize(json, DriversJson.Default.DriverDto)));

    extension(CommittedEvent e)
    {
        /// <summary>The driver after the change, for a <c>driver.*</c> event.</summary>
        public DriverDto? Driver => e.Payload as DriverDto;
    }
}
