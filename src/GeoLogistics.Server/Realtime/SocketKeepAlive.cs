using System.Collections.Concurrent;
using GeoLogistics.Server.Realtime.Core;
using Microsoft.Extensions.Options;

namespace GeoLogistics.Server.Realtime;

/// <summary>
/// The keep-alive of every JSON and STOMP socket from one timer: a few times per <see cref="RealtimeOptions.KeepAliveInterval"/>
/// it walks the sockets, pings each not pinged for an interval, and cuts off each from which nothing has come for
/// <see cref="RealtimeOptions.IdleTimeout"/> (a client that is there answers the pings). The runtime's WebSocket would
/// start a timer per socket for this (as <see cref="TokenExpiry"/> and <see cref="Stomp.StompHeartbeats"/> found, a
/// timer each wakes an idle server thousands of times a second). Engine.IO and SignalR ping in their own protocols.
/// </summary>
public sealed class SocketKeepAlive(IOptions<RealtimeOptions> options, TimeProvider clock) : BackgroundService
{
    // Each socket's stream, with when it was last pinged.
    private readonly ConcurrentDictionary<SocketStream, long> streams = new();

    /// <summary>Keeps the socket over <paramref name="stream"/> alive until <see cref="Remove"/>; none for a socket with no stream of ours.</summary>
    public void Add(SocketStream? stream)
    {
        if (stream is not null)
        {
            streams.TryAdd(stream, Environment.TickCount64);
        }
    }

    public void Remove(SocketStream? stream)
    {
        if (stream is not null)
        {
            streams.TryRemove(stream, out _);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = options.Value.KeepAliveInterval;
        if (interval <= TimeSpan.Zero)
        {
            return;
        }
        var idle = options.Value.IdleTimeout is var timeout && (timeout <= TimeSpan.Zero || timeout == Timeout.InfiniteTimeSpan)
            ? long.MaxValue
            : (long)timeout.TotalMilliseconds;
        var every = TimeSpan.FromMilliseconds(Math.Clamp(interval.TotalMilliseconds / 4, 50, 1000));
        using var timer = new PeriodicTimer(every, clock);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                Sweep(Environment.TickCount64, (long)interval.TotalMilliseconds, idle);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private void Sweep(long now, long interval, long idle)
    {
        foreach (var (stream, pinged) in streams)
        {
            if (now - stream.LastReceived >= idle)
            {
                Remove(stream);
                stream.CutOff();
            }
            else if (now - pinged >= interval && stream.TryPing())
            {
                streams.TryUpdate(stream, now, pinged);
            }
        }
    }
}
