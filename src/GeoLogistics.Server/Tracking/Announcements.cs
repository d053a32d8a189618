namespace GeoLogistics.Server.Tracking;

/// <summary>
/// What a driver's positions announce for the order it serves (SPEC §5): an <c>order.eta</c> when the ETA moved by a
/// step or more since the last one sent, and <c>order.driver_arriving</c> once per leg, within the arrival radius.
/// One per driver; thread-safe.
/// </summary>
public sealed class Announcements
{
    private Guid? order;
    private double? lastEta;
    private readonly HashSet<(Guid Order, string Leg)> arrived = [];

    /// <summary>The last ETA sent for <paramref name="orderId"/>, or null.</summary>
    public double? LastEta(Guid orderId)
    {
        lock (arrived)
        {
            return order == orderId ? lastEta : null;
        }
    }

    public (bool SendEta, bool Arriving) Decide(Guid orderId, string leg, double etaMinutes, double distanceKm, double etaStepMinutes, double arrivalRadiusMeters)
    {
        lock (arrived)
        {
            if (order != orderId)
            {
                order = orderId;
                lastEta = null;
            }
            var sendEta = lastEta is not { } last || Math.Abs(last - etaMinutes) >= etaStepMinutes;
            if (sendEta)
            {
                lastEta = etaMinutes;
            }
            return (sendEta, distanceKm * 1000 <= arrivalRadiusMeters && arrived.Add((orderId, leg)));
        }
    }
}
