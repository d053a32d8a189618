namespace GeoLogistics.Server.Realtime.Direct;

/// <summary>
/// The request paths whose upgrades are read off the connection, each matched exactly (case and all), except that
/// <c>*</c> stands for one path segment of 1 to 64 letters, digits, <c>-</c> or <c>_</c> (SockJS's server and session
/// ids). Nothing is decoded: a path with <c>%</c>, a dot segment or a trailing slash it does not name is HTTP's.
/// Built once; matching allocates nothing.
/// </summary>
public sealed class UpgradePaths
{
    private const int MaxSegment = 64;

    private readonly string[] patterns;

    public UpgradePaths(params string[] patterns)
    {
        if (patterns.Length == 0 || patterns.Any(p => !p.StartsWith('/') || p.Contains('?') || p.Contains(' ')))
        {
            throw new ArgumentException("Each path starts with '/' and has no query and no space.", nameof(patterns));
        }
        this.patterns = patterns;
        // "GET ", the longest path, and the byte that ends it: beyond this, the start of a request says nothing more.
        LongestStart = 4 + patterns.Max(p => p.Length + (p.Count(c => c == '*') * (MaxSegment - 1))) + 1;
    }

    /// <summary>How many of a request's first bytes <see cref="CouldStart"/> needs to see at most.</summary>
    public int LongestStart { get; }

    /// <summary>The index of the pattern <paramref name="path"/> matches; -1 for none.</summary>
    public int Match(ReadOnlySpan<byte> path)
    {
        for (var i = 0; i < patterns.Length; i++)
        {
            if (Matches(patterns[i], path, partial: false))
            {
                return i;
            }
        }
        return -1;
    }

    /// <summary>Whether a request that begins with <paramref name="start"/> could still be <c>GET</c> of one of the paths.</summary>
    public bool CouldStart(ReadOnlySpan<byte> start)
    {
        var method = "GET "u8;
        if (!start[..Math.Min(start.Length, method.Length)].SequenceEqual(method[..Math.Min(start.Length, method.Length)]))
        {
            return false;
        }
        if (start.Length <= method.Length)
        {
            return true;
        }
        var target = start[method.Length..];
        var end = target.IndexOfAny((byte)'?', (byte)' ');
        if (end >= 0)
        {
            return Match(target[..end]) >= 0;
        }
        foreach (var pattern in patterns)
        {
            if (Matches(pattern, target, partial: true))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>Whether <paramref name="path"/> is <paramref name="pattern"/>, or (partial) could become it with more bytes.</summary>
    private static bool Matches(string pattern, ReadOnlySpan<byte> path, bool partial)
    {
        var at = 0;
        for (var i = 0; i < pattern.Length; i++)
        {
            if (pattern[i] == '*')
            {
                var length = 0;
                while (at < path.Length && IsSegmentByte(path[at]))
                {
                    at++;
                    length++;
                }
                if (length > MaxSegment)
                {
                    return false;
                }
                if (at == path.Length)
                {
                    return partial || (length > 0 && i == pattern.Length - 1);
                }
                if (length == 0)
                {
                    return false;
                }
                continue;
            }
            if (at == path.Length)
            {
                return partial;
            }
            if (path[at++] != pattern[i])
            {
                return false;
            }
        }
        return at == path.Length;
    }

    private static bool IsSegmentByte(byte b) => char.IsAsciiLetterOrDigit((char)b) || b is (byte)'-' or (byte)'_';
}
