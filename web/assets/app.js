// The run page: follows the run's progress by server-sent events, then fetches a
// decimated series and draws both trajectories. No reload needed.
"use strict";

const body = document.body;
const n = Number(body.dataset.n);
const seed = body.dataset.seed;
const points = body.dataset.points;
const bar = document.getElementById("progress");

const auth = { headers: nanoAuth.headers };
const tokenParam = nanoAuth.param ? `&${nanoAuth.param}` : "";
const status = document.getElementById("status");

function show(done) {
  bar.value = done;
  status.textContent = `${done.toLocaleString()} of ${n.toLocaleString()} iterations`;
}

function fail(reason) {
  body.dataset.state = "failed";
  status.textContent = `failed: ${reason}`;
  status.className = "failed";
}

async function draw() {
  status.textContent = "drawing…";
  const response = await fetch(`/api/propagate/${n}?seed=${seed}&points=${points}`, auth);
  if (!response.ok) {
    fail(`the series could not be fetched (${response.status})`);
    return;
  }
  const series = await response.json();
  const traces = Object.entries(series.agents).map(([name, s]) => ({
    name,
    x: s.x,
    y: s.y,
    text: s.t.map((t) => `t = ${t.toFixed(4)}`),
    mode: "lines",
    type: "scatter",
    hovertemplate: "%{text}<br>x = %{x:.5f}<br>y = %{y:.5f}<extra>" + name + "</extra>",
  }));
  const layout = {
    title: { text: `${n.toLocaleString()} iterations, seed ${seed}` },
    xaxis: { title: { text: "x" } },
    yaxis: { title: { text: "y" }, scaleanchor: "x", scaleratio: 1 },
    legend: { orientation: "h" },
    margin: { t: 50 },
  };
  await Plotly.newPlot("plot", traces, layout, { responsive: true, displaylogo: false });
  const kept = traces.reduce((sum, t) => sum + t.x.length, 0);
  document.getElementById("decimation").textContent = ` (the plot shows ${kept.toLocaleString()} points)`;
  document.getElementById("links").hidden = false;
  status.textContent = "complete";
  body.dataset.state = "plotted";
}

const events = new EventSource(`/api/propagate/${n}/events?seed=${seed}${tokenParam}`);
events.addEventListener("progress", (e) => show(JSON.parse(e.data).iterations_done));
events.addEventListener("complete", () => {
  events.close();
  show(n);
  draw().catch((e) => fail(e.message));
});
events.addEventListener("error", (e) => {
  if (e.data) {
    events.close();
    fail(JSON.parse(e.data).reason);
  } else if (events.readyState === EventSource.CLOSED) {
    fail("lost the connection to the service");
  }
  // Otherwise the browser reconnects by itself.
});
