using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Connections;

namespace GeoLogistics.Server.Realtime;

/// <summary>
/// The stream under every WebSocket of ours, between the socket and the connection: a socket served off the connection
/// reads and writes its pipes through it (<see cref="Direct.DirectSockets"/>), one upgraded through HTTP the request's
/// stream (<see cref="Json.CorkedUpgrade"/>). It does three things the WebSocket does not:
/// <list type="bullet">
/// <item>Writes can be held back (<see cref="Cork"/>) and then written as one (<see cref="UncorkAsync"/>): Kestrel
/// flushes every write to the network, and a session with forty events queued would cost forty flushes. Uncorked, it
/// writes through, so what the WebSocket writes by itself (pongs, the close frame) is never held. The held buffer comes
/// from a pool and goes back exactly once, also when the socket is disposed in the middle of a write (the receiving
/// side ends the connection while the sender writes): an array given back twice would be handed to two connections.</item>
/// <item>It knows when the client last sent anything (<see cref="LastReceived"/>), pongs included, and can put a ping
/// frame between the WebSocket's own frames (<see cref="TryPing"/>): the server's keep-alive (<see cref="SocketKeepAlive"/>)
/// is one sweep over every socket, not the runtime WebSocket's timer per socket.</item>
/// <item>It can cut the connection off (<see cref="CutOff"/>), which ends a read waiting on a client that is gone.</item>
/// </list>
/// A zero-byte read waits for data without taking a buffer, and nothing is held while nothing is written: an idle
/// socket holds no buffer here.
/// </summary>
public sealed class SocketStream : Stream
{
    private const int MaxHeld = 64 * 1024;
    // RFC 6455 §5.5.2: FIN and opcode 0x9, no payload (a server's frames are not masked).
    private static readonly byte[] Ping = [0x89, 0x00];
    private const int CloseOpcode = 0x8;

    private readonly Stream? inner;
    private readonly ConnectionContext? connection;
    private readonly Action? cutOff;
    private readonly ArrayPool<byte> pool;
    // Writes by the WebSocket (under its own send lock), by UncorkAsync (from the session's sender) and pings take
    // turns here; the held buffer, and knowing that the close frame has gone, belong to whoever has the turn.
    private readonly SemaphoreSlim writing = new(1, 1);
    private byte[]? held;
    private int heldBytes;
    private bool corked;
    private bool closeSent;
    private int disposed;
    private long lastReceived = Environment.TickCount64;

    /// <summary>Over a stream (a request's, upgraded); <paramref name="cutOff"/> ends the connection under it.</summary>
    public SocketStream(Stream inner, ArrayPool<byte>? pool = null, Action? cutOff = null)
    {
        this.inner = inner;
        this.cutOff = cutOff;
        this.pool = pool ?? ArrayPool<byte>.Shared;
    }

    /// <summary>Over a connection's pipes: each write is flushed; cutting off aborts the connection.</summary>
    public SocketStream(ConnectionContext connection)
    {
        this.connection = connection;
        pool = ArrayPool<byte>.Shared;
    }

    /// <summary>When the client last sent a byte (<see cref="Environment.TickCount64"/>), or when this stream was made.</summary>
    public long LastReceived => Volatile.Read(ref lastReceived);

    /// <summary>
    /// Ends the connection at once (no close handshake): every read and write under way fails. Nothing once the stream
    /// is disposed: the socket is done with, and its request or connection may be over.
    /// </summary>
    public void CutOff()
    {
        if (Volatile.Read(ref disposed) == 1)
        {
            return;
        }
        if (connection is not null)
        {
            connection.Abort(new ConnectionAbortedException("The server cut the connection off."));
        }
        else if (cutOff is not null)
        {
            cutOff();
        }
        else
        {
            Dispose();
        }
    }

    public void Cork() => Volatile.Write(ref corked, true);

    /// <summary>Writes what was held, in one write, and lets later writes through.</summary>
    /// <remarks>
    /// Cork and uncork come from one writer at a time (the session's sender, then the close), and nothing is held
    /// while uncorked: a stream not corked has nothing to write, and takes no turn for it.
    /// </remarks>
    public ValueTask UncorkAsync(CancellationToken ct = default) => Volatile.Read(ref corked) ? WriteHeldThroughAsync(ct) : ValueTask.CompletedTask;

