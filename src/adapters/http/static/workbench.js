// flowtime workbench components (run page findings, class filter, heatmap, lineage;
// analysis and forecast pages). Plain JS over the public API, sharing viewer.js's helpers
// (api, el, fmt, marker). Loaded after viewer.js on every page.
"use strict";

// ---- colour scale: 0 → green, 1 → yellow, 2 (or more) → red; null → light grey ----------
const HEAT_STOPS = [[46, 158, 91], [215, 164, 19], [207, 59, 59]];
const HEAT_EMPTY = [235, 238, 242];

function heatColor(value) {
  if (value === null || value === undefined || !Number.isFinite(value)) return HEAT_EMPTY;
  const v = Math.max(0, Math.min(2, value));
  const i = Math.min(1, Math.floor(v));
  const t = v - i;
  const a = HEAT_STOPS[i];
  const b = HEAT_STOPS[i + 1];
  return [0, 1, 2].map((k) => Math.round(a[k] + (b[k] - a[k]) * t));
}

// ---- highlighted bins on every chart (a finding selected) --------------------------------
const highlight = { start: null, end: null };

function highlightPlugin() {
  return { hooks: { drawClear: [(u) => {
    if (highlight.start === null || !marker.xs.length) return;
    const xs = marker.xs;
    const step = xs.length > 1 ? xs[1] - xs[0] : 1;
    const left = u.valToPos(xs[highlight.start], "x", true);
    const right = u.valToPos(xs[Math.min(highlight.end, xs.length - 1)] + step, "x", true);
    const ctx = u.ctx;
    ctx.save();
    ctx.fillStyle = "rgba(207, 59, 59, 0.12)";
    ctx.fillRect(left, u.bbox.top, Math.max(2, right - left), u.bbox.height);
    ctx.restore();
  }] } };
}

// ---- findings: every warning of the run and its window, grouped by node ------------------
function findingsPanel(warnings, onSelect) {
  const box = document.getElementById("findings");
  if (!box) return;
  box.replaceChildren();
  box.dataset.count = String(warnings.length);
  if (!warnings.length) {
    box.append(el("p", { class: "muted" }, "No findings: nothing held up, overflowed or broke an SLA."));
    return;
  }
  const groups = new Map();
  for (const w of warnings) {
    const key = w.nodeId || "Run";
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(w);
  }
  for (const [node, items] of groups) {
    const list = el("ul", { class: "findings" });
    for (const w of items) {
      const bins = w.startBin !== undefined && w.startBin !== null
        ? ` · bins ${w.startBin}–${w.endBin}` : "";
      const item = el("li", { class: "finding " + (w.severity || "warning"), tabindex: "0",
                              "data-code": w.code, "data-node": w.nodeId || "" },
        el("span", { class: "code" }, w.code), " ", w.message,
        el("span", { class: "muted" }, bins));
      if (bins) { item.dataset.start = String(w.startBin); item.dataset.end = String(w.endBin); }
      const pick = () => {
        for (const other of box.querySelectorAll(".finding.selected")) other.classList.remove("selected");
        item.classList.add("selected");
        onSelect(w);
      };
      item.addEventListener("click", pick);
      item.addEventListener("keydown", (e) => { if (e.key === "Enter") pick(); });
      list.append(item);
    }
    box.append(el("div", { class: "finding-group", "data-node": node }, el("h3", {}, node), list));
  }
}

// ---- heatmap: node × bin on a canvas (downsampled to the canvas width by max) ------------
const HEAT_METRICS = {
  utilization: { label: "utilization (1 = full)", value: (node, i) => at(node.series.utilization, i) },
  latency: { label: "latency ÷ SLA", value: (node, i) => {
    const sla = slaMinutes(node);
    const v = at(node.series.latencyMinutes, i);
    return sla && v !== null ? v / sla : null;
  } },
  queue: { label: "queue (÷ largest queue, ×2)", value: null },
  edges: { label: "edge flow (÷ largest edge flow, ×2)", value: null },
};

function at(values, i) {
  if (!values) return null;
  const v = values[i];
  return v === undefined || v === null || !Number.isFinite(v) ? null : v;
}

function slaMinutes(node) {
  const age = (node.sla || []).find((s) => s.kind === "backlogAge");
  return age ? age.threshold : null;
}

