using GeoLogistics.Server.Orders;

namespace GeoLogistics.Server.Demo;

/// <summary>A point of a route; <see cref="Node"/> when it is a crossing of the map, null for a point between.</summary>
public readonly record struct Waypoint(double Lat, double Lng, int? Node);

/// <summary>A drive along a polyline: where the car is after so many metres, and which way it faces.</summary>
public sealed class Route
{
    private readonly IReadOnlyList<Waypoint> points;
    private int segment;
    private double along;

    public Route(IReadOnlyList<Waypoint> points)
    {
        if (points.Count == 0)
        {
            throw new ArgumentException("A route has at least one point.", nameof(points));
        }
        this.points = points;
        Heading = HeadingOfSegment(0) ?? 0;
    }

    public bool Finished => segment >= points.Count - 1;

    public double Lat => Interpolate().Lat;

    public double Lng => Interpolate().Lng;

    /// <summary>Degrees clockwise from north (0 ≤ heading &lt; 360) of the piece being driven, or of the last one.</summary>
    public double Heading { get; private set; }

    public double RemainingMeters
    {
        get
        {
            var meters = -along;
            for (var i = segment; i + 1 < points.Count; i++)
            {
                meters += SegmentMeters(i);
            }
            return Math.Max(0, meters);
        }
    }

    /// <summary>The last crossing passed (or the first one ahead, before any was passed).</summary>
    public int? LastNode
    {
        get
        {
            for (var i = segment; i >= 0; i--)
            {
                if (points[i].Node is { } node)
                {
                    return node;
                }
            }
            return NextNode;
        }
    }

    /// <summary>The next crossing ahead, or the last one passed at the end of the route.</summary>
    public int? NextNode
    {
        get
        {
            for (var i = segment + 1; i < points.Count; i++)
            {
                if (points[i].Node is { } node)
                {
                    return node;
                }
            }
            return Finished ? points[^1].Node ?? LastPassed() : null;
        }
    }

    private int? LastPassed()
    {
        for (var i = points.Count - 1; i >= 0; i--)
        {
            if (points[i].Node is { } node)
            {
                return node;
            }
        }
        return null;
    }

    /// <summary>Drives on by <paramref name="meters"/>, or to the end.</summary>
    public void Advance(double meters)
    {
        while (meters > 0 && !Finished)
        {
            var left = SegmentMeters(segment) - along;
            if (meters < left)
            {
                along += meters;
                break;
            }
            meters -= left;
            segment++;
            along = 0;
        }
        if (!Finished && HeadingOfSegment(segment) is { } heading)
        {
            Heading = heading;
        }
    }

    private double SegmentMeters(int i) =>
        CityMap.Distance(points[i].Lat, points[i].Lng, points[i + 1].Lat, points[i + 1].Lng);

    private (double Lat, double Lng) Interpolate()
    {
        if (Finished)
        {
            return (points[^1].Lat, points[^1].Lng);
        }
        var (a, b) = (points[segment], points[segment + 1]);
        var length = SegmentMeters(segment);
        var t = length <= 0 ? 1 : Math.Clamp(along / length, 0, 1);
        return (a.Lat + ((b.Lat - a.Lat) * t), a.Lng + ((b.Lng - a.Lng) * t));
    }

    /// <summary>The initial bearing of a piece, or null for a piece of no length.</summary>
    private double? HeadingOfSegment(int i)
    {
        if (i + 1 >= points.Count || SegmentMeters(i) < 0.01)
        {
            return null;
        }
        var (a, b) = (points[i], points[i + 1]);
        var lat1 = a.Lat * Math.PI / 180;
        var lat2 = b.Lat * Math.PI / 180;
        var dLng = (b.Lng - a.Lng) * Math.PI / 180;
        var y = Math.Sin(dLng) * Math.Cos(lat2);
        var x = (Math.Cos(lat1) * Math.Sin(lat2)) - (Math.Sin(lat1) * Math.Cos(lat2) * Math.Cos(dLng));
        var degrees = Math.Atan2(y, x) * 180 / Math.PI;
        return Math.Round((degrees + 360) % 360, 1) % 360;
    }
}