    /// <summary>
    /// Puts a ping frame on the way to the client, unless a write has the turn (the client is being written to, and the
    /// ping would wait behind it; the next sweep tries again), the close frame has gone (nothing may follow it), or
    /// the stream is disposed. Corked, the ping is held with the frames around it. True when it went (or is going).
    /// </summary>
    /// <remarks>The WebSocket writes each frame in one write, so a ping written with the turn falls between two frames.</remarks>
    public bool TryPing()
    {
        if (Volatile.Read(ref disposed) == 1 || !writing.Wait(0))
        {
            return false;
        }
        if (closeSent || Volatile.Read(ref disposed) == 1)
        {
            EndTurn();
            return false;
        }
        ValueTask write;
        try
        {
            if (Volatile.Read(ref corked))
            {
                Hold(Ping);
                write = ValueTask.CompletedTask;
            }
            else
            {
                write = WriteInnerAsync(Ping, CancellationToken.None);
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException or OperationCanceledException)
        {
            EndTurn();
            return false;
        }
        if (write.IsCompleted)
        {
            EndTurn();
            return write.IsCompletedSuccessfully;
        }
        _ = EndTurnAfterAsync(write);
        return true;
    }

    private async Task EndTurnAfterAsync(ValueTask write)
    {
        try
        {
            await write;
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException or OperationCanceledException)
        {
            // The connection is ending; its receive side finds out, and the session ends there.
        }
        finally
        {
            EndTurn();
        }
    }

    private async ValueTask WriteHeldThroughAsync(CancellationToken ct)
    {
        await TakeTurnAsync(ct);
        try
        {
            Volatile.Write(ref corked, false);
            await WriteHeldAsync(ct);
        }
        finally
        {
            EndTurn();
        }
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        await TakeTurnAsync(cancellationToken);
        try
        {
            if (!buffer.IsEmpty && (buffer.Span[0] & 0x0F) == CloseOpcode)
            {
                closeSent = true;
            }
            if (!Volatile.Read(ref corked))
            {
                await WriteInnerAsync(buffer, cancellationToken);
                return;
            }
            if (heldBytes + buffer.Length > MaxHeld)
            {
                await WriteHeldAsync(cancellationToken);
            }
            if (buffer.Length > MaxHeld)
            {
                await WriteInnerAsync(buffer, cancellationToken);
                return;
            }
            Hold(buffer.Span);
        }
        finally
        {
            EndTurn();
        }
    }

    private ValueTask WriteInnerAsync(ReadOnlyMemory<byte> bytes, CancellationToken ct)
    {
        if (connection is null)
        {
            return inner!.WriteAsync(bytes, ct);
        }
        return FlushedAsync(connection.Transport.Output.WriteAsync(bytes, ct));
    }

    private static async ValueTask FlushedAsync(ValueTask<FlushResult> flush)
    {
        if ((await flush).IsCanceled)
        {
            throw new OperationCanceledException("The write was cancelled.");
        }
    }

    private async ValueTask TakeTurnAsync(CancellationToken ct)
    {
        await writing.WaitAsync(ct);
        if (Volatile.Read(ref disposed) == 1)
        {
            EndTurn();
            throw new ObjectDisposedException(nameof(SocketStream));
        }
    }

    /// <summary>A write that finds the stream disposed under it gives the held buffer back: Dispose could not.</summary>
    private void EndTurn()
    {
        if (Volatile.Read(ref disposed) == 1)
        {
            ReturnHeld();
        }
        writing.Release();
    }

    private void Hold(ReadOnlySpan<byte> bytes)
    {
        if (held is null || held.Length - heldBytes < bytes.Length)
        {
            var bigger = pool.Rent(Math.Max(heldBytes + bytes.Length, 4096));
            held?.AsSpan(0, heldBytes).CopyTo(bigger);
            if (held is not null)
            {
                pool.Return(held);
            }
            held = bigger;
        }
        bytes.CopyTo(held.AsSpan(heldBytes));
        heldBytes += bytes.Length;
    }

    private async ValueTask WriteHeldAsync(CancellationToken ct)
    {
        if (held is not { } bytes)
        {
            return;
        }
        try
        {
            await WriteInnerAsync(bytes.AsMemory(0, heldBytes), ct);
        }
        finally
        {
            ReturnHeld();
        }
    }

    /// <summary>With the turn only.</summary>
    private void ReturnHeld()
    {
        heldBytes = 0;
        if (Interlocked.Exchange(ref held, null) is { } bytes)
        {
            pool.Return(bytes);
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    // The WebSocket reads and writes asynchronously only.
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (connection is not null)
        {
            return ReadPipeAsync(connection.Transport.Input, buffer, cancellationToken);
        }
        return ReadStreamAsync(inner!.ReadAsync(buffer, cancellationToken));
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    // Pooled, and nothing allocated at all when the read is done at once.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<int> ReadStreamAsync(ValueTask<int> read)
    {
        var count = await read;
        if (count > 0)
        {
            Received();
        }
        return count;
    }

    /// <summary>
    /// As the pipe's own stream adapter reads, and in place of it (one parked read per idle socket, not two): as much
    /// as is there and fits; a zero-byte read returns once there is data, taking none; 0 at the end.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<int> ReadPipeAsync(PipeReader input, Memory<byte> buffer, CancellationToken ct)
    {
        var result = await input.ReadAsync(ct);
        if (result.IsCanceled)
        {
            throw new OperationCanceledException("The read was cancelled.");
        }
        var data = result.Buffer;
        var count = (int)Math.Min(buffer.Length, data.Length);
        data.Slice(0, count).CopyTo(buffer.Span);
        input.AdvanceTo(data.GetPosition(count));
        if (!data.IsEmpty)
        {
            Received();
        }
        return count;
    }

    private void Received() => Volatile.Write(ref lastReceived, Environment.TickCount64);

    // Every write is flushed as it is made.
    public override Task FlushAsync(CancellationToken cancellationToken) => inner?.FlushAsync(cancellationToken) ?? Task.CompletedTask;

    public override void Flush() => inner?.Flush();

    public override bool CanRead => true;

    public override bool CanWrite => true;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing && Interlocked.Exchange(ref disposed, 1) == 0)
        {
            // A connection's pipes are Kestrel's and end with the connection; a read parked on one ends now (cancelled),
            // as a read of a disposed stream does, so that aborting the WebSocket ends its session even when the client
            // is gone without a word.
            inner?.Dispose();
            connection?.Transport.Input.CancelPendingRead();
            // The held buffer is given back by whoever has the turn: here if no write is under way, else by that write
            // as it ends (EndTurn). The semaphore is not disposed: a write may still release it.
            if (writing.Wait(0))
            {
                ReturnHeld();
                writing.Release();
            }
        }
        base.Dispose(disposing);
    }
}
