namespace GeoLogistics.Server.Realtime.Core;

/// <summary>What a protocol adapter gives its session: a way to write one message in its protocol's form, and to end.</summary>
public interface ISessionTransport
{
    /// <summary>
    /// True when the protocol delivers an event once per subscription it matches (STOMP's <c>subscription</c> header);
    /// false when once per connection, for the first subscription it matches (the JSON protocol, rooms).
    /// </summary>
    bool DeliversPerSubscription { get; }

    /// <summary>
    /// Writes one message, framing an event in the protocol's form; one call at a time. When <paramref name="more"/>
    /// (another message is queued behind it) it may hold it until <see cref="FlushAsync"/>, so a burst leaves in one
    /// write; a lone message may go straight out. Throws when the connection is gone.
    /// </summary>
    ValueTask SendAsync(Outgoing message, bool more, CancellationToken ct);

    /// <summary>Puts what <see cref="SendAsync"/> held on the network: the session calls it once its outbox is empty.</summary>
    ValueTask FlushAsync();

    /// <summary>Ends the connection, saying why; called once, after the last send.</summary>
    ValueTask CloseAsync(SessionClose close);
}
