// The page of an orbit run, /runs/{id}. It asks for the run's status, then:
// - up to TRACK_LIMIT bodies: follows progress by server-sent events, fetches a
//   decimated ephemeris once the run is complete, and draws every body's track in 3D
//   around the central body, and the relative energy and angular-momentum errors
//   against time (computed here from the states and the scenario's constants);
// - more bodies (a constellation, a catalogue): plays the run back, every satellite a
//   point (one WebGL trace, tens of thousands of points), fetching every position at
//   one time per frame, packed (/positions; never the whole run), following the
//   durable frontier while the run computes; a click or a name picks a satellite
//   and draws its track.
// Once the run is complete, either kind has the conjunctions panel (the pairs closer
// than a screening distance, kept current from the server's events: a snapshot, then
// the changes each new version of the run makes) and the manoeuvre form (a new version
// of the run). A row of the list moves the time to the pair's closest approach, draws
// both bodies' tracks around it and centres the 3D view on the pair.
// The page's state is in body[data-state] (loading, running, plotted, ready, playing,
// paused, failed, unknown), the time shown in body[data-t] (and how long its frame
// took to fetch and draw in [data-frame-ms]), the list's version and size
// in body[data-conj-version] and [data-conj-count], for people and tests alike.
"use strict";

const TRACK_LIMIT = 12;
// Bodies past which the playback draws its points the fast way (see start()).
const MANY_POINTS = 5000;
// Rows of the conjunction list drawn at most (the first in the order chosen): a
// constellation can have thousands, and a table of them all is slow to draw and read.
const ROW_CAP = 500;
// Seconds either side of a closest approach whose tracks a row draws (at least four
// output steps), and the points asked for each of the two tracks.
const PAIR_WINDOW_S = 300;
const PAIR_POINTS = 400;
// Earth, docs/orbits.md: the defaults when a scenario does not name its central body.
const EARTH = { mu: 398600.4418, radius: 6378.137, j2: 1.08262668e-3 };

// One colour per body, the same in the 3D plot and the error plot (Plotly's own).
const COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
  "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939"];
const colour = (i) => COLOURS[i % COLOURS.length];

const page = document.body;
const runId = page.dataset.id;
const points = Number(page.dataset.points) || 2000;
const bar = document.getElementById("progress");
const statusLine = document.getElementById("status");
const auth = { headers: nanoAuth.headers };
const api = `/api/runs/${runId}`;

function say(text) {
  statusLine.textContent = text;
  statusLine.className = "";
}

function fail(reason, state = "failed") {
  page.dataset.state = state;
  statusLine.textContent = reason;
  statusLine.className = "failed";
}

function showProgress(done, steps) {
  bar.max = Math.max(steps, 1);
  bar.value = done;
  say(`${done.toLocaleString()} of ${steps.toLocaleString()} steps computed`);
}

// The central body's constants from the canonical scenario (Earth's by default).
function centralBody(scenario) {
  const c = scenario?.central_body ?? {};
  return {
    mu: c.mu_km3_s2 ?? EARTH.mu,
    radius: c.radius_km ?? EARTH.radius,
    j2: c.j2 ?? EARTH.j2,
    withJ2: (scenario?.forces ?? []).includes("j2"),
  };
}

// A sphere of radius r at the origin: a `surface` trace (no colour scale).
function sphere(r, name) {
  const [rows, cols] = [25, 49];
  const x = [], y = [], z = [];
  for (let i = 0; i < rows; i++) {
    const theta = (Math.PI * i) / (rows - 1);
    const [xr, yr, zr] = [[], [], []];
    for (let j = 0; j < cols; j++) {
      const phi = (2 * Math.PI * j) / (cols - 1);
      xr.push(r * Math.sin(theta) * Math.cos(phi));
      yr.push(r * Math.sin(theta) * Math.sin(phi));
      zr.push(r * Math.cos(theta));
    }
    x.push(xr);
    y.push(yr);
    z.push(zr);
  }
  return {
    type: "surface",
    name,
    x,
    y,
    z,
    showscale: false,
    showlegend: true,
    colorscale: [[0, "#2f6db5"], [1, "#5fa0e0"]],
    surfacecolor: z,
    hovertemplate: `${name}<extra></extra>`,
  };
}

// Columns of a `{"columns": [...], "records": [[...], ...]}` document, by name.
function columnsOf(doc) {
  const at = {};
  (doc.columns ?? ["t", "body", "x", "y", "z", "vx", "vy", "vz"]).forEach((c, i) => (at[c] = i));
  return at;
}

// Specific energy: v^2/2 + the potential of the point mass, and of J2 when the
// run's force model has it (then energy is still conserved: the field is static
// and symmetric about z). The angular momentum's z component is conserved with J2;
// the whole vector without it.
function invariants(s, central) {
  const [x, y, z, vx, vy, vz] = s;
  const r = Math.hypot(x, y, z);
  let energy = (vx * vx + vy * vy + vz * vz) / 2 - central.mu / r;
  if (central.withJ2) {
    const rr = central.radius / r;
    energy += ((central.mu * central.j2 * rr * rr) / (2 * r)) * ((3 * z * z) / (r * r) - 1);
  }
  const h = [y * vz - z * vy, z * vx - x * vz, x * vy - y * vx];
  return { energy, h };
}

// |a - b| / |b|, or null (a gap on a log axis) when it is zero.
function relative(err, scale) {
  const v = Math.abs(err) / Math.abs(scale);
  return v > 0 && Number.isFinite(v) ? v : null;
}

async function fetchJson(url) {
  const response = await fetch(url, auth);
  if (!response.ok) {
    throw new Error(`${url}: ${response.status}: ${await errorMessage(response)}`);
  }
  return response.json();
}

