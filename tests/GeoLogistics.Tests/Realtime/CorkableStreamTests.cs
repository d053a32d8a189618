using System.Buffers;
using GeoLogistics.Server.Realtime.Json;

namespace GeoLogistics.Tests.Realtime;

/// <summary>
/// The corkable stream under every socket: held writes leave in one write, and its pooled buffer goes back to the pool
/// exactly once, also when the socket is disposed while the sender is writing (an array given back twice is handed to
/// two connections at once, and one reads or sends the other's bytes).
/// </summary>
public class CorkableStreamTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Corked_writes_leave_in_one_write_and_the_buffer_goes_back()
    {
        var pool = new CountingPool();
        var inner = new GatedStream();
        var stream = new CorkableStream(inner, pool);

        stream.Cork();
        await stream.WriteAsync("one "u8.ToArray(), Ct);
        await stream.WriteAsync("two"u8.ToArray(), Ct);
        Assert.Empty(inner.Writes);
        await stream.UncorkAsync(Ct);
        await stream.WriteAsync(" three"u8.ToArray(), Ct);

        Assert.Equal(["one two", " three"], inner.Writes);
        pool.AssertEveryArrayBackOnce();
    }

    [Fact]
    public async Task Disposed_while_its_held_bytes_are_being_written_the_buffer_goes_back_once_after_the_write()
    {
        var pool = new CountingPool();
        var inner = new GatedStream { Gated = true };
        var stream = new CorkableStream(inner, pool);
        stream.Cork();
        await stream.WriteAsync("held"u8.ToArray(), Ct);

        var uncorking = stream.UncorkAsync(Ct).AsTask();
        await inner.WriteStarted.Task.WaitAsync(TimeSpan.FromSeconds(15), Ct);
        // What the socket does when the receiving side ends the connection (it disposes the stream synchronously).
        await stream.DisposeAsync();
        // The write still reads the held bytes: they must not be back in the pool yet.
        Assert.Equal(0, pool.Returned);
        inner.Open();
        await uncorking;

        pool.AssertEveryArrayBackOnce();
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await stream.WriteAsync("late"u8.ToArray(), Ct));
        pool.AssertEveryArrayBackOnce();
    }

    [Fact]
    public async Task Disposed_while_bytes_are_held_and_nothing_is_writing_the_buffer_goes_back_at_once()
    {
        var pool = new CountingPool();
        var stream = new CorkableStream(new GatedStream(), pool);
        stream.Cork();
        await stream.WriteAsync("held"u8.ToArray(), Ct);

        await stream.DisposeAsync();
        await stream.DisposeAsync();

        pool.AssertEveryArrayBackOnce();
    }

    /// <summary>Writes are recorded; while gated, each waits until <see cref="Open"/>.</summary>
    private sealed class GatedStream : Stream
    {
        private readonly SemaphoreSlim open = new(0);

        public bool Gated { get; init; }

        public List<string> Writes { get; } = [];

        public TaskCompletionSource WriteStarted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Open() => open.Release();

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            WriteStarted.TrySetResult();
            if (Gated)
            {
                await open.WaitAsync(cancellationToken);
            }
            Writes.Add(System.Text.Encoding.UTF8.GetString(buffer.Span));
        }

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    /// <summary>Hands out fresh arrays and counts what comes back, by array.</summary>
    private sealed class CountingPool : ArrayPool<byte>
    {
        private readonly Lock gate = new();
        private readonly Dictionary<byte[], int> returns = new(ReferenceEqualityComparer.Instance);

        public int Returned
        {
            get
            {
                lock (gate)
                {
                    return returns.Values.Sum();
                }
            }
        }

        public override byte[] Rent(int minimumLength)
        {
            var array = new byte[minimumLength];
            lock (gate)
            {
                returns.Add(array, 0);
            }
            return array;
        }

        public override void Return(byte[] array, bool clearArray = false)
        {
            lock (gate)
            {
                returns[array] = returns.GetValueOrDefault(array) + 1;
            }
        }

        public void AssertEveryArrayBackOnce()
        {
            lock (gate)
            {
                Assert.NotEmpty(returns);
                Assert.All(returns, r => Assert.Equal(1, r.Value));
            }
        }
    }
}
