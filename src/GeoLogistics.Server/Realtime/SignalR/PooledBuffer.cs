using System.Buffers;

namespace GeoLogistics.Server.Realtime.SignalR;

/// <summary>
/// Bytes written one after another into an array from the shared pool, which grows by renting a larger one. Holds
/// no array until the first write, and none again after <see cref="Release"/>: an idle connection costs no buffer.
/// </summary>
internal sealed class PooledBuffer : IBufferWriter<byte>
{
    private byte[]? array;
    private int length;

    public int Length => length;

    public ReadOnlyMemory<byte> Written => array.AsMemory(0, length);

    /// <summary>What was written, to change in place (a header written before its size was known).</summary>
    public Span<byte> WrittenSpan => array.AsSpan(0, length);

    public void Advance(int count) => length += count;

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return array.AsMemory(length);
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return array.AsSpan(length);
    }

    public void Write(byte value)
    {
        Ensure(1);
        array![length++] = value;
    }

    public void Write(ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(GetSpan(bytes.Length));
        length += bytes.Length;
    }

    /// <summary>Empties it and keeps the array, for a scratch buffer used again at once.</summary>
    public void Clear() => length = 0;

    /// <summary>Empties it and gives the array back to the pool.</summary>
    public void Release()
    {
        if (array is not null)
        {
            ArrayPool<byte>.Shared.Return(array);
        }
        array = null;
        length = 0;
    }

    private void Ensure(int sizeHint)
    {
        var needed = length + Math.Max(sizeHint, 1);
        if (array is not null && needed <= array.Length)
        {
            return;
        }
        var larger = ArrayPool<byte>.Shared.Rent(Math.Max(needed, Math.Max(512, (array?.Length ?? 0) * 2)));
        if (array is not null)
        {
            array.AsSpan(0, length).CopyTo(larger);
            ArrayPool<byte>.Shared.Return(array);
        }
        array = larger;
    }
}
