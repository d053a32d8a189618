using System.Text;
using GeoLogistics.Server.Demo;
using GeoLogistics.Server.Orders;

namespace GeoLogistics.Tests.Demo;

public class DriverPlanTests
{
    private static readonly CityMap City = CityMap.Demo;
    private static readonly TimeSpan Second = TimeSpan.FromSeconds(1);

    private static (double Lat, double Lng) Spot(int node) => (City.Nodes[node].Lat, City.Nodes[node].Lng);

    private static double Gap((double Lat, double Lng) a, (double Lat, double Lng) b) => CityMap.Distance(a.Lat, a.Lng, b.Lat, b.Lng);

    /// <summary>Advances second by second until the driver stands at its target; returns the positions passed.</summary>
    private static List<(double Lat, double Lng)> DriveOn(DriverPlan plan, Leg until, int maxSeconds = 3600)
    {
        var positions = new List<(double, double)> { (plan.Lat, plan.Lng) };
        for (var s = 0; s < maxSeconds && plan.Leg != until; s++)
        {
            plan.Advance(Second);
            positions.Add((plan.Lat, plan.Lng));
        }
        Assert.Equal(until, plan.Leg);
        return positions;
    }

    [Fact]
    public void A_driver_drives_its_order_along_the_streets_at_its_speed_and_owes_each_status_in_turn()
    {
        var (start, pickup, dropoff) = (0, City.Nodes.Count / 2, City.Nodes.Count - 1);
        var plan = new DriverPlan(City, start, speedMps: 12, new Random(1));
        var order = Guid.NewGuid();

        plan.Assign(order, OrderStatus.Assigned, Spot(pickup), Spot(dropoff));
        Assert.Equal(Leg.ToPickup, plan.Leg);
        Assert.Null(plan.Due);
        var toPickup = DriveOn(plan, Leg.AtPickup);

        // Each second 12 m along the streets (less only where the way turns a corner within the second), and the
        // whole way as long as the shortest path.
        Assert.All(toPickup.Zip(toPickup.Skip(1)).SkipLast(1), step => Assert.InRange(Gap(step.First, step.Second), 3, 12.01));
        var expected = City.Length(City.ShortestPath(start, pickup));
        Assert.InRange(toPickup.Count - 1, Math.Floor(expected / 12), Math.Ceiling(expected / 12) + 1);
        Assert.True(Gap((plan.Lat, plan.Lng), Spot(pickup)) < 0.01);
        Assert.Equal(0, plan.Speed);
        Assert.Equal(OrderStatus.PickedUp, plan.Due);

        plan.Reached(OrderStatus.PickedUp);
        Assert.Null(plan.Due); // loading
        plan.Advance(DriverPlan.LoadingTime);
        Assert.Equal(OrderStatus.InTransit, plan.Due);

        plan.Reached(OrderStatus.InTransit);
        Assert.Equal(Leg.ToDropoff, plan.Leg);
        DriveOn(plan, Leg.AtDropoff);
        Assert.True(Gap((plan.Lat, plan.Lng), Spot(dropoff)) < 0.01);
        Assert.Equal(OrderStatus.Delivered, plan.Due);

        plan.Reached(OrderStatus.Delivered);
        Assert.Null(plan.OrderId);
        Assert.Null(plan.Due);
        Assert.Equal(Leg.Parked, plan.Leg);
    }

    [Fact]
    public void An_idle_driver_parks_then_cruises_slowly()
    {
        var plan = new DriverPlan(City, 10, speedMps: 12, new Random(2));
        Assert.Equal(Leg.Parked, plan.Leg);
        Assert.Equal(0, plan.Speed);

        for (var s = 0; s < 10 && plan.Leg == Leg.Parked; s++)
        {
            plan.Advance(Second);
        }
        Assert.Equal(Leg.Cruising, plan.Leg);
        var before = (plan.Lat, plan.Lng);
        plan.Advance(Second);
        plan.Advance(Second);

        Assert.Equal(4, plan.Speed, 3);
        Assert.InRange(Gap(before, (plan.Lat, plan.Lng)), 1, 8.01);
        Assert.Null(plan.Due);
    }

