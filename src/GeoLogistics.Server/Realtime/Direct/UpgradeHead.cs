using System.Buffers;
using System.Text;

namespace GeoLogistics.Server.Realtime.Direct;

/// <summary>What reading the first bytes of a connection found.</summary>
public enum HeadRead
{
    /// <summary>So far these could be a WebSocket upgrade to the path asked for: read more.</summary>
    NeedMore,

    /// <summary>Not a plain WebSocket upgrade of the kind served directly: HTTP serves it, as it would have anyway.</summary>
    NotOurs,

    /// <summary>A complete, well-formed upgrade request.</summary>
    Upgrade,
}

/// <summary>
/// The head of an HTTP/1.1 WebSocket upgrade request (RFC 6455 §4.1) read straight off a connection, in the one strict
/// shape served without the HTTP pipeline: <c>GET</c> of one of the paths asked for (<see cref="UpgradePaths"/>),
/// HTTP/1.1, CRLF line ends, printable ASCII, each header that matters here once, no body, a valid
/// <c>Sec-WebSocket-Key</c> and version 13. Anything else, however legal, is <see cref="HeadRead.NotOurs"/>: Kestrel's
/// own parser and the endpoint then answer it, so a bad or unusual request gets exactly the answer it gets through HTTP.
/// </summary>
/// <param name="PathIndex">Which of the paths asked for matched <paramref name="Path"/>.</param>
public sealed record UpgradeHead(
    int PathIndex, string Path, string Query, string Host, string Key, string? Origin, string? Authorization, bool HasCookie,
    IReadOnlyList<string> SubProtocols)
{
    /// <summary>The longest head read here; a longer one is left to HTTP (which allows 32 KiB of headers by default).</summary>
    public const int MaxBytes = 8 * 1024;

    private const int MaxHeaders = 64;
    private static readonly byte[] EndOfHead = "\r\n\r\n"u8.ToArray();

    /// <summary>
    /// Reads a head for one of <paramref name="paths"/> from the start of <paramref name="buffer"/>:
    /// <see cref="HeadRead.Upgrade"/> with the head and its length in bytes, or whether more bytes could still make one.
    /// </summary>
    public static HeadRead TryRead(ReadOnlySequence<byte> buffer, UpgradePaths paths, out UpgradeHead? head, out int length)
    {
        head = null;
        length = 0;
        var window = buffer.Slice(0, Math.Min(buffer.Length, MaxBytes));
        var reader = new SequenceReader<byte>(window);
        if (!reader.TryReadTo(out ReadOnlySequence<byte> lines, EndOfHead, advancePastDelimiter: true))
        {
            return window.Length < MaxBytes && CouldStart(window, paths) ? HeadRead.NeedMore : HeadRead.NotOurs;
        }
        length = (int)reader.Consumed;
        Span<byte> bytes = stackalloc byte[(int)lines.Length];
        lines.CopyTo(bytes);
        head = Parse(bytes, paths);
        return head is null ? HeadRead.NotOurs : HeadRead.Upgrade;
    }

    /// <summary>Whether the bytes so far agree with <c>GET</c> of one of the paths: a request for anything else is handed on at once.</summary>
    private static bool CouldStart(ReadOnlySequence<byte> buffer, UpgradePaths paths)
    {
        Span<byte> start = stackalloc byte[(int)Math.Min(buffer.Length, paths.LongestStart)];
        buffer.Slice(0, start.Length).CopyTo(start);
        return paths.CouldStart(start);
    }

    private static UpgradeHead? Parse(ReadOnlySpan<byte> bytes, UpgradePaths paths)
    {
        foreach (var b in bytes)
        {
            // Printable ASCII, tabs and line ends only: no control characters, no bytes a parser might read two ways.
            if (b is > 0x7E || (b < 0x20 && b is not ((byte)'\t' or (byte)'\r' or (byte)'\n')))
            {
                return null;
            }
        }
        var lineEnd = bytes.IndexOf("\r\n"u8);
        var requestLine = lineEnd < 0 ? bytes : bytes[..lineEnd];
        if (Target(requestLine, paths) is not var (pathIndex, path, query))
        {
            return null;
        }

        var text = Encoding.ASCII.GetString(bytes);
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var subProtocols = new List<string>();
        var count = 0;
        for (var start = lineEnd < 0 ? text.Length : lineEnd + 2; start < text.Length;)
        {
            var end = text.IndexOf("\r\n", start, StringComparison.Ordinal);
            var line = end < 0 ? text[start..] : text[start..end];
            start = end < 0 ? text.Length : end + 2;
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (++count > MaxHeaders || colon <= 0 || !IsToken(line.AsSpan(0, colon)) || line.Contains('\n') || line.Contains('\r'))
            {
                return null;
            }
            var name = line[..colon];
            var value = line[(colon + 1)..].Trim(' ', '\t');
            if (name.Equals("Sec-WebSocket-Protocol", StringComparison.OrdinalIgnoreCase))
            {
                subProtocols.AddRange(value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries));
            }
            else if (!headers.TryAdd(name, value))
            {
                // Two of one header: which one counts is HTTP's call, not this reader's.
                return null;
            }
        }

        if (headers.ContainsKey("Content-Length") || headers.ContainsKey("Transfer-Encoding") ||
            !headers.TryGetValue("Host", out var host) || host.Length == 0 ||
            !HasToken(headers.GetValueOrDefault("Upgrade"), "websocket") ||
            !HasToken(headers.GetValueOrDefault("Connection"), "upgrade") ||
            headers.GetValueOrDefault("Sec-WebSocket-Version") != "13" ||
            headers.GetValueOrDefault("Sec-WebSocket-Key") is not { } key || !IsKey(key))
        {
            return null;
        }
        return new UpgradeHead(pathIndex, path, query, host, key, headers.GetValueOrDefault("Origin"), headers.GetValueOrDefault("Authorization"),
            headers.ContainsKey("Cookie"), subProtocols);
    }

    /// <summary>
    /// Of <c>GET {path}[?query] HTTP/1.1</c> with a path of <paramref name="paths"/>: which, the path, and the query
    /// (without '?'); null for any other request line.
    /// </summary>
    private static (int PathIndex, string Path, string Query)? Target(ReadOnlySpan<byte> requestLine, UpgradePaths paths)
    {
        var method = "GET "u8;
        var version = " HTTP/1.1"u8;
        if (!requestLine.StartsWith(method) || !requestLine.EndsWith(version) || requestLine.Length < method.Length + version.Length)
        {
            return null;
        }
        var target = requestLine[method.Length..^version.Length];
        var pathEnd = target.IndexOfAny((byte)'?', (byte)' ', (byte)'#');
        var path = pathEnd < 0 ? target : target[..pathEnd];
        var rest = pathEnd < 0 ? [] : target[pathEnd..];
        var index = paths.Match(path);
        if (index < 0 ||
            (rest.Length > 0 && (rest[0] != '?' || rest.Contains((byte)' ') || rest.Contains((byte)'#'))))
        {
            return null;
        }
        return (index, Encoding.ASCII.GetString(path), rest.Length == 0 ? "" : Encoding.ASCII.GetString(rest[1..]));
    }

    private static bool IsToken(ReadOnlySpan<char> name)
    {
        foreach (var c in name)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-.^_`|~".Contains(c)))
            {
                return false;
            }
        }
        return true;
    }

    private static bool HasToken(string? value, string token) =>
        value is not null && value.Split(',', StringSplitOptions.TrimEntries).Contains(token, StringComparer.OrdinalIgnoreCase);

    /// <summary>RFC 6455 §4.1: the key is 16 random bytes in base64.</summary>
    private static bool IsKey(string key)
    {
        Span<byte> decoded = stackalloc byte[18];
        return key.Length == 24 && Convert.TryFromBase64String(key, decoded, out var written) && written == 16;
    }
}
