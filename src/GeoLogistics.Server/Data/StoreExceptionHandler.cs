using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;

namespace GeoLogistics.Server.Data;

/// <summary>
/// Answers what the store threw out of a handler: a lost race is a 409, an unreachable store a 503 with
/// <c>Retry-After</c>. Anything else is left to the next handler (Http/ApiExceptionHandler).
/// </summary>
public sealed partial class StoreExceptionHandler(IProblemDetailsService problems, ILogger<StoreExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext http, Exception exception, CancellationToken ct)
    {
        if (exception is OperationCanceledException && http.RequestAborted.IsCancellationRequested)
        {
            // The client is gone: nothing to answer, whatever the store said.
            return false;
        }
        switch (exception)
        {
            case DbUpdateConcurrencyException:
                return await ConflictAsync(http, "The object changed meanwhile; read it again and retry.");
            case DbUpdateException when StoreFailures.IsUniqueViolation(exception):
                return await ConflictAsync(http, "It exists already, or a concurrent request took it.");
        }
        if (!StoreFailures.IsTransient(exception))
        {
            return false;
        }
        LogStoreDown(logger, exception.GetType().Name, http.Request.Path);
        http.Response.Headers.RetryAfter = "5";
        return await WriteAsync(http, new ProblemDetails
        {
            Status = StatusCodes.Status503ServiceUnavailable,
            Title = "Store unavailable",
            Detail = "The store cannot be reached right now. Nothing was changed; retry later.",
        });
    }

    private async ValueTask<bool> ConflictAsync(HttpContext http, string detail)
    {
        // A lost race is an expected outcome: one line, no stack trace.
        LogConflict(logger, http.Request.Method, http.Request.Path);
        return await WriteAsync(http, new ProblemDetails { Status = StatusCodes.Status409Conflict, Title = "Conflict", Detail = detail });
    }

    private ValueTask<bool> WriteAsync(HttpContext http, ProblemDetails problem)
    {
        http.Response.StatusCode = problem.Status!.Value;
        return problems.TryWriteAsync(new ProblemDetailsContext { HttpContext = http, ProblemDetails = problem });
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Conflict on {Method} {Path}: the object changed meanwhile or was taken")]
    private static partial void LogConflict(ILogger logger, string method, string path);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Store unavailable ({Error}) on {Path}")]
    private static partial void LogStoreDown(ILogger logger, string error, string path);
}
