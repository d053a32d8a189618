using GeoLogistics.Server.Realtime.Core;
using Microsoft.AspNetCore.SignalR;

namespace GeoLogistics.Server.Realtime.SignalR;

/// <summary>
/// Around every call of the orders hub: the flood limit of the JSON protocol (each call spends one of the session's
/// <see cref="MessageBudget"/>; past it the connection is closed), and no exception's own words reach the client
/// except a <see cref="HubException"/>'s, which the hub worded for it.
/// </summary>
public sealed partial class OrdersHubCalls(ILogger<OrdersHubCalls> logger) : IHubFilter
{
    public async ValueTask<object?> InvokeMethodAsync(HubInvocationContext invocation, Func<HubInvocationContext, ValueTask<object?>> next)
    {
        var session = OrdersHubSessions.TransportOf(invocation.Context).Session;
        session.Hub.CountReceived();
        // An accepted position does not count: it has its own rate, per driver (docs/realtime.md). A refused one does.
        var position = invocation.HubMethodName == nameof(OrdersHub.ReportLocation);
        if (!position)
        {
            Spend(session);
        }
        try
        {
            return await next(invocation);
        }
        catch (HubException) when (position)
        {
            Spend(session);
            throw;
        }
        catch (Exception e) when (e is not (HubException or OperationCanceledException))
        {
            // The call failed, not the connection: say so without the details, and go on.
            LogCallFailed(logger, invocation.HubMethodName, e);
            throw OrdersHub.Refused("internal_error", "The call could not be handled; nothing was changed.");
        }
    }

    private static void Spend(LiveSession session)
    {
        if (!session.Budget.TrySpend())
        {
            session.Close(new SessionClose(CloseReason.Flood, "too many messages"));
            throw OrdersHub.Refused("flood", "Too many messages: the connection is closed.");
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "A call of the orders hub failed: {Method}")]
    private static partial void LogCallFailed(ILogger logger, string method, Exception exception);
}
