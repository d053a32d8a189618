using System.Net;
using System.Text.Json;
using GeoLogistics.Tests.Support;

namespace GeoLogistics.Tests.Ops;

public class OpsTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("/health/live")]
    [InlineData("/health/ready")]
    public async Task Health_probes_answer_200_without_a_token(string path)
    {
        await using var app = await TestApp.StartAsync();

        var response = await app.CreateClient().GetAsync(path, Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("Healthy", await response.Content.ReadAsStringAsync(Ct));
    }

    [Fact]
    public async Task The_openapi_document_describes_the_api()
    {
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?> { ["Api:Docs"] = "true" });

        var response = await app.CreateClient().GetAsync("/openapi/v1.json", Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var paths = (await response.ReadJsonAsync()).GetProperty("paths");
        Assert.Equal(JsonValueKind.Object, paths.ValueKind);
        Assert.True(paths.TryGetProperty("/api/orders", out _), "no /api/orders");
        Assert.True(paths.TryGetProperty("/api/auth/login", out _), "no /api/auth/login");
        Assert.True(paths.TryGetProperty("/api/drivers/me/location", out _), "no /api/drivers/me/location");
    }

    [Fact]
    public async Task The_api_reference_page_is_served_as_html()
    {
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?> { ["Api:Docs"] = "true" });

        var response = await app.CreateClient().GetAsync("/docs/", Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("<html", await response.Content.ReadAsStringAsync(Ct), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task An_unknown_api_route_answers_404_problem_details_with_a_trace_id_and_no_stack_trace()
    {
        await using var app = await TestApp.StartAsync();
        var admin = await app.AdminAsync();

        var anonymous = await app.CreateClient().GetAsync("/api/no-such-thing", Ct);
        var authenticated = await admin.GetAsync("/api/orders/not-a-guid/nothing", Ct);

        foreach (var response in new[] { anonymous, authenticated })
        {
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            var text = await response.Content.ReadAsStringAsync(Ct);
            var problem = JsonDocument.Parse(text).RootElement;
            Assert.Equal(404, problem.GetProperty("status").GetInt32());
            Assert.False(string.IsNullOrEmpty(problem.GetProperty("traceId").GetString()), text);
            Assert.DoesNotContain("   at ", text, StringComparison.Ordinal);
            Assert.DoesNotContain("Exception", text, StringComparison.Ordinal);
            Assert.DoesNotContain(".cs:line", text, StringComparison.Ordinal);
        }
    }
}
