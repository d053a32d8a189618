using System.Net;
using System.Net.WebSockets;
using GeoLogistics.Server.Realtime.Core;
using GeoLogistics.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace GeoLogistics.Tests.Nodes;

/// <summary>The live side of a clean stop (docs/adr/0009); SIGTERM itself is in the system tests.</summary>
public class DrainTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Draining_closes_every_socket_as_a_restart_and_refuses_new_ones_with_503()
    {
        await using var app = await TestApp.StartAsync();
        await using var open = await WsClient.ConnectAsync(app.ServerUri, await app.TokenForAsync("dispatcher@demo.test"), Ct);
        Assert.Equal("connection_ack", (await open.NextAsync()).GetProperty("type").GetString());

        await app.Services.GetRequiredService<LiveHub>().DrainAsync(SessionClose.Restart, TimeSpan.FromSeconds(5));

        Assert.Equal((WebSocketCloseStatus)1012, await open.ClosedAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, await WsClient.RefusalAsync(app.ServerUri, await app.TokenForAsync("dispatcher@demo.test"), Ct));
    }
}
