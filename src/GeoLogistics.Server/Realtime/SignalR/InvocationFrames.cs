using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using GeoLogistics.Server.Realtime.Core;

namespace GeoLogistics.Server.Realtime.SignalR;

/// <summary>
/// An event as the SignalR invocation that delivers it (target = the event's type, one argument = its SPEC §5 payload),
/// written straight into a connection's bytes in its hub protocol's framing: SignalR's serializer never sees it, so
/// the event's JSON, made once for every protocol, is not read into objects and written again per connection.
/// </summary>
internal abstract class InvocationFrames
{
    public static InvocationFrames For(string protocol) => protocol switch
    {
        OrdersHubSetup.Json => JsonFrames.Instance,
        OrdersHubSetup.MessagePack => MessagePackFrames.Instance,
        _ => throw new NotSupportedException($"The orders hub frames events in json and messagepack, not {protocol}."),
    };

    /// <summary>Appends the invocation of <paramref name="message"/> to <paramref name="to"/>.</summary>
    public abstract void Write(LiveMessage message, PooledBuffer to);

    /// <summary>Appends the invocation of <paramref name="target"/> with a JSON argument (a reply such as <c>subscribed</c>).</summary>
    public abstract void Write(string target, ReadOnlySpan<byte> json, PooledBuffer to);

    /// <summary>
    /// The JSON hub protocol: <c>{"type":1,"target":"…","arguments":[…]}</c> and the record separator, the event's
    /// JSON copied in between. Cheap enough to do per connection: one copy, no allocation.
    /// </summary>
    private sealed class JsonFrames : InvocationFrames
    {
        public static readonly JsonFrames Instance = new();
        private static readonly ConcurrentDictionary<string, byte[]> Heads = new(StringComparer.Ordinal);

        public override void Write(LiveMessage message, PooledBuffer to) => Write(message.Type, message.Utf8.Span, to);

        public override void Write(string target, ReadOnlySpan<byte> json, PooledBuffer to)
        {
            to.Write(Heads.GetOrAdd(target, static t =>
                Encoding.UTF8.GetBytes($"{{\"type\":1,\"target\":\"{JsonEncodedText.Encode(t)}\",\"arguments\":[")));
            to.Write(json);
            to.Write("]}\u001e"u8);
        }
    }

    /// <summary>
    /// The MessagePack hub protocol: a length-prefixed array <c>[1, {}, nil, target, [argument], []]</c>, the argument
    /// the event's JSON turned into MessagePack. That costs a pass over the event, so it is done once per event, for
    /// every connection that gets it, and kept as long as the event lives.
    /// </summary>
    private sealed class MessagePackFrames : InvocationFrames
    {
        public static readonly MessagePackFrames Instance = new();
        private static readonly ConditionalWeakTable<LiveMessage, byte[]> Framed = new();
        [ThreadStatic]
        private static PooledBuffer? scratch;

        public override void Write(LiveMessage message, PooledBuffer to) =>
            to.Write(Framed.GetValue(message, static m => Frame(m.Type, m.Utf8.Span)));

        public override void Write(string target, ReadOnlySpan<byte> json, PooledBuffer to) => to.Write(Frame(target, json));

        private static byte[] Frame(string target, ReadOnlySpan<byte> json)
        {
            var body = scratch ??= new PooledBuffer();
            body.Clear();
            // [1 (invocation), {} (headers), nil (no invocation id), target, [argument], [] (no streams)]
            body.Write([0x96, 0x01, 0x80, 0xc0]);
            var targetBytes = Encoding.UTF8.GetBytes(target);
            JsonToMessagePack.WriteString(targetBytes, body);
            body.Write(0x91);
            JsonToMessagePack.Write(json, body);
            body.Write(0x90);

            // The frame's length, 7 bits a byte, lowest first (SignalR's binary framing).
            Span<byte> prefix = stackalloc byte[5];
            var prefixLength = 0;
            var length = (uint)body.Length;
            do
            {
                var b = (byte)(length & 0x7f);
                length >>= 7;
                prefix[prefixLength++] = length > 0 ? (byte)(b | 0x80) : b;
            }
            while (length > 0);

            var frame = new byte[prefixLength + body.Length];
            prefix[..prefixLength].CopyTo(frame);
            body.WrittenSpan.CopyTo(frame.AsSpan(prefixLength));
            if (body.Length > 64 * 1024)
            {
                // A rare large event: the thread's scratch does not keep its memory.
                body.Release();
            }
            return frame;
        }
    }
}
