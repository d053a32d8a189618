namespace GeoLogistics.Server.Demo;

/// <summary>
/// Lindenhaven, the made-up city of the demo: about 4 × 3 km around 52.37 N, 4.89 E. A grid of side streets bent by
/// the River Linde, which runs west to east through the middle and is crossed only on its four bridges; a ring road
/// with cut corners, two arterials, a main street on each bank, three diagonal avenues, and two parks. Built from a
/// 17 × 13 lattice with fixed pseudo-random irregularities, so every build is the same city.
/// </summary>
internal static class DemoCity
{
    public const string Name = "Lindenhaven";

    private const double CenterLat = 52.37;
    private const double CenterLng = 4.89;
    private const double MetersPerDegreeLat = 111_320;
    private const int Columns = 17;
    private const int Rows = 13;
    private const double Block = 250;
    private const double HalfWidth = Block * (Columns - 1) / 2;
    private const double HalfHeight = Block * (Rows - 1) / 2;
    private const int SouthQuay = 5;
    private const int NorthQuay = 6;
    /// <summary>From the river's middle to the quay streets; the water is 2 × 45 m wide, so a quay is 30 m from it.</summary>
    private const double QuayOffset = 75;
    private const double RiverHalfWidth = 45;
    /// <summary>The share of side-street blocks left out (joined into bigger blocks), as long as every crossing stays reachable.</summary>
    private const double MissingBlocks = 0.09;

    private static readonly double MetersPerDegreeLng = MetersPerDegreeLat * Math.Cos(CenterLat * Math.PI / 180);

    // East–west streets from south to north, and north–south streets from west to east; main roads take their part.
    private static readonly string[] RowNames =
    [
        "Polder Road", "Brewer Street", "Tanner Street", "Dock Road", "Cooper Street", "South Quay", "North Quay",
        "Canal Street", "High Street", "Linden Street", "Orchard Street", "Chapel Street", "Windmill Road",
    ];

    private static readonly string[] ColumnNames =
    [
        "Ash Lane", "Birch Street", "Cedar Street", "Elm Street", "Fir Street", "Hazel Street", "Juniper Street",
        "Laurel Street", "King's Avenue", "Maple Street", "Oak Street", "Poplar Street", "Rowan Street", "Spruce Street",
        "Thorn Lane", "Walnut Street", "Yew Lane",
    ];

    private static readonly Dictionary<int, string> BridgeNames = new()
    {
        [2] = "West Bridge",
        [5] = "Mill Bridge",
        [8] = "King's Bridge",
        [14] = "East Bridge",
    };

    // Kept straight: the frame, the ring and the arterials. Every other street gets a little jitter.
    private static readonly HashSet<int> StraightColumns = [0, 2, 8, 14, 16];
    private static readonly HashSet<int> StraightRows = [0, 1, 3, SouthQuay, NorthQuay, 8, 11, 12];

    private sealed record Road(string Name, StreetKind Kind, (int I, int J)[] Points);

    private static readonly Road[] MainRoads =
    [
        new("Ring Road", StreetKind.Main, Ring()),
        new("King's Avenue", StreetKind.Main, [.. Enumerable.Range(0, Rows).Select(j => (8, j))]),
        new("Dock Road", StreetKind.Main, [.. Enumerable.Range(0, Columns).Select(i => (i, 3))]),
        new("High Street", StreetKind.Main, [.. Enumerable.Range(0, Columns).Select(i => (i, 8))]),
        new("Harbour Road", StreetKind.Main, [(10, 0), (11, 1), (12, 2), (13, 3), (14, 4), (15, 5)]),
        new("Parkway", StreetKind.Main, [(7, 6), (6, 7), (5, 8), (4, 9), (3, 10)]),
        new("Station Avenue", StreetKind.Main, [(9, 6), (10, 7), (11, 8), (12, 9), (13, 10)]),
        new("Mill Bridge", StreetKind.Bridge, [(5, SouthQuay), (5, NorthQuay)]),
    ];

    /// <summary>A park covers the lattice rectangle between these columns and rows; no street runs inside it.</summary>
    private sealed record Park(string Name, int FromI, int ToI, int FromJ, int ToJ)
    {
        public bool Inside((int I, int J) p) => p.I > FromI && p.I < ToI && p.J > FromJ && p.J < ToJ;
    }