// `bins` columns of data (buckets of `per` bins each for a long run's overview).
// Rows are nodes, or edges (their flow: the first of an edge's series) — one canvas either way.
// Returns `show(nodes, bins, per, offset, edges)`: the same heatmap over other data (a long
// run's overview, or a zoomed range at full resolution starting at bin `offset`).
function heatmap(nodes, bins, onPick, per = 1, edges = []) {
  const box = document.getElementById("heatmap");
  if (!box) return () => {};
  const select = document.getElementById("heat-metric");
  const canvas = document.getElementById("heat-canvas");
  let offset = 0;
  let edgeRows = [];
  function useEdges(list) {
    edgeRows = list.map((e) => ({ id: e.id, series: { flow: Object.values(e.series)[0] || [] } }));
    if (edgeRows.length && !select.querySelector("option[value=edges]")) {
      select.append(el("option", { value: "edges" }, "edge flow (relative)"));
    }
  }
  useEdges(edges);
  function draw() {
    const metric = select.value;
    const rows = metric === "edges" ? edgeRows : nodes.filter((n) => metric === "queue" ? n.series.queue
      : metric === "latency" ? n.series.latencyMinutes && slaMinutes(n) : n.series.utilization);
    const relative = metric === "queue" || metric === "edges";
    const name = metric === "edges" ? "flow" : "queue";
    const width = Math.max(300, Math.min(1100, box.clientWidth - 140));
    const columns = Math.min(bins, width);
    const columnBins = Math.ceil(bins / columns);
    const cols = Math.ceil(bins / columnBins);
    const cell = { w: Math.max(1, Math.floor(width / cols)), h: 18 };
    canvas.width = cols * cell.w;
    canvas.height = Math.max(1, rows.length) * cell.h;
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    let top = 1;
    if (relative) {  // a loop: a long run's values are too many to spread
      top = 1e-9;
      for (const n of rows) for (const v of n.series[name]) if (Number.isFinite(v) && Math.abs(v) > top) top = Math.abs(v);
    }
    const value = (node, i) => relative
      ? (at(node.series[name], i) === null ? null : 2 * Math.abs(node.series[name][i]) / top)
      : HEAT_METRICS[metric].value(node, i);
    rows.forEach((node, r) => {
      for (let c = 0; c < cols; c++) {
        let best = null;
        for (let i = c * columnBins; i < Math.min(bins, (c + 1) * columnBins); i++) {
          const v = value(node, i);
          if (v !== null && (best === null || v > best)) best = v;
        }
        const [red, green, blue] = heatColor(best);
        ctx.fillStyle = `rgb(${red},${green},${blue})`;
        ctx.fillRect(c * cell.w, r * cell.h, cell.w, cell.h - 1);
      }
    });
    const labels = document.getElementById("heat-rows");
    labels.replaceChildren(...rows.map((n) => el("div", { style: `height:${cell.h}px` }, n.id)));
    Object.assign(canvas.dataset, { rows: JSON.stringify(rows.map((n) => n.id)), cellWidth: cell.w,
      cellHeight: cell.h, binsPerColumn: columnBins, bucketBins: per, metric, scaleTop: String(top),
      offset: String(offset), columns: String(bins) });
  }
  canvas.addEventListener("click", (event) => {
    const rect = canvas.getBoundingClientRect();
    const x = (event.clientX - rect.left) * (canvas.width / rect.width);
    const column = Math.min(bins - 1, Math.floor(x / Number(canvas.dataset.cellWidth)) *
                            Number(canvas.dataset.binsPerColumn));
    onPick(offset + column * per);  // the run's bin (a column may stand for `per` bins)
  });
  select.addEventListener("change", draw);
  draw();
  return (newNodes, newBins, newPer = 1, newOffset = 0, newEdges = []) => {
    nodes = newNodes; bins = newBins; per = newPer; offset = newOffset;
    useEdges(newEdges);
    draw();
  };
}

