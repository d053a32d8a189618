namespace GeoLogistics.Server.Events;

/// <summary>
/// A numbered event as the feed hands it out, decoded once: the columns that say who may see it, the object it carries
/// (<see cref="Payload"/>, read by the module that wrote it, <see cref="EventPayloads"/>), and its wire form (<see cref="Utf8"/>, SPEC §5)
/// serialized once for every subscriber on every protocol. Consumers read these; none parses the JSON again.
/// </summary>
public sealed class CommittedEvent
{
    public required long Seq { get; init; }
    public required string Type { get; init; }
    public DateTimeOffset Ts { get; init; }
    public Guid? TenantId { get; init; }
    public Guid? OrderId { get; init; }
    public Guid? DriverId { get; init; }
    public Guid? CustomerId { get; init; }
    /// <summary>
    /// The object the event carries, as the module that wrote it reads it back (an <c>OrderDto</c> for <c>order.*</c>,
    /// a <c>DriverDto</c> for <c>driver.*</c>); typed by that module's own accessors.
    /// </summary>
    public object? Payload { get; init; }
    /// <summary>The event as clients receive it.</summary>
    public required ReadOnlyMemory<byte> Utf8 { get; init; }

    /// <summary>The order's status as clients name it (<c>PENDING</c>), for an <c>order.*</c> event.</summary>
    public string? OrderStatus { get; init; }

    /// <summary>The order's kind, for an <c>order.*</c> event: the live core filters on it without knowing orders.</summary>
    public string? OrderKind { get; init; }

    public bool IsOrderEvent => Type.StartsWith("order.", StringComparison.Ordinal);

    public bool IsDriverEvent => Type.StartsWith("driver.", StringComparison.Ordinal);
}
