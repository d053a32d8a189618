using System.Text;

namespace GeoLogistics.Server.Realtime.Stomp;

/// <summary>One STOMP frame: a command, its headers in the order sent, and its body.</summary>
public sealed record StompFrame(string Command, IReadOnlyList<KeyValuePair<string, string>> Headers, ReadOnlyMemory<byte> Body)
{
    /// <summary>The first value of a header: STOMP 1.2 says a repeated header's first value is the one that counts.</summary>
    public string? Header(string name)
    {
        foreach (var (key, value) in Headers)
        {
            if (key == name)
            {
                return value;
            }
        }
        return null;
    }
}

/// <summary>The caps a frame must stay under: the whole frame (RealtimeOptions.MaxMessageBytes), headers, and one header line.</summary>
public sealed record StompLimits(int MaxFrameBytes, int MaxHeaders = 32, int MaxHeaderLineBytes = 8192);

public enum StompParseStatus
{
    /// <summary>A whole frame.</summary>
    Frame,
    /// <summary>One or more EOLs between frames: a heart-beat.</summary>
    HeartBeat,
    /// <summary>The input ends inside a frame; more input may complete it.</summary>
    Incomplete,
    /// <summary>The input is not STOMP, or breaks a limit; <see cref="StompParse.Error"/> says how.</summary>
    Error,
}

public readonly record struct StompParse(StompParseStatus Status, int Consumed, StompFrame? Frame = null, string? Error = null, bool TooBig = false);

/// <summary>
/// Reads STOMP 1.2 frames (https://stomp.github.io/stomp-specification-1.2.html#Augmented_BNF): strict, and never
/// throws: whatever the bytes, the answer is a frame, a heart-beat, "more please", or an error in words a client may
/// read. Header values are unescaped except in CONNECT and STOMP frames, as 1.2 says; a body runs to the first NUL,
/// or for exactly <c>content-length</c> bytes (which may hold NULs) followed by a NUL.
/// </summary>
public static class StompParser
{
    private const byte Lf = (byte)'\n';
    private const byte Cr = (byte)'\r';
    private const int MaxCommandLength = 16;
    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static StompParse Parse(ReadOnlySpan<byte> input, StompLimits limits)
    {
        // Heart-beats: EOLs before a frame.
        var eols = 0;
        while (eols < input.Length && (input[eols] == Lf || (input[eols] == Cr && eols + 1 < input.Length && input[eols + 1] == Lf)))
        {
            eols += input[eols] == Cr ? 2 : 1;
        }
        if (eols > 0)
        {
            return new StompParse(StompParseStatus.HeartBeat, eols);
        }
        if (input.IsEmpty || (input.Length == 1 && input[0] == Cr))
        {
            return new StompParse(StompParseStatus.Incomplete, 0);
        }
        try
        {
            return ParseFrame(input, limits);
        }
        catch (Exception e) when (e is DecoderFallbackException or ArgumentException)
        {
            return Fail("A header is not valid UTF-8.");
        }
    }

