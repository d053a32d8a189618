using System.Net;
using System.Net.Sockets;

namespace GeoLogistics.Tests.Support;

/// <summary>
/// Relays loopback connections to a server (a store, Redis), byte for byte, until cut: then it refuses new connections
/// and resets the open ones, as a partition or a stopped server does; restored on the same port.
/// </summary>
public sealed class TcpProxy : IDisposable
{
    private readonly IPEndPoint target;
    private readonly Lock gate = new();
    private readonly List<Socket> open = [];
    private Socket? listener;

    public TcpProxy(IPEndPoint target)
    {
        this.target = target;
        Listen(0);
    }

    public int Port { get; private set; }

    private void Listen(int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        // The port comes back after the cut: the connections it reset must not hold it.
        socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, port));
        socket.Listen();
        Port = ((IPEndPoint)socket.LocalEndPoint!).Port;
        lock (gate)
        {
            listener = socket;
        }
        _ = AcceptAsync(socket);
    }

    private async Task AcceptAsync(Socket socket)
    {
        try
        {
            while (true)
            {
                var inbound = await socket.AcceptAsync();
                var outbound = new Socket(target.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                try
                {
                    await outbound.ConnectAsync(target);
                }
                catch (SocketException)
                {
                    Reset(inbound);
                    Reset(outbound);
                    continue;
                }
                lock (gate)
                {
                    if (listener != socket)
                    {
                        // Cut while this one was being connected: it goes down with the rest.
                        Reset(inbound);
                        Reset(outbound);
                        continue;
                    }
                    open.Add(inbound);
                    open.Add(outbound);
                }
                _ = PipeAsync(inbound, outbound);
                _ = PipeAsync(outbound, inbound);
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // The listener was closed: cut.
        }
    }

    private static async Task PipeAsync(Socket from, Socket to)
    {
        var buffer = new byte[64 * 1024];
        try
        {
            int read;
            while ((read = await from.ReceiveAsync(buffer, SocketFlags.None)) > 0)
            {
                await to.SendAsync(buffer.AsMemory(0, read), SocketFlags.None);
            }
            to.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // One side went away (or was cut): the other learns it from its own socket.
        }
    }

    /// <summary>New connections are refused; open ones are reset, not closed politely.</summary>
    public void Cut()
    {
        lock (gate)
        {
            listener?.Dispose();
            listener = null;
            foreach (var socket in open)
            {
                Reset(socket);
            }
            open.Clear();
        }
    }

    public void Restore() => Listen(Port);

    private static void Reset(Socket socket)
    {
        try
        {
            socket.LingerState = new LingerOption(true, 0);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
        socket.Dispose();
    }

    public void Dispose() => Cut();
}
