using System.ComponentModel.DataAnnotations;
using System.Security.Cryptography;
using System.Text;

namespace GeoLogistics.Server.Auth;

/// <summary>Token settings (section <c>Jwt</c>).</summary>
public sealed class JwtOptions
{
    public const int MinimumKeyBytes = 32;

    [Required]
    public string Issuer { get; set; } = "geologistics";

    [Required]
    public string Audience { get; set; } = "geologistics-api";

    /// <summary>HS256 key, at least 256 bits. In Development an unset key is generated once and kept under data/.</summary>
    public string? SigningKey { get; set; }

    [Range(1, 24 * 60)]
    public int AccessTokenMinutes { get; set; } = 60;

    public byte[] KeyBytes => Encoding.UTF8.GetBytes(SigningKey ?? "");

    /// <summary>The Development key: made once, then read back so tokens survive a restart.</summary>
    public static string LoadOrCreateDevelopmentKey(string contentRoot)
    {
        var path = Path.Combine(contentRoot, "data", "jwt-signing.key");
        if (File.Exists(path))
        {
            return File.ReadAllText(path).Trim();
        }
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(64));
        File.WriteAllText(path, key);
        return key;
    }
}

/// <summary>Login throttling, sessions and the rate of location posts (section <c>Auth</c>).</summary>
public sealed class AuthOptions
{
    /// <summary>Login attempts per client address per minute, counted in the store across every node.</summary>
    [Range(1, 1_000_000)]
    public int LoginAttemptsPerMinute { get; set; } = 10;

    /// <summary>Failures in a row for one account from one address before that pair must wait (LoginBackoffMin, doubling).</summary>
    [Range(1, 1000)]
    public int LoginFailuresBeforeBackoff { get; set; } = 5;

    /// <summary>The first back-off for one account from one address; it doubles with each further failure.</summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "1.00:00:00")]
    public TimeSpan LoginBackoffMin { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest back-off for one account from one address.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan LoginBackoffMax { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>How often each node reads the sessions ended on any node (logout, a disabled user, a new role).</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:01:00")]
    public TimeSpan SessionPollInterval { get; set; } = TimeSpan.FromMilliseconds(500);

    [Range(1, 1_000_000)]
    public int LocationUpdatesPerSecond { get; set; } = 1;

    /// <summary>
    /// Browser origins trusted with the dashboard's cookie and allowed to open a socket, besides the server's own.
    /// </summary>
    public string[] AllowedOrigins { get; set; } = [];
}
