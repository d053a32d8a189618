using System.Diagnostics;
using System.Diagnostics.Metrics;
using GeoLogistics.Server.Observability;

namespace GeoLogistics.Server.Dispatch;

/// <summary>Dispatch attempts by outcome and how long each took (SPEC §10's metrics).</summary>
public sealed class DispatchMetrics
{
    private readonly Counter<long> attempts;
    private readonly Histogram<double> duration;

    public DispatchMetrics(IMeterFactory meters)
    {
        var meter = meters.Create(ServerMeter.Name);
        attempts = meter.CreateCounter<long>("geologistics.dispatch.attempts", "{attempt}", "Dispatch attempts of an order, by outcome.");
        duration = meter.CreateHistogram<double>("geologistics.dispatch.duration", "s", "How long one dispatch attempt took: the candidate search and the bookings tried.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] });
    }

    public void Record(DispatchOutcome outcome, long startedAt)
    {
        var tag = new KeyValuePair<string, object?>("outcome", outcome switch
        {
            DispatchOutcome.Assigned => "assigned",
            DispatchOutcome.NotDispatchable => "not_dispatchable",
            DispatchOutcome.NoDriver => "no_driver",
            _ => "store_unavailable",
        });
        attempts.Add(1, tag);
        duration.Record(Stopwatch.GetElapsedTime(startedAt).TotalSeconds, tag);
    }
}
