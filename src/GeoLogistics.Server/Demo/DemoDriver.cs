using System.Buffers;
using System.Net.WebSockets;
using System.Text.Json;
using System.Threading.Channels;
using GeoLogistics.Server.Drivers;
using GeoLogistics.Server.Orders;

namespace GeoLogistics.Server.Demo;

/// <summary>What a driver's socket tells it that matters to its driving.</summary>
public abstract record DriverNotice
{
    /// <summary>An order event about this driver's order: assigned, moved on, cancelled.</summary>
    public sealed record OrderChanged(OrderDto Order) : DriverNotice;

    /// <summary>The order is gone (deleted).</summary>
    public sealed record OrderGone(Guid OrderId) : DriverNotice;

    /// <summary>The driver's own record changed; it names the order the server has the driver on.</summary>
    public sealed record DriverChanged(Guid? CurrentOrderId) : DriverNotice;

    /// <summary>The server answered a message with an error.</summary>
    public sealed record Refused(string Code, string Message) : DriverNotice;

    /// <summary>The notice in one socket message, or null for one that does not concern the driving.</summary>
    public static DriverNotice? Read(ReadOnlySpan<byte> message, Guid driverId)
    {
        var reader = new Utf8JsonReader(message);
        using var doc = JsonDocument.ParseValue(ref reader);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("type", out var typeValue))
        {
            return null;
        }
        var type = typeValue.GetString() ?? "";
        if (type == "order.deleted" && root.TryGetProperty("orderId", out var deleted) && deleted.TryGetGuid(out var deletedId))
        {
            return new OrderGone(deletedId);
        }
        if (type.StartsWith("order.", StringComparison.Ordinal) && root.TryGetProperty("seq", out _) && root.TryGetProperty("data", out var order))
        {
            return order.Deserialize(DemoClientJson.Default.OrderDto) is { } dto ? new OrderChanged(dto) : null;
        }
        if (type == "driver.status_changed" && root.TryGetProperty("data", out var driver) &&
            driver.Deserialize(DemoClientJson.Default.DriverDto) is { } me && me.Id == driverId)
        {
            return new DriverChanged(me.CurrentOrderId);
        }
        if (type == "error")
        {
            return new Refused(
                root.TryGetProperty("code", out var code) ? code.GetString() ?? "" : "",
                root.TryGetProperty("message", out var text) ? text.GetString() ?? "" : "");
        }
        return null;
    }
}

