using System.Net;
using System.Text.Json;
using GeoLogistics.Tests.Support;

namespace GeoLogistics.Tests.Demo;

public class DemoTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task The_map_answers_401_without_a_token()
    {
        await using var app = await TestApp.StartAsync();

        var response = await app.CreateClient().GetAsync("/api/map", Ct);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Contains("Bearer", response.Headers.WwwAuthenticate.ToString());
    }

    [Fact]
    public async Task Any_user_gets_the_demo_city_map_in_the_documented_shape()
    {
        await using var app = await TestApp.StartAsync();

        var response = await (await app.CustomerAsync()).GetAsync("/api/map", Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var map = await response.ReadJsonAsync();

        Assert.Equal(["name", "bounds", "streets", "areas"], map.EnumerateObject().Select(p => p.Name));
        Assert.False(string.IsNullOrWhiteSpace(map.GetProperty("name").GetString()));
        var bounds = map.GetProperty("bounds");
        Assert.Equal(["minLat", "minLng", "maxLat", "maxLng"], bounds.EnumerateObject().Select(p => p.Name));
        var (minLat, minLng, maxLat, maxLng) = (bounds.GetProperty("minLat").GetDouble(), bounds.GetProperty("minLng").GetDouble(),
            bounds.GetProperty("maxLat").GetDouble(), bounds.GetProperty("maxLng").GetDouble());
        Assert.True(minLat < 52.37 && 52.37 < maxLat && minLng < 4.89 && 4.89 < maxLng);

        void AssertPoints(JsonElement points, int atLeast)
        {
            Assert.True(points.GetArrayLength() >= atLeast);
            foreach (var point in points.EnumerateArray())
            {
                Assert.Equal(2, point.GetArrayLength());
                Assert.InRange(point[0].GetDouble(), minLat, maxLat);
                Assert.InRange(point[1].GetDouble(), minLng, maxLng);
            }
        }
        var streets = map.GetProperty("streets").EnumerateArray().ToList();
        Assert.NotEmpty(streets);
        foreach (var street in streets)
        {
            Assert.Equal(["name", "kind", "points"], street.EnumerateObject().Select(p => p.Name));
            Assert.False(string.IsNullOrWhiteSpace(street.GetProperty("name").GetString()));
            Assert.Contains(street.GetProperty("kind").GetString(), new[] { "main", "street", "bridge" });
            AssertPoints(street.GetProperty("points"), 2);
        }
        Assert.Equal(["bridge", "main", "street"], streets.Select(s => s.GetProperty("kind").GetString()).Distinct().Order());
        var areas = map.GetProperty("areas").EnumerateArray().ToList();
        foreach (var area in areas)
        {
            Assert.Equal(["name", "kind", "points"], area.EnumerateObject().Select(p => p.Name));
            AssertPoints(area.GetProperty("points"), 3);
        }
        Assert.Equal(["park", "water"], areas.Select(a => a.GetProperty("kind").GetString()).Distinct().Order());
    }
}
