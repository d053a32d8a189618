using System.Buffers;
using Microsoft.AspNetCore.Http.Features;

namespace GeoLogistics.Server.Realtime.Json;

/// <summary>
/// Lets a socket's sender write several WebSocket messages and hand them to Kestrel in one write. The WebSocket writes
/// each message to its stream, and Kestrel flushes every write to the network: a session that has forty events queued
/// would cost forty flushes. Around the upgraded stream this puts a <see cref="CorkableStream"/>: while corked, writes
/// gather in a pooled buffer, and uncorking writes them at once. Registered before <c>UseWebSockets</c>, for upgrade
/// requests only.
/// </summary>
public static class CorkedUpgrade
{
    public static IApplicationBuilder UseCorkedUpgrades(this IApplicationBuilder app) => app.Use((context, next) =>
    {
        if (context.Features.Get<IHttpUpgradeFeature>() is { IsUpgradableRequest: true } upgrade)
        {
            context.Features.Set<IHttpUpgradeFeature>(new Feature(upgrade));
        }
        return next(context);
    });

    /// <summary>The corkable stream of an upgraded request, once upgraded; null otherwise.</summary>
    public static CorkableStream? StreamOf(HttpContext context) => (context.Features.Get<IHttpUpgradeFeature>() as Feature)?.Stream;

    private sealed class Feature(IHttpUpgradeFeature inner) : IHttpUpgradeFeature
    {
        public CorkableStream? Stream { get; private set; }

        public bool IsUpgradableRequest => inner.IsUpgradableRequest;

        public async Task<Stream> UpgradeAsync() => Stream = new CorkableStream(await inner.UpgradeAsync());
    }
}

/// <summary>
/// An upgraded connection's stream whose writes can be held back (<see cref="Cork"/>) and then written as one
/// (<see cref="UncorkAsync"/>). Uncorked, it writes through, so what the WebSocket writes by itself (pongs, keep-alive
/// pings, the close frame) is never held. Holds no buffer while nothing is held. The held buffer comes from a pool and
/// goes back exactly once, also when the socket is disposed in the middle of a write (the receiving side ends the
/// connection while the sender writes): an array given back twice would be handed to two connections at once.
/// </summary>
public sealed class CorkableStream(Stream inner, ArrayPool<byte>? pool = null) : Stream
{
    private const int MaxHeld = 64 * 1024;
    private readonly ArrayPool<byte> pool = pool ?? ArrayPool<byte>.Shared;
    // Writes by the WebSocket (under its own send lock) and by UncorkAsync (from the session's sender) take turns here;
    // the held buffer belongs to whoever has the turn.
    private readonly SemaphoreSlim writing = new(1, 1);
    private byte[]? held;
    private int heldBytes;
    private bool corked;
    private int disposed;

    public void Cork() => Volatile.Write(ref corked, true);

    /// <summary>Writes what was held, in one write, and lets later writes through.</summary>
    /// <remarks>
    /// Cork and uncork come from one writer at a time (the session's sender, then the close), and nothing is held
    /// while uncorked: a stream not corked has nothing to write, and takes no turn for it.
    /// </remarks>
    public ValueTask UncorkAsync(CancellationToken ct = default) => Volatile.Read(ref corked) ? WriteHeldThroughAsync(ct) : ValueTask.CompletedTask;

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
            if (!Volatile.Read(ref corked))
            {
                await inner.WriteAsync(buffer, cancellationToken);
                return;
            }
            if (heldBytes + buffer.Length > MaxHeld)
            {
                await WriteHeldAsync(cancellationToken);
            }
            if (buffer.Length > MaxHeld)
            {
                await inner.WriteAsync(buffer, cancellationToken);
                return;
            }
            Hold(buffer.Span);
        }
        finally
        {
            EndTurn();
        }
    }

    private async ValueTask TakeTurnAsync(CancellationToken ct)
    {
        await writing.WaitAsync(ct);
        if (Volatile.Read(ref disposed) == 1)
        {
            EndTurn();
            throw new ObjectDisposedException(nameof(CorkableStream));
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
            await inner.WriteAsync(bytes.AsMemory(0, heldBytes), ct);
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

    // The WebSocket writes asynchronously only.
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => inner.ReadAsync(buffer, cancellationToken);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        inner.ReadAsync(buffer, offset, count, cancellationToken);

    public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);

    public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

    public override void Flush() => inner.Flush();

    public override bool CanRead => inner.CanRead;

    public override bool CanWrite => inner.CanWrite;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing && Interlocked.Exchange(ref disposed, 1) == 0)
        {
            inner.Dispose();
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
