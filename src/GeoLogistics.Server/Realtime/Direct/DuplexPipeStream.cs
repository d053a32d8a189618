using System.IO.Pipelines;

namespace GeoLogistics.Server.Realtime.Direct;

/// <summary>
/// A connection's pipes as the one <see cref="Stream"/> a <see cref="System.Net.WebSockets.WebSocket"/> reads and
/// writes: reads from the input pipe, writes (each flushed) to the output pipe, both through the pipes' own stream
/// adapters. A zero-byte read waits for data without taking a buffer.
/// </summary>
public sealed class DuplexPipeStream(IDuplexPipe pipe) : Stream
{
    private readonly Stream input = pipe.Input.AsStream(leaveOpen: true);
    private readonly Stream output = pipe.Output.AsStream(leaveOpen: true);

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        input.ReadAsync(buffer, cancellationToken);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        input.ReadAsync(buffer, offset, count, cancellationToken);

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
        output.WriteAsync(buffer, cancellationToken);

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        output.WriteAsync(buffer, offset, count, cancellationToken);

    public override Task FlushAsync(CancellationToken cancellationToken) => output.FlushAsync(cancellationToken);

    // The WebSocket reads and writes asynchronously only.
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override void Flush() => output.Flush();

    public override bool CanRead => true;

    public override bool CanWrite => true;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();
}