    private static readonly Park[] Parks =
    [
        new("Willow Park", 4, 6, 9, 11),
        new("Brickfield Park", 4, 7, 1, 3),
    ];

    public static CityMap Build()
    {
        var position = new (double X, double Y)[Columns, Rows];
        for (var i = 0; i < Columns; i++)
        {
            for (var j = 0; j < Rows; j++)
            {
                position[i, j] = Place(i, j);
            }
        }

        var streets = new Dictionary<((int, int), (int, int)), (string Street, StreetKind Kind)>();
        foreach (var road in MainRoads)
        {
            for (var k = 1; k < road.Points.Length; k++)
            {
                var (a, b) = (road.Points[k - 1], road.Points[k]);
                // Only bridges cross the river: a road's piece between the quays is its bridge.
                var bridge = a.I == b.I && Math.Min(a.J, b.J) == SouthQuay && Math.Max(a.J, b.J) == NorthQuay;
                streets[Key(a, b)] = bridge ? (BridgeNames[a.I], StreetKind.Bridge) : (road.Name, road.Kind);
            }
        }

        var leftOut = new List<((int I, int J) A, (int I, int J) B, string Street)>();
        void SideStreet((int I, int J) a, (int I, int J) b, string name)
        {
            if (streets.ContainsKey(Key(a, b)) || Parks.Any(p => p.Inside(a) || p.Inside(b)))
            {
                return;
            }
            // The quays and the city's edge stay whole; inside, a few blocks are joined into bigger ones.
            var kept = (a.J == b.J && a.J is 0 or SouthQuay or NorthQuay or Rows - 1) || (a.I == b.I && a.I is 0 or Columns - 1);
            if (!kept && Noise(a.I + b.I, a.J + b.J, 3) < MissingBlocks)
            {
                leftOut.Add((a, b, name));
                return;
            }
            streets[Key(a, b)] = (name, StreetKind.Street);
        }
        for (var j = 0; j < Rows; j++)
        {
            for (var i = 0; i + 1 < Columns; i++)
            {
                SideStreet((i, j), (i + 1, j), RowNames[j]);
            }
        }
        for (var i = 0; i < Columns; i++)
        {
            for (var j = 0; j + 1 < Rows; j++)
            {
                if (j != SouthQuay)
                {
                    SideStreet((i, j), (i, j + 1), ColumnNames[i]);
                }
            }
        }

        // A left-out block that would cut a crossing off the rest of the city is put back.
        var parent = new Dictionary<(int, int), (int, int)>();
        (int, int) Root((int, int) p)
        {
            while (parent.TryGetValue(p, out var up) && up != p)
            {
                p = up;
            }
            return p;
        }
        foreach (var ((a, b), _) in streets)
        {
            parent[Root(a)] = Root(b);
        }
        foreach (var (a, b, name) in leftOut)
        {
            if (Root(a) != Root(b))
            {
                parent[Root(a)] = Root(b);
                streets[Key(a, b)] = (name, StreetKind.Street);
            }
        }

        var ids = new Dictionary<(int I, int J), int>();
        var nodes = new List<MapNode>();
        foreach (var p in streets.Keys.SelectMany(k => new[] { k.Item1, k.Item2 }).Distinct().OrderBy(p => p.Item2).ThenBy(p => p.Item1))
        {
            ids[p] = nodes.Count;
            var (x, y) = position[p.Item1, p.Item2];
            nodes.Add(new MapNode(Lat(y), Lng(x)));
        }
        var edges = streets.OrderBy(s => ids[s.Key.Item1]).ThenBy(s => ids[s.Key.Item2])
            .Select(s => (ids[s.Key.Item1], ids[s.Key.Item2], s.Value.Street, s.Value.Kind));

        List<MapArea> areas = [River()];
        foreach (var park in Parks)
        {
            areas.Add(ParkArea(park, position));
        }
        return new CityMap(Name, nodes, edges, areas);
    }

    private static ((int, int), (int, int)) Key((int I, int J) a, (int I, int J) b) =>
        (a.J, a.I).CompareTo((b.J, b.I)) <= 0 ? (a, b) : (b, a);

