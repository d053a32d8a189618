using System.Text;
using GeoLogistics.Server.Realtime.Stomp;

namespace GeoLogistics.Tests.Realtime.Stomp;

/// <summary>The frame reader and writer alone: whatever the bytes, an answer and never an exception.</summary>
public class StompFrameTests
{
    private static readonly StompLimits Limits = new(MaxFrameBytes: 1024, MaxHeaders: 4, MaxHeaderLineBytes: 128);

    private static StompParse Parse(string text) => StompParser.Parse(Encoding.UTF8.GetBytes(text), Limits);

    private static StompParse Parse(byte[] bytes) => StompParser.Parse(bytes, Limits);

    [Fact]
    public void A_frame_is_read_with_its_headers_body_and_length()
    {
        var text = "SEND\ndestination:/app/drivers/location\nreceipt:r1\n\n{\"lat\":1}\0";

        var parse = Parse(text + "\n");

        Assert.Equal(StompParseStatus.Frame, parse.Status);
        Assert.Equal(Encoding.UTF8.GetByteCount(text), parse.Consumed);
        Assert.Equal("SEND", parse.Frame!.Command);
        Assert.Equal("/app/drivers/location", parse.Frame.Header("destination"));
        Assert.Equal("r1", parse.Frame.Header("receipt"));
        Assert.Equal("{\"lat\":1}", Encoding.UTF8.GetString(parse.Frame.Body.Span));
    }

    [Fact]
    public void CRLF_lines_and_heart_beats_between_frames_are_understood()
    {
        var beats = Parse("\r\n\n\r\nSUBSCRIBE\r\nid:1\r\n\r\n\0");
        Assert.Equal(StompParseStatus.HeartBeat, beats.Status);
        Assert.Equal(5, beats.Consumed);

        var frame = Parse("SUBSCRIBE\r\nid:1\r\ndestination:/topic/orders\r\n\r\n\0");
        Assert.Equal(StompParseStatus.Frame, frame.Status);
        Assert.Equal("1", frame.Frame!.Header("id"));
        Assert.Equal("/topic/orders", frame.Frame.Header("destination"));
    }

    [Fact]
    public void The_first_of_a_repeated_header_counts()
    {
        var parse = Parse("SUBSCRIBE\nid:first\nid:second\n\n\0");

        Assert.Equal("first", parse.Frame!.Header("id"));
        Assert.Equal(2, parse.Frame.Headers.Count);
    }

    [Fact]
    public void Header_escapes_are_undone_except_in_CONNECT()
    {
        var send = Parse("SEND\nkey\\cname:a\\nb\\\\c\\rd\\ce\n\n\0");
        Assert.Equal("a\nb\\c\rd:e", send.Frame!.Header("key:name"));

        var connect = Parse("CONNECT\npasscode:a\\b\n\n\0");
        Assert.Equal("a\\b", connect.Frame!.Header("passcode"));
    }

    [Fact]
    public void An_undefined_escape_is_an_error()
    {
        var parse = Parse("SEND\nkey:a\\tb\n\n\0");

        Assert.Equal(StompParseStatus.Error, parse.Status);
        Assert.Contains("\\t", parse.Error);
    }

    [Fact]
    public void A_colon_in_a_value_is_kept()
    {
        Assert.Equal("Bearer a:b", Parse("CONNECT\nAuthorization:Bearer a:b\n\n\0").Frame!.Header("Authorization"));
    }

    [Fact]
    public void Content_length_reads_a_body_with_NUL_bytes()
    {
        var bytes = Encoding.UTF8.GetBytes("SEND\ncontent-length:5\n\nab\0cd\0");

        var parse = Parse(bytes);

        Assert.Equal(StompParseStatus.Frame, parse.Status);
        Assert.Equal(bytes.Length, parse.Consumed);
        Assert.Equal("ab\0cd"u8.ToArray(), parse.Frame!.Body.ToArray());
    }