/// <summary>What a demo driver is doing.</summary>
public enum Leg
{
    /// <summary>Idle and standing still for a moment.</summary>
    Parked,
    /// <summary>Idle, driving slowly to somewhere nearby.</summary>
    Cruising,
    ToPickup,
    /// <summary>At the pickup: picking up, then loading for a moment.</summary>
    AtPickup,
    ToDropoff,
    /// <summary>At the dropoff, delivering.</summary>
    AtDropoff,
}

/// <summary>
/// The mind of one demo driver, without any I/O: where it is, where it drives and which status call it owes. The
/// driver's client (<see cref="DemoDriver"/>) feeds it assignments and the answers of its calls, and asks it to move
/// on by the time that passed. Moving happens along the map's streets at the driver's speed (idle: at a third of it).
/// </summary>
public sealed class DriverPlan
{
    public static readonly TimeSpan LoadingTime = TimeSpan.FromSeconds(3);
    private const double CruiseShare = 1.0 / 3;

    private readonly CityMap map;
    private readonly Random random;
    private readonly double speedMps;
    private Route? route;
    private int restNode;
    private TimeSpan wait;

    public DriverPlan(CityMap map, int startNode, double speedMps, Random random)
    {
        this.map = map;
        this.random = random;
        this.speedMps = speedMps;
        restNode = startNode;
        (Lat, Lng) = (map.Nodes[startNode].Lat, map.Nodes[startNode].Lng);
        Park();
    }

    public double Lat { get; private set; }

    public double Lng { get; private set; }

    public double Heading { get; private set; }

    /// <summary>Metres per second right now: 0 while standing.</summary>
    public double Speed { get; private set; }

    public Leg Leg { get; private set; }

    public Guid? OrderId { get; private set; }

    /// <summary>The order's status as this driver last knew it.</summary>
    public OrderStatus? Status { get; private set; }

    private (double Lat, double Lng) pickup;
    private (double Lat, double Lng) dropoff;

    /// <summary>The status call the driver owes now, if any.</summary>
    public OrderStatus? Due => (Leg, Status) switch
    {
        (Leg.AtPickup, OrderStatus.Assigned) => OrderStatus.PickedUp,
        (Leg.AtPickup, OrderStatus.PickedUp) when wait <= TimeSpan.Zero => OrderStatus.InTransit,
        (Leg.AtDropoff, OrderStatus.InTransit) => OrderStatus.Delivered,
        _ => null,
    };

    /// <summary>
    /// The server says this driver has this order in this status (an assignment, or what a read found): take it up
    /// where it stands. A status that no longer holds the driver drops the order.
    /// </summary>
    public void Assign(Guid orderId, OrderStatus status, (double Lat, double Lng) from, (double Lat, double Lng) to)
    {
        if (!OrderLifecycle.HoldsDriver(status))
        {
            if (OrderId == orderId)
            {
                Drop();
            }
            return;
        }
        if (OrderId == orderId && Status is { } known && Progress(status) <= Progress(known))
        {
            return; // nothing new, or an older read than what this driver already did
        }
        (OrderId, pickup, dropoff) = (orderId, from, to);
        Reached(status is OrderStatus.Assigned or OrderStatus.PickedUp ? status : OrderStatus.InTransit);
        if (status == OrderStatus.PickedUp)
        {
            wait = TimeSpan.Zero; // read back, not done now: the loading is already over
            StandStill();
        }
    }

    private static int Progress(OrderStatus status) => status switch
    {
        OrderStatus.Assigned => 1,
        OrderStatus.PickedUp => 2,
        OrderStatus.InTransit => 3,
        _ => 0,
    };

    /// <summary>A status call for the order succeeded (or a read showed the order got there; ASSIGNED only by a read).</summary>
    public void Reached(OrderStatus status)
    {
        switch (status)
        {
            case OrderStatus.Assigned:
                Status = status;
                Leg = Leg.ToPickup;
                DriveTo(pickup);
                break;
            case OrderStatus.PickedUp:
                Status = status;
                Leg = Leg.AtPickup;
                wait = LoadingTime;
                break;
            case OrderStatus.InTransit:
                Status = status;
                Leg = Leg.ToDropoff;
                DriveTo(dropoff);
                break;
            case OrderStatus.Delivered:
                Drop();
                break;
        }
    }

