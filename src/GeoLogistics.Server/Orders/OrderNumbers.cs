using GeoLogistics.Server.Data;
using Microsoft.EntityFrameworkCore;

namespace GeoLogistics.Server.Orders;

/// <summary>
/// The next order serial (the human number and the list cursor come from it) without serializing creators: a
/// database sequence on PostgreSQL, one round trip that holds no lock. On SQLite the counter row, inside the caller's
/// write transaction (SQLite has one writer at a time anyway; a failed create takes its serial back with it).
/// </summary>
public static class OrderNumbers
{
    public const string Sequence = "OrderSerials";

    /// <summary>The SQLite counter's row (seeded by <see cref="OrderCounterConfiguration"/>).</summary>
    public const string CounterName = "orders";

    public static async Task<long> NextAsync(AppDb db, CancellationToken ct)
    {
        if (db.Database.IsNpgsql())
        {
            return await db.Database.SqlQueryRaw<long>($"""SELECT nextval('"{Sequence}"') AS "Value" """).SingleAsync(ct);
        }
        return await db.TakeAsync(CounterName, 1, ct);
    }
}