// Follows the run's events: `progress` to onProgress(iterations_done, steps),
// `complete` to onComplete, `error` to a failure naming its reason.
function follow(onProgress, onComplete) {
  const sep = nanoAuth.param ? `?${nanoAuth.param}` : "";
  const events = new EventSource(`${api}/events${sep}`);
  events.addEventListener("progress", (e) => {
    const p = JSON.parse(e.data);
    onProgress(p.iterations_done, p.steps);
  });
  events.addEventListener("complete", () => {
    events.close();
    onComplete();
  });
  events.addEventListener("error", (e) => {
    if (e.data) {
      events.close();
      fail(`the run failed: ${JSON.parse(e.data).reason}`);
    } else if (events.readyState === EventSource.CLOSED) {
      fail("lost the connection to the service");
    }
    // Otherwise the browser reconnects by itself.
  });
  return events;
}

function showLinks() {
  document.getElementById("link-json").href = `${api}?format=json`;
  document.getElementById("link-csv").href = `${api}?format=csv`;
  document.getElementById("link-oem").href = `${api}?format=oem`;
  document.getElementById("links").hidden = false;
}

// ---------------------------------------------------------------------------
// Up to TRACK_LIMIT bodies: whole tracks in 3D and the error plots.

async function tracks(status) {
  if (status.status === "complete") {
    return drawTracks(status);
  }
  if (status.status !== "running") {
    fail(
      `the run ${status.status} at ${status.iterations_done.toLocaleString()} of ` +
        `${status.steps.toLocaleString()} steps; POST it again to /api/runs to continue`,
    );
    return;
  }
  page.dataset.state = "running";
  showProgress(status.iterations_done, status.steps);
  follow(showProgress, () => {
    showProgress(status.steps, status.steps);
    drawTracks(status).catch((e) => fail(e.message));
  });
}

