using System.Buffers;
using System.Text;
using GeoLogistics.Server.Realtime.Direct;

namespace GeoLogistics.Tests.Realtime.Direct;

public class UpgradeHeadTests
{
    private const string Path = "/api/ws";

    private static readonly UpgradePaths Paths = new(Path);

    private const string Valid =
        "GET /api/ws?access_token=abc.def.ghi&x=1 HTTP/1.1\r\n" +
        "Host: 127.0.0.1:8080\r\n" +
        "Connection: keep-alive, Upgrade\r\n" +
        "Upgrade: websocket\r\n" +
        "Sec-WebSocket-Version: 13\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
        "Sec-WebSocket-Protocol: a, b\r\n" +
        "Origin: http://127.0.0.1:8080\r\n" +
        "\r\n";

    private static HeadRead Read(string text, out UpgradeHead? head, out int length) =>
        UpgradeHead.TryRead(new ReadOnlySequence<byte>(Encoding.Latin1.GetBytes(text)), Paths, out head, out length);

    private static HeadRead Read(string text) => Read(text, out _, out _);

    [Fact]
    public void A_well_formed_upgrade_is_read_with_what_the_checks_need()
    {
        Assert.Equal(HeadRead.Upgrade, Read(Valid + "\x81\x80", out var head, out var length));
        Assert.Equal(Valid.Length, length);
        Assert.NotNull(head);
        Assert.Equal("access_token=abc.def.ghi&x=1", head.Query);
        Assert.Equal("127.0.0.1:8080", head.Host);
        Assert.Equal("dGhlIHNhbXBsZSBub25jZQ==", head.Key);
        Assert.Equal("http://127.0.0.1:8080", head.Origin);
        Assert.Null(head.Authorization);
        Assert.False(head.HasCookie);
        Assert.Equal(["a", "b"], head.SubProtocols);
    }

