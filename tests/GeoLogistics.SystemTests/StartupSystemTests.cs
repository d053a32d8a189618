using GeoLogistics.Tests.Support;

namespace GeoLogistics.SystemTests;

/// <summary>Start-up checks, as a user meets them: the server process itself refuses to start.</summary>
public class StartupSystemTests
{
    [Fact]
    public async Task A_signing_key_under_256_bits_stops_the_server_at_start()
    {
        await using var store = await TestStore.CreateAsync();

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => ServerProcess.StartAsync(
            store, port: null, new Dictionary<string, string> { ["Jwt:SigningKey"] = "too-short-key" }, TestContext.Current.CancellationToken));

        Assert.Contains("exited", error.Message, StringComparison.Ordinal);
        Assert.Contains("OptionsValidationException: Jwt:SigningKey is shorter than 256 bits", error.Message, StringComparison.Ordinal);
    }
}