async function drawTracks(status) {
  say("drawing…");
  let response;
  // The run may have completed a moment before its data is readable: ask again.
  for (let tries = 0; ; tries++) {
    response = await fetch(`${api}?format=json&points=${points}`, auth);
    if (response.status !== 202 || tries > 20) break;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  if (response.status !== 200) {
    fail(`the run's states could not be fetched (${response.status}): ${await errorMessage(response)}`);
    return;
  }
  const doc = await response.json();
  const at = columnsOf(doc);
  const names = doc.bodies ?? status.names ?? [];
  const central = centralBody(doc.scenario ?? status.scenario);
  const bodies = names.map(() => ({ t: [], x: [], y: [], z: [], energy: [], h: [] }));
  for (const row of doc.records) {
    const b = bodies[row[at.body]];
    const s = [row[at.x], row[at.y], row[at.z], row[at.vx], row[at.vy], row[at.vz]];
    const inv = invariants(s, central);
    b.t.push(row[at.t]);
    b.x.push(s[0]);
    b.y.push(s[1]);
    b.z.push(s[2]);
    b.energy.push(inv.energy);
    b.h.push(inv.h);
  }

  const traces3d = bodies.map((b, i) => ({
    type: "scatter3d",
    mode: "lines",
    name: names[i],
    x: b.x,
    y: b.y,
    z: b.z,
    customdata: b.t,
    line: { width: 4, color: colour(i) },
    hovertemplate:
      "t = %{customdata:.1f} s<br>x = %{x:.3f} km<br>y = %{y:.3f} km<br>z = %{z:.3f} km" +
      `<extra>${names[i]}</extra>`,
  }));
  traces3d.push(sphere(central.radius, `central body (R = ${central.radius} km)`));
  const axis = (title) => ({ title: { text: title } });
  await Plotly.newPlot(
    "orbits",
    traces3d,
    {
      title: { text: `${names.length} bod${names.length === 1 ? "y" : "ies"}, ${status.steps.toLocaleString()} steps of ${status.output_step_s} s` },
      scene: { aspectmode: "data", xaxis: axis("x (km)"), yaxis: axis("y (km)"), zaxis: axis("z (km)") },
      legend: { orientation: "h" },
      margin: { t: 50, l: 0, r: 0, b: 0 },
    },
    { responsive: true, displaylogo: false },
  );

  // Relative errors against the initial state's invariants.
  const hLabel = central.withJ2 ? "|h_z - h_z0| / |h0|" : "|h - h0| / |h0|";
  const errors = [];
  bodies.forEach((b, i) => {
    if (b.t.length === 0) return;
    const [e0, h0] = [b.energy[0], b.h[0]];
    const h0norm = Math.hypot(...h0);
    const group = `body-${i}`;
    errors.push({
      type: "scatter",
      mode: "lines",
      name: `${names[i]} energy`,
      legendgroup: group,
      x: b.t,
      y: b.energy.map((e) => relative(e - e0, e0)),
      line: { color: colour(i) },
      hovertemplate: `t = %{x:.1f} s<br>|E - E0| / |E0| = %{y:.3e}<extra>${names[i]}</extra>`,
    });
    errors.push({
      type: "scatter",
      mode: "lines",
      name: `${names[i]} angular momentum`,
      legendgroup: group,
      x: b.t,
      y: b.h.map((h) =>
        relative(
          central.withJ2 ? h[2] - h0[2] : Math.hypot(h[0] - h0[0], h[1] - h0[1], h[2] - h0[2]),
          h0norm,
        ),
      ),
      xaxis: "x2",
      yaxis: "y2",
      line: { color: colour(i), dash: "dot" },
      hovertemplate: `t = %{x:.1f} s<br>${hLabel} = %{y:.3e}<extra>${names[i]}</extra>`,
    });
  });
  await Plotly.newPlot(
    "errors",
    errors,
    {
      title: {
        text:
          "Relative error of the conserved quantities" +
          (central.withJ2 ? " (energy with the J2 potential; h_z with J2)" : ""),
      },
      // Energy above, angular momentum below, on one time axis.
      xaxis: { anchor: "y", showticklabels: false },
      yaxis: { title: { text: "|E - E0| / |E0|" }, type: "log", exponentformat: "power", domain: [0.54, 1] },
      xaxis2: { anchor: "y2", matches: "x", title: { text: "t (s since the epoch)" } },
      yaxis2: { title: { text: hLabel }, type: "log", exponentformat: "power", domain: [0, 0.46] },
      legend: { orientation: "h" },
      margin: { t: 50 },
    },
    { responsive: true, displaylogo: false },
  );
  const kept = bodies.reduce((sum, b) => sum + b.t.length, 0);
  document.getElementById("decimation").textContent =
    ` (the plots show ${kept.toLocaleString()} states of ${((status.steps + 1) * names.length).toLocaleString()})`;
  showLinks();
  document.getElementById("progress-box").hidden = true;
  say("complete");
  page.dataset.state = "plotted";
  panels(status, tracksView(status));
}

// The tracks' plot as the conjunction panel drives it: a time without a player (the
// one last chosen), the whole view by autorange; a new version redraws the track of
// the body it manoeuvred (the error plot stays version 0's, the run as propagated).
function tracksView(status) {
  const listeners = [];
  let shown = 0;
  return {
    timeShown: () => shown,
    onTime: (fn) => listeners.push(fn),
    async moveTo(t) {
      shown = t;
      page.dataset.t = String(t);
      listeners.forEach((fn) => fn(t));
    },
    wholeView: () =>
      Plotly.relayout("orbits", {
        "scene.xaxis.autorange": true,
        "scene.yaxis.autorange": true,
        "scene.zaxis.autorange": true,
        "scene.aspectmode": "data",
      }),
    async newVersion(version) {
      const k = await manoeuvred(version);
      if (k === null) return;
      const end = status.steps * status.output_step_s;
      const doc = await fetchJson(`${api}/bodies/${k}?from=0&to=${end}&points=${points}&version=${version}`);
      const col = columnsOf(doc);
      const pick = (c) => doc.records.map((r) => r[c]);
      await Plotly.restyle(
        "orbits",
        { x: [pick(col.x)], y: [pick(col.y)], z: [pick(col.z)], customdata: [pick(col.t)] },
        [k],
      );
      page.dataset.tracksVersion = String(version);
    },
  };
}

// ---------------------------------------------------------------------------
// More bodies: playback.

async function playback(status) {
  const dt = status.output_step_s;
  const names = status.names ?? [];
  const central = centralBody(status.scenario);
  const slider = document.getElementById("time");
  const clock = document.getElementById("clock");
  const playButton = document.getElementById("play");
  const speed = document.getElementById("speed");
  const picked = document.getElementById("picked");
  let frontier = status.iterations_done * dt;
  let complete = status.status === "complete";
  let playing = false;
  let shown = 0; // the time the points show
  let busy = false; // a states request in flight (one at a time)
  let lastFrame = 0;
  let pickedBody = null;
  let wholeRange = null; // the axes' range of the whole view
  const timeListeners = [];

  document.getElementById("player").hidden = false;
  document.getElementById("errors").hidden = true;
  slider.step = "any";
  if (names.length <= 5000) {
    const list = document.getElementById("names");
    for (const name of names) {
      const option = document.createElement("option");
      option.value = name;
      list.appendChild(option);
    }
  }

  // Resolved once some steps are durable: the log knows a run only from its first
  // block, so before it even t = 0 has nothing to read.
  let durable;
  const firstDurable = new Promise((resolve) => (durable = resolve));
  if (status.iterations_done > 0 || complete) durable();
  let completed;
  const whenComplete = new Promise((resolve) => (completed = resolve));
  if (complete) completed();

  function setFrontier(iterations) {
    frontier = Math.max(frontier, iterations * dt);
    slider.max = String(frontier);
    if (iterations > 0) durable();
  }

  function setPlaying(on) {
    playing = on;
    playButton.textContent = on ? "Pause" : "Play";
    page.dataset.state = on ? "playing" : "paused";
    if (on) {
      lastFrame = performance.now();
      requestAnimationFrame(frame);
    }
  }

  // Every body's position at t, from /positions: 24 bytes a body (x, y, z as
  // little-endian doubles), a tenth of what /states takes, so that a frame of a
  // catalogue of tens of thousands of objects is one small request.
  async function statesAt(t) {
    const response = await fetch(`${api}/positions?t=${t}`, auth);
    if (!response.ok) {
      throw new Error(`${api}/positions?t=${t}: ${response.status}: ${await errorMessage(response)}`);
    }
    const view = new DataView(await response.arrayBuffer());
    const n = Math.floor(view.byteLength / 24);
    const [x, y, z] = [new Float64Array(n), new Float64Array(n), new Float64Array(n)];
    for (let i = 0; i < n; i++) {
      x[i] = view.getFloat64(24 * i, true);
      y[i] = view.getFloat64(24 * i + 8, true);
      z[i] = view.getFloat64(24 * i + 16, true);
    }
    return { t, x, y, z };
  }

  async function showAt(t) {
    busy = true;
    try {
      const begun = performance.now();
      const s = await statesAt(t);
      await Plotly.restyle("orbits", { x: [s.x], y: [s.y], z: [s.z] }, [0]);
      // How long the last frame took, fetched and drawn.
      page.dataset.frameMs = String(Math.round(performance.now() - begun));
      shown = t;
      slider.value = String(t);
      clock.textContent = `t = ${t.toFixed(1)} s (${(t / 3600).toFixed(2)} h)`;
      page.dataset.t = String(t);
      timeListeners.forEach((fn) => fn(t));
      return s;
    } finally {
      busy = false;
    }
  }

  // One step of play: the next time (by the speed and the time since the last
  // frame), at most the frontier; a new request only once the last is drawn.
  function frame(now) {
    if (!playing) return;
    if (!busy) {
      const elapsed = Math.max(0, now - lastFrame) / 1000;
      const next = Math.min(shown + elapsed * Number(speed.value), frontier);
      lastFrame = now;
      if (complete && shown >= frontier) {
        setPlaying(false); // the end of the run
        return;
      }
      if (next > shown) {
        showAt(next).catch((e) => {
          setPlaying(false);
          fail(e.message);
        });
      }
      // Otherwise wait (at the frontier, for the run to go on).
    }
    requestAnimationFrame(frame);
  }

  async function pick(k) {
    if (!(k >= 0 && k < status.bodies)) return;
    const name = names[k] ?? `body ${k}`;
    picked.textContent = `${name}: fetching its track…`;
    const to = frontier;
    const doc = await fetchJson(`${api}/bodies/${k}?from=0&to=${to}&points=${points}`);
    const at = columnsOf(doc);
    const [x, y, z, t] = [[], [], [], []];
    for (const row of doc.records) {
      t.push(row[at.t]);
      x.push(row[at.x]);
      y.push(row[at.y]);
      z.push(row[at.z]);
    }
    await Plotly.restyle(
      "orbits",
      {
        x: [x],
        y: [y],
        z: [z],
        customdata: [t],
        name: [name],
        visible: [true],
        hovertemplate: [`t = %{customdata:.1f} s<br>x = %{x:.1f} km<br>y = %{y:.1f} km<br>z = %{z:.1f} km<extra>${name}</extra>`],
      },
      [2],
    );
    pickedBody = k;
    page.dataset.picked = String(k);
    picked.textContent = `${name}: its track from 0 to ${to.toFixed(0)} s (${x.length} states)`;
  }

  async function start() {
    if (!complete) say("running: waiting for the first steps to reach the log…");
    await firstDurable;
    say(complete ? "complete" : "running: playing what is already in the log");
    const s = await statesAt(0);
    let reach = central.radius;
    for (let i = 0; i < s.x.length; i++) reach = Math.max(reach, Math.hypot(s.x[i], s.y[i], s.z[i]));
    const range = [-1.15 * reach, 1.15 * reach];
    const many = status.bodies > MANY_POINTS;
    wholeRange = range;
    const axis = (title) => ({ title: { text: title }, range, autorange: false });
    await Plotly.newPlot(
      "orbits",
      [
        many
          ? {
              type: "scatter3d",
              mode: "markers",
              name: `${status.bodies.toLocaleString()} objects`,
              x: s.x,
              y: s.y,
              z: s.z,
              // Squares: Plotly draws a circle as a glyph of many triangles, some ten
              // times slower a frame at 26,000 points; and no hover text, which costs
              // as much again (a click or the form picks an object and names it).
              marker: { size: 1.5, color: "#d04a02", symbol: "square" },
              hoverinfo: "none",
            }
          : {
              type: "scatter3d",
              mode: "markers",
              name: `${status.bodies.toLocaleString()} satellites`,
              x: s.x,
              y: s.y,
              z: s.z,
              text: names.length === s.x.length ? names : undefined,
              marker: { size: 2.5, color: "#d04a02" },
              hovertemplate: "%{text}<br>x = %{x:.1f} km<br>y = %{y:.1f} km<br>z = %{z:.1f} km<extra></extra>",
            },
        sphere(central.radius, `central body (R = ${central.radius} km)`),
        {
          type: "scatter3d",
          mode: "lines",
          name: "track",
          x: [],
          y: [],
          z: [],
          visible: false,
          line: { width: 3, color: "#1a7f37" },
        },
      ],
      {
        title: { text: `${status.bodies.toLocaleString()} satellites, ${status.steps.toLocaleString()} steps of ${dt} s` },
        scene: { aspectmode: "cube", xaxis: axis("x (km)"), yaxis: axis("y (km)"), zaxis: axis("z (km)") },
        legend: { orientation: "h" },
        margin: { t: 50, l: 0, r: 0, b: 0 },
        uirevision: "keep",
      },
      { responsive: true, displaylogo: false },
    );
    document.getElementById("orbits").on("plotly_click", (event) => {
      const point = (event.points ?? []).find((p) => p.curveNumber === 0);
      if (point) {
        document.getElementById("pick-name").value = names[point.pointNumber] ?? "";
        pick(point.pointNumber).catch((e) => (picked.textContent = e.message));
      }
    });
    page.dataset.t = "0";
    slider.max = String(frontier);
    showLinks();
    page.dataset.state = "ready";
  }

  playButton.addEventListener("click", () => setPlaying(!playing));
  slider.addEventListener("input", () => {
    if (!busy) showAt(Number(slider.value)).catch((e) => fail(e.message));
  });
  document.getElementById("pick").addEventListener("submit", (e) => {
    e.preventDefault();
    const name = document.getElementById("pick-name").value.trim();
    const k = names.indexOf(name);
    if (k < 0) {
      picked.textContent = `no satellite is named '${name}'`;
      return;
    }
    pick(k).catch((err) => (picked.textContent = err.message));
  });

  if (complete) {
    document.getElementById("progress-box").hidden = true;
  } else {
    showProgress(status.iterations_done, status.steps);
    follow(
      (done, steps) => {
        showProgress(done, steps);
        setFrontier(done);
      },
      () => {
        complete = true;
        completed();
        setFrontier(status.steps);
        say("complete");
        showProgress(status.steps, status.steps);
        if (pickedBody !== null) pick(pickedBody).catch(() => {});
      },
    );
  }
  // The playback as the conjunction panel drives it: moving the time pauses the play
  // and waits for the frame in flight, so that the time set is the one that stays.
  const view = {
    timeShown: () => shown,
    onTime: (fn) => timeListeners.push(fn),
    async moveTo(t) {
      if (playing) setPlaying(false);
      while (busy) await new Promise((resolve) => setTimeout(resolve, 20));
      return showAt(t);
    },
    wholeView: () =>
      Plotly.relayout("orbits", {
        "scene.xaxis.range": wholeRange,
        "scene.yaxis.range": wholeRange,
        "scene.zaxis.range": wholeRange,
      }),
    // Reads are of the latest version: the points and the picked track read again.
    async newVersion() {
      if (!playing && !busy) await showAt(shown);
      if (pickedBody !== null) await pick(pickedBody);
    },
  };
  await start();
  whenComplete.then(() => panels(status, view));
}

// ---------------------------------------------------------------------------
// A complete run, either kind: the conjunctions and the manoeuvre form.

// `view`: the 3D plot as these panels drive it: timeShown(), onTime(fn) (told every
// time shown), moveTo(t) (shows time t; the states at t when it fetched them),
// wholeView() (the view before a pair was centred) and newVersion(v) (the run has a
// new latest version: what is drawn of the older follows it).
function panels(status, view) {
  const list = conjunctionList(status, view);
  manoeuvreForm(status, view, list);
  // A new version (a manoeuvre, from this page or another): the plot follows it.
  list.onVersion((version, change) => {
    if (change) view.newVersion(version).catch((e) => say(e.message));
  });
}

// The body a version manoeuvred (from /versions), or null for version 0.
async function manoeuvred(version) {
  const doc = await fetchJson(`${api}/versions`);
  return doc.versions.find((v) => v.version === version)?.manoeuvre?.body ?? null;
}

// The UTC time `t` seconds after the run's epoch, ISO 8601 to the millisecond.
function isoAt(epochMs, t) {
  const ms = epochMs + t * 1000;
  return Number.isFinite(ms) ? new Date(ms).toISOString() : `t = ${t} s`;
}

// A conjunction's identity between a snapshot and the changes after it.
const conjKey = (c) => `${c.a}:${c.b}:${c.tca_s}`;

// The orders of the list, by column: each a comparison with the others as tie
// breakers (by miss distance the API's own order).
const ORDERS = {
  pair: (p, q) => p.a - q.a || p.b - q.b || p.tca_s - q.tca_s,
  tca: (p, q) => p.tca_s - q.tca_s || p.miss_km - q.miss_km || p.a - q.a || p.b - q.b,
  miss: (p, q) => p.miss_km - q.miss_km || p.a - q.a || p.b - q.b || p.tca_s - q.tca_s,
};

// The conjunction panel: follows /conjunctions/events at the distance typed (a
// snapshot, then a change for every new version), and draws the set filtered and
// sorted, at most ROW_CAP rows. Returns { version(), onVersion(fn), problem() }:
// fn(version, change) after each snapshot (change null) and change applied.
function conjunctionList(status, view) {
  const names = status.names ?? [];
  const nameOf = (k) => names[k] ?? `body ${k}`;
  const epochMs = Date.parse(status.epoch);
  const panel = document.getElementById("conj-panel");
  const body = document.querySelector("#conjunctions tbody");
  const count = document.getElementById("conj-count");
  const versionText = document.getElementById("conj-version");
  const shownText = document.getElementById("conj-shown");
  const distance = document.getElementById("conj-d");
  const distanceShown = document.getElementById("conj-d-shown");
  const filter = document.getElementById("conj-filter");
  const problem = document.getElementById("conj-error");
  const listeners = [];
  let set = new Map();
  let version = null;
  let d = distance.value;
  let source = null;
  let order = { key: "miss", dir: 1 };
  let selected = null; // the key of the row last chosen

  function showProblem(text) {
    problem.textContent = text;
    problem.hidden = !text;
  }

  // The conjunctions the filter keeps: a whole number is a body index (or a name
  // equal to it); other text a part of a name, whatever its case.
  function kept() {
    const text = filter.value.trim().toLowerCase();
    const all = [...set.values()];
    if (!text) return all;
    const index = /^\d+$/.test(text) ? Number(text) : null;
    const hit = (k) =>
      index !== null ? k === index || nameOf(k).toLowerCase() === text : nameOf(k).toLowerCase().includes(text);
    return all.filter((c) => hit(c.a) || hit(c.b));
  }

  function render() {
    page.dataset.conjVersion = version === null ? "" : String(version);
    page.dataset.conjCount = String(set.size);
    versionText.textContent = version === null ? "…" : String(version);
    count.textContent = version === null ? "…" : set.size.toLocaleString();
    distanceShown.textContent = d;
    const rows = kept();
    const compare = ORDERS[order.key];
    rows.sort((p, q) => order.dir * compare(p, q));
    const notes = [];
    if (filter.value.trim()) notes.push(`${rows.length.toLocaleString()} match the filter`);
    if (rows.length > ROW_CAP) {
      notes.push(
        order.key === "miss" && order.dir === 1
          ? `the ${ROW_CAP} closest shown`
          : `the first ${ROW_CAP} in this order shown`,
      );
    }
    if (version === null) notes.push("screening…");
    shownText.textContent = notes.length ? ` (${notes.join("; ")})` : "";
    const fragment = document.createDocumentFragment();
    for (const c of rows.slice(0, ROW_CAP)) {
      const tr = document.createElement("tr");
      tr.tabIndex = 0;
      tr.dataset.key = conjKey(c);
      tr.dataset.a = String(c.a);
      tr.dataset.b = String(c.b);
      tr.dataset.tca = String(c.tca_s);
      tr.dataset.miss = String(c.miss_km);
      tr.setAttribute("aria-selected", String(tr.dataset.key === selected));
      const cells = [
        `${nameOf(c.a)} (${c.a}) – ${nameOf(c.b)} (${c.b})`,
        isoAt(epochMs, c.tca_s),
        c.miss_km.toFixed(3),
      ];
      cells.forEach((text, i) => {
        const td = document.createElement("td");
        td.textContent = text;
        if (i === 1) td.title = `t = ${c.tca_s} s`;
        if (i === 2) td.className = "num";
        tr.appendChild(td);
      });
      fragment.appendChild(tr);
    }
    body.replaceChildren(fragment);
  }

  function told(change) {
    render();
    listeners.forEach((fn) => fn(version, change));
  }

  // The screening the list reads: one the service keeps (at d or more) is read at
  // once; otherwise one is asked for (POST .../screenings, which needs the token when
  // the service has one) and its progress shown until it is kept. Resolves true when
  // there is one to read; false (the problem shown) when not.
  let screeningFor = null; // the distance whose screening is being followed
  async function screened(at) {
    // 200: kept (nothing computed, nothing counted); 202: a job.
    const asked = await fetch(`${api}/screenings`, {
      method: "POST",
      headers: { "Content-Type": "application/json", ...nanoAuth.headers },
      body: JSON.stringify({ d: Number(at) }),
    });
    // Without the token a screening cannot be asked for, but reading one kept is
    // open: the stream says whether there is one (and, if not, what to POST).
    if (asked.status === 200 || asked.status === 401) return true;
    if (asked.status !== 202) {
      showProblem(`${asked.status}: ${await errorMessage(asked)}`);
      return false;
    }
    const job = await asked.json();
    screeningFor = at;
    page.dataset.screening = "running";
    const token = nanoAuth.param ? `?${nanoAuth.param}` : "";
    return new Promise((resolve) => {
      const progress = new EventSource(`${job.events_url}${token}`);
      const end = (ok, problemText) => {
        progress.close();
        if (screeningFor === at) screeningFor = null;
        page.dataset.screening = ok ? "done" : "failed";
        if (!ok) showProblem(problemText);
        resolve(ok);
      };
      const show = (p) => {
        const percent = p.total ? Math.floor((100 * p.done) / p.total) : 0;
        page.dataset.screeningDone = String(p.done);
        shownText.textContent = ` (screening at ${at} km: ${percent}% of ${p.total.toLocaleString()} output times)`;
      };
      if (job.state === "running") show(job); // as accepted; then as its events tell
      progress.addEventListener("progress", (e) => {
        if (d !== at) return end(false, "");
        show(JSON.parse(e.data));
      });
      progress.addEventListener("done", () => end(true, ""));
      progress.addEventListener("error", (e) => {
        if (e.data) {
          end(false, `the screening failed: ${JSON.parse(e.data).reason}`);
        } else if (progress.readyState === EventSource.CLOSED) {
          end(false, "lost the screening's progress: reload the page to follow it again");
        }
      });
    });
  }

  // The stream of the list at distance d; a new one replaces the old (a new distance,
  // or a version missed).
  async function subscribe() {
    source?.close();
    source = null;
    set = new Map();
    version = null;
    render();
    const at = d;
    if (!(await screened(at)) || d !== at) return;
    const token = nanoAuth.param ? `&${nanoAuth.param}` : "";
    const events = new EventSource(`${api}/conjunctions/events?d=${encodeURIComponent(d)}${token}`);
    source = events;
    events.addEventListener("snapshot", (e) => {
      const snap = JSON.parse(e.data);
      set = new Map(snap.conjunctions.map((c) => [conjKey(c), c]));
      version = snap.version;
      showProblem("");
      told(null);
    });
    // A version not screened yet (a job screens it): the list waits for it.
    events.addEventListener("pending", (e) => {
      const wait = JSON.parse(e.data);
      shownText.textContent = ` (version ${wait.version} is being screened…)`;
    });
    events.addEventListener("change", (e) => {
      const change = JSON.parse(e.data);
      if (version === null || change.version <= version) return;
      if (change.version !== version + 1) {
        subscribe(); // a version missed: start again from a snapshot
        return;
      }
      // Removed first, then added: the new version's set exactly.
      for (const c of change.removed) set.delete(conjKey(c));
      for (const c of change.added) set.set(conjKey(c), c);
      version = change.version;
      told(change);
    });
    events.addEventListener("error", async () => {
      if (events !== source) return;
      if (events.readyState !== EventSource.CLOSED) {
        showProblem("lost the connection to the service: trying again…");
        return;
      }
      // Refused (a bad distance, no screening...): the API says why.
      const response = await fetch(`${api}/conjunctions?d=${encodeURIComponent(d)}&limit=0`, auth);
      showProblem(
        response.ok
          ? "the stream of changes closed: reload the page to follow them again"
          : `${response.status}: ${await errorMessage(response)}`,
      );
    });
  }

  distance.addEventListener("change", () => {
    d = distance.value.trim();
    subscribe();
  });
  // Enter in the form screens at the distance shown (a catalogue's list waits for it).
  document.getElementById("conj-form").addEventListener("submit", (e) => {
    e.preventDefault();
    if (source === null && screeningFor === null) {
      d = distance.value.trim();
      subscribe();
    }
  });
  filter.addEventListener("input", render);
  for (const button of document.querySelectorAll("#conjunctions th button")) {
    button.addEventListener("click", () => {
      const key = button.dataset.sort;
      order = { key, dir: order.key === key ? -order.dir : 1 };
      for (const th of document.querySelectorAll("#conjunctions th")) {
        const on = th.querySelector("button").dataset.sort === key;
        th.setAttribute("aria-sort", on ? (order.dir === 1 ? "ascending" : "descending") : "none");
      }
      render();
    });
  }
  const choose = (tr) => {
    if (!tr || !set.has(tr.dataset.key)) return;
    selected = tr.dataset.key;
    for (const row of body.children) row.setAttribute("aria-selected", String(row === tr));
    focusPair(status, view, set.get(selected), version).catch((err) => showProblem(err.message));
  };
  body.addEventListener("click", (e) => choose(e.target.closest("tr")));
  body.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      choose(e.target.closest("tr"));
    }
  });
  document.getElementById("whole-view").addEventListener("click", async () => {
    document.getElementById("focus").hidden = true;
    const gd = document.getElementById("orbits");
    await Plotly.restyle(gd, { opacity: 1 }, surfaces(gd));
    await view.wholeView();
  });

  panel.hidden = false;
  if (status.bodies > MANY_POINTS) {
    // A catalogue's screening may need more than the service's share for screenings
    // (a 413 that names it): screened when a distance is given, not at once.
    render();
    shownText.textContent = " (not screened yet: give a distance, or press Enter in it, to screen these objects)";
  } else {
    subscribe();
  }
  return {
    version: () => version,
    onVersion: (fn) => listeners.push(fn),
    // Why the list is not shown (a refused screening, say), or "".
    problem: () => (problem.hidden ? "" : problem.textContent),
  };
}

