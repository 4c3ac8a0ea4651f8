// The catalogue form of `/`: uploads the file to /api/catalogs (its format from its
// content type, else from its first characters), shows what was read and refused,
// then POSTs an orbit scenario naming the catalogue and the selection to /api/runs
// and goes to the run's page. A refusal (the file, or a field of the scenario, named
// by the API) is shown beside the form. The counts are in body[data-catalog-objects]
// and [data-catalog-refused] for people and tests alike.
// Wrapped in a function: the pages' scripts share one global scope, and index.js has
// its own scenario() and field helpers.
"use strict";

(() => {
  const catalogForm = document.getElementById("catalog-form");
  const catalogSummary = document.getElementById("catalog-summary");
  const catalogRefused = document.getElementById("catalog-refused");
  const catalogError = document.getElementById("catalog-error");
  // Refusals listed at most (the API lists up to a thousand).
  const REFUSALS_SHOWN = 20;

  // Today at 00:00 UTC, the epoch offered until one is typed.
  if (!catalogForm.elements.epoch.value) {
    catalogForm.elements.epoch.value = `${new Date().toISOString().slice(0, 10)}T00:00:00Z`;
  }

  // A field as typed: a number when it is one, its text otherwise (the API names it),
  // undefined when empty (left out of the scenario).
  function field(name) {
    const text = catalogForm.elements[name].value.trim();
    if (text === "") return undefined;
    const v = Number(text);
    return Number.isFinite(v) ? v : text;
  }

  // The catalogue numbers typed, separated by commas or spaces.
  function noradIds() {
    const text = catalogForm.elements.norad_ids.value.trim();
    if (text === "") return undefined;
    return text.split(/[\s,]+/).filter(Boolean).map((t) => (/^\d+$/.test(t) ? Number(t) : t));
  }

  function showRefusals(refused, total) {
    const fragment = document.createDocumentFragment();
    for (const r of refused.slice(0, REFUSALS_SHOWN)) {
      const li = document.createElement("li");
      li.textContent = `${r.object}: ${r.field}: ${r.rule}`;
      fragment.appendChild(li);
    }
    if (total > REFUSALS_SHOWN) {
      const li = document.createElement("li");
      li.textContent = `… and ${(total - REFUSALS_SHOWN).toLocaleString()} more`;
      fragment.appendChild(li);
    }
    catalogRefused.replaceChildren(fragment);
    catalogRefused.hidden = refused.length === 0;
  }

  async function upload(file) {
    const response = await fetch("/api/catalogs", {
      method: "POST",
      headers: { "Content-Type": file.type || "application/octet-stream", ...nanoAuth.headers },
      body: file,
    });
    if (!response.ok) {
      let refused = [];
      let message;
      try {
        const body = await response.json();
        message = body.error?.message ?? JSON.stringify(body);
        refused = body.error?.refused ?? [];
      } catch {
        message = `${response.status} ${response.statusText}`;
      }
      showRefusals(refused, refused.length);
      throw new Error(`the file was refused (${response.status}): ${message}`);
    }
    return response.json();
  }

  function scenario(catalog) {
    const selection = {
      id: catalog.id,
      norad_ids: noradIds(),
      min_perigee_km: field("min_perigee_km"),
      max_perigee_km: field("max_perigee_km"),
      min_apogee_km: field("min_apogee_km"),
      max_apogee_km: field("max_apogee_km"),
      max_age_days: field("max_age_days"),
    };
    return {
      model: "orbit",
      epoch: catalogForm.elements.epoch.value.trim(),
      output_step_s: field("output_step_s"),
      frame: catalogForm.elements.frame.value,
      // Fields left empty are left out (JSON.stringify drops undefined).
      catalog: selection,
    };
  }

  async function submitCatalog(event) {
    event.preventDefault();
    catalogError.hidden = true;
    catalogSummary.hidden = true;
    catalogRefused.hidden = true;
    const button = catalogForm.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const file = catalogForm.elements.file.files[0];
      if (!file) throw new Error("choose a catalogue file first");
      catalogSummary.textContent = `uploading ${file.name} (${file.size.toLocaleString()} bytes)…`;
      catalogSummary.hidden = false;
      const catalog = await upload(file);
      document.body.dataset.catalogObjects = String(catalog.objects);
      document.body.dataset.catalogRefused = String(catalog.refused_count);
      catalogSummary.textContent =
        `${catalog.objects.toLocaleString()} element sets read (${catalog.format}), ` +
        `${catalog.refused_count.toLocaleString()} refused; catalogue ${catalog.id}. Starting the run…`;
      showRefusals(catalog.refused, catalog.refused_count);
      const response = await fetch("/api/runs", {
        method: "POST",
        headers: { "Content-Type": "application/json", ...nanoAuth.headers },
        body: JSON.stringify({ scenario: scenario(catalog), steps: field("steps") }),
      });
      if (!response.ok) {
        throw new Error(`the run was refused (${response.status}): ${await errorMessage(response)}`);
      }
      const run = await response.json();
      location.assign(run.links?.page ?? `/runs/${run.id}`);
    } catch (e) {
      catalogError.textContent = e.message;
      catalogError.hidden = false;
      document.body.dataset.state = "refused";
    } finally {
      button.disabled = false;
    }
  }

  catalogForm.addEventListener("submit", (e) => submitCatalog(e));
})();
