using System.Text;
using GeoLogistics.Server.Realtime.SocketIo;

namespace GeoLogistics.Tests.Realtime.SocketIo;

/// <summary>The Engine.IO and Socket.IO framing alone: good packets of every type, and bad ones that must not throw.</summary>
public class SocketIoPacketTests
{
    private static ReadOnlyMemory<byte> Bytes(string text) => Encoding.UTF8.GetBytes(text);

    private static string Text(ReadOnlyMemory<byte> bytes) => Encoding.UTF8.GetString(bytes.Span);

    [Theory]
    [InlineData("0", EngineType.Open, "")]
    [InlineData("1", EngineType.Close, "")]
    [InlineData("2probe", EngineType.Ping, "probe")]
    [InlineData("3", EngineType.Pong, "")]
    [InlineData("4hello", EngineType.Message, "hello")]
    [InlineData("5", EngineType.Upgrade, "")]
    [InlineData("6", EngineType.Noop, "")]
    public void Every_engine_packet_type_parses_with_its_data(string frame, EngineType type, string data)
    {
        Assert.True(EngineIo.TryParse(Bytes(frame), out var packet, out var error), error);
        Assert.Equal(type, packet.Type);
        Assert.Equal(data, Text(packet.Data));
        Assert.Equal(data == "probe", packet.IsProbe);
    }

    [Theory]
    [InlineData("", "empty packet")]
    [InlineData("7", "unknown packet type")]
    [InlineData("x4", "unknown packet type")]
    [InlineData("bAQIDBA==", "binary packets are not supported")]
    public void A_bad_engine_packet_is_an_error_not_an_exception(string frame, string expected)
    {
        Assert.False(EngineIo.TryParse(Bytes(frame), out _, out var error));
        Assert.Equal(expected, error);
    }

    [Fact]
    public void A_polling_body_splits_on_the_record_separator()
    {
        var packets = new List<EnginePacket>();

        Assert.True(EngineIo.TrySplitPayload(Bytes("4hello\u001e2\u001e4world"), 100, packets, out _));

        Assert.Equal([EngineType.Message, EngineType.Ping, EngineType.Message], packets.Select(p => p.Type));
        Assert.Equal(["hello", "", "world"], packets.Select(p => Text(p.Data)));
    }

    [Theory]
    [InlineData("4hello\u001e", "empty packet")]
    [InlineData("4hello\u001e9", "unknown packet type")]
    [InlineData("4hello\u001e4" + "0123456789", "a packet is limited to 8 bytes")]
    public void A_bad_polling_body_keeps_the_packets_before_the_error(string body, string expected)
    {
        var packets = new List<EnginePacket>();

        Assert.False(EngineIo.TrySplitPayload(Bytes(body), 8, packets, out var error));

        Assert.Equal(expected, error);
        Assert.Equal(["hello"], packets.Select(p => Text(p.Data)));
    }

    [Fact]
    public void Engine_packets_encode_as_a_type_digit_and_data() =>
        Assert.Equal("3probe", Text(EngineIo.ProbeAnswer));

    [Theory]
    [InlineData("0", SocketType.Connect, "/", null, null)]
    [InlineData("0/orders,", SocketType.Connect, "/orders", null, null)]
    [InlineData("0/orders,{\"token\":\"t\"}", SocketType.Connect, "/orders", null, "{\"token\":\"t\"}")]
    [InlineData("1/realtime,", SocketType.Disconnect, "/realtime", null, null)]
    [InlineData("1/realtime", SocketType.Disconnect, "/realtime", null, null)]
    [InlineData("2[\"foo\"]", SocketType.Event, "/", null, "[\"foo\"]")]
    [InlineData("2/orders,12[\"join:hospital\",{\"hospitalId\":\"x\"}]", SocketType.Event, "/orders", 12, "[\"join:hospital\",{\"hospitalId\":\"x\"}]")]
    [InlineData("3/admin,13[\"bar\"]", SocketType.Ack, "/admin", 13, "[\"bar\"]")]
    [InlineData("313[]", SocketType.Ack, "/", 13, "[]")]
    public void Every_socket_packet_type_parses_with_namespace_ack_id_and_payload(string text, SocketType type, string ns, int? ackId, string? json)
    {
        Assert.True(SocketIoPackets.TryParse(Bytes(text), out var packet, out var error), error);
        using (packet)
        {
            Assert.Equal(type, packet!.Type);
            Assert.Equal(ns, packet.Namespace);
            Assert.Equal(ackId, packet.AckId);
            Assert.Equal(json, packet.Data?.RootElement.GetRawText());
        }
    }

    [Fact]
    public void An_events_name_and_first_argument_are_read_from_its_array()
    {
        Assert.True(SocketIoPackets.TryParse(Bytes("2/orders,[\"join:hospital\",{\"hospitalId\":\"h\"}]"), out var packet, out _));
        using (packet)
        {
            Assert.Equal("join:hospital", packet!.EventName);
            Assert.Equal("h", packet.FirstArgument.GetProperty("hospitalId").GetString());
        }
        Assert.True(SocketIoPackets.TryParse(Bytes("2[\"ping\"]"), out var bare, out _));
        using (bare)
        {
            Assert.Equal(System.Text.Json.JsonValueKind.Undefined, bare!.FirstArgument.ValueKind);
        }
    }