    private static StompParse ParseFrame(ReadOnlySpan<byte> input, StompLimits limits)
    {
        var position = 0;
        // The command line.
        if (!TryLine(input, ref position, limits.MaxHeaderLineBytes, out var commandLine, out var lineError))
        {
            // No EOL yet: what came so far must still be able to become a command.
            var partial = input.Length > 0 && input[^1] == Cr ? input[..^1] : input;
            return lineError ?? (partial.Length > MaxCommandLength || !IsCommand(partial)
                ? Fail("A frame starts with a command such as CONNECT, SUBSCRIBE or SEND, on a line of its own.")
                : new StompParse(StompParseStatus.Incomplete, 0));
        }
        if (commandLine.Length is 0 or > MaxCommandLength || !IsCommand(commandLine))
        {
            return Fail("A frame starts with a command such as CONNECT, SUBSCRIBE or SEND, on a line of its own.");
        }
        var command = Encoding.ASCII.GetString(commandLine);
        var escaped = command is not ("CONNECT" or "STOMP" or "CONNECTED");

        // Headers, up to the empty line.
        var headers = new List<KeyValuePair<string, string>>();
        while (true)
        {
            if (!TryLine(input, ref position, limits.MaxHeaderLineBytes, out var line, out lineError))
            {
                return lineError ?? MoreOrTooBig(input, limits);
            }
            if (line.IsEmpty)
            {
                break;
            }
            if (headers.Count == limits.MaxHeaders)
            {
                return Fail($"A frame may have at most {limits.MaxHeaders} headers.");
            }
            var colon = line.IndexOf((byte)':');
            if (colon <= 0)
            {
                return Fail("A header is name:value, with a name.");
            }
            if (!TryText(line[..colon], escaped, out var name, out var nameError) ||
                !TryText(line[(colon + 1)..], escaped, out var value, out nameError))
            {
                return Fail(nameError!);
            }
            headers.Add(new(name, value));
        }
        if (position > limits.MaxFrameBytes)
        {
            return TooBig(limits);
        }

        // The body.
        int bodyLength;
        var lengthHeader = headers.FirstOrDefault(h => h.Key == "content-length").Value;
        if (lengthHeader is not null)
        {
            if (!int.TryParse(lengthHeader, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out bodyLength))
            {
                return Fail("content-length is a number of bytes.");
            }
            if (position + bodyLength + 1 > limits.MaxFrameBytes)
            {
                return TooBig(limits);
            }
            if (input.Length < position + bodyLength + 1)
            {
                return new StompParse(StompParseStatus.Incomplete, 0);
            }
            if (input[position + bodyLength] != 0)
            {
                return Fail("The body is not followed by a NUL where content-length says it ends.");
            }
        }
        else
        {
            bodyLength = input[position..].IndexOf((byte)0);
            if (bodyLength < 0)
            {
                return MoreOrTooBig(input, limits);
            }
            if (position + bodyLength + 1 > limits.MaxFrameBytes)
            {
                return TooBig(limits);
            }
        }
        var body = input.Slice(position, bodyLength).ToArray();
        return new StompParse(StompParseStatus.Frame, position + bodyLength + 1, new StompFrame(command, headers, body));
    }

    private static bool IsCommand(ReadOnlySpan<byte> line)
    {
        foreach (var b in line)
        {
            if (b is < (byte)'A' or > (byte)'Z')
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>The next line without its EOL; false at the end of the input (error null: more may come) or for a line too long.</summary>
    private static bool TryLine(ReadOnlySpan<byte> input, ref int position, int maxLength, out ReadOnlySpan<byte> line, out StompParse? error)
    {
        line = default;
        error = null;
        var rest = input[position..];
        var lf = rest.IndexOf(Lf);
        var length = lf < 0 ? rest.Length : lf;
        if (length > maxLength)
        {
            error = Fail($"A header line may be at most {maxLength} bytes.");
            return false;
        }
        if (lf < 0)
        {
            return false;
        }
        line = rest[..lf];
        if (!line.IsEmpty && line[^1] == Cr)
        {
            line = line[..^1];
        }
        position += lf + 1;
        return true;
    }

    /// <summary>A header name or value: UTF-8, with 1.2's escapes (\r \n \c \\) undone where they apply; any other is an error.</summary>
    private static bool TryText(ReadOnlySpan<byte> bytes, bool escaped, out string text, out string? error)
    {
        text = "";
        error = null;
        if (!escaped || bytes.IndexOf((byte)'\\') < 0)
        {
            text = Utf8.GetString(bytes);
            return true;
        }
        var raw = Utf8.GetString(bytes);
        var builder = new StringBuilder(raw.Length);
        for (var i = 0; i < raw.Length; i++)
        {
            if (raw[i] != '\\')
            {
                builder.Append(raw[i]);
                continue;
            }
            if (++i == raw.Length)
            {
                error = "A header ends in a lone backslash.";
                return false;
            }
            switch (raw[i])
            {
                case 'r':
                    builder.Append('\r');
                    break;
                case 'n':
                    builder.Append('\n');
                    break;
                case 'c':
                    builder.Append(':');
                    break;
                case '\\':
                    builder.Append('\\');
                    break;
                default:
                    error = $"A header holds the escape \\{raw[i]}, which STOMP 1.2 does not define.";
                    return false;
            }
        }
        text = builder.ToString();
        return true;
    }

    private static StompParse MoreOrTooBig(ReadOnlySpan<byte> input, StompLimits limits) =>
        input.Length > limits.MaxFrameBytes ? TooBig(limits) : new StompParse(StompParseStatus.Incomplete, 0);

    private static StompParse TooBig(StompLimits limits) =>
        new(StompParseStatus.Error, 0, Error: $"A frame may be at most {limits.MaxFrameBytes} bytes.", TooBig: true);

    private static StompParse Fail(string error) => new(StompParseStatus.Error, 0, Error: error);
}