/// <summary>
/// One simulated driver app: holds a socket to <c>/api/ws</c>, streams its position over it, goes online, and drives
/// its assignments (<see cref="DriverPlan"/>) with the driver's own status calls, exactly as a real app would. Any
/// failure ends the session with a warning; the next one starts after a back-off, where the last one left off.
/// </summary>
public sealed partial class DemoDriver(
    DemoIdentity identity,
    DemoHttp http,
    DriverPlan plan,
    TimeSpan spacing,
    TimeSpan firstDelay,
    TimeProvider clock,
    ILogger logger)
{
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan RetryLater = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(30);

    private readonly Guid driverId = identity.DriverId ?? throw new ArgumentException("A driver identity is needed.", nameof(identity));
    private DateTimeOffset retryAt;
    private bool warnedRate;
    private string number = "";

    public async Task RunAsync(CancellationToken ct)
    {
        var failures = 0;
        try
        {
            await Task.Delay(firstDelay, clock, ct);
            while (!ct.IsCancellationRequested)
            {
                var started = clock.GetUtcNow();
                try
                {
                    await SessionAsync(ct);
                }
                catch (Exception e) when (!ct.IsCancellationRequested)
                {
                    // A session that ran a while failed afresh; one that keeps failing backs off further each time.
                    failures = clock.GetUtcNow() - started > MaxBackoff ? 1 : failures + 1;
                    var backoff = TimeSpan.FromSeconds(Math.Min(MaxBackoff.TotalSeconds, Math.Pow(2, failures - 1)));
                    LogSessionFailed(logger, identity.Email, e.Message, backoff.TotalSeconds);
                    await Task.Delay(backoff, clock, ct);
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    private async Task SessionAsync(CancellationToken ct)
    {
        using var socket = new ClientWebSocket();
        var socketToken = await identity.TokenAsync(ct);
        socket.Options.SetRequestHeader("Authorization", $"Bearer {socketToken}");
        using (var connecting = CancellationTokenSource.CreateLinkedTokenSource(ct))
        {
            connecting.CancelAfter(ConnectTimeout);
            await socket.ConnectAsync(http.SocketAddress, connecting.Token);
        }
        using var session = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var inbox = Channel.CreateUnbounded<DriverNotice>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var receiving = ReceiveAsync(socket, inbox.Writer, session.Token);
        try
        {
            // Its own topic brings the driver's assignments and its order's changes. The position goes first, so
            // that once online the driver is a dispatch candidate at once.
            await DemoHttp.SendAsync(socket, new SubscribeMessage("mine", $"driver:{driverId}"), DemoClientJson.Default.SubscribeMessage, ct);
            await SendPositionAsync(socket, ct);
            await GoOnlineAsync(ct);
            await ResumeAsync(ct);
            var last = clock.GetTimestamp();
            while (true)
            {
                await Task.Delay(spacing, clock, ct);
                if (receiving.IsCompleted)
                {
                    await receiving;
                    throw new WebSocketException($"The server closed the socket ({socket.CloseStatus}).");
                }
                var now = clock.GetTimestamp();
                plan.Advance(clock.GetElapsedTime(last, now));
                last = now;
                while (inbox.Reader.TryRead(out var notice))
                {
                    await HandleAsync(notice, ct);
                }
                await SettleAsync(ct);
                var token = await identity.TokenAsync(ct);
                if (token != socketToken)
                {
                    // A fresh token before the old one expires keeps the socket open (SPEC §7).
                    await DemoHttp.SendAsync(socket, new AuthMessage(token), DemoClientJson.Default.AuthMessage, ct);
                    socketToken = token;
                }
                await SendPositionAsync(socket, ct);
            }
        }
        finally
        {
            await session.CancelAsync();
            try
            {
                await receiving;
            }
            catch (Exception e) when (e is OperationCanceledException or WebSocketException or JsonException)
            {
            }
        }
    }

    private async Task ReceiveAsync(ClientWebSocket socket, ChannelWriter<DriverNotice> inbox, CancellationToken ct)
    {
        var message = new ArrayBufferWriter<byte>(4096);
        try
        {
            while (socket.State == WebSocketState.Open)
            {
                message.ResetWrittenCount();
                ValueWebSocketReceiveResult result;
                do
                {
                    result = await socket.ReceiveAsync(message.GetMemory(4096), ct);
                    message.Advance(result.Count);
                }
                while (!result.EndOfMessage);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return;
                }
                if (DriverNotice.Read(message.WrittenSpan, driverId) is { } notice)
                {
                    inbox.TryWrite(notice);
                }
            }
        }
        finally
        {
            inbox.TryComplete();
        }
    }

    private async Task SendPositionAsync(ClientWebSocket socket, CancellationToken ct) =>
        await DemoHttp.SendAsync(socket,
            new LocationMessage(Math.Round(plan.Lat, 6), Math.Round(plan.Lng, 6), plan.Heading, Math.Round(plan.Speed, 1)),
            DemoClientJson.Default.LocationMessage, ct);

    private async Task GoOnlineAsync(CancellationToken ct)
    {
        using var response = await http.PostAsync("/api/drivers/me/status", identity, new DriverStatusRequest(true), DemoClientJson.Default.DriverStatusRequest, ct);
        DemoHttp.Ensure(response, "POST", "/api/drivers/me/status");
    }

    /// <summary>Picks up an order this driver is on already (from before a reconnect or a restart), or forgets one that ended meanwhile.</summary>
    private async Task ResumeAsync(CancellationToken ct)
    {
        var page = await http.GetAsync("/api/orders?status=ASSIGNED,PICKED_UP,IN_TRANSIT&limit=10", identity, DemoClientJson.Default.OrderPage, ct);
        if (page?.Items.FirstOrDefault(o => o.DriverId == driverId) is { } order)
        {
            Follow(order);
        }
        else if (plan.OrderId is not null)
        {
            plan.Drop();
        }
    }

    private async Task HandleAsync(DriverNotice notice, CancellationToken ct)
    {
        switch (notice)
        {
            case DriverNotice.OrderChanged changed:
                Follow(changed.Order);
                break;
            case DriverNotice.OrderGone gone when gone.OrderId == plan.OrderId:
                LogStopped(logger, identity.Email, gone.OrderId);
                plan.Drop();
                break;
            case DriverNotice.DriverChanged driver when driver.CurrentOrderId != plan.OrderId:
                // The server has this driver on another order, or on none (an unassign sends no order event to the
                // driver): its word decides, read from the orders themselves.
                foreach (var id in new[] { plan.OrderId, driver.CurrentOrderId }.OfType<Guid>())
                {
                    await CheckAsync(id, ct);
                }
                break;
            case DriverNotice.Refused { Code: "rate_limited" } when !warnedRate:
                warnedRate = true;
                LogRateLimited(logger, identity.Email, spacing.TotalMilliseconds);
                break;
            case DriverNotice.Refused refused when refused.Code != "rate_limited":
                LogRefused(logger, identity.Email, refused.Code, refused.Message);
                break;
        }
    }

    /// <summary>What the server says about an order decides what this driver does with it.</summary>
    private void Follow(OrderDto order)
    {
        var mine = order.DriverId == driverId && OrderLifecycle.HoldsDriver(order.Status);
        if (mine && plan.OrderId != order.Id)
        {
            number = order.Number;
            LogAssigned(logger, identity.Email, order.Number, order.Pickup.Address ?? "", order.Dropoff.Address ?? "");
        }
        else if (!mine && plan.OrderId == order.Id)
        {
            LogStopped(logger, identity.Email, order.Id);
            plan.Drop();
            return;
        }
        if (mine)
        {
            plan.Assign(order.Id, order.Status, (order.Pickup.Lat!.Value, order.Pickup.Lng!.Value), (order.Dropoff.Lat!.Value, order.Dropoff.Lng!.Value));
        }
    }

    private async Task CheckAsync(Guid orderId, CancellationToken ct)
    {
        try
        {
            var order = await http.GetAsync($"/api/orders/{orderId}", identity, DemoClientJson.Default.OrderDto, ct);
            if (order is not null)
            {
                Follow(order);
            }
            else if (plan.OrderId == orderId)
            {
                LogStopped(logger, identity.Email, orderId);
                plan.Drop();
            }
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            LogCallFailed(logger, identity.Email, e.Message);
        }
    }

    /// <summary>Makes the status call the driver owes (picked up, in transit, delivered), if any is due.</summary>
    private async Task SettleAsync(CancellationToken ct)
    {
        if (plan.Due is not { } status || plan.OrderId is not { } orderId || clock.GetUtcNow() < retryAt)
        {
            return;
        }
        var path = $"/api/orders/{orderId}/status";
        try
        {
            using var response = await http.PostAsync(path, identity, new StatusRequest(status), DemoClientJson.Default.StatusRequest, ct);
            if (response.IsSuccessStatusCode)
            {
                plan.Reached(status);
                if (status == OrderStatus.Delivered)
                {
                    LogDelivered(logger, identity.Email, number);
                }
                return;
            }
            if (DemoHttp.IsTransient(response.StatusCode))
            {
                retryAt = clock.GetUtcNow() + RetryLater;
                LogCallFailed(logger, identity.Email, $"POST {path} answered {(int)response.StatusCode}; trying again shortly.");
                return;
            }
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            retryAt = clock.GetUtcNow() + RetryLater;
            LogCallFailed(logger, identity.Email, e.Message);
            return;
        }
        // Refused (404, 409): the order moved on without this driver, or this driver is behind. Read where it stands.
        await CheckAsync(orderId, ct);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Demo driver {Email}: {Reason} Reconnecting in {Seconds} s.")]
    private static partial void LogSessionFailed(ILogger logger, string email, string reason, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Demo driver {Email}: {Reason}")]
    private static partial void LogCallFailed(ILogger logger, string email, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Demo driver {Email}: positions every {Milliseconds} ms were over the location rate; some were dropped.")]
    private static partial void LogRateLimited(ILogger logger, string email, double milliseconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Demo driver {Email}: the server refused a message ({Code}: {Message}).")]
    private static partial void LogRefused(ILogger logger, string email, string code, string message);

    [LoggerMessage(Level = LogLevel.Information, Message = "Demo driver {Email} takes {Number}: {Pickup} to {Dropoff}.")]
    private static partial void LogAssigned(ILogger logger, string email, string number, string pickup, string dropoff);

    [LoggerMessage(Level = LogLevel.Information, Message = "Demo driver {Email} delivered {Number}.")]
    private static partial void LogDelivered(ILogger logger, string email, string number);

    [LoggerMessage(Level = LogLevel.Information, Message = "Demo driver {Email} is no longer on order {OrderId} and stops.")]
    private static partial void LogStopped(ILogger logger, string email, Guid orderId);
}