    private static (int I, int J)[] Ring()
    {
        var points = new List<(int, int)>();
        points.AddRange(Enumerable.Range(3, 11).Select(i => (i, 1)));
        points.AddRange(Enumerable.Range(2, 9).Select(j => (14, j)));
        points.AddRange(Enumerable.Range(3, 11).Reverse().Select(i => (i, 11)));
        points.AddRange(Enumerable.Range(2, 9).Reverse().Select(j => (2, j)));
        points.Add((3, 1));
        return [.. points];
    }

    /// <summary>The middle of the river, metres north of the centre, at metres east of it: a slow meander.</summary>
    private static double RiverY(double x) => -150 + (110 * Math.Sin(x / 800)) + (45 * Math.Sin((x / 330) + 1.3));

    /// <summary>
    /// Where lattice point (i, j) lies, in metres east and north of the centre: columns sway a little, rows follow the
    /// river's bends near it and straighten away from it, and side streets are jittered.
    /// </summary>
    private static (double X, double Y) Place(int i, int j)
    {
        var nominalY = (Block * j) - HalfHeight;
        var x = (Block * i) - HalfWidth + (40 * Math.Sin(nominalY / 600));
        if (!StraightColumns.Contains(i))
        {
            x += (Noise(i, j, 1) - 0.5) * 70;
        }
        var y = j <= SouthQuay
            ? Lerp(-HalfHeight, RiverY(x) - QuayOffset, j / (double)SouthQuay)
            : Lerp(RiverY(x) + QuayOffset, HalfHeight, (j - NorthQuay) / (double)(Rows - 1 - NorthQuay));
        if (!StraightRows.Contains(j))
        {
            y += (Noise(i, j, 2) - 0.5) * 60;
        }
        return (x, y);
    }

    private static MapArea River()
    {
        var xs = Enumerable.Range(0, 83).Select(k => -HalfWidth - 50 + (k * 50.0)).ToList();
        var north = xs.Select(x => Point(x, RiverY(x) + RiverHalfWidth));
        var south = xs.AsEnumerable().Reverse().Select(x => Point(x, RiverY(x) - RiverHalfWidth));
        return new MapArea("River Linde", AreaKind.Water, [.. north.Concat(south)]);
    }

    /// <summary>The park's edge: its border crossings, pulled 30 m inward so the streets around it stay visible.</summary>
    private static MapArea ParkArea(Park park, (double X, double Y)[,] position)
    {
        var border = new List<(int I, int J)>();
        border.AddRange(Enumerable.Range(park.FromI, park.ToI - park.FromI).Select(i => (i, park.FromJ)));
        border.AddRange(Enumerable.Range(park.FromJ, park.ToJ - park.FromJ).Select(j => (park.ToI, j)));
        border.AddRange(Enumerable.Range(park.FromI + 1, park.ToI - park.FromI).Reverse().Select(i => (i, park.ToJ)));
        border.AddRange(Enumerable.Range(park.FromJ + 1, park.ToJ - park.FromJ).Reverse().Select(j => (park.FromI, j)));
        var points = border.Select(p => position[p.I, p.J]).ToList();
        var (cx, cy) = (points.Average(p => p.X), points.Average(p => p.Y));
        return new MapArea(park.Name, AreaKind.Park, [.. points.Select(p =>
        {
            var (dx, dy) = (cx - p.X, cy - p.Y);
            var length = Math.Sqrt((dx * dx) + (dy * dy));
            return Point(p.X + (dx / length * 30), p.Y + (dy / length * 30));
        })]);
    }

    private static double[] Point(double x, double y) => [Lat(y), Lng(x)];

    private static double Lat(double y) => Math.Round(CenterLat + (y / MetersPerDegreeLat), 6);

    private static double Lng(double x) => Math.Round(CenterLng + (x / MetersPerDegreeLng), 6);

    private static double Lerp(double from, double to, double t) => from + ((to - from) * t);

    /// <summary>A fixed pseudo-random number in [0, 1) for a lattice place: the same city on every build and machine.</summary>
    private static double Noise(int i, int j, int salt)
    {
        unchecked
        {
            var h = ((uint)i * 73_856_093u) ^ ((uint)j * 19_349_663u) ^ ((uint)salt * 83_492_791u);
            h ^= h >> 13;
            h *= 0x5bd1e995u;
            h ^= h >> 15;
            return (h & 0xFF_FFFF) / (double)0x100_0000;
        }
    }
}
