namespace GeoLogistics.Server.Realtime.Core;

/// <summary>
/// A session's sender (LiveSession.cs: its delivery and its end): scheduled once per wake-up, it writes until the outbox
/// is empty, flushes, and stands down; the senders one fan-out wakes start together in one thread-pool item.
/// </summary>
public sealed partial class LiveSession
{
    // The senders woken on this thread while it fans durable events out (see RunWokenSenders), first to last, linked
    // through the sessions themselves (nextWoken): gathering them allocates nothing, however many there are.
    [ThreadStatic]
    private static bool gathering;
    [ThreadStatic]
    private static LiveSession? wokenFirst;
    [ThreadStatic]
    private static LiveSession? wokenLast;
    // The next session woken in the same batch; set and cleared only while this session's sender is scheduled.
    private LiveSession? nextWoken;

    private void Schedule()
    {
        if (Interlocked.Exchange(ref sending, 1) == 0)
        {
            if (gathering)
            {
                if (wokenLast is null)
                {
                    wokenFirst = this;
                }
                else
                {
                    wokenLast.nextWoken = this;
                }
                wokenLast = this;
            }
            else
            {
                ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
            }
        }
    }

    void IThreadPoolWorkItem.Execute() => _ = SendQueuedAsync();

    /// <summary>
    /// Runs <paramref name="fanOut"/> with <paramref name="state"/>, then starts the senders it woke one after the other
    /// in one thread-pool item: each writes what the network takes at once and leaves only a wait to the pool. One
    /// event to thousands of sessions is then one item, not thousands queued ahead of the requests that write the
    /// next events; and the caller (the feed) goes on, and its writers are answered, while they write.
    /// </summary>
    internal static void RunWokenSenders<T>(Action<T> fanOut, T state)
    {
        gathering = true;
        try
        {
            fanOut(state);
        }
        finally
        {
            // Also when the fan-out failed part way: a session woken is started, or it would wait for good.
            gathering = false;
            var first = wokenFirst;
            wokenFirst = wokenLast = null;
            if (first is not null)
            {
                ThreadPool.UnsafeQueueUserWorkItem(StartSenders, first, preferLocal: false);
            }
        }
    }

    private static void StartSenders(LiveSession first)
    {
        for (var session = first; session is not null;)
        {
            // Unlinked before its sender starts: once that stops, the session may be woken into another batch.
            var next = session.nextWoken;
            session.nextWoken = null;
            _ = session.SendQueuedAsync();
            session = next;
        }
    }

    /// <summary>Writes until the outbox is empty, then stops; once the session is closing, closes the transport.</summary>
    private async Task SendQueuedAsync()
    {
        try
        {
            while (true)
            {
                while (!IsClosing && TryTake(out var message, out var more))
                {
                    // No cancellation token: registering one per message costs; a stuck socket is aborted instead.
                    await transport.SendAsync(message, more, CancellationToken.None);
                    Volatile.Write(ref sent, sent + 1);
                    if (Volatile.Read(ref drainWait) is { } wait && QueuedCount() <= wait.Depth)
                    {
                        wait.Done.TrySetResult();
                    }
                }
                if (IsClosing)
                {
                    break;
                }
                // The outbox is empty: what the transport held goes out in one write.
                await transport.FlushAsync();
                // Look once more after standing down: whatever comes later schedules a sender again.
                Volatile.Write(ref sending, 0);
                if ((IsEmpty() && !IsClosing) || Interlocked.Exchange(ref sending, 1) == 1)
                {
                    return;
                }
            }
        }
        catch (Exception)
        {
            // The transport failed (the client is gone): the session ends.
            Close(SessionClose.Bye);
        }
        await EndAsync();
    }

    private bool TryTake(out Outgoing message, out bool more)
    {
        lock (gate)
        {
            var taken = outbox.TryTake(out message);
            more = !outbox.IsEmpty;
            return taken;
        }
    }

    private int QueuedCount()
    {
        lock (gate)
        {
            return outbox.Queued;
        }
    }

    private bool IsEmpty()
    {
        lock (gate)
        {
            return outbox.IsEmpty;
        }
    }
}
