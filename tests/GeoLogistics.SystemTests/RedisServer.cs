using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace GeoLogistics.SystemTests;

/// <summary>
/// A Redis server of the test's own (Debian's <c>redis-server</c>, no persistence, loopback), so that a test can kill
/// it with SIGKILL and start it again on the same port without touching the Redis other tests share.
/// </summary>
public sealed class RedisServer : IAsyncDisposable
{
    private Process? process;

    private RedisServer(int port) => Port = port;

    public int Port { get; }

    public string Configuration => $"127.0.0.1:{Port},connectTimeout=1000,syncTimeout=1000";

    public static async Task<RedisServer> StartAsync(CancellationToken ct)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        var redis = new RedisServer(port);
        await redis.RestartAsync(ct);
        return redis;
    }

    /// <summary>Starts it (again, on the same port, empty) and waits until it answers.</summary>
    public async Task RestartAsync(CancellationToken ct)
    {
        if (Environment.GetEnvironmentVariable("GEOLOGISTICS_TEST_REDIS") is null && !File.Exists("/usr/bin/redis-server"))
        {
            Assert.Skip("No redis-server here (scripts/test.sh installs it).");
        }
        process = Process.Start(new ProcessStartInfo("redis-server",
            ["--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        {
            RedirectStandardOutput = true,
            UseShellExecute = false,
        }) ?? throw new InvalidOperationException("redis-server did not start");
        process.BeginOutputReadLine();
        using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, patience.Token);
        while (true)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, Port, linked.Token);
                await using var stream = client.GetStream();
                await stream.WriteAsync("PING\r\n"u8.ToArray(), linked.Token);
                var answer = new byte[7];
                if (await stream.ReadAsync(answer, linked.Token) > 0 && answer[0] == (byte)'+')
                {
                    return;
                }
            }
            catch (SocketException)
            {
            }
            await Task.Delay(50, linked.Token);
        }
    }

    /// <summary>SIGKILL: gone at once, with every connection and everything it held.</summary>
    public void Kill()
    {
        process?.Kill();
        process?.WaitForExit();
        process?.Dispose();
        process = null;
    }

    public ValueTask DisposeAsync()
    {
        Kill();
        return ValueTask.CompletedTask;
    }
}