// The indices of the plot's surfaces (the central body).
const surfaces = (gd) => gd.data.flatMap((t, i) => (t.type === "surface" ? [i] : []));

// The pair's traces in the 3D plot (each body's track around its closest approach,
// and both bodies at it), added once after the plot's own.
const pairTraces = new WeakMap();

async function pairTraceIndex(gd) {
  if (!pairTraces.has(gd)) {
    const first = gd.data.length;
    const line = (color) => ({
      type: "scatter3d",
      mode: "lines",
      x: [],
      y: [],
      z: [],
      visible: false,
      line: { width: 5, color },
      customdata: [],
      hovertemplate: "t = %{customdata:.1f} s<br>x = %{x:.1f} km<br>y = %{y:.1f} km<br>z = %{z:.1f} km",
    });
    await Plotly.addTraces(gd, [
      line("#6a1b9a"),
      line("#00897b"),
      {
        type: "scatter3d",
        mode: "markers+text",
        name: "at closest approach",
        x: [],
        y: [],
        z: [],
        text: [],
        visible: false,
        textposition: "top center",
        marker: { size: 5, color: ["#6a1b9a", "#00897b"] },
        hovertemplate: "%{text}<br>x = %{x:.3f} km<br>y = %{y:.3f} km<br>z = %{z:.3f} km<extra></extra>",
      },
    ]);
    pairTraces.set(gd, first);
  }
  return pairTraces.get(gd);
}

