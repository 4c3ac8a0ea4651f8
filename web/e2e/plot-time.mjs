// Times the run page in Debian's Chromium (headless): from the start of navigation to
// the plot drawn (the page sets data-state="plotted" once Plotly has drawn), for a run
// the service already holds. A fresh browser context per view, so nothing is cached
// in the browser. Prints one JSON line: every view's milliseconds, their median, and
// each view's resources (start and end from the navigation's start), to see where the
// time went.
// Usage: node plot-time.mjs URL [VIEWS]
import { chromium } from "playwright-core";

const [url, views = "5"] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
try {
  const times = [];
  const details = [];
  for (let i = 0; i < Number(views); i++) {
    const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
    const page = await context.newPage();
    // performance.now() counts from the navigation's start: the moment the body's
    // state becomes "plotted" is the time to the plot.
    await page.addInitScript(() => {
      new MutationObserver(() => {
        const state = document.body?.dataset.state;
        if ((state === "plotted" || state === "failed") && window.__nanoPlotted === undefined) {
          window.__nanoPlotted = { state, ms: performance.now() };
        }
      }).observe(document, { subtree: true, attributes: true, attributeFilter: ["data-state"] });
    });
    await page.goto(url);
    await page.waitForFunction(() => window.__nanoPlotted !== undefined, null, {
      timeout: 120_000,
    });
    const seen = await page.evaluate(() => ({
      ...window.__nanoPlotted,
      // Where the time went: each resource's start and end, from the navigation's start.
      resources: performance.getEntriesByType("resource").map((r) => ({
        name: new URL(r.name).pathname + new URL(r.name).search,
        start: Math.round(r.startTime),
        end: Math.round(r.responseEnd),
      })),
      domContentLoaded: Math.round(performance.getEntriesByType("navigation")[0].domContentLoadedEventEnd),
    }));
    if (seen.state !== "plotted") {
      throw new Error(`the page ended ${seen.state}: ${await page.textContent("#status")}`);
    }
    times.push(Math.round(seen.ms));
    details.push({ ms: Math.round(seen.ms), domContentLoaded: seen.domContentLoaded, resources: seen.resources });
    await context.close();
  }
  const sorted = [...times].sort((a, b) => a - b);
  console.log(JSON.stringify({ url, times, median: sorted[Math.floor(sorted.length / 2)], details }));
} finally {
  await browser.close();
}
