// The orbit form of `/`: builds a scenario (docs/orbits.md) of one satellite from the
// elements, force model and integrator, POSTs it to /api/runs, and goes to the run's
// page; a refusal (400 naming the field, 401, 429, 503) is shown beside the form.
"use strict";

const orbitForm = document.getElementById("orbit-form");
const orbitError = document.getElementById("orbit-error");

// The integrator's setting: a tolerance for dop853, a step for the fixed-step ones.
function showSetting() {
  const adaptive = orbitForm.elements.method.value === "dop853";
  document.getElementById("tolerance-box").hidden = !adaptive;
  document.getElementById("step-box").hidden = adaptive;
}

// A number field as a number; what is not one goes to the service as it was typed,
// so that its refusal names the field.
function number(name) {
  const text = orbitForm.elements[name].value.trim();
  const v = Number(text);
  return text !== "" && Number.isFinite(v) ? v : text;
}

function scenario() {
  const f = orbitForm.elements;
  const integrator =
    f.method.value === "dop853"
      ? { method: "dop853", tolerance: number("tolerance") }
      : { method: f.method.value, step_s: number("step_s") };
  return {
    model: "orbit",
    epoch: "2026-01-01T00:00:00Z",
    forces: f.forces.value === "j2" ? ["point_mass", "j2"] : ["point_mass"],
    integrator,
    output_step_s: number("output_step_s"),
    bodies: [
      {
        name: "sat-1",
        elements: Object.fromEntries(
          ["a_km", "e", "i_deg", "raan_deg", "argp_deg", "nu_deg"].map((k) => [k, number(k)]),
        ),
      },
    ],
  };
}

async function submit(event) {
  event.preventDefault();
  orbitError.hidden = true;
  const button = orbitForm.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const response = await fetch("/api/runs", {
      method: "POST",
      headers: { "Content-Type": "application/json", ...nanoAuth.headers },
      body: JSON.stringify({ scenario: scenario(), steps: number("steps") }),
    });
    if (!response.ok) {
      throw new Error(`refused (${response.status}): ${await errorMessage(response)}`);
    }
    const run = await response.json();
    location.assign(run.links?.page ?? `/runs/${run.id}`);
  } catch (e) {
    orbitError.textContent = e.message;
    orbitError.hidden = false;
    document.body.dataset.state = "refused";
  } finally {
    button.disabled = false;
  }
}

orbitForm.elements.method.addEventListener("change", showSetting);
orbitForm.addEventListener("submit", (e) => submit(e));
showSetting();
