// The accuracy page: fetches the report, fills the table and plots each case's
// relative energy error against time on a log scale.
"use strict";

const status = document.getElementById("status");

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text;
  row.appendChild(td);
}

async function show() {
  const response = await fetch("/api/accuracy");
  if (!response.ok) {
    throw new Error(`the report could not be fetched (${response.status})`);
  }
  const report = await response.json();
  const body = document.querySelector("#report tbody");
  for (const r of report.rows) {
    const row = document.createElement("tr");
    cell(row, r.integrator);
    cell(row, r.setting);
    cell(row, String(r.e));
    cell(row, r.max_rel_energy_err.toExponential(2));
    cell(row, r.max_rel_h_err.toExponential(2));
    cell(row, r.final_position_err_m.toExponential(3));
    cell(row, r.steps.toLocaleString());
    cell(row, r.seconds.toFixed(3));
    body.appendChild(row);
  }
  document.getElementById("report").hidden = false;
  const traces = report.rows.map((r) => ({
    name: `${r.integrator} e=${r.e}`,
    x: r.energy_series.map((p) => p[0]),
    // A log axis cannot show an error of exactly zero: it is left as a gap.
    y: r.energy_series.map((p) => (p[1] > 0 ? p[1] : null)),
    mode: "lines",
    type: "scatter",
    hovertemplate: "t = %{x:.1f} orbits<br>|ΔE/E| = %{y:.2e}<extra>%{fullData.name}</extra>",
  }));
  const layout = {
    title: { text: `Relative energy error over ${report.orbits.toLocaleString()} orbits` },
    xaxis: { title: { text: "time (orbits)" } },
    yaxis: { title: { text: "largest |E - E0| / |E0|" }, type: "log", exponentformat: "power" },
    margin: { t: 50 },
  };
  await Plotly.newPlot("plot", traces, layout, { responsive: true, displaylogo: false });
  status.textContent = "";
  document.body.dataset.state = "plotted";
}

show().catch((e) => {
  document.body.dataset.state = "failed";
  status.textContent = `failed: ${e.message}`;
  status.className = "failed";
});
