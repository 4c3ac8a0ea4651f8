// Drives Debian's Chromium (headless, WebGL by SwiftShader) through the orbit pages
// and prints what it saw as one JSON line, with every console error and every request
// that left 127.0.0.1. tests/browser.rs runs it against the real binary.
//
// Usage: node run.mjs MODE BASE_URL SCREENSHOT [SCENARIO_FILE STEPS]
//   tracks    POST the scenario to /api/runs, open its /runs/{id}, wait for the plots:
//             the 3D traces (type, name, points, the sphere's radius), the error
//             plot's traces (how many of their values are positive and finite), legend.
//   playback  the same for a constellation: wait for the first frame, press play for
//             a few seconds, read the points' positions (Plotly's gd.data) before and
//             after, the time shown, the states the API gives at that time, and pick
//             a satellite by its name.
//   follow    the same for a constellation still computing: press play at once and
//             sample (the time shown, the slider's end, the state) every 150 ms
//             until the frontier has moved three times.
//   form      on /, submit the orbit form once with e = 1.5 (a 400 shown beside the
//             form), then with its defaults (to /runs/{id}, plotted).
//   unknown   open BASE_URL (a /runs/{id} of no run) and read the message.
//   catalog   on /, choose SCENARIO_FILE (a catalogue file) in the catalogue form, with
//             STEPS steps from EPOCH (the 6th argument), and submit: the upload's
//             answer, then on the run's page (waiting for it to be complete) the
//             points drawn, the status, a few seconds of play (the time shown, the
//             points moved, the last frame's milliseconds) and an object picked by
//             name (its track).
//   conjunctions  POST the scenario, open its page and wait for the conjunction list
//             (at the default 5 km): read its rows, filtered by body 3's name and
//             by its index, sorted by TCA both ways; choose the first row (the closest) and
//             read the time shown and the pair's traces; submit a manoeuvre the API
//             refuses (t past the end), then one of the closest pair's first body at
//             t = 0 (dv along x); wait for the list's version 1 and read it again
//             (and the body's track, on a page of whole tracks), and once more at a
//             distance of 2 km. The
//             API's answers (version 0 and 1) are fetched from here, not the page.
//             A #token=T on BASE_URL is the API token, for this script and the page.
//   catalog-conjunctions  the same for a scenario with a catalogue: upload the
//             catalogue file (the 6th argument) to /api/catalogs, POST the scenario
//             naming it, and go on as `conjunctions`, the manoeuvre on the closest
//             pair whose first body is one of the scenario's own (its index below the
//             7th argument): catalogue objects follow their element sets.
import { readFileSync } from "node:fs";
import { chromium } from "playwright-core";

const [mode, base, screenshot, scenarioFile, steps] = process.argv.slice(2);
const origin = new URL(base).origin;
// A token in BASE_URL's fragment (#token=T): sent by this script as a bearer token,
// and given to the pages the same way (conjunctions mode).
// (Read as written: URLSearchParams would turn a base64 token's `+` into a space.)
const token = /[#&]token=([^&]*)/.exec(new URL(base).hash)?.[1] ?? null;
const bearer = token ? { Authorization: `Bearer ${token}` } : {};
const PLAY_MS = 4000;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    // WebGL without a GPU: ANGLE over SwiftShader, Chromium's software renderer.
    "--enable-unsafe-swiftshader",
    "--use-angle=swiftshader",
    "--ignore-gpu-blocklist",
  ],
});

// Starts a run as a client would (the scenario naming catalogue `catalogId`, if
// given), and returns its status object.
async function start(catalogId) {
  const scenario = JSON.parse(readFileSync(scenarioFile, "utf8"));
  if (catalogId) scenario.catalog = { id: catalogId };
  const response = await fetch(`${origin}/api/runs`, {
    method: "POST",
    headers: { ...bearer, "Content-Type": "application/json" },
    body: JSON.stringify({ scenario, steps: Number(steps) }),
  });
  const text = await response.text();
  if (![200, 202].includes(response.status)) {
    throw new Error(`POST /api/runs: ${response.status}: ${text}`);
  }
  return JSON.parse(text);
}

