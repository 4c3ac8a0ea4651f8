// The page of an orbit run, /runs/{id}. It asks for the run's status, then:
// - up to TRACK_LIMIT bodies: follows progress by server-sent events, fetches a
//   decimated ephemeris once the run is complete, and draws every body's track in 3D
//   around the central body, and the relative energy and angular-momentum errors
//   against time (computed here from the states and the scenario's constants);
// - more bodies (a constellation): plays the run back, every satellite a point,
//   fetching the states at one time per frame (never the whole run), following the
//   durable frontier while the run computes; a click or a name picks a satellite
//   and draws its track.
// The page's state is in body[data-state] (loading, running, plotted, ready, playing,
// paused, failed, unknown) for people and tests alike.
"use strict";

const TRACK_LIMIT = 12;
// Earth, ORBITS.md: the defaults when a scenario does not name its central body.
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
}

// ---------------------------------------------------------------------------
// More bodies: playback.

function playback(status) {
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

  async function statesAt(t) {
    const doc = await fetchJson(`${api}/states?t=${t}`);
    const at = columnsOf(doc);
    const [x, y, z] = [[], [], []];
    for (const row of doc.records) {
      x.push(row[at.x]);
      y.push(row[at.y]);
      z.push(row[at.z]);
    }
    return { t: doc.t ?? t, x, y, z };
  }

  async function showAt(t) {
    busy = true;
    try {
      const s = await statesAt(t);
      await Plotly.restyle("orbits", { x: [s.x], y: [s.y], z: [s.z] }, [0]);
      shown = t;
      slider.value = String(t);
      clock.textContent = `t = ${t.toFixed(1)} s (${(t / 3600).toFixed(2)} h)`;
      page.dataset.t = String(t);
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
    const axis = (title) => ({ title: { text: title }, range, autorange: false });
    await Plotly.newPlot(
      "orbits",
      [
        {
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
        setFrontier(status.steps);
        say("complete");
        showProgress(status.steps, status.steps);
        if (pickedBody !== null) pick(pickedBody).catch(() => {});
      },
    );
  }
  return start();
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
    `${status.steps.toLocaleString()} steps of ${status.output_step_s} s · epoch ${status.epoch}`;
  if (status.bodies > TRACK_LIMIT) {
    await playback(status);
  } else {
    await tracks(status);
  }
}

main().catch((e) => fail(`failed: ${e.message}`));
