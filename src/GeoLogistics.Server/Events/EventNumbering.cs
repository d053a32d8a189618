using System.Data.Common;

namespace GeoLogistics.Server.Events;

/// <summary>The one statement that gives events their seq (docs/adr/0002), run by the sequencer and, on SQLite, by each writer at its commit.</summary>
public static class EventNumbering
{
    /// <summary>
    /// Gives the next seqs, after the highest given, to the oldest unnumbered rows by insertion key. Only rows
    /// committed before the statement began (and the statement's own transaction's) are visible to it, and the whole
    /// batch commits at once, so no reader sees a seq before the seqs below it. <c>"Seq" IS NULL</c> is checked again
    /// on each row: a second sequencer by mistake skips what the first numbered, and the unique index refuses any seq
    /// given twice.
    /// </summary>
    private const string NumberBatch = """
        UPDATE "Events" SET "Seq" = n."New"
        FROM (SELECT u."Id", (SELECT COALESCE(MAX("Seq"), 0) FROM "Events") + row_number() OVER (ORDER BY u."Id") AS "New"
              FROM (SELECT "Id" FROM "Events" WHERE "Seq" IS NULL ORDER BY "Id" LIMIT @batch) AS u) AS n
        WHERE "Events"."Id" = n."Id" AND "Events"."Seq" IS NULL
        RETURNING "Seq"
        """;

    /// <summary>Numbers one batch of at most <paramref name="batchSize"/> events on the connection (in the transaction, if one is given); how many it numbered.</summary>
    public static async Task<int> NumberBatchAsync(DbConnection connection, DbTransaction? transaction, int batchSize, CancellationToken ct)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = NumberBatch;
        command.Transaction = transaction;
        var batch = command.CreateParameter();
        batch.ParameterName = "@batch";
        batch.Value = batchSize;
        command.Parameters.Add(batch);
        await using var reader = await command.ExecuteReaderAsync(ct);
        var count = 0;
        while (await reader.ReadAsync(ct))
        {
            count++;
        }
        return count;
    }

    /// <summary>Numbers every unnumbered event the transaction sees, a batch at a time.</summary>
    public static async Task NumberAllAsync(DbTransaction transaction, int batchSize, CancellationToken ct)
    {
        while (await NumberBatchAsync(transaction.Connection!, transaction, batchSize, ct) == batchSize)
        {
        }
    }
}
