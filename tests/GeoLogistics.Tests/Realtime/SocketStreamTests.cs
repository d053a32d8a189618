using System.Buffers;
using System.IO.Pipelines;
using GeoLogistics.Server.Realtime;
using Microsoft.AspNetCore.Connections;

namespace GeoLogistics.Tests.Realtime;

/// <summary>
/// The stream under every socket: held writes leave in one write; the keep-alive's pings go between frames, never
/// behind a write under way nor after the close frame; a connection's pipes are read as their own stream adapter reads
/// them; and its pooled buffer goes back to the pool exactly once, also when the socket is disposed while the sender is
/// writing (an array given back twice is handed to two connections at once, and one reads or sends the other's bytes).
/// </summary>
public class SocketStreamTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Corked_writes_leave_in_one_write_and_the_buffer_goes_back()
    {
        var pool = new CountingPool();
        var inner = new GatedStream();
        var stream = new SocketStream(inner, pool);

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
        var stream = new SocketStream(inner, pool);
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
        var stream = new SocketStream(new GatedStream(), pool);
        stream.Cork();
        await stream.WriteAsync("held"u8.ToArray(), Ct);

        await stream.DisposeAsync();
        await stream.DisposeAsync();

        pool.AssertEveryArrayBackOnce();
    }

    [Fact]
    public async Task A_ping_goes_between_frames_is_held_with_them_when_corked_and_never_follows_the_close_frame()
    {
        var inner = new GatedStream();
        var stream = new SocketStream(inner, new CountingPool());

        Assert.True(stream.TryPing());
        stream.Cork();
        await stream.WriteAsync(new byte[] { 0x81, 0x01, 0x61 }, Ct); // a text frame, "a"
        Assert.True(stream.TryPing());
        await stream.UncorkAsync(Ct);
        await stream.WriteAsync(new byte[] { 0x88, 0x02, 0x03, 0xE8 }, Ct); // the close frame, 1000
        Assert.False(stream.TryPing());

        Assert.Equal(["8900", "8101618900", "880203E8"], inner.Hex);
    }

    [Fact]
    public async Task No_ping_waits_behind_a_write_that_has_the_turn()
    {
        var inner = new GatedStream { Gated = true };
        var stream = new SocketStream(inner, new CountingPool());
        var writing = stream.WriteAsync(new byte[] { 0x81, 0x01, 0x61 }, Ct).AsTask();
        await inner.WriteStarted.Task.WaitAsync(TimeSpan.FromSeconds(15), Ct);

        Assert.False(stream.TryPing());
        inner.Open();
        await writing;
        Assert.True(stream.TryPing());
        inner.Open();

        Assert.Equal(["810161"], inner.Hex.Take(1));
    }

    [Fact]
    public async Task Over_pipes_a_zero_byte_read_waits_for_data_and_takes_none_and_a_read_takes_what_fits()
    {
        var fromClient = new Pipe();
        var toClient = new Pipe();
        var connection = new DefaultConnectionContext("test", new DuplexPipe(fromClient.Reader, toClient.Writer), new DuplexPipe(toClient.Reader, fromClient.Writer));
        var stream = new SocketStream(connection);
        var since = stream.LastReceived;

        var waiting = stream.ReadAsync(Memory<byte>.Empty, Ct).AsTask();
        Assert.False(waiting.IsCompleted);
        await Task.Delay(30, Ct);
        await fromClient.Writer.WriteAsync(new byte[] { 1, 2, 3 }, Ct);
        Assert.Equal(0, await waiting);
        Assert.True(stream.LastReceived > since, "the client's bytes count as a sign of life");

        var two = new byte[2];
        Assert.Equal(2, await stream.ReadAsync(two, Ct));
        Assert.Equal([1, 2], two);
        Assert.Equal(1, await stream.ReadAsync(two, Ct));
        Assert.Equal(3, two[0]);
        await fromClient.Writer.CompleteAsync();
        Assert.Equal(0, await stream.ReadAsync(two, Ct));

        await stream.WriteAsync(new byte[] { 0x81, 0x00 }, Ct);
        Assert.True(stream.TryPing());
        var sent = await toClient.Reader.ReadAsync(Ct);
        Assert.Equal("81008900", Convert.ToHexString(sent.Buffer.ToArray()));
        var cut = new TaskCompletionSource();
        connection.ConnectionClosed.Register(() => cut.TrySetResult());
        stream.CutOff();
        await cut.Task.WaitAsync(TimeSpan.FromSeconds(15), Ct);
    }

    private sealed record DuplexPipe(PipeReader Input, PipeWriter Output) : IDuplexPipe;

    /// <summary>Writes are recorded; while gated, each waits until <see cref="Open"/>.</summary>
    private sealed class GatedStream : Stream
    {
        private readonly SemaphoreSlim open = new(0);

        public bool Gated { get; init; }

        public List<string> Writes { get; } = [];

        /// <summary>The same writes, as hexadecimal.</summary>
        public List<string> Hex { get; } = [];

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
            Hex.Add(Convert.ToHexString(buffer.Span));
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
