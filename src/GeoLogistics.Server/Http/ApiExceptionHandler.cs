using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Mvc;

namespace GeoLogistics.Server.Http;

/// <summary>
/// Turns what escapes a handler into problem details: bad JSON is a 400 naming the field, anything else a 500 that
/// carries only a trace id. What the store threw (a lost race, an outage) its own handler answered before this one.
/// </summary>
public sealed partial class ApiExceptionHandler(IProblemDetailsService problems, ILogger<ApiExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext http, Exception exception, CancellationToken ct)
    {
        if (exception is OperationCanceledException && http.RequestAborted.IsCancellationRequested)
        {
            return true;
        }
        var problem = Describe(exception);
        if (problem.Status == StatusCodes.Status500InternalServerError)
        {
            LogUnhandled(logger, exception, http.Request.Method, http.Request.Path);
        }
        http.Response.StatusCode = problem.Status!.Value;
        return await problems.TryWriteAsync(new ProblemDetailsContext { HttpContext = http, ProblemDetails = problem });
    }

    private static ProblemDetails Describe(Exception exception)
    {
        switch (exception)
        {
            case BadHttpRequestException { InnerException: JsonException json }:
                return Invalid(FieldOf(json.Path), JsonMessage(json));
            case BadHttpRequestException bad when BoundParameter().Match(bad.Message) is { Success: true } parameter:
                // "Failed to bind parameter "Nullable<int> limit" from "x"": name the field, not the .NET type.
                return Invalid(FieldOfParameter(parameter.Groups["name"].Value, bad.Message),
                    bad.Message.Contains("not provided", StringComparison.Ordinal) ? "This is required." : "The value is not valid here.");
            case BadHttpRequestException bad:
                return new ProblemDetails { Status = bad.StatusCode, Title = Title(bad.StatusCode), Detail = bad.Message };
            case JsonException json:
                return Invalid(FieldOf(json.Path), JsonMessage(json));
        }
        return new ProblemDetails
        {
            Status = StatusCodes.Status500InternalServerError,
            Title = "Internal error",
            Detail = "Something went wrong on our side. Quote the trace id when you report it.",
        };
    }

    private static string Title(int status) => status switch
    {
        StatusCodes.Status413PayloadTooLarge => "Payload too large",
        StatusCodes.Status415UnsupportedMediaType => "Unsupported media type",
        _ => "Bad request",
    };

    private static HttpValidationProblemDetails Invalid(string field, string message) =>
        new(new Dictionary<string, string[]> { [field] = [message] })
        {
            Status = StatusCodes.Status400BadRequest,
            Title = "One or more validation errors occurred.",
        };

    [GeneratedRegex("parameter \"(?:[^\"]* )?(?<name>[A-Za-z_][A-Za-z0-9_]*)\"")]
    private static partial Regex BoundParameter();

    private static string FieldOfParameter(string name, string message) =>
        message.Contains("body", StringComparison.OrdinalIgnoreCase) ? "body" : JsonNamingPolicy.CamelCase.ConvertName(name);

    private static string FieldOf(string? path) =>
        path is null or "$" ? "body" : path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : path.TrimStart('$');

    // The serializer's messages name .NET types; say what a client can act on instead.
    private static string JsonMessage(JsonException json) =>
        json.Message.Contains("could not be mapped", StringComparison.Ordinal) ? "This field is not accepted here."
        : json.Path is null or "$" ? "The body is not valid JSON of the expected shape."
        : "The value has the wrong type or is not valid JSON.";

    [LoggerMessage(Level = LogLevel.Error, Message = "Unhandled error on {Method} {Path}")]
    private static partial void LogUnhandled(ILogger logger, Exception exception, string method, string path);
}
