using System.Text.Json;
using GeoLogistics.Server.Demo;

namespace GeoLogistics.Tests.Demo;

public class CityMapTests
{
    private static readonly CityMap City = CityMap.Demo;

    /// <summary>A point so many metres east and north of 52.37 N, 4.89 E.</summary>
    private static MapNode At(double east, double north) =>
        new(52.37 + (north / 111_320), 4.89 + (east / (111_320 * Math.Cos(52.37 * Math.PI / 180))));

    [Fact]
    public void The_demo_city_is_about_4_by_3_km_around_52_37_N_4_89_E()
    {
        var b = City.Dto.Bounds;
        var width = CityMap.Distance(52.37, b.MinLng, 52.37, b.MaxLng);
        var height = CityMap.Distance(b.MinLat, 4.89, b.MaxLat, 4.89);

        Assert.False(string.IsNullOrWhiteSpace(City.Name));
        Assert.InRange(width, 3600, 4600);
        Assert.InRange(height, 2700, 3500);
        Assert.InRange(CityMap.Distance((b.MinLat + b.MaxLat) / 2, (b.MinLng + b.MaxLng) / 2, 52.37, 4.89), 0, 300);
        Assert.InRange(City.Nodes.Count, 150, 400);
        Assert.All(City.Nodes, n => Assert.True(n.Lat >= b.MinLat && n.Lat <= b.MaxLat && n.Lng >= b.MinLng && n.Lng <= b.MaxLng));
    }

    [Fact]
    public void Every_crossing_is_reachable_from_every_other()
    {
        foreach (var from in new[] { 0, City.Nodes.Count / 2, City.Nodes.Count - 1 })
        {
            for (var to = 0; to < City.Nodes.Count; to++)
            {
                Assert.NotEmpty(City.ShortestPath(from, to));
            }
        }
    }

    [Fact]
    public void A_path_runs_along_streets_from_its_start_to_its_end()
    {
        var random = new Random(3);
        for (var i = 0; i < 200; i++)
        {
            var (from, to) = (random.Next(City.Nodes.Count), random.Next(City.Nodes.Count));
            var path = City.ShortestPath(from, to);

            Assert.Equal(from, path[0]);
            Assert.Equal(to, path[^1]);
            for (var k = 1; k < path.Count; k++)
            {
                Assert.Contains(City.EdgesAt(path[k - 1]), e => e.Other(path[k - 1]) == path[k]);
            }
            Assert.True(City.Length(path) >= CityMap.Distance(City.Nodes[from], City.Nodes[to]) - 0.001);
        }
    }

    [Fact]
    public void The_shortest_path_takes_the_longer_first_step_when_the_whole_way_is_shorter()
    {
        // From A, B is the nearest first step (100 m), but the street from B to Z bends north by way of E: 1.2 km
        // in all. A to C to Z is about 600 m. D stands on its own: no street leads there.
        var map = new CityMap("Test", [At(0, 0), At(-100, 0), At(300, 20), At(600, 0), At(-100, 400), At(0, 5000)],
            [(0, 1, "West", StreetKind.Street), (1, 4, "Long", StreetKind.Street), (4, 3, "Long", StreetKind.Street),
             (0, 2, "East", StreetKind.Street), (2, 3, "East", StreetKind.Street)],
            []);

        var path = map.ShortestPath(0, 3);

        Assert.Equal([0, 2, 3], path);
        Assert.InRange(map.Length(path), 595, 605);
        Assert.Equal([1, 0, 2, 3], map.ShortestPath(1, 3));
        Assert.Equal([4, 3], map.ShortestPath(4, 3));
        Assert.Equal([3], map.ShortestPath(3, 3));
        Assert.Empty(map.ShortestPath(0, 5));
    }

    [Fact]
    public void The_nearest_crossing_to_a_point_is_the_one_at_it_or_closest_to_it()
    {
        for (var n = 0; n < City.Nodes.Count; n += 7)
        {
            var node = City.Nodes[n];
            Assert.Equal(n, City.Nearest(node.Lat, node.Lng));
            Assert.Equal(n, City.Nearest(node.Lat + 0.0001, node.Lng - 0.0001));
        }
        var far = City.Nearest(53, 5);
        Assert.All(City.Nodes, other => Assert.True(CityMap.Distance(other.Lat, other.Lng, 53, 5) >= CityMap.Distance(City.Nodes[far].Lat, City.Nodes[far].Lng, 53, 5)));
    }