// ---- lineage: a scenario links to its baseline (with what it cost); a run lists its scenarios
async function lineage(runId, baseRunId) {
  const box = document.getElementById("lineage");
  if (!box) return;
  box.replaceChildren();
  if (baseRunId) {
    box.append(el("p", {}, "Scenario of ", el("a", { href: "/runs/" + encodeURIComponent(baseRunId),
                                                     id: "base-link" }, baseRunId)));
    const diff = await api(`/v1/runs/${encodeURIComponent(runId)}/diff?against=${encodeURIComponent(baseRunId)}`);
    if (diff.ok) {
      const rows = diff.body.nodes.filter((n) => n.firstFlipBin !== null || (n.extraBacklog || 0) !== 0);
      box.append(el("table", { id: "diff-table" }, el("thead", {}, el("tr", {}, el("th", {}, "node"),
        el("th", {}, "extra backlog"), el("th", {}, "first flip bin"), el("th", {}, "recovery bin"))),
        el("tbody", {}, ...rows.map((n) => el("tr", { "data-node": n.id }, el("td", {}, n.id),
          el("td", {}, fmt(n.extraBacklog)), el("td", {}, fmt(n.firstFlipBin)),
          el("td", {}, fmt(n.recoveryBin)))))));
    }
  }
  const scenarios = await api(`/v1/runs?baseRunId=${encodeURIComponent(runId)}&pageSize=50`);
  if (scenarios.ok && scenarios.body.items.length) {
    box.append(el("p", {}, "Scenarios of this run:"), el("ul", { id: "scenario-list" },
      ...scenarios.body.items.map((r) => el("li", {}, el("a", { href: "/runs/" + encodeURIComponent(r.runId) }, r.runId)))));
  }
  if (!box.children.length) box.append(el("p", { class: "muted" }, "No scenarios: derive one with `flowtime scenario` or POST /v1/runs/{id}/scenarios."));
}

// ---- the busiest node's most varying metric: a sensible default series ------------------
function variesMost(candidates) {
  // candidates: [{id, values}] → the id whose values vary most (never a constant)
  let best = null;
  let spread = 0;
  for (const c of candidates) {
    const finite = (c.values || []).filter(Number.isFinite);
    if (finite.length < 2) continue;
    const s = Math.max(...finite) - Math.min(...finite);
    if (s > spread) { spread = s; best = c.id; }
  }
  return best;
}

