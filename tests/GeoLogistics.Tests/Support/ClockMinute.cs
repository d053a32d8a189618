namespace GeoLogistics.Tests.Support;

/// <summary>
/// An address's login attempts are counted in the clock's minutes (<c>Auth/LoginGuard</c>): a test whose attempts must
/// fall in one minute starts them early enough in it.
/// </summary>
public static class ClockMinute
{
    /// <summary>Waits for the next minute when fewer than 15 s of this one are left.</summary>
    public static async Task StartEarlyInOneAsync(CancellationToken ct)
    {
        var into = TimeSpan.FromTicks(DateTimeOffset.UtcNow.Ticks % TimeSpan.TicksPerMinute);
        if (into > TimeSpan.FromSeconds(45))
        {
            await Task.Delay(TimeSpan.FromMinutes(1) - into + TimeSpan.FromMilliseconds(200), ct);
        }
    }
}
