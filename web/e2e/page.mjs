// Opens the run page in Debian's Chromium (headless), waits for the plot, and prints
// what it saw as one JSON line: every value the progress bar took while the run went
// on, whether the page was ever loaded again, the traces with their points, the
// legend, console errors, and any request that left 127.0.0.1.
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
  let loads = 0;
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("load", () => loads++);
  page.on("request", (r) => {
    const host = new URL(r.url()).hostname;
    if (host !== "127.0.0.1" && host !== "localhost") external.push(r.url());
  });
  // Before any script of the page runs (and again on any later load): a marker that
  // only this load of the document carries, and a record of every value the page
  // gives the progress bar. <progress>'s value property reflects into its attribute,
  // so a MutationObserver sees each assignment.
  await page.addInitScript(() => {
    window.__nanoLoad = `${Date.now()}-${Math.random()}`;
    window.__nanoProgress = [];
    new MutationObserver((mutations) => {
      for (const m of mutations) {
        if (m.target.id === "progress") window.__nanoProgress.push(Number(m.target.value));
      }
    }).observe(document, { subtree: true, attributes: true, attributeFilter: ["value"] });
  });
  await page.goto(url);
  const marker = await page.evaluate(() => window.__nanoLoad);
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
    progressMax: Number(document.getElementById("progress").max),
    progressValues: window.__nanoProgress,
    sameLoad: window.__nanoLoad,
    traces: (document.getElementById("plot").data ?? []).map((t) => ({
      name: t.name,
      points: t.x.length,
      x: Array.from(t.x),
      y: Array.from(t.y),
    })),
    legend: [...document.querySelectorAll(".legendtext")].map((e) => e.textContent),
  }));
  seen.reloaded = seen.sameLoad !== marker || loads !== 1;
  delete seen.sameLoad;
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(JSON.stringify({ sawProgress, errors, external, loads, ...seen }));
} finally {
  await browser.close();
}
