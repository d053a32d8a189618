namespace GeoLogistics.Server.Realtime.Core;

/// <summary>
/// The sessions filed under one route, in slots that volatile fan-out reads without a lock (<see cref="Slots"/>; an
/// empty slot is null) while the hub changes them under its gate. Filing takes the next free slot and taking off
/// empties one, each in place, so neither copies what is filed already; the slots are copied only to grow, or to
/// shrink once most are empty, and then each session is told its new slot (<see cref="LiveSession.Refile"/>), so a
/// burst of N subscriptions costs O(N) in all, not O(N²) as a copy per change did.
/// </summary>
/// <remarks>
/// A reader holds the array it started with: it offers to the sessions in it, whatever is filed or taken off
/// meanwhile. A session that stays filed is in every array it could read (copies keep it; in-place changes touch other
/// slots), so it gets every message once. One that unsubscribes and subscribes again on the route while a reader walks
/// past may be met twice; that reader's message is volatile (a position, an ETA), sent again harmlessly.
/// </remarks>
internal sealed class FiledSessions(Route route)
{
    private const int Smallest = 4;
    private LiveSession?[] slots = new LiveSession?[Smallest];
    // Slots handed out in the current array; those after it have never held a session.
    private int used;

    public Route Route { get; } = route;

    public int Count { get; private set; }

    public LiveSession?[] Slots => Volatile.Read(ref slots);

    /// <summary>Files <paramref name="session"/> and returns its slot.</summary>
    public int Add(LiveSession session)
    {
        if (used == slots.Length)
        {
            CopyInto(Math.Max(Smallest, 2 * (Count + 1)));
        }
        Volatile.Write(ref slots[used], session);
        Count++;
        return used++;
    }

    /// <summary>Empties the slot <paramref name="slot"/>, that <see cref="Add"/> gave.</summary>
    public void RemoveAt(int slot)
    {
        Volatile.Write(ref slots[slot], null);
        Count--;
        if (Count > 0 && Count < slots.Length / 4 && slots.Length > 4 * Smallest)
        {
            CopyInto(2 * Count);
        }
    }

    /// <summary>Moves the sessions, in their order, to the front of a new array of <paramref name="length"/> slots.</summary>
    private void CopyInto(int length)
    {
        var copy = new LiveSession?[length];
        var at = 0;
        foreach (var session in slots.AsSpan(0, used))
        {
            if (session is not null)
            {
                session.Refile(Route, at);
                copy[at++] = session;
            }
        }
        used = at;
        Volatile.Write(ref slots, copy);
    }
}
