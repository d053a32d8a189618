using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Data;
using GeoLogistics.Server.Drivers;
using Microsoft.EntityFrameworkCore;

namespace GeoLogistics.Server.Users;

/// <summary>A session's account: one query joining the session, its user and the user's driver record, if any.</summary>
internal sealed class UserSessionAccounts : ISessionAccounts
{
    public async Task<SessionAccount?> FindAsync(AppDb db, Guid sessionId, CancellationToken ct)
    {
        var row = await (
            from s in db.Sessions
            join u in db.Users on s.UserId equals u.Id
            join d in db.Drivers on u.Id equals d.UserId into drivers
            from d in drivers.DefaultIfEmpty()
            where s.Id == sessionId && s.RevokedAt == null && !u.Disabled
            select new { s.ExpiresAt, User = u, DriverId = (Guid?)d!.Id }).AsNoTracking().FirstOrDefaultAsync(ct);
        return row is null ? null : new SessionAccount(row.User.ToCaller(row.DriverId) with { SessionId = sessionId }, row.User.Name, row.ExpiresAt);
    }
}