// ---- analysis pages (/analyses/{id}): a tornado, or a trace ------------------------------
async function analysisPage(analysisId) {
  const answer = await api("/v1/analyses/" + encodeURIComponent(analysisId));
  if (!answer.ok) { document.getElementById("title").textContent = answer.body.detail || "not found"; return; }
  const record = answer.body;
  const request = record.request || {};
  const result = record.result || {};
  document.getElementById("title").textContent = `${record.kind} — ${request.templateId || record.templateName || "inline"}`;
  const meta = document.getElementById("meta");
  meta.replaceChildren(...Object.entries({ "Analysis": record.id, "Kind": record.kind,
    "Metric": request.metric || "—", "Statistic": request.statistic || "mean", "Created": record.createdUtc })
    .map(([k, v]) => el("div", {}, el("span", {}, k), v)));
  const rerun = document.getElementById("rerun");
  if (request.templateId) rerun.href = "/templates/" + encodeURIComponent(request.templateId) + "#analysis";
  const box = document.getElementById("analysis-chart");
  if (record.kind === "sensitivity") {
    const points = result.points || [];
    const top = Math.max(1e-12, ...points.map((p) => Math.abs(p.gradient)));
    box.append(el("div", { class: "tornado", id: "tornado" }, ...points.map((p) => el("div", { class: "bar-row", "data-knob": p.knob },
      el("span", { class: "knob" }, `${p.knob} (base ${fmt(p.baseValue)})`),
      el("span", { class: "track" }, el("span", { class: "bar " + (p.gradient < 0 ? "neg" : "pos"),
        style: `width:${(50 * Math.abs(p.gradient) / top).toFixed(2)}%;` +
               (p.gradient < 0 ? "right:50%" : "left:50%") })),
      el("span", { class: "value" }, fmt(p.gradient))))));
    box.append(el("p", { class: "muted" }, `d ${request.statistic || "mean"}(${request.metric}) / d knob, largest first`));
    return;
  }
  const trace = result.trace || [];
  const xs = trace.map((s) => s.iteration);
  const ys = trace.map((s) => s.achieved);
  const card = el("div", { class: "card chart wide", id: "trace", "data-steps": String(trace.length) },
    el("h3", {}, record.kind === "goal-seek"
      ? `value ${fmt(result.value)} → ${request.metric} ${fmt(result.achieved)} (target ${fmt(request.target)})`
      : `best ${JSON.stringify(result.values)} → ${request.metric} ${fmt(result.achieved)}`));
  box.append(card);
  const series = [{ label: "iteration" }, { label: request.metric || "achieved", stroke: "#2457c5", width: 1.8 }];
  const data = [xs, ys];
  if (record.kind === "goal-seek") {
    series.push({ label: "target", stroke: "#cf3b3b", width: 1, dash: [4, 3] });
    data.push(xs.map(() => request.target));
  }
  if (xs.length) {
    new uPlot({ width: Math.max(240, card.clientWidth - 32), height: 260, scales: { x: { time: false } },
      series, axes: [{}, { size: 50 }] }, data, card);
  }
  if (record.kind === "optimize") {
    const ranges = request.ranges || {};
    const rounded = new Set(result.rounded || []);
    box.append(el("table", { id: "optimum" }, el("thead", {}, el("tr", {}, el("th", {}, "knob"),
      el("th", {}, "best value"), el("th", {}, "range"))),
      el("tbody", {}, ...Object.entries(result.values || {}).map(([knob, value]) => el("tr", { "data-knob": knob },
        el("td", {}, knob), el("td", {}, fmt(value) + (rounded.has(knob) ? " (rounded)" : "")),
        el("td", {}, ranges[knob] ? `${fmt(ranges[knob].lo)} … ${fmt(ranges[knob].hi)}` : "—"))))));
    const violated = Object.entries(result.violations || {});
    box.append(el("p", { id: "optimum-status", class: violated.length ? "error" : "muted" },
      (result.converged ? "converged" : "stopped before converging") + ` after ${result.iterations} iterations; ` +
      (violated.length ? "constraints still violated: " + violated.map(([k, v]) => `${k} by ${fmt(v)}`).join(", ")
                       : `${request.objective || "minimize"} ${request.metric}: ${fmt(result.achieved)}`)));
  }
}

// The template's numeric parameters: the knobs the analysis forms and what-if can move.
function numericKnobs(t) {
  return t.parameters.filter((p) => p.type === "number" || p.type === "integer");
}

// A knob's search range: its bounds, else around its default (0 … 4 × the default).
function knobRange(p) {
  const base = Number.isFinite(p.default) ? p.default : 1;
  return [p.minimum ?? Math.min(0, base), p.maximum ?? Math.max(1, base * 4)];
}

// POST a saved analysis: open its page, or say why it was refused in `errorBox`.
async function submitAnalysis(path, body, errorBox, fallback) {
  const answer = await api(path, { method: "POST", body: JSON.stringify(body) });
  if (answer.ok) { location.href = "/analyses/" + encodeURIComponent(answer.body.analysisId); return; }
  const problems = (answer.body.errors || []).map((p) => `${p.loc}: ${p.msg}`).join("; ");
  errorBox.textContent = problems || answer.body.detail || fallback;
}

// A goal-seek form on the template page: one numeric parameter, its range prefilled from
// the parameter's bounds (or around its default), a metric and a target.
function goalSeekForm(t) {
  const form = document.getElementById("goal-form");
  if (!form) return;
  const knobs = numericKnobs(t);
  if (!knobs.length) { form.hidden = true; return; }
  const select = document.getElementById("g-knob");
  for (const p of knobs) select.append(el("option", { value: p.name }, p.name));
  // the first knob that is not the grid's (`bins`, `binSize`: rarely what one seeks)
  select.value = (knobs.find((p) => !/^bin/i.test(p.name)) || knobs[0]).name;
  function bounds() {
    const [lo, hi] = knobRange(knobs.find((k) => k.name === select.value));
    document.getElementById("g-lo").value = String(lo);
    document.getElementById("g-hi").value = String(hi);
  }
  select.addEventListener("change", bounds);
  bounds();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const number = (id) => Number(document.getElementById(id).value);
    await submitAnalysis("/v1/goal-seek", {
      templateId: t.id, knob: select.value, metric: document.getElementById("g-metric").value.trim(),
      target: number("g-target"), lo: number("g-lo"), hi: number("g-hi"), save: true },
      document.getElementById("g-error"), "goal-seek failed");
  });
}

