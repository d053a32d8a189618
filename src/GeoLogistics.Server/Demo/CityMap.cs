using System.Text.Json.Serialization;
using GeoLogistics.Server.Dispatch;
using GeoLogistics.Server.Http;

namespace GeoLogistics.Server.Demo;

[JsonConverter(typeof(LowerSnakeEnumConverter<StreetKind>))]
public enum StreetKind
{
    Main,
    Street,
    Bridge,
}

[JsonConverter(typeof(LowerSnakeEnumConverter<AreaKind>))]
public enum AreaKind
{
    Water,
    Park,
}

/// <summary>A crossing or a bend: where streets meet. Its id is its index in <see cref="CityMap.Nodes"/>.</summary>
public sealed record MapNode(double Lat, double Lng);

/// <summary>A piece of a named street between two nodes; it is driven both ways.</summary>
public sealed record MapEdge(int From, int To, string Street, StreetKind Kind, double Meters)
{
    public int Other(int node) => node == From ? To : From;
}

/// <summary>What <c>GET /api/map</c> answers: enough to draw the city, nothing of the graph's inner numbering.</summary>
public sealed record MapDto(string Name, MapBounds Bounds, IReadOnlyList<MapStreet> Streets, IReadOnlyList<MapArea> Areas);

public sealed record MapBounds(double MinLat, double MinLng, double MaxLat, double MaxLng);

/// <summary>One stretch of a named street as a polyline of <c>[lat, lng]</c> points.</summary>
public sealed record MapStreet(string Name, StreetKind Kind, IReadOnlyList<double[]> Points);

/// <summary>A closed polygon of <c>[lat, lng]</c> points (the last point joins the first).</summary>
public sealed record MapArea(string Name, AreaKind Kind, IReadOnlyList<double[]> Points);

/// <summary>
/// A road graph: nodes with positions, undirected edges along named streets, and the areas drawn with them
/// (water, parks). Pure: shortest paths, the nearest node to a point, and the drawing of the map.
/// </summary>
public sealed class CityMap
{
    private readonly List<int>[] adjacency;

    public CityMap(string name, IReadOnlyList<MapNode> nodes, IEnumerable<(int From, int To, string Street, StreetKind Kind)> edges, IReadOnlyList<MapArea> areas)
    {
        Name = name;
        Nodes = nodes;
        Areas = areas;
        Edges = [.. edges.Select(e => new MapEdge(e.From, e.To, e.Street, e.Kind, Distance(nodes[e.From], nodes[e.To])))];
        adjacency = [.. nodes.Select(_ => new List<int>())];
        for (var i = 0; i < Edges.Count; i++)
        {
            adjacency[Edges[i].From].Add(i);
            adjacency[Edges[i].To].Add(i);
        }
        Dto = Draw();
    }

    /// <summary>The made-up city of the demo (<see cref="DemoCity"/>), built once.</summary>
    public static CityMap Demo { get; } = DemoCity.Build();

    public string Name { get; }

    public IReadOnlyList<MapNode> Nodes { get; }

    public IReadOnlyList<MapEdge> Edges { get; }

    public IReadOnlyList<MapArea> Areas { get; }

    /// <summary>The map as the dashboard draws it, made once.</summary>
    public MapDto Dto { get; }

    public IEnumerable<MapEdge> EdgesAt(int node) => adjacency[node].Select(i => Edges[i]);

    /// <summary>Great-circle metres between two points, as dispatch and tracking measure them.</summary>
    public static double Distance(double lat1, double lng1, double lat2, double lng2) => GeoGrid.DistanceKm(lat1, lng1, lat2, lng2) * 1000;

    public static double Distance(MapNode a, MapNode b) => Distance(a.Lat, a.Lng, b.Lat, b.Lng);

    /// <summary>The node closest to a point (a linear scan: the city has a few hundred nodes).</summary>
    public int Nearest(double lat, double lng)
    {
        var best = 0;
        var bestMeters = double.MaxValue;
        for (var i = 0; i < Nodes.Count; i++)
        {
            var meters = Distance(lat, lng, Nodes[i].Lat, Nodes[i].Lng);
            if (meters < bestMeters)
            {
                (best, bestMeters) = (i, meters);
            }
        }
        return best;
    }