    [Fact]
    public void Only_bridges_cross_the_river()
    {
        var water = Assert.Single(City.Areas, a => a.Kind == AreaKind.Water);
        var bridges = 0;
        foreach (var edge in City.Edges)
        {
            var (a, b) = (City.Nodes[edge.From], City.Nodes[edge.To]);
            var wet = Enumerable.Range(0, 41).Select(k => k / 40.0)
                .Any(t => Inside(water.Points, a.Lat + ((b.Lat - a.Lat) * t), a.Lng + ((b.Lng - a.Lng) * t)));
            Assert.True(wet == (edge.Kind == StreetKind.Bridge), $"{edge.Street} ({edge.Kind}) {(wet ? "crosses" : "does not cross")} the river");
            bridges += wet ? 1 : 0;
        }
        Assert.InRange(bridges, 2, 6);
        Assert.DoesNotContain(City.Nodes, n => Inside(water.Points, n.Lat, n.Lng));
    }

    [Fact]
    public void No_street_runs_through_a_park()
    {
        var parks = City.Areas.Where(a => a.Kind == AreaKind.Park).ToList();

        Assert.NotEmpty(parks);
        foreach (var park in parks)
        {
            Assert.DoesNotContain(City.Nodes, n => Inside(park.Points, n.Lat, n.Lng));
            Assert.DoesNotContain(City.Edges, e => Inside(park.Points,
                (City.Nodes[e.From].Lat + City.Nodes[e.To].Lat) / 2, (City.Nodes[e.From].Lng + City.Nodes[e.To].Lng) / 2));
        }
    }

    [Fact]
    public void The_drawing_has_every_street_piece_once_in_polylines_of_named_streets()
    {
        var streets = City.Dto.Streets;

        Assert.Equal(City.Edges.Count, streets.Sum(s => s.Points.Count - 1));
        Assert.All(streets, s => Assert.True(s.Points.Count >= 2 && s.Points.All(p => p.Length == 2) && s.Name.Length > 0));
        var pieces = streets.SelectMany(s => s.Points.Zip(s.Points.Skip(1), (p, q) => Piece(p[0], p[1], q[0], q[1]))).ToHashSet();
        Assert.All(City.Edges, e => Assert.Contains(Piece(City.Nodes[e.From].Lat, City.Nodes[e.From].Lng, City.Nodes[e.To].Lat, City.Nodes[e.To].Lng), pieces));
        Assert.Contains(streets, s => s is { Name: "Ring Road", Kind: StreetKind.Main });
        Assert.True(streets.Where(s => s.Kind == StreetKind.Main).Select(s => s.Name).Distinct().Count() >= 4);
        Assert.True(streets.Where(s => s.Kind == StreetKind.Street).Select(s => s.Name).Distinct().Count() >= 15);
        // A named side street comes out as a few long lines, not as one line per block.
        Assert.True(streets.Count < City.Edges.Count / 4, $"{streets.Count} polylines for {City.Edges.Count} pieces");
        Assert.All(City.Dto.Areas, a => Assert.True(a.Points.Count >= 4));
    }

    [Fact]
    public void The_city_is_the_same_on_every_build()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web);
        Assert.Equal(JsonSerializer.Serialize(City.Dto, options), JsonSerializer.Serialize(DemoCity.Build().Dto, options));
    }

    [Fact]
    public void An_address_names_a_street_at_the_crossing()
    {
        for (var n = 0; n < City.Nodes.Count; n++)
        {
            Assert.Contains(City.EdgesAt(n), e => e.Street == City.StreetOf(n));
        }
    }

    private static (double, double, double, double) Piece(double lat1, double lng1, double lat2, double lng2) =>
        (lat1, lng1).CompareTo((lat2, lng2)) <= 0 ? (lat1, lng1, lat2, lng2) : (lat2, lng2, lat1, lng1);

    /// <summary>Ray casting: whether the point lies inside the polygon of [lat, lng] points.</summary>
    private static bool Inside(IReadOnlyList<double[]> polygon, double lat, double lng)
    {
        var inside = false;
        for (int i = 0, j = polygon.Count - 1; i < polygon.Count; j = i++)
        {
            var (ai, aj) = (polygon[i], polygon[j]);
            if ((ai[0] > lat) != (aj[0] > lat) && lng < ((aj[1] - ai[1]) * (lat - ai[0]) / (aj[0] - ai[0])) + ai[1])
            {
                inside = !inside;
            }
        }
        return inside;
    }
}