    [Fact]
    public void Content_length_not_followed_by_NUL_is_an_error()
    {
        var parse = Parse("SEND\ncontent-length:2\n\nabcd\0");

        Assert.Equal(StompParseStatus.Error, parse.Status);
        Assert.Contains("content-length", parse.Error);
    }

    [Theory]
    [InlineData("SEND\ncontent-length:-1\n\n\0")]
    [InlineData("SEND\ncontent-length:x\n\n\0")]
    [InlineData("SEND\ncontent-length:99999999999\n\n\0")]
    public void A_bad_content_length_is_an_error(string text) => Assert.Equal(StompParseStatus.Error, Parse(text).Status);

    [Theory]
    [InlineData("SEND")]
    [InlineData("SEND\ndestination:/a")]
    [InlineData("SEND\ndestination:/a\n\nbody without NUL")]
    [InlineData("SEND\ncontent-length:10\n\nabc")]
    public void A_truncated_frame_asks_for_more(string text)
    {
        var parse = Parse(text);

        Assert.Equal(StompParseStatus.Incomplete, parse.Status);
        Assert.Equal(0, parse.Consumed);
    }

    [Fact]
    public void A_frame_over_the_size_limit_is_an_error_even_before_its_end()
    {
        var body = new string('x', 2000);

        var whole = Parse($"SEND\n\n{body}\0");
        var unfinished = Parse($"SEND\n\n{body}");
        var declared = Parse("SEND\ncontent-length:5000\n\nxx");

        Assert.All([whole, unfinished, declared], p =>
        {
            Assert.Equal(StompParseStatus.Error, p.Status);
            Assert.True(p.TooBig);
            Assert.Contains("1024 bytes", p.Error);
        });
    }

    [Fact]
    public void Too_many_headers_is_an_error()
    {
        var parse = Parse("SEND\na:1\nb:2\nc:3\nd:4\ne:5\n\n\0");

        Assert.Equal(StompParseStatus.Error, parse.Status);
        Assert.Contains("at most 4 headers", parse.Error);
    }

    [Fact]
    public void A_header_line_over_its_limit_is_an_error_even_before_its_end()
    {
        var value = new string('v', 200);

        Assert.Contains("128 bytes", Parse($"SEND\nkey:{value}\n\n\0").Error);
        Assert.Contains("128 bytes", Parse($"SEND\nkey:{value}").Error);
    }

    [Theory]
    [InlineData("send\n\n\0")]
    [InlineData("{\"type\":\"subscribe\"}")]
    [InlineData("SEND FRAME\n\n\0")]
    [InlineData("VERYVERYLONGCOMMANDNAME\n\n\0")]
    [InlineData("SEND\nno colon here\n\n\0")]
    [InlineData("SEND\n:no name\n\n\0")]
    public void Garbage_is_an_error_not_an_exception(string text)
    {
        var parse = Parse(text);

        Assert.Equal(StompParseStatus.Error, parse.Status);
        Assert.False(string.IsNullOrEmpty(parse.Error));
    }

    [Fact]
    public void Invalid_UTF8_in_a_header_is_an_error()
    {
        byte[] bytes = [.. "SEND\nkey:"u8, 0xC3, 0x28, .. "\n\n\0"u8];

        var parse = Parse(bytes);

        Assert.Equal(StompParseStatus.Error, parse.Status);
        Assert.Contains("UTF-8", parse.Error);
    }

    [Fact]
    public void Random_bytes_never_throw()
    {
        var random = new Random(1234);
        for (var i = 0; i < 5000; i++)
        {
            var bytes = new byte[random.Next(0, 300)];
            random.NextBytes(bytes);
            if (i % 2 == 0 && bytes.Length > 8)
            {
                // Half of them start like a frame, so the header and body paths get garbage too.
                "SEND\na:"u8.CopyTo(bytes);
            }
            var parse = Parse(bytes);
            Assert.InRange(parse.Consumed, 0, bytes.Length);
        }
    }