    /// <summary>
    /// The shortest path by street length (Dijkstra), as the nodes from <paramref name="from"/> to <paramref name="to"/>
    /// inclusive; empty when no street leads there.
    /// </summary>
    public IReadOnlyList<int> ShortestPath(int from, int to)
    {
        var distance = new double[Nodes.Count];
        var previous = new int[Nodes.Count];
        Array.Fill(distance, double.PositiveInfinity);
        Array.Fill(previous, -1);
        distance[from] = 0;
        var queue = new PriorityQueue<int, double>();
        queue.Enqueue(from, 0);
        while (queue.TryDequeue(out var node, out var reached))
        {
            if (node == to)
            {
                break;
            }
            if (reached > distance[node])
            {
                continue; // a stale entry: the node was reached shorter since
            }
            foreach (var index in adjacency[node])
            {
                var edge = Edges[index];
                var next = edge.Other(node);
                var through = reached + edge.Meters;
                if (through < distance[next])
                {
                    distance[next] = through;
                    previous[next] = node;
                    queue.Enqueue(next, through);
                }
            }
        }
        if (double.IsPositiveInfinity(distance[to]))
        {
            return [];
        }
        var path = new List<int>();
        for (var node = to; node != -1; node = previous[node])
        {
            path.Add(node);
        }
        path.Reverse();
        return path;
    }

    /// <summary>The length of a path of nodes, along its streets.</summary>
    public double Length(IReadOnlyList<int> path)
    {
        var meters = 0.0;
        for (var i = 1; i < path.Count; i++)
        {
            meters += Distance(Nodes[path[i - 1]], Nodes[path[i]]);
        }
        return meters;
    }

    /// <summary>The side street a node is on (else its main road or bridge): what an address names.</summary>
    public string StreetOf(int node) =>
        EdgesAt(node).OrderBy(e => e.Kind == StreetKind.Street ? 0 : e.Kind == StreetKind.Main ? 1 : 2).ThenBy(e => e.Street, StringComparer.Ordinal)
            .Select(e => e.Street).FirstOrDefault() ?? Name;

    /// <summary>Each named street's edges joined into as few polylines as its shape allows.</summary>
    private MapDto Draw()
    {
        var streets = new List<MapStreet>();
        foreach (var group in Enumerable.Range(0, Edges.Count).GroupBy(i => (Edges[i].Street, Edges[i].Kind)))
        {
            var unused = group.ToHashSet();
            var degree = new Dictionary<int, int>();
            foreach (var index in unused)
            {
                degree[Edges[index].From] = degree.GetValueOrDefault(Edges[index].From) + 1;
                degree[Edges[index].To] = degree.GetValueOrDefault(Edges[index].To) + 1;
            }
            while (unused.Count > 0)
            {
                // Start at an end of the street when it has one, so a plain street comes out as one line.
                var start = unused.SelectMany(i => new[] { Edges[i].From, Edges[i].To }).OrderBy(n => degree[n] % 2 == 1 ? 0 : 1).ThenBy(n => n).First();
                var line = new List<double[]> { Point(start) };
                var at = start;
                while (true)
                {
                    var next = adjacency[at].FirstOrDefault(unused.Contains, -1);
                    if (next < 0)
                    {
                        break;
                    }
                    unused.Remove(next);
                    degree[Edges[next].From]--;
                    degree[Edges[next].To]--;
                    at = Edges[next].Other(at);
                    line.Add(Point(at));
                }
                streets.Add(new MapStreet(group.Key.Street, group.Key.Kind, line));
            }
        }
        var points = Nodes.Select(n => (n.Lat, n.Lng)).Concat(Areas.SelectMany(a => a.Points).Select(p => (Lat: p[0], Lng: p[1]))).ToList();
        var bounds = new MapBounds(points.Min(p => p.Lat), points.Min(p => p.Lng), points.Max(p => p.Lat), points.Max(p => p.Lng));
        return new MapDto(Name, bounds, [.. streets.OrderBy(s => s.Kind).ThenBy(s => s.Name, StringComparer.Ordinal)], Areas);
    }

    private double[] Point(int node) => [Nodes[node].Lat, Nodes[node].Lng];
}
