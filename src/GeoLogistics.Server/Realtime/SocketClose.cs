using System.Net.WebSockets;

namespace GeoLogistics.Server.Realtime;

/// <summary>How every socket protocol ends a WebSocket it serves: its last words, the close frame, and a cut-off for a client that never answers.</summary>
public static class SocketClose
{
    private static readonly TimeSpan SendPatience = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan AnswerWait = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Writes <paramref name="lastWords"/> (a protocol's final frames), puts what <paramref name="stream"/> holds on the
    /// network, and sends the close frame; a client that reads nothing gets it once it reads again, and one that never
    /// does is aborted after a while. The client's answer ends the receive loop; one that does not answer is cut off.
    /// </summary>
    public static async ValueTask SendAsync(
        WebSocket socket, WebSocketCloseStatus status, string text, SocketStream? stream, Func<CancellationToken, ValueTask>? lastWords = null)
    {
        if (socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
        {
            using var timeout = new CancellationTokenSource(SendPatience);
            try
            {
                if (lastWords is not null)
                {
                    await lastWords(timeout.Token);
                }
                if (stream is not null)
                {
                    await stream.UncorkAsync(timeout.Token);
                }
                await socket.CloseOutputAsync(status, text, timeout.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or WebSocketException or IOException)
            {
                Abort(socket, stream);
            }
        }
        _ = CutOffAsync(socket, stream);
    }

    private static async Task CutOffAsync(WebSocket socket, SocketStream? stream)
    {
        await Task.Delay(AnswerWait);
        if (socket.State != WebSocketState.Closed)
        {
            Abort(socket, stream);
        }
    }

    /// <summary>
    /// Aborting the WebSocket alone does not end a read parked on the connection's pipe (a socket served off the
    /// connection would then wait for a client that is gone): the connection under it is cut off first.
    /// </summary>
    private static void Abort(WebSocket socket, SocketStream? stream)
    {
        stream?.CutOff();
        socket.Abort();
    }
}