// An optimize form on the template page: knobs ticked with their ranges (prefilled like
// goal-seek's), a metric, an objective and one optional constraint (a metric's mean ≤ max).
function optimizeForm(t) {
  const form = document.getElementById("optimize-form");
  if (!form) return;
  const knobs = numericKnobs(t).filter((p) => !/^bin/i.test(p.name));
  if (!knobs.length) { form.hidden = true; return; }
  const holder = document.getElementById("opt-knobs");
  knobs.forEach((p, i) => {
    const [lo, hi] = knobRange(p);
    holder.append(el("div", { class: "knob-range", "data-knob": p.name },
      el("label", { class: "inline" }, el("input", { type: "checkbox", value: p.name, ...(i === 0 ? { checked: "" } : {}) }), " ", p.name),
      el("input", { type: "number", step: "any", class: "lo", "aria-label": p.name + " from", value: String(lo) }),
      el("input", { type: "number", step: "any", class: "hi", "aria-label": p.name + " to", value: String(hi) })));
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const rows = [...holder.querySelectorAll(".knob-range")].filter((r) => r.querySelector("input[type=checkbox]").checked);
    const error = document.getElementById("opt-error");
    if (!rows.length) { error.textContent = "tick at least one knob"; return; }
    const ranges = Object.fromEntries(rows.map((r) => [r.dataset.knob,
      { lo: Number(r.querySelector(".lo").value), hi: Number(r.querySelector(".hi").value) }]));
    const body = { templateId: t.id, knobs: Object.keys(ranges), ranges,
      metric: document.getElementById("opt-metric").value.trim(),
      objective: document.getElementById("opt-objective").value, save: true };
    const limitMetric = document.getElementById("opt-limit-metric").value.trim();
    const limit = document.getElementById("opt-limit-max").value;
    if (limitMetric && limit !== "") body.constraints = [{ metric: limitMetric, max: Number(limit) }];
    await submitAnalysis("/v1/optimize", body, error, "optimize failed");
  });
}

// A sensitivity form on the template page: knobs from the numeric parameters, a metric.
function analysisForm(t) {
  const form = document.getElementById("analysis-form");
  if (!form) return;
  const knobs = numericKnobs(t);
  const holder = document.getElementById("a-knobs");
  for (const p of knobs) {
    holder.append(el("label", { class: "inline" }, el("input", { type: "checkbox", value: p.name, checked: "" }), " ", p.name));
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = [...holder.querySelectorAll("input:checked")].map((i) => i.value);
    const metric = document.getElementById("a-metric").value.trim();
    const answer = await api("/v1/sensitivity", { method: "POST", body: JSON.stringify({
      templateId: t.id, knobs: chosen, metric, save: true }) });
    if (answer.ok) { location.href = "/analyses/" + encodeURIComponent(answer.body.analysisId); return; }
    document.getElementById("a-error").textContent = answer.body.detail || "the analysis failed";
  });
}

// ---- forecast pages -------------------------------------------------------------------------
async function forecastsPage() {
  const answer = await api("/v1/forecasts");
  const body = document.getElementById("forecasts-body");
  for (const f of answer.body.items || []) {
    body.append(el("tr", { "data-forecast-id": f.id },
      el("td", {}, el("a", { href: "/forecasts/" + encodeURIComponent(f.id) }, f.id)),
      el("td", {}, f.templateId || "—"), el("td", {}, el("span", { class: "badge status " + f.status }, f.status)),
      el("td", {}, `${f.progress.done}/${f.progress.total}`), el("td", {}, f.createdUtc || "")));
  }
  if (!(answer.body.items || []).length) body.append(el("tr", {}, el("td", { colspan: "5", class: "muted" },
    "No forecasts yet: POST /v1/forecasts, `flowtime forecast` or flowtime.forecast().")));
}

