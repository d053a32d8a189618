using GeoLogistics.Server.Auth;
using GeoLogistics.Server.Data;
using GeoLogistics.Server.Drivers;
using GeoLogistics.Server.Orders;
using GeoLogistics.Server.Realtime.Core;
using Microsoft.EntityFrameworkCore;

namespace GeoLogistics.Server.Realtime;

/// <summary>SPEC §2 for topics, in the words of the order and driver rules, for every protocol.</summary>
public sealed class TopicAccess(IServiceScopeFactory scopes) : ITopicAccess
{
    public async Task<bool> MaySubscribeAsync(Caller caller, Topic topic, CancellationToken ct)
    {
        switch (topic.Kind)
        {
            case TopicKind.Orders or TopicKind.Drivers:
                return true;
            case TopicKind.Tenant:
                return caller.IsAdmin || (caller.Role == Role.Dispatcher && caller.TenantId == topic.Id);
            case TopicKind.Driver when caller.IsAdmin || caller.DriverId == topic.Id:
                return true;
        }
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDb>();
        return topic.Kind switch
        {
            TopicKind.Order => await db.Orders.VisibleTo(caller).AnyAsync(o => o.Id == topic.Id, ct),
            // A driver's topic carries its order and route: only for those who see the driver whole.
            TopicKind.Driver => await db.Drivers.WhollyVisibleTo(db, caller).AnyAsync(d => d.Id == topic.Id, ct),
            _ => false,
        };
    }
}
