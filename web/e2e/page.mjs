// Opens the run page in Debian's Chromium (headless), waits for the plot, and prints
// what it saw as one JSON line: whether the progress element showed, the traces and
// their points, console errors, and any request that left 127.0.0.1.
// Usage: node page.mjs URL SCREENSHOT
import { chromium } from "playwright-core";

const [url, screenshot] = process.argv.slice(2);
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
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const errors = [];
  const external = [];
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("request", (r) => {
    const host = new URL(r.url()).hostname;
    if (host !== "127.0.0.1" && host !== "localhost") external.push(r.url());
  });
  await page.goto(url);
  const sawProgress = await page.locator("#progress").isVisible();
  await page.waitForFunction(
    () => ["plotted", "failed"].includes(document.body.dataset.state),
    null,
    { timeout: 60_000 },
  );
  const seen = await page.evaluate(() => ({
    state: document.body.dataset.state,
    status: document.getElementById("status").textContent,
    progress: Number(document.getElementById("progress").value),
    traces: (document.getElementById("plot").data ?? []).map((t) => ({ name: t.name, points: t.x.length })),
    legend: [...document.querySelectorAll(".legendtext")].map((e) => e.textContent),
  }));
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(JSON.stringify({ sawProgress, errors, external, ...seen }));
} finally {
  await browser.close();
}
