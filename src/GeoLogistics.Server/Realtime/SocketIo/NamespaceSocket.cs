using System.Threading.Channels;
using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Realtime.Core;

namespace GeoLogistics.Server.Realtime.SocketIo;

/// <summary>
/// One namespace connected on an Engine.IO connection, under its own <see cref="LiveSession"/>: the two namespaces of
/// one connection are two sessions (their own user, subscriptions, outbox and flood budget), which share the
/// connection's queue. Events are framed here; the client's events are handled one at a time, in order, on a loop of
/// their own, so a long replay never holds up the connection's heartbeat or its other namespace.
/// </summary>
public sealed class NamespaceSocket : ISessionTransport
{
    private readonly EngineConnection engine;
    private readonly LiveHub hub;
    private readonly LiveHub.Admission admission;
    private readonly CancellationTokenSource ended = new();
    private readonly Channel<SocketPacket> inbox;
    private int finished;

    public NamespaceSocket(EngineConnection engine, string ns, Caller caller, DateTimeOffset expires, LiveHub hub, LiveHub.Admission admission, long? since)
    {
        this.engine = engine;
        this.hub = hub;
        this.admission = admission;
        Namespace = ns;
        Since = since;
        Session = new LiveSession(this, caller, expires, hub, "socketio", ended.Token);
        // A burst's worth waits at most: more is a flood whatever the handler is busy with.
        inbox = Channel.CreateBounded<SocketPacket>(new BoundedChannelOptions(2 * hub.Options.MaxMessagesPerSecond)
        {
            SingleReader = true,
            SingleWriter = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
    }

    public string Namespace { get; }

    public LiveSession Session { get; }

    /// <summary>The connect <c>auth.since</c>: where subscriptions that name none resume.</summary>
    public long? Since { get; }

    /// <summary>Rooms: an event goes once per namespace socket, however many of its rooms it matches.</summary>
    public bool DeliversPerSubscription => false;

    // Engine.IO gathers a burst in its own queue whatever follows (EngineConnection).
    public ValueTask SendAsync(Outgoing message, bool more, CancellationToken ct) =>
        engine.WriteAsync(message.Event is { } e ? SocketIoEvents.Frame(e, Namespace, Session.Caller) : message.Reply);

    public ValueTask FlushAsync()
    {
        engine.Wake();
        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// Says why in this protocol's words: an ended token leaves the namespace (an <c>error</c> event, then DISCONNECT:
    /// the client does not reconnect on its own); a slow consumer, a flood or an oversize packet closes the whole
    /// connection after the <c>error</c> event, and the client reconnects (with <c>auth.since</c> to resume).
    /// </summary>
    public ValueTask CloseAsync(SessionClose close)
    {
        if (!engine.IsClosed)
        {
            switch (close.Reason)
            {
                case CloseReason.Unauthorized:
                    engine.Send(SocketIoPackets.Batch(SocketIoReplies.Farewell(Namespace, close), SocketIoPackets.Disconnect(Namespace)));
                    break;
                case CloseReason.SlowConsumer or CloseReason.Flood or CloseReason.TooBig or CloseReason.Restart:
                    engine.Close(close, SocketIoReplies.Farewell(Namespace, close));
                    break;
            }
        }
        Finish();
        return ValueTask.CompletedTask;
    }

    /// <summary>The connection closed under the session.</summary>
    public void EndWithConnection()
    {
        Session.Close(SessionClose.Bye);
        ended.Cancel();
    }

    private void Finish()
    {
        if (Interlocked.Exchange(ref finished, 1) == 1)
        {
            return;
        }
        engine.Detach(this);
        hub.Remove(Session);
        admission.Dispose();
        ended.Cancel();
        inbox.Writer.TryComplete();
    }

    /// <summary>Queues a client event for the loop; false when a burst's worth waits already (a flood).</summary>
    public bool TryReceive(SocketPacket packet) => inbox.Writer.TryWrite(packet);

    /// <summary>
    /// Runs <paramref name="first"/>, then handles the client's events in order until the session ends. Each counts
    /// toward the session's flood budget unless <paramref name="handle"/> says it does not (an accepted position).
    /// </summary>
    public async Task RunAsync(Func<NamespaceSocket, Task>? first, Func<NamespaceSocket, SocketPacket, Task<bool>> handle)
    {
        try
        {
            if (first is not null)
            {
                await first(this);
            }
            await foreach (var packet in inbox.Reader.ReadAllAsync(ended.Token))
            {
                using (packet)
                {
                    Session.Hub.CountReceived();
                    if (await handle(this, packet) && !Session.Budget.TrySpend())
                    {
                        Session.Close(new SessionClose(CloseReason.Flood, "too many messages"));
                        return;
                    }
                }
            }
        }
        catch (OperationCanceledException)
        {
            // The session ended while a handler waited (a replay, the store).
        }
        finally
        {
            while (inbox.Reader.TryRead(out var left))
            {
                left.Dispose();
            }
        }
    }
}
