using System.ComponentModel.DataAnnotations;

namespace GeoLogistics.Server.Http;

/// <summary>Limits of the REST API (section <c>Api</c>).</summary>
public sealed class ApiOptions
{
    [Range(1, 1000)]
    public int DefaultPageSize { get; set; } = 50;

    [Range(1, 1000)]
    public int MaxPageSize { get; set; } = 100;

    [Range(1, 10_000)]
    public int MaxEventPageSize { get; set; } = 1000;

    /// <summary>Largest request body accepted, in bytes; larger answers 413.</summary>
    [Range(1024, 10 * 1024 * 1024)]
    public long MaxRequestBodyBytes { get; set; } = 64 * 1024;

    /// <summary>
    /// Serve the OpenAPI document and the <c>/docs</c> reference page without login. Unset: in Development only, since
    /// elsewhere they map the whole API for anyone.
    /// </summary>
    public bool? Docs { get; set; }

    /// <summary>Orders one user (not an admin) may create per minute, sustained; beyond that and the burst, 429.</summary>
    [Range(1, 1_000_000)]
    public int OrdersPerUserPerMinute { get; set; } = 60;

    /// <summary>Orders one user may create at once before the per-minute rate applies.</summary>
    [Range(1, 1_000_000)]
    public int OrderBurst { get; set; } = 20;
}
