using Microsoft.Playwright;

[assembly: AssemblyFixture(typeof(GeoLogistics.BrowserTests.Browser))]

namespace GeoLogistics.BrowserTests;

/// <summary>
/// Debian's Chromium, headless, driven by Playwright: one browser for the whole run, a fresh context (cookies,
/// storage) per page. Never a downloaded browser: the path is <c>/usr/bin/chromium</c> or <c>GEOLOGISTICS_CHROMIUM</c>.
/// </summary>
public sealed class Browser : IAsyncLifetime
{
    public const string Password = "Demo#2026";

    private IPlaywright? playwright;

    public IBrowser Chromium { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        var executable = Environment.GetEnvironmentVariable("GEOLOGISTICS_CHROMIUM") is { Length: > 0 } path ? path : "/usr/bin/chromium";
        if (!File.Exists(executable))
        {
            throw new InvalidOperationException($"No Chromium at {executable}: scripts/test.sh installs Debian's chromium package.");
        }
        // The machines are shared and noisy: web-first assertions wait for what they expect as long as actions do.
        Assertions.SetDefaultExpectTimeout(30_000);
        playwright = await Playwright.CreateAsync();
        Chromium = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = executable,
            Headless = true,
            // The test machine runs as root, where Chromium's sandbox cannot start.
            Args = ["--no-sandbox", "--disable-dev-shm-usage"],
        });
    }

    public async ValueTask DisposeAsync()
    {
        if (Chromium is not null)
        {
            await Chromium.CloseAsync();
        }
        playwright?.Dispose();
    }

    /// <summary>A new browser profile at 1280×800 (or <paramref name="width"/> × <paramref name="height"/>), signed in through the login page.</summary>
    public async Task<IPage> SignInAsync(Uri server, string email, int width = 1280, int height = 800)
    {
        var page = await NewPageAsync(server, width, height);
        await SignInAsync(page, email);
        return page;
    }

    public static async Task SignInAsync(IPage page, string email)
    {
        await page.GotoAsync("/login");
        await page.GetByLabel("Email").FillAsync(email);
        await page.GetByLabel("Password").FillAsync(Password);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        // Polled, not WaitForURLAsync: that one can miss a navigation that lands while it subscribes
        // (microsoft/playwright-dotnet#3364), and then waits for it in vain.
        await Assertions.Expect(page).ToHaveURLAsync(AtPath("/dashboard"));
        await Assertions.Expect(page.Locator("body")).ToHaveAttributeAsync("data-ready", "true");
        await Assertions.Expect(page.Locator("#connection")).ToHaveAttributeAsync("data-state", "live");
    }

    /// <summary>A URL whose path is <paramref name="path"/>, for <c>ToHaveURLAsync</c>.</summary>
    public static System.Text.RegularExpressions.Regex AtPath(string path) =>
        new($"^[^?#]*//[^/]+{System.Text.RegularExpressions.Regex.Escape(path)}(?:[?#].*)?$");

    public async Task<IPage> NewPageAsync(Uri server, int width = 1280, int height = 800)
    {
        var context = await Chromium.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = server.ToString().TrimEnd('/'),
            ViewportSize = new ViewportSize { Width = width, Height = height },
        });
        return await context.NewPageAsync();
    }
}
