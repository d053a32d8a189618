using System.Net.WebSockets;
using GeoLogistics.Server.Realtime.Core;
using GeoLogistics.Server.Realtime.Json;

namespace GeoLogistics.Server.Realtime.SocketIo;

public enum EngineTransport
{
    Polling,
    /// <summary>A WebSocket answered the probe; polling is paused until the client's <c>upgrade</c> packet.</summary>
    Upgrading,
    WebSocket,
}

/// <summary>
/// The connection's two transports, each draining its queue: long-polling (one GET and one POST at a time) and a
/// WebSocket, from the start or by an upgrade (EngineConnection.cs: its namespaces, its queue, its heartbeat and its end).
/// </summary>
public sealed partial class EngineConnection
{
    // ---- Long-polling ----

    /// <summary>
    /// A GET: what is queued, at once or when something comes (a ping comes within the ping interval). Null when the
    /// GET is not allowed: the connection is on a WebSocket, or another GET is open (then it is closed, as the protocol says).
    /// </summary>
    public async Task<ReadOnlyMemory<byte>?> PollAsync(CancellationToken aborted)
    {
        TaskCompletionSource? wait = null;
        NamespaceSocket[] ended = [];
        ReadOnlyMemory<byte>? now = null;
        lock (gate)
        {
            if (Transport == EngineTransport.WebSocket)
            {
                return null;
            }
            if (getActive)
            {
                ended = CloseLocked(new SessionClose(CloseReason.Normal, "overlapping poll"));
            }
            else if (queued.Count > 0 || closed is not null)
            {
                now = TakeAllLocked();
            }
            else if (Transport == EngineTransport.Upgrading)
            {
                // The probe was answered before this poll came: the client waits for it to return before it pauses
                // polling and sends the upgrade, so it must not park.
                now = EngineIo.Noop;
            }
            else
            {
                getActive = true;
                wait = parkedGet = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
        }
        if (wait is null)
        {
            End(ended);
            return now;
        }
        try
        {
            await wait.Task.WaitAsync(aborted);
        }
        finally
        {
            lock (gate)
            {
                getActive = false;
                parkedGet = null;
            }
        }
        lock (gate)
        {
            // Woken with nothing to say: the upgrade releases the poll with a noop.
            return queued.Count > 0 || closed is not null ? TakeAllLocked() : EngineIo.Noop;
        }
    }

    private ReadOnlyMemory<byte> TakeAllLocked()
    {
        var length = 0;
        foreach (var batch in queued)
        {
            length += batch.Length + 1;
        }
        var closing = closed is not null;
        if (closing)
        {
            length += EngineIo.Close.Length + 1;
        }
        var body = new byte[Math.Max(0, length - 1)];
        var at = 0;
        void Append(ReadOnlySpan<byte> bytes, byte[] body, ref int at)
        {
            if (at > 0)
            {
                body[at++] = EngineIo.Separator;
            }
            bytes.CopyTo(body.AsSpan(at));
            at += bytes.Length;
        }
        while (queued.TryDequeue(out var batch))
        {
            Append(batch.Span, body, ref at);
        }
        if (closing)
        {
            // The close packet ends the client's polling transport: it stops polling and reconnects.
            Append(EngineIo.Close.Span, body, ref at);
        }
        TookLocked();
        return body;
    }

    /// <summary>Only one POST at a time (the protocol's order guarantee); a second one closes the connection.</summary>
    public bool TryBeginPost()
    {
        NamespaceSocket[] ended;
        lock (gate)
        {
            if (!postActive)
            {
                postActive = true;
                return true;
            }
            ended = CloseLocked(new SessionClose(CloseReason.Normal, "overlapping post"));
        }
        End(ended);
        Wake();
        return false;
    }

    public void EndPost()
    {
        lock (gate)
        {
            postActive = false;
        }
    }

    // ---- WebSocket ----

    /// <summary>A WebSocket for this connection: the only one, and only while polling (an upgrade) or from the start.</summary>
    public bool TryBeginUpgrade(WebSocket webSocket, SocketStream? socketStream, bool fromStart)
    {
        lock (gate)
        {
            if (closed is not null || socket is not null || (Transport != EngineTransport.Polling && !fromStart))
            {
                return false;
            }
            socket = webSocket;
            stream = socketStream;
            Transport = fromStart ? EngineTransport.WebSocket : EngineTransport.Upgrading;
        }
        if (!fromStart)
        {
            // The probe answered: a poll still open returns (a noop if nothing waits), and the client pauses polling.
            Wake();
        }
        return true;
    }

    /// <summary>The client's <c>upgrade</c> packet: from now on everything goes over the WebSocket.</summary>
    public void CompleteUpgrade()
    {
        lock (gate)
        {
            Transport = EngineTransport.WebSocket;
            parkedGet?.TrySetResult();
        }
        Wake();
    }

    /// <summary>Sends the queue frame by frame in one corked write, then (once closed) the close frame.</summary>
    private async Task PumpAsync()
    {
        var ws = socket!;
        try
        {
            while (true)
            {
                ReadOnlyMemory<byte> batch;
                bool more;
                lock (gate)
                {
                    more = queued.TryDequeue(out batch);
                    if (more)
                    {
                        TookLocked();
                    }
                }
                if (!more)
                {
                    if (stream is not null)
                    {
                        await stream.UncorkAsync();
                    }
                    lock (gate)
                    {
                        if (queued.Count > 0)
                        {
                            continue;
                        }
                        pumping = false;
                        if (closed is null)
                        {
                            return;
                        }
                    }
                    await CloseSocketAsync(ws);
                    return;
                }
                stream?.Cork();
                var rest = batch;
                while (true)
                {
                    var end = rest.Span.IndexOf(EngineIo.Separator);
                    await ws.SendAsync(end < 0 ? rest : rest[..end], WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None);
                    if (end < 0)
                    {
                        break;
                    }
                    rest = rest[(end + 1)..];
                }
            }
        }
        catch (Exception e) when (e is WebSocketException or IOException or OperationCanceledException or ObjectDisposedException)
        {
            ws.Abort();
            Close(SessionClose.Bye);
        }
    }

    /// <summary>The close frame, then (as every protocol ends a socket, <see cref="SocketClose"/>) a cut-off for a client that never answers it.</summary>
    private async Task CloseSocketAsync(WebSocket ws)
    {
        var close = Volatile.Read(ref closed)!;
        var text = close.Text.Length > 120 ? close.Text[..120] : close.Text;
        var status = Volatile.Read(ref failed) ? WebSocketCloseStatus.ProtocolError : StatusOf(close.Reason);
        await SocketClose.SendAsync(ws, status, text, stream);
    }

    /// <summary>The JSON protocol's close codes, and 1002 for a packet the protocol does not allow.</summary>
    public static WebSocketCloseStatus StatusOf(CloseReason reason) =>
        reason == CloseReason.Normal ? WebSocketCloseStatus.NormalClosure : JsonSocket.StatusOf(reason);
}
