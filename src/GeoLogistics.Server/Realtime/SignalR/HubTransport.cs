using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Realtime.Core;
using GeoLogistics.Server.Realtime.Json;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;

namespace GeoLogistics.Server.Realtime.SignalR;

/// <summary>
/// A SignalR connection under a <see cref="LiveSession"/>: each event becomes an invocation of the client's handler
/// named by the event's type, framed in the connection's hub protocol (<see cref="InvocationFrames"/>); what the
/// session sends in a burst is handed to SignalR as one write. The core's close reasons become a SignalR close message
/// with the reason as its error, then the connection is aborted.
/// </summary>
public sealed class HubTransport : ISessionTransport, ISubscribeReplies
{
    // A burst is written once it holds this much, so a connection never holds more.
    private const int HoldAtMost = 64 * 1024;
    // A client that takes nothing for this long while a write waits is cut off, as the core does with a replay.
    private static readonly TimeSpan WritePatience = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan CloseMessagePatience = TimeSpan.FromSeconds(5);

    private readonly HubConnectionContext connection;
    private readonly InvocationFrames frames;
    private readonly PooledBuffer held = new();

    public HubTransport(HubConnectionContext connection, Caller caller, DateTimeOffset tokenExpires, LiveHub hub)
    {
        this.connection = connection;
        frames = InvocationFrames.For(connection.Protocol.Name);
        Session = new LiveSession(this, caller, tokenExpires, hub, "signalr", connection.ConnectionAborted);
    }

    public LiveSession Session { get; }

    /// <summary>
    /// An event goes once per connection, as in the JSON protocol: its payload is the SPEC §5 event alone, and a client
    /// with several subscriptions tells them apart by the event's type and ids.
    /// </summary>
    public bool DeliversPerSubscription => false;

    // Held until the flush (or HoldAtMost) whatever follows: SignalR's own write is the costly part, once per burst.
    public ValueTask SendAsync(Outgoing message, bool more, CancellationToken ct)
    {
        if (message.Event is { } e)
        {
            frames.Write(e, held);
        }
        else
        {
            held.Write(message.Reply.Span);
        }
        return held.Length >= HoldAtMost ? FlushAsync() : ValueTask.CompletedTask;
    }

    public async ValueTask FlushAsync()
    {
        if (held.Length == 0)
        {
            return;
        }
        try
        {
            // The frames are in this connection's protocol already: SignalR copies them to the socket as they are.
            var write = connection.WriteAsync(new SerializedHubMessage([new SerializedMessage(connection.Protocol.Name, held.Written)]));
            if (!write.IsCompletedSuccessfully)
            {
                // The client is behind: wait for it, but not for ever (a session closed as slow waits here too).
                await write.AsTask().WaitAsync(WritePatience);
            }
        }
        catch (TimeoutException)
        {
            // Aborted: whatever the abandoned write still copies from the buffer given back below goes nowhere.
            connection.Abort();
            throw;
        }
        finally
        {
            held.Release();
        }
    }

    /// <summary>
    /// A close message with the reason (for the client's <c>onclose</c> error), then the connection is aborted. A slow
    /// consumer or an expired token may reconnect at once (with <c>since</c>, and a fresh token from its
    /// <c>accessTokenFactory</c>); a flood or an oversize message may not.
    /// </summary>
    public async ValueTask CloseAsync(SessionClose close)
    {
        if (close.Reason != CloseReason.Normal)
        {
            using var patience = new CancellationTokenSource(CloseMessagePatience);
            try
            {
                var allowReconnect = close.Reason is CloseReason.SlowConsumer or CloseReason.Unauthorized or CloseReason.Restart;
                await connection.WriteAsync(new CloseMessage(close.Text, allowReconnect), patience.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or IOException or InvalidOperationException)
            {
                // The client does not read, or is gone: aborting is all that is left.
            }
        }
        held.Release();
        connection.Abort();
    }

    public ReadOnlyMemory<byte> Subscribed(SubscribeRequest request, int replayed) => Reply("subscribed", JsonProtocol.Serialize(
        new Subscribed(request.Id, request.Topic.ToString(), new FiltersDto([.. request.Filters.Statuses], request.Filters.Kind), replayed),
        RealtimeJson.Default.Subscribed));

    public ReadOnlyMemory<byte> ReplayUnavailable(SubscribeRequest request, long oldestSeq) => Reply("replay_unavailable", JsonProtocol.Serialize(
        new ReplayUnavailable(request.Id, request.Since ?? 0, oldestSeq), RealtimeJson.Default.ReplayUnavailable));

    /// <summary>A reply as an event of its own type, with the payload the JSON protocol gives it (SPEC §7).</summary>
    private ReadOnlyMemory<byte> Reply(string target, ReadOnlyMemory<byte> json)
    {
        var framed = new PooledBuffer();
        try
        {
            frames.Write(target, json.Span, framed);
            return framed.Written.ToArray();
        }
        finally
        {
            framed.Release();
        }
    }
}