// For page.waitForFunction: whether the page's state is one of `wanted`.
const settled = (wanted) => wanted.includes(document.body.dataset.state);

async function tracksSeen(page) {
  return page.evaluate(() => {
    const gd = document.getElementById("orbits");
    const errors = document.getElementById("errors");
    return {
      state: document.body.dataset.state,
      status: document.getElementById("status").textContent,
      canvases: gd.querySelectorAll("canvas").length,
      traces: (gd.data ?? []).map((t) => {
        const flat = (a) => (Array.isArray(a?.[0]) ? a.flat() : Array.from(a ?? []));
        const [x, y, z] = [flat(t.x), flat(t.y), flat(t.z)];
        const radii = x.map((_, i) => Math.hypot(x[i], y[i], z[i]));
        return {
          type: t.type,
          mode: t.mode ?? null,
          name: t.name,
          points: x.length,
          minRadius: radii.length ? Math.min(...radii) : null,
          maxRadius: radii.length ? Math.max(...radii) : null,
          hovertemplate: t.hovertemplate ?? null,
        };
      }),
      errorTraces: (errors.data ?? []).map((t) => ({
        name: t.name,
        yaxis: t.yaxis ?? "y",
        points: t.x.length,
        positive: Array.from(t.y).filter((v) => v !== null && Number.isFinite(v) && v > 0).length,
        max: Math.max(...Array.from(t.y).filter((v) => v !== null)),
      })),
      errorAxes: errors._fullLayout
        ? [errors._fullLayout.yaxis?.type, errors._fullLayout.yaxis2?.type]
        : [],
      legend: [...document.querySelectorAll("#orbits .legendtext")].map((e) => e.textContent),
    };
  });
}

async function playbackSeen(page, names) {
  await page.waitForFunction(settled, ["ready", "failed", "unknown"], { timeout: 60_000 });
  const positions = () =>
    page.evaluate(() => {
      const t = document.getElementById("orbits").data[0];
      return {
        t: Number(document.body.dataset.t),
        x: Array.from(t.x),
        y: Array.from(t.y),
        z: Array.from(t.z),
      };
    });
  const first = await page.evaluate(() => document.body.dataset.state);
  if (first !== "ready") {
    return { state: first, status: await page.locator("#status").textContent() };
  }
  const before = await positions();
  const shotBefore = await page.locator("#orbits").screenshot();
  await page.selectOption("#speed", "600");
  await page.click("#play");
  const playingState = await page.evaluate(() => document.body.dataset.state);
  await page.waitForTimeout(PLAY_MS);
  if ((await page.evaluate(() => document.body.dataset.state)) === "playing") {
    await page.click("#play"); // pause
  }
  // Let the frame in flight land.
  await page.waitForFunction(() => document.body.dataset.state === "paused");
  await page.waitForTimeout(500);
  const after = await positions();
  const shotAfter = await page.locator("#orbits").screenshot();
  // The states the API gives at the time the page shows, fetched by the page itself.
  const api = await page.evaluate(async (t) => {
    const r = await fetch(`/api/runs/${document.body.dataset.id}/states?t=${t}`);
    return r.ok ? r.json() : { status: r.status };
  }, after.t);
  // Pick a satellite by its name.
  const name = names[Math.min(7, names.length - 1)];
  await page.fill("#pick-name", name);
  await page.click("#pick button[type=submit]");
  await page.waitForFunction(() => document.body.dataset.picked !== undefined, null, {
    timeout: 30_000,
  });
  const track = await page.evaluate(() => {
    const gd = document.getElementById("orbits");
    const t = gd.data[2];
    return {
      picked: Number(document.body.dataset.picked),
      name: t.name,
      visible: t.visible,
      points: t.x.length,
      x: Array.from(t.x),
      y: Array.from(t.y),
      z: Array.from(t.z),
      text: document.getElementById("picked").textContent,
    };
  });
  return {
    state: "ready",
    playingState,
    before,
    after,
    apiAtShown: api,
    screenChanged: !shotBefore.equals(shotAfter),
    pickedName: name,
    track,
    traces: await page.evaluate(() =>
      document.getElementById("orbits").data.map((t) => ({ type: t.type, name: t.name, mode: t.mode ?? null })),
    ),
    max: await page.evaluate(() => Number(document.getElementById("time").max)),
  };
}