// A row chosen: the time moves to the pair's closest approach, both tracks around it
// are drawn (with the state at the closest approach among their output times), and
// the view is centred on the pair, wide enough for both tracks.
async function focusPair(status, view, c, version) {
  const gd = document.getElementById("orbits");
  const names = status.names ?? [];
  const t = c.tca_s;
  const dt = status.output_step_s;
  const tEnd = status.steps * dt;
  const w = Math.max(PAIR_WINDOW_S, 4 * dt);
  const [from, to] = [Math.max(0, t - w), Math.min(tEnd, t + w)];
  const at = version === null ? "" : `&version=${version}`;
  const track = (k) => fetchJson(`${api}/bodies/${k}?from=${from}&to=${to}&points=${PAIR_POINTS}${at}`);
  const [, states, ta, tb] = await Promise.all([
    view.moveTo(t),
    fetchJson(`${api}/states?t=${t}${at}`),
    track(c.a),
    track(c.b),
  ]);
  const position = (doc, k) => {
    const col = columnsOf(doc);
    const row = doc.records.find((r) => r[col.body] === k) ?? doc.records[k];
    return [row[col.x], row[col.y], row[col.z]];
  };
  const [pa, pb] = [position(states, c.a), position(states, c.b)];
  // A track's points by time, the closest approach among them.
  const line = (doc, p) => {
    const col = columnsOf(doc);
    const pts = doc.records.map((r) => [r[col.t], r[col.x], r[col.y], r[col.z]]);
    pts.push([t, ...p]);
    pts.sort((u, v) => u[0] - v[0]);
    return [0, 1, 2, 3].map((i) => pts.map((q) => q[i]));
  };
  const [la, lb] = [line(ta, pa), line(tb, pb)];
  const [na, nb] = [names[c.a] ?? `body ${c.a}`, names[c.b] ?? `body ${c.b}`];
  const first = await pairTraceIndex(gd);
  await Plotly.restyle(
    gd,
    {
      x: [la[1], lb[1], [pa[0], pb[0]]],
      y: [la[2], lb[2], [pa[1], pb[1]]],
      z: [la[3], lb[3], [pa[2], pb[2]]],
      customdata: [la[0], lb[0], []],
      text: [[], [], [na, nb]],
      name: [`${na} around the closest approach`, `${nb} around the closest approach`, "at closest approach"],
      visible: [true, true, true],
    },
    [first, first + 1, first + 2],
  );
  // Centred on the pair's midpoint, the box holding both tracks.
  const mid = [0, 1, 2].map((i) => (pa[i] + pb[i]) / 2);
  let half = 50;
  for (const l of [la, lb]) {
    for (let j = 0; j < l[0].length; j++) {
      for (let i = 0; i < 3; i++) half = Math.max(half, Math.abs(l[i + 1][j] - mid[i]));
    }
  }
  half *= 1.05;
  const range = (i) => [mid[i] - half, mid[i] + half];
  // The central body see-through, so that it hides neither track.
  await Plotly.restyle(gd, { opacity: 0.3 }, surfaces(gd));
  await Plotly.relayout(gd, {
    "scene.xaxis.range": range(0),
    "scene.yaxis.range": range(1),
    "scene.zaxis.range": range(2),
    "scene.aspectmode": "cube",
  });
  page.dataset.focus = `${c.a}-${c.b}`;
  document.getElementById("focus-text").textContent =
    `${na} and ${nb}: closest at ${isoAt(Date.parse(status.epoch), t)} ` +
    `(t = ${t.toFixed(3)} s), ${c.miss_km.toFixed(3)} km apart` +
    (version === null ? "" : ` (version ${version})`);
  document.getElementById("focus").hidden = false;
}