    [Fact]
    public void A_driver_whose_order_is_taken_away_stops_and_owes_nothing()
    {
        var plan = new DriverPlan(City, 0, speedMps: 12, new Random(3));
        var order = Guid.NewGuid();
        plan.Assign(order, OrderStatus.Assigned, Spot(City.Nodes.Count - 1), Spot(City.Nodes.Count / 2));
        plan.Advance(Second);
        Assert.Equal(12, plan.Speed, 3);

        plan.Drop();
        var stopped = (plan.Lat, plan.Lng);
        plan.Advance(Second);

        Assert.Null(plan.OrderId);
        Assert.Null(plan.Due);
        Assert.Equal(0, plan.Speed);
        Assert.Equal(Leg.Parked, plan.Leg);
        Assert.Equal(stopped, (plan.Lat, plan.Lng));
    }

    [Fact]
    public void A_status_that_no_longer_holds_the_driver_drops_the_order_and_an_older_read_changes_nothing()
    {
        var plan = new DriverPlan(City, 0, speedMps: 12, new Random(4));
        var order = Guid.NewGuid();
        plan.Assign(order, OrderStatus.InTransit, Spot(5), Spot(City.Nodes.Count - 1));
        Assert.Equal(Leg.ToDropoff, plan.Leg);

        plan.Assign(order, OrderStatus.Assigned, Spot(5), Spot(City.Nodes.Count - 1));
        Assert.Equal(Leg.ToDropoff, plan.Leg);
        Assert.Equal(OrderStatus.InTransit, plan.Status);

        plan.Assign(Guid.NewGuid(), OrderStatus.Cancelled, Spot(5), Spot(6));
        Assert.Equal(order, plan.OrderId);

        plan.Assign(order, OrderStatus.Cancelled, Spot(5), Spot(City.Nodes.Count - 1));
        Assert.Null(plan.OrderId);
        Assert.Equal(Leg.Parked, plan.Leg);
    }

    [Fact]
    public void A_driver_found_with_the_goods_on_board_goes_on_to_transit_at_once()
    {
        var plan = new DriverPlan(City, 0, speedMps: 12, new Random(5));
        plan.Assign(Guid.NewGuid(), OrderStatus.PickedUp, Spot(3), Spot(40));

        Assert.Equal(OrderStatus.InTransit, plan.Due);
    }

    [Fact]
    public void A_route_faces_the_way_it_drives()
    {
        var east = new Route([new(52.37, 4.89, null), new(52.37, 4.90, null)]);
        var north = new Route([new(52.37, 4.89, null), new(52.38, 4.89, null), new(52.38, 4.88, null)]);

        Assert.InRange(east.Heading, 89.5, 90.5);
        Assert.InRange(north.Heading, 0, 0.5);
        north.Advance(1200);
        Assert.InRange(north.Heading, 269.5, 270.5);
        north.Advance(100_000);
        Assert.True(north.Finished);
        Assert.Equal((52.38, 4.88), (north.Lat, north.Lng));
        Assert.Equal(0, north.RemainingMeters);
    }

    [Fact]
    public void Addresses_and_places_of_new_orders_come_from_the_map()
    {
        for (var seed = 0; seed < 100; seed++)
        {
            var order = DemoOrders.NewHospitalOrder(City, new Random(seed), 800);

            Assert.True(CityMap.Distance(order.Pickup!.Lat!.Value, order.Pickup.Lng!.Value, order.Dropoff!.Lat!.Value, order.Dropoff.Lng!.Value) >= 800);
            Assert.Matches(@"^\d+ \S.*$", order.Pickup.Address);
            Assert.Contains(City.Nodes, n => n.Lat == order.Dropoff.Lat && n.Lng == order.Dropoff.Lng);
            Assert.InRange(order.Priority!.Value, 0, 10);
            Assert.False(string.IsNullOrEmpty(order.Kind));
        }
    }