// The rows of the conjunction list as the page draws them.
const conjRows = (page) =>
  page.evaluate(() =>
    [...document.querySelectorAll("#conjunctions tbody tr")].map((tr) => ({
      a: Number(tr.dataset.a),
      b: Number(tr.dataset.b),
      tca_s: Number(tr.dataset.tca),
      miss_km: Number(tr.dataset.miss),
      cells: [...tr.cells].map((td) => td.textContent),
    })),
  );

const conjPanel = (page) =>
  page.evaluate(() => ({
    version: document.getElementById("conj-version").textContent,
    count: document.getElementById("conj-count").textContent,
    dataVersion: document.body.dataset.conjVersion,
    dataCount: Number(document.body.dataset.conjCount),
    shown: document.getElementById("conj-shown").textContent,
    problem: document.getElementById("conj-error").textContent,
    sort: [...document.querySelectorAll("#conjunctions th")].map((th) => th.getAttribute("aria-sort")),
  }));

// Waits for `predicate` (a page function of `arg`); false when it timed out.
async function waited(page, predicate, arg, timeout) {
  try {
    await page.waitForFunction(predicate, arg, { timeout });
    return true;
  } catch {
    return false;
  }
}

// `own`: the scenario's own bodies (the first `own` indices); the manoeuvre is made
// on the closest pair whose first body is one of them.
async function conjunctionsSeen(page, run, own = Infinity) {
  const id = run.id;
  const api = async (path) => {
    const r = await fetch(`${origin}${path}`, { headers: bearer });
    return r.ok ? r.json() : { status: r.status, body: await r.text() };
  };
  const listed = await waited(
    page,
    () => document.body.dataset.conjVersion === "0" || document.body.dataset.state === "failed",
    null,
    90_000,
  );
  const first = { listed, ...(await conjPanel(page)), rows: await conjRows(page) };
  // The screening the page asked for, and the progress it was told.
  first.screening = await page.evaluate(() => ({
    state: document.body.dataset.screening ?? null,
    done: document.body.dataset.screeningDone ?? null,
  }));
  first.api = await api(`/api/runs/${id}/conjunctions?d=5`);
  if (!listed || first.rows.length === 0) return { state: await page.evaluate(() => document.body.dataset.state), first };

  const filtered = async (text) => {
    await page.fill("#conj-filter", text);
    return { text, ...(await conjPanel(page)), rows: await conjRows(page) };
  };
  const k = Math.min(3, run.names.length - 1);
  const byName = await filtered(run.names[k]);
  const byIndex = await filtered(String(k));
  await filtered("");
  await page.click("#conjunctions th button[data-sort=tca]");
  const byTca = { ...(await conjPanel(page)), rows: await conjRows(page) };
  await page.click("#conjunctions th button[data-sort=tca]");
  const byTcaDown = { ...(await conjPanel(page)), rows: await conjRows(page) };
  await page.click("#conjunctions th button[data-sort=miss]");

  // The closest pair (of an own body), chosen.
  const row = Math.max(0, first.rows.findIndex((r) => r.a < own));
  const c = first.rows[row];
  await page.click(`#conjunctions tbody tr:nth-child(${row + 1})`);
  const focused = await waited(page, (k) => document.body.dataset.focus === k, `${c.a}-${c.b}`, 30_000);
  const focus = await page.evaluate(() => {
    const gd = document.getElementById("orbits");
    const scene = gd._fullLayout.scene;
    const slider = document.getElementById("time");
    return {
      t: Number(document.body.dataset.t),
      slider: document.getElementById("player").hidden ? null : Number(slider.value),
      manoeuvreT: document.getElementById("manoeuvre-t").value,
      text: document.getElementById("focus-text").textContent,
      selected: [...document.querySelectorAll("#conjunctions tbody tr[aria-selected=true]")].map((tr) => tr.dataset.key),
      ranges: ["xaxis", "yaxis", "zaxis"].map((a) => Array.from(scene[a].range)),
      traces: gd.data.slice(-3).map((t) => ({
        name: t.name,
        visible: t.visible,
        x: Array.from(t.x),
        y: Array.from(t.y),
        z: Array.from(t.z),
        t: Array.from(t.customdata ?? []),
        text: Array.from(t.text ?? []),
      })),
    };
  });

  // A manoeuvre the API refuses, then one it makes.
  const end = run.steps * run.output_step_s;
  await page.selectOption("#manoeuvre-body", String(c.a));
  await page.fill("#manoeuvre-t", String(end + 10));
  await page.fill("#manoeuvre-dv-x", "0.1");
  await page.fill("#manoeuvre-dv-y", "0");
  await page.fill("#manoeuvre-dv-z", "0");
  await page.click("#manoeuvre-form button[type=submit]");
  await waited(page, () => document.body.dataset.manoeuvre === "refused", null, 30_000);
  const refusal = await page.evaluate(() => ({
    text: document.getElementById("manoeuvre-status").textContent,
    className: document.getElementById("manoeuvre-status").className,
  }));
  await page.fill("#manoeuvre-t", "0");
  await page.click("#manoeuvre-form button[type=submit]");
  const updated = await waited(page, () => document.body.dataset.conjVersion === "1", null, 60_000);
  // The status line says the list shows it once the change is applied.
  await waited(page, () => /shows version 1/.test(document.getElementById("manoeuvre-status").textContent), null, 10_000);
  const after = {
    updated,
    ...(await conjPanel(page)),
    rows: await conjRows(page),
    status: await page.locator("#manoeuvre-status").textContent(),
  };
  // The page drawing whole tracks redraws the manoeuvred body's.
  if (await page.evaluate(() => document.getElementById("player").hidden)) {
    after.redrawn = await waited(page, () => document.body.dataset.tracksVersion === "1", null, 30_000);
    after.track = await page.evaluate((k) => {
      const t = document.getElementById("orbits").data[k];
      return { name: t.name, x: Array.from(t.x), y: Array.from(t.y), z: Array.from(t.z) };
    }, c.a);
    const track = (v) => api(`/api/runs/${id}/bodies/${c.a}?from=0&to=${end}&points=2000&version=${v}`);
    after.apiTrack = await track(1);
    after.apiTrack0 = await track(0);
  }
  after.api = await api(`/api/runs/${id}/conjunctions?d=5&version=1`);
  after.apiVersion0 = await api(`/api/runs/${id}/conjunctions?d=5&version=0`);
  // Another distance: a stream of its own.
  await page.fill("#conj-d", "2");
  await page.dispatchEvent("#conj-d", "change");
  const narrowed = await waited(
    page,
    () => document.getElementById("conj-d-shown").textContent === "2" && document.body.dataset.conjVersion === "1",
    null,
    60_000,
  );
  const atTwo = { narrowed, ...(await conjPanel(page)), rows: await conjRows(page) };
  atTwo.api = await api(`/api/runs/${id}/conjunctions?d=2&version=1`);
  return {
    state: await page.evaluate(() => document.body.dataset.state),
    chosenRow: row,
    pickedIndex: k,
    pickedName: run.names[k],
    end,
    first,
    byName,
    byIndex,
    byTca,
    byTcaDown,
    chosen: c,
    focused,
    focus,
    refusal,
    after,
    atTwo,
  };
}