    [Fact]
    public void The_writer_escapes_headers_gives_every_body_a_length_and_reads_back()
    {
        var frame = StompWriter.Frame("MESSAGE", [new("destination", "/topic/a:b\nc\\d"), new("subscription", "s1")], "{\"x\":\"\0\"}");

        var parse = StompParser.Parse(frame, Limits);

        Assert.Equal(StompParseStatus.Frame, parse.Status);
        Assert.Equal(frame.Length, parse.Consumed);
        Assert.Equal("/topic/a:b\nc\\d", parse.Frame!.Header("destination"));
        Assert.Equal("{\"x\":\"\0\"}", Encoding.UTF8.GetString(parse.Frame.Body.Span));
        Assert.Contains("destination:/topic/a\\cb\\nc\\\\d\n", Encoding.UTF8.GetString(frame));
    }

    [Theory]
    [InlineData(42L)]
    [InlineData(0L)]
    public void A_message_from_its_subscription_head_and_its_event_tail_reads_back_whole(long seq)
    {
        var head = StompWriter.MessageHead("/topic/orders:a\nb", "sub\\1");
        var tail = StompWriter.MessageTail("order.created", seq, "{\"x\":\"\0\"}"u8);
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();

        StompWriter.Message(buffer, head, 1234567890123, tail);
        var parse = StompParser.Parse(buffer.WrittenSpan, new StompLimits(MaxFrameBytes: 1024, MaxHeaders: 8, MaxHeaderLineBytes: 128));

        Assert.Equal(StompParseStatus.Frame, parse.Status);
        Assert.Equal(buffer.WrittenCount, parse.Consumed);
        var frame = parse.Frame!;
        Assert.Equal("MESSAGE", frame.Command);
        Assert.Equal(
            ("/topic/orders:a\nb", "sub\\1", "1234567890123", "order.created", seq > 0 ? "42" : null, "application/json"),
            (frame.Header("destination"), frame.Header("subscription"), frame.Header("message-id"), frame.Header("event-type"),
                frame.Header("seq"), frame.Header("content-type")));
        Assert.Equal("{\"x\":\"\0\"}", Encoding.UTF8.GetString(frame.Body.Span));
    }

    [Fact]
    public void An_error_frame_has_its_message_header_and_the_receipt_it_answers()
    {
        var parse = StompParser.Parse(StompWriter.Error("forbidden", "You may not.", "r7"), Limits);

        Assert.Equal("ERROR", parse.Frame!.Command);
        Assert.Equal("forbidden", parse.Frame.Header("message"));
        Assert.Equal("r7", parse.Frame.Header("receipt-id"));
        Assert.Equal("You may not.", Encoding.UTF8.GetString(parse.Frame.Body.Span));
    }

    [Theory]
    [InlineData("[\"CONNECT\\n\\n\\u0000\",\"\\n\"]", "CONNECT\n\n\0\n")]
    [InlineData("\"SEND\\n\\n\\u0000\"", "SEND\n\n\0")]
    [InlineData("[]", "")]
    public void SockJS_messages_carry_STOMP_in_JSON_strings(string message, string stomp)
    {
        var decoded = new StompWire(sockJs: true).Decode(Encoding.UTF8.GetBytes(message));

        Assert.Equal(stomp, Encoding.UTF8.GetString(decoded!.Value.Span));
    }

    [Theory]
    [InlineData("CONNECT\n\n\0")]
    [InlineData("[1]")]
    [InlineData("[\"a\"")]
    [InlineData("[\"a\"] [\"b\"]")]
    [InlineData("[[\"a\"]]")]
    public void A_SockJS_message_that_is_not_strings_is_refused(string message) =>
        Assert.Null(new StompWire(sockJs: true).Decode(Encoding.UTF8.GetBytes(message)));

    [Fact]
    public void A_frame_goes_out_over_SockJS_as_an_array_of_one_string()
    {
        var scratch = new System.Buffers.ArrayBufferWriter<byte>();

        var encoded = new StompWire(sockJs: true).Encode(StompWriter.Receipt("r\"1"), scratch);

        Assert.Equal("a[\"RECEIPT\\nreceipt-id:r\\\"1\\n\\n\\u0000\"]", Encoding.UTF8.GetString(encoded.Span));
    }
}