// The manoeuvre form: a body (by name), a time (the time shown until one is typed),
// and an impulse, POSTed as a new version of the run; the API's refusal shown as it
// says it, and the list's update when the new version's change arrives.
function manoeuvreForm(status, view, list) {
  const names = status.names ?? [];
  const form = document.getElementById("manoeuvre-form");
  const picker = document.getElementById("manoeuvre-body");
  const time = document.getElementById("manoeuvre-t");
  const out = document.getElementById("manoeuvre-status");
  const submit = form.querySelector("button[type=submit]");
  const fragment = document.createDocumentFragment();
  for (let k = 0; k < status.bodies; k++) {
    const option = document.createElement("option");
    option.value = String(k);
    option.textContent = `${names[k] ?? `body ${k}`} (${k})`;
    fragment.appendChild(option);
  }
  picker.replaceChildren(fragment);
  time.max = String(status.steps * status.output_step_s);

  let follows = true; // the time field follows the time shown until typed in
  const follow = (t) => follows && (time.value = String(t));
  follow(view.timeShown());
  view.onTime(follow);
  time.addEventListener("input", () => (follows = false));
  document.getElementById("manoeuvre-now").addEventListener("click", () => {
    follows = true;
    follow(view.timeShown());
  });

  let waiting = null; // the version made and what was said of it, until the list shows it
  const tell = (text, failed = false) => {
    out.textContent = text;
    out.className = failed ? "failed" : "";
  };
  const shown = (version, change) => {
    if (waiting === null || version === null || version < waiting.version) return;
    const what = change ? ` (${change.added.length} added, ${change.removed.length} removed)` : "";
    tell(`${waiting.text}. The conjunction list shows version ${version}${what}.`);
    waiting = null;
  };
  list.onVersion(shown);

  // A field as typed: its number, or its text for the API to name.
  const value = (id) => {
    const raw = document.getElementById(id).value.trim();
    return raw !== "" && Number.isFinite(Number(raw)) ? Number(raw) : raw;
  };
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const manoeuvre = {
      body: Number(picker.value),
      t: value("manoeuvre-t"),
      dv_kms: ["manoeuvre-dv-x", "manoeuvre-dv-y", "manoeuvre-dv-z"].map(value),
    };
    submit.disabled = true;
    tell("applying…");
    try {
      const response = await fetch(`${api}/manoeuvres`, {
        method: "POST",
        headers: { ...nanoAuth.headers, "Content-Type": "application/json" },
        body: JSON.stringify(manoeuvre),
      });
      if (response.status !== 201) {
        tell(`${response.status}: ${await errorMessage(response)}`, true);
        page.dataset.manoeuvre = "refused";
        return;
      }
      const made = await response.json();
      const m = made.manoeuvre;
      const text =
        `Version ${made.version}: ${m.name} at t = ${m.t} s, Δv (${m.dv_kms.join(", ")}) km/s, ` +
        `its states from output ${made.from_output} on recomputed`;
      const problem = list.problem();
      tell(problem ? `${text}; the conjunction list is not shown: ${problem}` : `${text}; the conjunction list follows…`);
      page.dataset.manoeuvre = String(made.version);
      waiting = { version: made.version, text };
      shown(list.version(), null); // the change may have come before this answer
    } catch (err) {
      tell(`the manoeuvre could not be sent: ${err.message}`, true);
    } finally {
      submit.disabled = false;
    }
  });
  document.getElementById("manoeuvre-panel").hidden = false;
}

// ---------------------------------------------------------------------------

async function main() {
  const response = await fetch(`${api}/status`, auth);
  if (response.status === 404) {
    fail(`no run has the id ${runId}: start one from the form on the home page`, "unknown");
    return;
  }
  if (!response.ok) {
    fail(`the run's status could not be fetched (${response.status}): ${await errorMessage(response)}`);
    return;
  }
  const status = await response.json();
  if (status.model === "nano") {
    // The nano model has its own page.
    location.replace(`/propagate/${status.steps}?seed=${runId}`);
    return;
  }
  document.getElementById("summary").textContent =
    `· ${status.bodies.toLocaleString()} bod${status.bodies === 1 ? "y" : "ies"} · ` +
    `${status.steps.toLocaleString()} steps of ${status.output_step_s} s · epoch ${status.epoch}` +
    (status.scenario?.frame ? ` · ${status.scenario.frame}` : "");
  if (status.bodies > TRACK_LIMIT) {
    await playback(status);
  } else {
    await tracks(status);
  }
}

main().catch((e) => fail(`failed: ${e.message}`));
