using System.Data.Common;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;

namespace GeoLogistics.Server.Data;

public static class Counters
{
    /// <summary>
    /// Takes <paramref name="count"/> values of a counter inside the current transaction and returns the last.
    /// The row stays locked until commit, so whoever takes later commits later: values follow commit order.
    /// </summary>
    public static async Task<long> TakeAsync(this AppDb db, string name, int count, CancellationToken ct)
    {
        var transaction = db.Database.CurrentTransaction
            ?? throw new InvalidOperationException("Counters are taken inside a transaction.");
        await using DbCommand command = db.Database.GetDbConnection().CreateCommand();
        command.Transaction = transaction.GetDbTransaction();
        command.CommandText = """UPDATE "Counters" SET "Value" = "Value" + @count WHERE "Name" = @name RETURNING "Value" """;
        AddParameter(command, "@count", (long)count);
        AddParameter(command, "@name", name);
        var value = await command.ExecuteScalarAsync(ct);
        return Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture);
    }

    private static void AddParameter(DbCommand command, string name, object value)
    {
        var p = command.CreateParameter();
        p.ParameterName = name;
        p.Value = value;
        command.Parameters.Add(p);
    }
}