    [Fact]
    public void The_simulator_reaches_its_server_over_plain_http_on_loopback_when_it_can()
    {
        Assert.Equal(new Uri("http://localhost:8080/"), DemoSimulator.PickAddress(["https://localhost:8443", "http://localhost:8080"]));
        Assert.Equal(new Uri("http://127.0.0.1:5000/"), DemoSimulator.PickAddress(["http://0.0.0.0:5000"]));
        Assert.Equal(new Uri("http://127.0.0.1:5001/"), DemoSimulator.PickAddress(["http://+:5001"]));
        Assert.Equal(new Uri("http://[::1]:80/"), DemoSimulator.PickAddress(["http://[::]:80"]));
        Assert.Equal(new Uri("http://127.0.0.1:81/"), DemoSimulator.PickAddress(["http://10.1.2.3:80", "http://127.0.0.1:81"]));
        Assert.Null(DemoSimulator.PickAddress([]));
    }

    [Fact]
    public void A_driver_app_reads_its_assignments_its_record_and_errors_from_the_socket()
    {
        var driver = Guid.NewGuid();
        var order = Guid.NewGuid();
        var assigned = $$$"""
            {"type":"order.assigned","seq":7,"ts":"2026-11-22T10:15:03.120Z","orderId":"{{{order}}}","driverId":"{{{driver}}}","actor":{"userId":null,"email":"system"},"changed":["status"],
             "data":{"id":"{{{order}}}","number":"GLO-1","tenantId":"{{{Guid.NewGuid()}}}","customerId":null,"status":"ASSIGNED","version":2,
                     "pickup":{"lat":52.37,"lng":4.89,"address":"1 Canal Street"},"dropoff":{"lat":52.36,"lng":4.9,"address":null},"driverId":"{{{driver}}}",
                     "etaMinutes":null,"priority":1,"kind":"meal","notes":null,"dispatchWhen":"created","createdAt":"2026-11-22T10:15:03.120Z","updatedAt":"2026-11-22T10:15:03.120Z",
                     "confirmedAt":null,"acceptedAt":null,"readyAt":null,"assignedAt":"2026-11-22T10:15:03.120Z","pickedUpAt":null,"inTransitAt":null,"deliveredAt":null,"cancelledAt":null,"dispatchFailure":null}}
            """;
        var me = $$$"""
            {"type":"driver.status_changed","seq":8,"data":{"id":"{{{driver}}}","userId":"{{{Guid.NewGuid()}}}","tenantId":null,"name":"Driver 1","status":"available","version":3,"currentOrderId":null,"location":null,"updatedAt":"2026-11-22T10:15:03.120Z"}}
            """;

        var changed = Assert.IsType<DriverNotice.OrderChanged>(DriverNotice.Read(Encoding.UTF8.GetBytes(assigned), driver));
        Assert.Equal((order, OrderStatus.Assigned, driver), (changed.Order.Id, changed.Order.Status, changed.Order.DriverId));
        Assert.Null(Assert.IsType<DriverNotice.DriverChanged>(DriverNotice.Read(Encoding.UTF8.GetBytes(me), driver)).CurrentOrderId);
        Assert.Null(DriverNotice.Read(Encoding.UTF8.GetBytes(me), Guid.NewGuid()));
        Assert.Equal(new DriverNotice.OrderGone(order), DriverNotice.Read(Encoding.UTF8.GetBytes($$$"""{"type":"order.deleted","seq":9,"orderId":"{{{order}}}","data":{}}"""), driver));
        Assert.Equal(new DriverNotice.Refused("rate_limited", "slow"), DriverNotice.Read("""{"type":"error","code":"rate_limited","message":"slow"}"""u8, driver));
        Assert.Null(DriverNotice.Read("""{"type":"driver.location","driverId":"x","lat":1,"lng":2}"""u8, driver));
        Assert.Null(DriverNotice.Read("""{"type":"order.eta","orderId":"x","etaMinutes":3}"""u8, driver));
    }
}