    [Fact]
    public void A_head_split_over_segments_reads_the_same()
    {
        var bytes = Encoding.ASCII.GetBytes(Valid);
        var first = new Segment(bytes.AsMemory(0, 17));
        var last = first.Append(bytes.AsMemory(17, 40)).Append(bytes.AsMemory(57));
        var read = UpgradeHead.TryRead(new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length), Paths, out var head, out var length);
        Assert.Equal(HeadRead.Upgrade, read);
        Assert.Equal(bytes.Length, length);
        Assert.Equal("dGhlIHNhbXBsZSBub25jZQ==", head!.Key);
    }

    [Theory]
    [InlineData("")]
    [InlineData("G")]
    [InlineData("GET /api")]
    [InlineData("GET /api/ws?access_token=abc HTTP/1.1\r\nHost: x\r\n")]
    public void The_start_of_an_upgrade_asks_for_more(string text) => Assert.Equal(HeadRead.NeedMore, Read(text));

    [Theory]
    [InlineData("POST /api/ws HTTP/1.1\r\n")]
    [InlineData("GET /health/live HTTP/1.1\r\n")]
    [InlineData("GET /API/WS")]
    [InlineData("\x16\x03\x01\x02\x00\x01")] // a TLS ClientHello
    [InlineData("PRI * HTTP/2.0\r\n")]
    public void Anything_else_is_handed_on_from_its_first_bytes(string text) => Assert.Equal(HeadRead.NotOurs, Read(text));

    [Theory]
    [InlineData("GET /api/ws?access_token=abc.def.ghi&x=1 HTTP/1.1", "GET /api/ws/ HTTP/1.1")]
    [InlineData("GET /api/ws?access_token=abc.def.ghi&x=1 HTTP/1.1", "GET /api/wsx HTTP/1.1")]
    [InlineData("GET /api/ws?access_token=abc.def.ghi&x=1 HTTP/1.1", "GET /api/ws?a HTTP/1.0")]
    [InlineData("GET /api/ws?access_token=abc.def.ghi&x=1 HTTP/1.1", "GET /api/ws?a b HTTP/1.1")]
    [InlineData("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 8")]
    [InlineData("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Key: c2hvcnQ=")]
    [InlineData("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==")]
    [InlineData("Upgrade: websocket", "Upgrade: h2c")]
    [InlineData("Connection: keep-alive, Upgrade", "Connection: keep-alive")]
    [InlineData("Host: 127.0.0.1:8080\r\n", "")]
    [InlineData("Host: 127.0.0.1:8080", "Host: 127.0.0.1:8080\r\nHost: evil.test")]
    [InlineData("Origin: http://127.0.0.1:8080", "Origin: http://127.0.0.1:8080\r\nContent-Length: 5")]
    [InlineData("Origin: http://127.0.0.1:8080", "Origin: http://127.0.0.1:8080\r\nTransfer-Encoding: chunked")]
    [InlineData("Origin: http://127.0.0.1:8080", "Origin: http://127.0.0.1:8080\r\n folded: continuation")]
    [InlineData("Origin: http://127.0.0.1:8080", "Origin: http://caf\u00e9.test")]
    [InlineData("Origin: http://127.0.0.1:8080", "Origin: http://127.0.0.1:8080\r\nBad Name: x")]
    [InlineData("Origin: http://127.0.0.1:8080", "Origin: http://127.0.0.1:8080\r\nX: a\x01b")]
    [InlineData("Origin: http://127.0.0.1:8080", "Origin: http://127.0.0.1:8080\nX: bare line feed")]
    public void An_upgrade_in_any_other_shape_is_left_to_HTTP(string part, string replacement)
    {
        Assert.Contains(part, Valid);
        Assert.Equal(HeadRead.NotOurs, Read(Valid.Replace(part, replacement)));
    }

    [Fact]
    public void A_head_longer_than_the_limit_is_left_to_HTTP()
    {
        var big = Valid.Replace("Origin:", "X-Padding: " + new string('a', UpgradeHead.MaxBytes) + "\r\nOrigin:");
        Assert.Equal(HeadRead.NotOurs, Read(big));
        Assert.Equal(HeadRead.NotOurs, Read(big[..(UpgradeHead.MaxBytes + 10)]));
    }

    [Fact]
    public void Random_bytes_never_throw()
    {
        var random = new Random(20261202);
        var valid = Encoding.ASCII.GetBytes(Valid);
        for (var i = 0; i < 20_000; i++)
        {
            var bytes = valid[..random.Next(valid.Length + 1)];
            for (var flips = random.Next(4); flips > 0 && bytes.Length > 0; flips--)
            {
                bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
            }
            var read = UpgradeHead.TryRead(new ReadOnlySequence<byte>(bytes), Paths, out var head, out var length);
            Assert.Equal(read == HeadRead.Upgrade, head is not null);
            Assert.InRange(length, 0, bytes.Length);
        }
    }

    // The paths the server reads: JSON, STOMP, SockJS's websocket transport, Engine.IO.
    private static readonly UpgradePaths Several = new("/api/ws", "/ws-registry", "/ws-registry/*/*/websocket", "/socket.io/");

    private static HeadRead ReadTarget(string target, out UpgradeHead? head) => UpgradeHead.TryRead(
        new ReadOnlySequence<byte>(Encoding.Latin1.GetBytes(Valid.Replace("/api/ws?access_token=abc.def.ghi&x=1", target))), Several, out head, out _);

    [Theory]
    [InlineData("/api/ws", 0, "")]
    [InlineData("/ws-registry", 1, "")]
    [InlineData("/ws-registry/123/a1b2c3d4/websocket", 2, "")]
    [InlineData("/ws-registry/server_1/Session-2/websocket?x=1", 2, "x=1")]
    [InlineData("/socket.io/?EIO=4&transport=websocket", 3, "EIO=4&transport=websocket")]
    public void Each_path_of_several_is_read_with_which_one_it_is(string target, int index, string query)
    {
        Assert.Equal(HeadRead.Upgrade, ReadTarget(target, out var head));
        Assert.Equal(index, head!.PathIndex);
        Assert.Equal(target.Split('?')[0], head.Path);
        Assert.Equal(query, head.Query);
    }

    [Theory]
    [InlineData("/ws-registry/")]
    [InlineData("/WS-REGISTRY")]
    [InlineData("/ws-registry/123/abc")]
    [InlineData("/ws-registry/123/abc/websocket/")]
    [InlineData("/ws-registry/123/abc/xhr_streaming")]
    [InlineData("/ws-registry//abc/websocket")]
    [InlineData("/ws-registry/1.2/abc/websocket")]
    [InlineData("/ws-registry/123/a%62c/websocket")]
    [InlineData("/ws-registry/123/../websocket")]
    [InlineData("/ws-registry/123/abc/def/websocket")]
    [InlineData("/socket.io")]
    [InlineData("/socket.io/x")]
    public void A_path_near_one_of_several_is_left_to_HTTP(string target) => Assert.Equal(HeadRead.NotOurs, ReadTarget(target, out _));

    [Fact]
    public void A_segment_is_at_most_64_characters()
    {
        Assert.Equal(HeadRead.Upgrade, ReadTarget($"/ws-registry/{new string('s', 64)}/{new string('t', 64)}/websocket", out _));
        Assert.Equal(HeadRead.NotOurs, ReadTarget($"/ws-registry/{new string('s', 65)}/abc/websocket", out _));
        Assert.Equal(HeadRead.NotOurs, Start($"GET /ws-registry/{new string('s', 65)}"));
    }

    private static HeadRead Start(string text) => UpgradeHead.TryRead(new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes(text)), Several, out _, out _);

    [Theory]
    [InlineData("GET /")]
    [InlineData("GET /ws-registry")]
    [InlineData("GET /ws-registry/12")]
    [InlineData("GET /ws-registry/123/abc/web")]
    [InlineData("GET /ws-registry/123/abc/websocket HTTP/1.1\r\n")]
    [InlineData("GET /socket.io/?EIO=4")]
    public void The_start_of_an_upgrade_of_any_of_several_asks_for_more(string text) => Assert.Equal(HeadRead.NeedMore, Start(text));

    [Theory]
    [InlineData("GET /ws-registry/1.")]
    [InlineData("GET /ws-registry/123/abc/x")]
    [InlineData("GET /socket.io/x")]
    [InlineData("GET /api/wsx")]
    [InlineData("GET /ws-registryx")]
    [InlineData("GET /ws-registry/123/abc/websocket/ HTTP/1.1\r\n")]
    public void A_start_that_matches_none_of_several_is_handed_on_at_once(string text) => Assert.Equal(HeadRead.NotOurs, Start(text));

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory) => Memory = memory;

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory) { RunningIndex = RunningIndex + Memory.Length };
            Next = next;
            return next;
        }
    }
}
