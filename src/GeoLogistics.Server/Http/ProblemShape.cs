using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace GeoLogistics.Server.Http;

public static class ProblemShape
{
    /// <summary>Field errors name fields as the JSON does (<c>pickup.lat</c>), not as the C# record does.</summary>
    public static void CamelCaseFieldNames(ProblemDetailsContext context)
    {
        if (context.ProblemDetails is HttpValidationProblemDetails validation)
        {
            var renamed = validation.Errors.ToDictionary(
                e => string.Join('.', e.Key.Split('.').Select(JsonNamingPolicy.CamelCase.ConvertName)),
                e => e.Value);
            validation.Errors.Clear();
            foreach (var (field, messages) in renamed)
            {
                validation.Errors[field] = messages;
            }
        }
    }
}
