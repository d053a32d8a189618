using GeoLogistics.Server.Drivers;
using GeoLogistics.Server.Tracking;

namespace GeoLogistics.Tests.Tracking;

/// <summary>The pure rules of tracking: what a position must be, what counts as a jump, and what it announces.</summary>
public class PositionRulesTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);

    private static LocationRequest At(double? lat, double? lng, double? heading = null, double? speed = null, double? accuracy = null) =>
        new(lat, lng, heading, speed, accuracy, null);

    [Theory]
    [InlineData(null, 4.9, "lat")]
    [InlineData(91.0, 4.9, "lat")]
    [InlineData(double.NaN, 4.9, "lat")]
    [InlineData(52.0, -180.5, "lng")]
    [InlineData(52.0, double.PositiveInfinity, "lng")]
    public void A_position_out_of_range_names_its_field(double? lat, double? lng, string field) =>
        Assert.Equal(field, PositionChecks.Check(At(lat, lng))?.Field);

    [Fact]
    public void Heading_speed_and_accuracy_are_checked_when_given_and_the_prefix_names_the_batch_item()
    {
        Assert.Null(PositionChecks.Check(At(52, 4.9, heading: 360, speed: 0, accuracy: 5)));
        Assert.Equal("heading", PositionChecks.Check(At(52, 4.9, heading: -1))?.Field);
        Assert.Equal("speed", PositionChecks.Check(At(52, 4.9, speed: 101))?.Field);
        Assert.Equal("positions[3].accuracy", PositionChecks.Check(At(52, 4.9, accuracy: double.NaN), "positions[3].")?.Field);
    }

    [Fact]
    public void A_jump_is_farther_than_the_top_speed_allows_in_the_time_between()
    {
        var from = new Position(52.0, 4.9, null, null, T0, false);
        // About 1.11 km north: 10 s at 70 m/s is 700 m (a jump); 20 s is 1,400 m (not one).
        Assert.True(PositionChecks.IsJump(from, 52.01, 4.9, T0.AddSeconds(10), maxSpeedMps: 70));
        Assert.False(PositionChecks.IsJump(from, 52.01, 4.9, T0.AddSeconds(20), maxSpeedMps: 70));
        // Two positions in the same second are judged as one second apart, not as infinitely fast.
        Assert.False(PositionChecks.IsJump(from, 52.0001, 4.9, T0, maxSpeedMps: 70));
    }

    [Fact]
    public void Speed_between_two_positions_needs_time_to_pass()
    {
        var a = new Position(52.0, 4.9, null, null, T0, false);
        var b = new Position(52.01, 4.9, null, null, T0.AddSeconds(100), false);
        Assert.InRange(PositionChecks.SpeedBetween(a, b)!.Value, 11.0, 11.3);
        Assert.Null(PositionChecks.SpeedBetween(b, a));
    }

    [Fact]
    public void An_eta_is_announced_first_then_only_when_it_moved_by_a_step_and_again_for_a_new_order()
    {
        var announced = new Announcements();
        var order = Guid.NewGuid();
        Assert.True(announced.Decide(order, "pickup", 10.0, 5, etaStepMinutes: 1, arrivalRadiusMeters: 100).SendEta);
        Assert.False(announced.Decide(order, "pickup", 9.5, 5, 1, 100).SendEta);
        Assert.True(announced.Decide(order, "pickup", 8.9, 5, 1, 100).SendEta);
        Assert.Equal(8.9, announced.LastEta(order));
        var next = Guid.NewGuid();
        Assert.Null(announced.LastEta(next));
        Assert.True(announced.Decide(next, "pickup", 8.9, 5, 1, 100).SendEta);
        Assert.Null(announced.LastEta(order));
    }

    [Fact]
    public void Arrival_is_announced_once_per_leg_within_the_radius()
    {
        var announced = new Announcements();
        var order = Guid.NewGuid();
        Assert.False(announced.Decide(order, "pickup", 1, distanceKm: 0.2, 1, arrivalRadiusMeters: 100).Arriving);
        Assert.True(announced.Decide(order, "pickup", 1, distanceKm: 0.05, 1, 100).Arriving);
        Assert.False(announced.Decide(order, "pickup", 1, distanceKm: 0.01, 1, 100).Arriving);
        Assert.True(announced.Decide(order, "dropoff", 1, distanceKm: 0.01, 1, 100).Arriving);
    }
}
