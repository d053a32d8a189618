using System.Text;
using GeoLogistics.Server.Realtime.Core;

namespace GeoLogistics.Tests.Support;

/// <summary>
/// A session's transport for tests of the live core without a socket: records every message written, in order, and
/// every close. It can be held, like a client that reads nothing (the write in progress does not return until it is
/// let go), made to yield on every write, like a client a little slower than the server, or made to fail.
/// </summary>
public sealed class RecordingTransport : ISessionTransport
{
    private readonly Lock gate = new();
    private readonly List<string> sent = [];
    private readonly List<SessionClose> closes = [];
    private TaskCompletionSource? hold;
    private TaskCompletionSource holding = NewSignal();
    private TaskCompletionSource changed = NewSignal();

    /// <summary>Every write yields first, so the session's sender runs interleaved with whoever offers.</summary>
    public bool YieldOnEveryWrite { get; init; }

    /// <summary>Writes throw, as on a connection reset by the client.</summary>
    public bool FailWrites { get; set; }

    public IReadOnlyList<string> Sent
    {
        get
        {
            lock (gate)
            {
                return [.. sent];
            }
        }
    }

    public IReadOnlyList<SessionClose> Closes
    {
        get
        {
            lock (gate)
            {
                return [.. closes];
            }
        }
    }

    /// <summary>From now on a write waits until <see cref="LetGo"/>.</summary>
    public void Hold()
    {
        lock (gate)
        {
            if (hold is null)
            {
                hold = NewSignal();
                holding = NewSignal();
            }
        }
    }

    public void LetGo()
    {
        TaskCompletionSource? held;
        lock (gate)
        {
            held = hold;
            hold = null;
        }
        held?.TrySetResult();
    }

    /// <summary>Completes once a write is waiting on the hold: the session's sender is stuck in it, as on a full socket.</summary>
    public async Task WhenAWriteIsHeldAsync()
    {
        Task held;
        lock (gate)
        {
            held = holding.Task;
        }
        await held.WaitAsync(TimeSpan.FromSeconds(15));
    }

    /// <summary>As the JSON protocol: an event once per session, unless a test says otherwise.</summary>
    public bool DeliversPerSubscription { get; init; }

    /// <summary>What was written: each message's JSON, and for an event the subscription it was delivered for.</summary>
    public IReadOnlyList<Outgoing> Delivered
    {
        get
        {
            lock (gate)
            {
                return [.. delivered];
            }
        }
    }

    private readonly List<Outgoing> delivered = [];

    public async ValueTask SendAsync(Outgoing message, bool more, CancellationToken ct)
    {
        Task? held;
        lock (gate)
        {
            held = hold?.Task;
            if (held is not null)
            {
                holding.TrySetResult();
            }
        }
        if (held is not null)
        {
            await held.WaitAsync(ct);
        }
        if (YieldOnEveryWrite)
        {
            await Task.Yield();
        }
        if (FailWrites)
        {
            throw new IOException("The client reset the connection.");
        }
        Record(() =>
        {
            sent.Add(Encoding.UTF8.GetString(message.Utf8.Span));
            delivered.Add(message);
        });
    }

    /// <summary>Times the session handed over what it had written (its outbox ran empty).</summary>
    public int Flushes => Volatile.Read(ref flushes);

    private int flushes;

    public ValueTask FlushAsync()
    {
        Interlocked.Increment(ref flushes);
        return ValueTask.CompletedTask;
    }

    public ValueTask CloseAsync(SessionClose close)
    {
        Record(() => closes.Add(close));
        return ValueTask.CompletedTask;
    }

    /// <summary>The messages written, once <paramref name="done"/> says they are all there; fails after the timeout.</summary>
    public async Task<IReadOnlyList<string>> WaitUntilAsync(Func<IReadOnlyList<string>, bool> done, TimeSpan? within = null)
    {
        using var timeout = new CancellationTokenSource(within ?? TimeSpan.FromSeconds(15));
        while (true)
        {
            Task next;
            List<string> now;
            lock (gate)
            {
                now = [.. sent];
                next = changed.Task;
            }
            if (done(now))
            {
                return now;
            }
            try
            {
                await next.WaitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                Assert.Fail($"Timed out; written so far: [{string.Join(", ", now)}]");
            }
        }
    }

    private void Record(Action change)
    {
        TaskCompletionSource was;
        lock (gate)
        {
            change();
            was = changed;
            changed = NewSignal();
        }
        was.TrySetResult();
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