    /// <summary>The order is no longer this driver's (cancelled, taken away, delivered): stop and stand.</summary>
    public void Drop()
    {
        OrderId = null;
        Status = null;
        Park();
    }

    public void Advance(TimeSpan elapsed)
    {
        if (elapsed <= TimeSpan.Zero)
        {
            return;
        }
        switch (Leg)
        {
            case Leg.Cruising or Leg.ToPickup or Leg.ToDropoff when route is not null:
                var speed = Leg == Leg.Cruising ? speedMps * CruiseShare : speedMps;
                route.Advance(speed * elapsed.TotalSeconds);
                (Lat, Lng, Heading) = (route.Lat, route.Lng, route.Heading);
                Speed = route.Finished ? 0 : speed;
                if (route.Finished)
                {
                    restNode = route.NextNode ?? map.Nearest(Lat, Lng);
                    route = null;
                    Leg = Leg switch
                    {
                        Leg.ToPickup => Leg.AtPickup,
                        Leg.ToDropoff => Leg.AtDropoff,
                        _ => Leg.Parked,
                    };
                    wait = Leg == Leg.Parked ? TimeSpan.FromSeconds(random.Next(2, 9)) : TimeSpan.Zero;
                }
                break;
            case Leg.Parked:
                wait -= elapsed;
                if (wait <= TimeSpan.Zero)
                {
                    Cruise();
                }
                break;
            case Leg.AtPickup when Status == OrderStatus.PickedUp:
                wait -= elapsed;
                break;
        }
    }

    private void Park()
    {
        StandStill();
        Leg = Leg.Parked;
        wait = TimeSpan.FromSeconds(random.Next(2, 9));
    }

    private void StandStill()
    {
        if (route is not null)
        {
            restNode = route.LastNode ?? map.Nearest(Lat, Lng);
            route = null;
        }
        Speed = 0;
    }

    /// <summary>Idle: somewhere 300 m to 1.5 km away, at a slow pace.</summary>
    private void Cruise()
    {
        var target = restNode;
        for (var attempt = 0; attempt < 20; attempt++)
        {
            var candidate = random.Next(map.Nodes.Count);
            var meters = CityMap.Distance(map.Nodes[restNode], map.Nodes[candidate]);
            if (meters is >= 300 and <= 1500)
            {
                target = candidate;
                break;
            }
        }
        Leg = Leg.Cruising;
        DriveTo((map.Nodes[target].Lat, map.Nodes[target].Lng));
    }

    /// <summary>
    /// The shortest way by the streets to a point: from where the car is to the crossing behind or ahead of it
    /// (whichever makes the whole way shorter), along the streets to the crossing nearest the point, then to the point.
    /// </summary>
    private void DriveTo((double Lat, double Lng) target)
    {
        var end = map.Nearest(target.Lat, target.Lng);
        var starts = route is { Finished: false } ? new[] { route.LastNode, route.NextNode } : [restNode];
        IReadOnlyList<int> best = [];
        var bestMeters = double.MaxValue;
        foreach (var start in starts.OfType<int>().Distinct())
        {
            var path = map.ShortestPath(start, end);
            var meters = CityMap.Distance(Lat, Lng, map.Nodes[start].Lat, map.Nodes[start].Lng) + map.Length(path);
            if (path.Count > 0 && meters < bestMeters)
            {
                (best, bestMeters) = (path, meters);
            }
        }
        var points = new List<Waypoint> { new(Lat, Lng, null) };
        points.AddRange(best.Select(n => new Waypoint(map.Nodes[n].Lat, map.Nodes[n].Lng, n)));
        if (CityMap.Distance(target.Lat, target.Lng, map.Nodes[end].Lat, map.Nodes[end].Lng) > 2)
        {
            points.Add(new Waypoint(target.Lat, target.Lng, null));
        }
        route = new Route(points);
        Heading = route.Heading;
        Speed = 0;
    }
}