    [Fact]
    public void An_event_keeps_its_payload_when_the_buffer_it_arrived_in_is_filled_with_the_next_packet()
    {
        // A WebSocket's receive buffer goes back to the pool once the packet is parsed, while the event waits in its
        // namespace's queue: the next packet read into the same array must not change it.
        var buffer = Encoding.UTF8.GetBytes("2/orders,0[\"join:hospital\",{\"hospitalId\":\"h\"}]");
        Assert.True(SocketIoPackets.TryParse(buffer, out var packet, out var error), error);
        Encoding.UTF8.GetBytes("0/realtime,{\"token\":\"eyJhbGciOiJIUzI1NiJ9.e30.sig\"}").AsSpan(0, buffer.Length).CopyTo(buffer);
        using (packet)
        {
            Assert.Equal("join:hospital", packet!.EventName);
            Assert.Equal("h", packet.FirstArgument.GetProperty("hospitalId").GetString());
        }
    }
    [Theory]
    [InlineData("", "unknown packet type")]
    [InlineData("9", "unknown packet type")]
    [InlineData("x", "unknown packet type")]
    [InlineData("51-[\"baz\",{\"_placeholder\":true,\"num\":0}]", "binary packets are not supported")]
    [InlineData("61-15[\"bar\"]", "binary packets are not supported")]
    [InlineData("4{\"message\":\"x\"}", "CONNECT_ERROR is sent by servers only")]
    [InlineData("2/orders,[\"join:hospital\"", "the payload is not JSON (or nests deeper than 8 levels)")]
    [InlineData("2/orders,{\"a\":1}", "an EVENT payload is a non-empty array")]
    [InlineData("2/orders,[]", "an EVENT payload is a non-empty array")]
    [InlineData("2/orders,", "an EVENT payload is a non-empty array")]
    [InlineData("2/orders,[42]", "an event name is a string")]
    [InlineData("2/orders,[\"connect\"]", "'connect' is a reserved event name")]
    [InlineData("0/orders,[1]", "a CONNECT payload is an object")]
    [InlineData("0/orders,\"token\"", "a CONNECT payload is an object")]
    [InlineData("0/orders,5{}", "only EVENT and ACK carry an id")]
    [InlineData("1/orders,{}", "a DISCONNECT has no payload")]
    [InlineData("3/orders,[1]", "an ACK carries an id")]
    [InlineData("3/orders,1{}", "an ACK payload is an array")]
    [InlineData("2/orders,1234567890[\"x\"]", "an acknowledgement id is at most 9 digits")]
    [InlineData("2/or ders,[\"x\"]", "a namespace is up to 64 printable ASCII characters")]
    [InlineData("2[[[[[[[[[1]]]]]]]]]", "the payload is not JSON (or nests deeper than 8 levels)")]
    public void A_bad_socket_packet_is_an_error_not_an_exception(string text, string expected)
    {
        Assert.False(SocketIoPackets.TryParse(Bytes(text), out var packet, out var error));
        Assert.Null(packet);
        Assert.Equal(expected, error);
    }

    [Fact]
    public void Random_garbage_never_throws()
    {
        var random = new Random(42);
        var alphabet = "0123456789/,[]{}\":abc-\u001e\u00e9 ".ToCharArray();
        for (var i = 0; i < 20_000; i++)
        {
            var text = new string([.. Enumerable.Range(0, random.Next(0, 40)).Select(_ => alphabet[random.Next(alphabet.Length)])]);
            if (SocketIoPackets.TryParse(Bytes(text), out var packet, out _))
            {
                packet!.Dispose();
            }
            EngineIo.TryParse(Bytes(text), out _, out _);
            EngineIo.TrySplitPayload(Bytes(text), 16, [], out _);
        }
    }

    [Fact]
    public void Writers_put_the_engine_message_type_the_namespace_and_the_ack_id_in_front()
    {
        Assert.Equal("42/orders,[\"joined\",{\"a\":1}]", Text(SocketIoPackets.Event("/orders", "joined", json =>
        {
            json.WriteStartObject();
            json.WriteNumber("a", 1);
            json.WriteEndObject();
        })));
        Assert.Equal("43/realtime,7[true]", Text(SocketIoPackets.Ack("/realtime", 7, json => json.WriteBooleanValue(true))));
        Assert.Equal("42[\"x\"]", Text(SocketIoPackets.Event("/", "x", _ => { })));
        Assert.Equal("44/nope,{\"message\":\"Invalid namespace\"}", Text(SocketIoPackets.ConnectError("/nope", "Invalid namespace")));
        Assert.Equal("41/orders,", Text(SocketIoPackets.Disconnect("/orders")));
        Assert.Equal("40/orders,{\"sid\":\"s\"}", Text(SocketIoPackets.Packet(SocketType.Connect, "/orders", null, "{\"sid\":\"s\"}"u8)));
        Assert.Equal("2\u001e3", Text(SocketIoPackets.Batch([.. "2"u8], [.. "3"u8])));
    }

    [Fact]
    public void What_the_writers_write_the_parser_reads_back()
    {
        var written = SocketIoPackets.Ack("/orders", 99, json => json.WriteStringValue("x"));
        Assert.True(EngineIo.TryParse(written, out var engine, out _));
        Assert.True(SocketIoPackets.TryParse(engine.Data, out var packet, out var error), error);
        using (packet)
        {
            Assert.Equal((SocketType.Ack, "/orders", 99, "[\"x\"]"), (packet!.Type, packet.Namespace, packet.AckId, packet.Data!.RootElement.GetRawText()));
        }
    }
}