async function forecastPage(forecastId) {
  const base = "/v1/forecasts/" + encodeURIComponent(forecastId);
  let record = (await api(base)).body;
  while (["queued", "running"].includes(record.status)) {
    document.getElementById("title").textContent = `Forecast ${forecastId} — ${record.status} ${record.progress.done}/${record.progress.total}`;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    record = (await api(base)).body;
  }
  document.getElementById("title").textContent = `Forecast — ${record.templateId || "inline"} (${record.status})`;
  const meta = document.getElementById("meta");
  const result = record.result || {};
  meta.replaceChildren(...Object.entries({ "Forecast": record.id, "Status": record.status,
    "Samples": result.samples ?? record.progress.total, "Created": record.createdUtc || "" })
    .map(([k, v]) => el("div", {}, el("span", {}, k), v)));
  if (record.error) document.getElementById("charts").append(el("p", { class: "error" }, record.error.detail));
  const strips = document.getElementById("breach");
  for (const [node, risk] of Object.entries(result.sla || {})) {
    const probs = risk.breachProbability;
    const canvas = el("canvas", { class: "strip", width: String(Math.max(1, probs.length)), height: "1",
                                  "data-node": node, "data-values": JSON.stringify(probs) });
    const ctx = canvas.getContext("2d");
    probs.forEach((p, i) => {
      const [r, g, b] = heatColor(2 * p);  // 0 → green, 0.5 → yellow, 1 → red
      ctx.fillStyle = `rgb(${r},${g},${b})`;
      ctx.fillRect(i, 0, 1, 1);
    });
    const first = risk.firstBreach || {};
    strips.append(el("div", { class: "card", "data-sla-node": node },
      el("h3", {}, `${node}: P(any breach) ${(100 * risk.anyBreach).toFixed(1)} % · SLA ${fmt(risk.slaMinutes)} min`),
      canvas,
      el("p", { class: "muted" }, `first breach bin p10 ${fmt(first.p10)}, p50 ${fmt(first.p50)}, p90 ${fmt(first.p90)} · never ${first.neverCount}`)));
  }
  if (!Object.keys(result.sla || {}).length) strips.append(el("p", { class: "muted" }, "No node with an SLA."));
  const charts = document.getElementById("charts");
  for (const [series, q] of Object.entries(result.quantiles || {})) {
    const keys = Object.keys(q);
    const low = keys[0];
    const high = keys[keys.length - 1];
    const mid = keys.includes("p50") ? "p50" : keys[Math.floor(keys.length / 2)];
    const xs = q[mid].map((_, i) => i);
    const card = el("div", { class: "card chart", "data-series": series }, el("h3", {}, `${series}: ${low}–${high}, ${mid}`));
    charts.append(card);
    new uPlot({ width: Math.max(240, card.clientWidth - 32), height: 220, scales: { x: { time: false } },
      series: [{ label: "bin" }, { label: low, stroke: "#9aa5b5", width: 1 }, { label: mid, stroke: "#2457c5", width: 2 },
               { label: high, stroke: "#9aa5b5", width: 1 }],
      bands: [{ series: [3, 1], fill: "rgba(36, 87, 197, 0.15)" }], axes: [{}, { size: 50 }] },
      [xs, q[low], q[mid], q[high]], card);
  }
}


// ---- SLA attainment over the run (GET /v1/runs/{id}/metrics) -----------------------------
async function attainment(runId) {
  const box = document.getElementById("attainment");
  if (!box) return;
  const answer = await api(`/v1/runs/${encodeURIComponent(runId)}/metrics`);
  const nodes = answer.ok ? answer.body.nodes : [];
  if (!nodes.length) { box.replaceChildren(el("p", { class: "muted" }, "No node has an SLA.")); return; }
  box.replaceChildren(el("table", { id: "attainment-table" }, el("thead", {}, el("tr", {},
    el("th", {}, "node"), el("th", {}, "SLA (min)"), el("th", {}, "bins met"),
    el("th", {}, "bins with flow"), el("th", {}, "attainment"))),
    el("tbody", {}, ...nodes.map((n) => el("tr", { "data-node": n.id }, el("td", {}, n.id),
      el("td", {}, fmt(n.slaMinutes)), el("td", {}, n.binsMet), el("td", {}, n.binsWithFlow),
      el("td", { class: n.attainment !== null && n.attainment < 1 ? "error" : "" },
         n.attainment === null ? "—" : `${(100 * n.attainment).toFixed(1)} %`))))));
}