try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const errors = [];
  const external = [];
  const requests = [];
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("request", (r) => {
    const url = new URL(r.url());
    // data: and blob: URLs never leave the page; anything else must go to 127.0.0.1.
    const local = ["data:", "blob:"].includes(url.protocol) || url.hostname === "127.0.0.1";
    if (!local) external.push(r.url());
    requests.push(url.pathname + url.search);
  });
  let seen;
  if (mode === "tracks") {
    const run = await start();
    await page.goto(`${origin}/runs/${run.id}`);
    await page.waitForFunction(settled, ["plotted", "failed", "unknown"], { timeout: 90_000 });
    seen = { id: run.id, ...(await tracksSeen(page)) };
  } else if (mode === "playback") {
    const run = await start();
    await page.goto(`${origin}/runs/${run.id}`);
    seen = { id: run.id, ...(await playbackSeen(page, run.names)) };
  } else if (mode === "follow") {
    const run = await start();
    await page.goto(`${origin}/runs/${run.id}`);
    await page.waitForFunction(settled, ["ready", "failed", "unknown"], { timeout: 60_000 });
    const sample = () =>
      page.evaluate(() => ({
        t: Number(document.body.dataset.t),
        max: Number(document.getElementById("time").max),
        state: document.body.dataset.state,
        status: document.getElementById("status").textContent,
      }));
    const samples = [await sample()];
    const end = run.steps * run.output_step_s;
    if (samples[0].state === "ready") {
      await page.selectOption("#speed", "3600");
      await page.click("#play");
      // Until the frontier has moved three times and the points with it (or a minute).
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline) {
        await page.waitForTimeout(150);
        const s = await sample();
        samples.push(s);
        const ends = new Set(samples.map((x) => x.max)).size;
        const times = new Set(samples.filter((x) => x.t > 0).map((x) => x.t)).size;
        if ((ends >= 4 && times >= 3) || s.state === "failed") break;
      }
    }
    seen = { id: run.id, firstStatus: run.status, end, samples };
  } else if (mode === "form") {
    await page.goto(`${origin}/`);
    await page.fill("#orbit-form input[name=e]", "1.5");
    await page.click("#orbit-form button[type=submit]");
    await page.waitForSelector("#orbit-error:not([hidden])", { timeout: 30_000 });
    const refusal = {
      url: page.url(),
      message: await page.locator("#orbit-error").textContent(),
    };
    await page.fill("#orbit-form input[name=e]", "0.05");
    await page.selectOption("#orbit-form select[name=forces]", "j2");
    await page.selectOption("#orbit-form select[name=method]", "rk4");
    await page.fill("#orbit-form input[name=step_s]", "5");
    await page.fill("#orbit-form input[name=steps]", "300");
    await Promise.all([
      page.waitForURL(/\/runs\/[0-9a-f]{32}$/, { timeout: 30_000 }),
      page.click("#orbit-form button[type=submit]"),
    ]);
    await page.waitForFunction(settled, ["plotted", "failed", "unknown"], { timeout: 90_000 });
    seen = { refusal, url: page.url(), ...(await tracksSeen(page)) };
  } else if (mode === "conjunctions") {
    const run = await start();
    // A marker only this load of the document carries: a reload would change it.
    await page.addInitScript(() => (window.__nanoLoad = `${Date.now()}-${Math.random()}`));
    let loads = 0;
    page.on("load", () => loads++);
    await page.goto(`${origin}/runs/${run.id}${token ? `#token=${encodeURIComponent(token)}` : ""}`);
    const marker = await page.evaluate(() => window.__nanoLoad);
    seen = { id: run.id, names: run.names, ...(await conjunctionsSeen(page, run)) };
    seen.reloaded = loads !== 1 || (await page.evaluate(() => window.__nanoLoad)) !== marker;
  } else if (mode === "catalog-conjunctions") {
    const [catalogFile, own] = process.argv.slice(7);
    const response = await fetch(`${origin}/api/catalogs`, {
      method: "POST",
      headers: { ...bearer, "Content-Type": "application/octet-stream" },
      body: readFileSync(catalogFile),
    });
    const uploaded = { status: response.status, body: await response.json() };
    const run = await start(uploaded.body.id);
    let loads = 0;
    page.on("load", () => loads++);
    await page.goto(`${origin}/runs/${run.id}`);
    seen = { id: run.id, names: run.names, uploaded, ...(await conjunctionsSeen(page, run, Number(own))) };
    seen.reloaded = loads !== 1;
  } else if (mode === "catalog") {
    const epoch = process.argv[7];
    // The upload's answer, read on its way to the page (the page navigates away as
    // soon as its run starts, and a response's body is gone with it).
    let uploaded = null;
    await page.route("**/api/catalogs", async (route) => {
      if (route.request().method() !== "POST") return route.continue();
      const response = await route.fetch();
      const text = await response.text();
      uploaded = { status: response.status(), body: JSON.parse(text) };
      await route.fulfill({ response, body: text });
    });
    await page.goto(`${origin}/`);
    await page.setInputFiles("#catalog-form input[name=file]", scenarioFile);
    await page.fill("#catalog-form input[name=epoch]", epoch);
    await page.fill("#catalog-form input[name=steps]", String(steps));
    await Promise.all([
      page.waitForURL(/\/runs\/[0-9a-f]{32}$/, { timeout: 60_000 }),
      page.click("#catalog-form button[type=submit]"),
    ]);
    const id = page.url().split("/").pop();
    // The whole run first, so that the play below has every step to show.
    const deadline = Date.now() + 300_000;
    let status;
    for (;;) {
      status = await (await fetch(`${origin}/api/runs/${id}/status`, { headers: bearer })).json();
      if (status.status !== "running" || Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    await page.waitForFunction(settled, ["ready", "failed", "unknown"], { timeout: 120_000 });
    const points = () =>
      page.evaluate(() => {
        const t = document.getElementById("orbits").data?.[0];
        return {
          t: Number(document.body.dataset.t),
          type: t?.type,
          mode: t?.mode,
          n: t ? t.x.length : 0,
          x: t ? Array.from(t.x) : [],
          y: t ? Array.from(t.y) : [],
          z: t ? Array.from(t.z) : [],
        };
      });
    const state = await page.evaluate(() => document.body.dataset.state);
    const before = await points();
    let after = before;
    let frameMs = null;
    let track = null;
    if (state === "ready") {
      await page.selectOption("#speed", "600");
      await page.click("#play");
      await page.waitForTimeout(PLAY_MS);
      if ((await page.evaluate(() => document.body.dataset.state)) === "playing") {
        await page.click("#play");
      }
      await page.waitForFunction(() => document.body.dataset.state === "paused");
      await page.waitForTimeout(500);
      after = await points();
      frameMs = await page.evaluate(() => Number(document.body.dataset.frameMs));
      const name = status.names[Math.min(5, status.names.length - 1)];
      await page.fill("#pick-name", name);
      await page.click("#pick button[type=submit]");
      await page.waitForFunction(() => document.body.dataset.picked !== undefined, null, {
        timeout: 30_000,
      });
      track = await page.evaluate(() => {
        const t = document.getElementById("orbits").data[2];
        return {
          picked: Number(document.body.dataset.picked),
          name: t.name,
          visible: t.visible,
          points: t.x.length,
        };
      });
      track.asked = name;
    }
    const moved = before.x.filter((_, i) =>
      Math.hypot(before.x[i] - after.x[i], before.y[i] - after.y[i], before.z[i] - after.z[i]) > 1,
    ).length;
    const catalogs = await (await fetch(`${origin}/api/catalogs`)).json();
    seen = {
      id,
      state,
      pageStatus: await page.locator("#status").textContent(),
      uploaded,
      catalogs,
      status: { ...status, names: status.names?.length },
      names: status.names?.slice(0, 10),
      plotted: { type: before.type, mode: before.mode, before: before.n, after: after.n },
      t: [before.t, after.t],
      moved,
      frameMs,
      track,
      canvases: await page.evaluate(() => document.querySelectorAll("#orbits canvas").length),
    };
  } else if (mode === "unknown") {
    await page.goto(base);
    await page.waitForFunction(settled, ["plotted", "failed", "unknown"], { timeout: 30_000 });
    seen = {
      state: await page.evaluate(() => document.body.dataset.state),
      status: await page.locator("#status").textContent(),
    };
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(JSON.stringify({ mode, errors, external, requests, ...seen }));
} finally {
  await browser.close();
}
