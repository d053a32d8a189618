using System.Data.Common;
using System.Net.Sockets;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace GeoLogistics.Server.Data;

/// <summary>How to read what the store threw: worth a retry, a lost uniqueness race, or neither.</summary>
public static class StoreFailures
{
    /// <summary>Locks, busy files, serialization failures, deadlocks, dropped connections, timeouts.</summary>
    public static bool IsTransient(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case PostgresException pg:
                    return pg.IsTransient || pg.SqlState is PostgresErrorCodes.SerializationFailure
                        or PostgresErrorCodes.DeadlockDetected or PostgresErrorCodes.LockNotAvailable;
                case NpgsqlException:
                case SqliteException { SqliteErrorCode: 5 or 6 or 10 or 14 }:
                case SocketException or TimeoutException:
                case DbException { IsTransient: true }:
                    return true;
            }
        }
        return false;
    }

    public static bool IsUniqueViolation(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case SqliteException s when s.SqliteExtendedErrorCode is 2067 or 1555:
                case PostgresException { SqlState: PostgresErrorCodes.UniqueViolation }:
                    return true;
            }
        }
        return false;
    }
}