// ---- a scenario against its baseline: baseline dashed, scenario solid, overlays shaded ----
async function scenarioCharts(baseRunId, data, xs, overlays) {
  const box = document.getElementById("diff-charts");
  if (!box) return;
  const base = await loadWindow(baseRunId, xs.length);
  const step = xs.length > 1 ? xs[1] - xs[0] : 1;
  const shade = { hooks: { drawClear: [(u) => {
    const ctx = u.ctx;
    ctx.save();
    ctx.fillStyle = "rgba(215, 164, 19, 0.15)";
    for (const o of overlays) {
      const left = u.valToPos(xs[Math.min(o.fromBin, xs.length - 1)], "x", true);
      const right = u.valToPos(xs[Math.min(o.toBin, xs.length) - 1] + step, "x", true);
      ctx.fillRect(left, u.bbox.top, Math.max(2, right - left), u.bbox.height);
    }
    ctx.restore();
  }] } };
  for (const node of data.nodes) {
    const before = base.nodes.find((n) => n.id === node.id);
    const metric = ["queue", "latencyMinutes", "served"].find((m) => node.series[m] && before && before.series[m]);
    if (!metric) continue;
    const a = before.series[metric];
    const b = node.series[metric];
    if (a.every((v, i) => v === b[i])) continue;  // unchanged: no chart
    const card = el("div", { class: "card chart", "data-diff-node": node.id, "data-metric": metric },
      el("h3", {}, `${node.id} · ${metric}: scenario (solid) against baseline (dashed)`));
    box.append(card);
    new uPlot({ width: Math.max(240, card.clientWidth - 32), height: 200, scales: { x: { time: true } },
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"),
      series: [{}, { label: "baseline", stroke: "#8a94a3", width: 1.5, dash: [6, 4] },
               { label: "scenario", stroke: "#cf3b3b", width: 1.8 }],
      axes: [{}, { size: 50 }], plugins: [shade] }, [xs, a, b], card);
  }
  box.dataset.overlays = String(overlays.length);
}


// ---- a calibrated template's run beside what it was calibrated to ------------------------
async function observedVsModel(runId, xs) {
  const section = document.getElementById("observed-section");
  if (!section) return;
  const base = `/v1/runs/${encodeURIComponent(runId)}`;
  const provenance = await api(base + "/files/model/provenance.json");
  if (!provenance.ok || !provenance.body.calibration) return;
  const answer = await api(base + "/observed");
  if (!answer.ok) return;
  section.hidden = false;
  const calibration = provenance.body.calibration;
  document.getElementById("observed-note").textContent =
    `Calibrated from ${calibration.fromTemplate} (${calibration.loss.kind} ${fmt(calibration.loss.value)}; ` +
    `values ${Object.entries(calibration.values).map(([k, v]) => `${k} = ${fmt(v)}`).join(", ")}).` +
    (answer.body.notRead.length ? ` Not read again: ${answer.body.notRead.join(", ")}.` : "");
  const box = document.getElementById("observed-charts");
  for (const s of answer.body.series) {
    const card = el("div", { class: "card chart", "data-observed": s.series },
      el("h3", {}, `${s.series}: observed (grey) and model (blue) · residual rmse ${fmt(s.rmse)}`));
    box.append(card);
    new uPlot({ width: Math.max(240, card.clientWidth - 32), height: 200, scales: { x: { time: true } },
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"),
      series: [{}, { label: "observed", stroke: "#8a94a3", width: 1.5, points: { show: true, size: 4 } },
               { label: "model", stroke: "#2457c5", width: 1.8 }],
      axes: [{}, { size: 50 }] }, [xs, s.observed, s.model], card);
    const residual = el("div", { class: "card chart", "data-residuals": s.series },
      el("h3", {}, `${s.series}: residuals (model − observed)`));
    box.append(residual);
    new uPlot({ width: Math.max(240, residual.clientWidth - 32), height: 140, scales: { x: { time: true } },
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"),
      series: [{}, { label: "residual", stroke: "#cf3b3b", width: 1.4 }],
      axes: [{}, { size: 50 }] }, [xs, s.residuals], residual);
  }
}
