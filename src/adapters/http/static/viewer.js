// flowtime run viewer: plain JS over the public JSON API (no build step).
"use strict";

const KEY = "flowtime.apiKey";

function apiKey() { return sessionStorage.getItem(KEY) || ""; }

function askForKey(message) {
  const bar = document.getElementById("keybar");
  bar.style.display = "block";
  document.getElementById("keymsg").textContent = message;
}

async function api(path, options = {}) {
  const headers = Object.assign({ "Accept": "application/json" }, options.headers || {});
  // every write is JSON (the server refuses other types: its cross-site request guard)
  if (options.method && options.method !== "GET") headers["Content-Type"] = "application/json";
  if (apiKey()) headers["Authorization"] = "Bearer " + apiKey();
  const response = await fetch(path, Object.assign({}, options, { headers }));
  if (response.status === 401) askForKey("This server needs an API key for that action.");
  const type = response.headers.get("content-type") || "";
  const body = type.includes("json") ? await response.json() : await response.text();
  return { ok: response.ok, status: response.status, body, headers: response.headers };
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child ?? ""));
  return node;
}

function fmt(value) {
  if (value === null || value === undefined) return "—";
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toFixed(3);
  return String(value);
}

function setupKeyBar() {
  const save = document.getElementById("keysave");
  if (!save) return;
  save.addEventListener("click", () => {
    sessionStorage.setItem(KEY, document.getElementById("keyinput").value.trim());
    document.getElementById("keybar").style.display = "none";
  });
}

// The pager under a list (#prev, #page-info, #next): one list page of `state.pageSize`.
function showPage(state, total, noun) {
  const pages = Math.max(1, Math.ceil(total / state.pageSize));
  document.getElementById("page-info").textContent = `page ${state.page} of ${pages} · ${total} ${noun}`;
  document.getElementById("prev").disabled = state.page <= 1;
  document.getElementById("next").disabled = state.page >= pages;
}

function pagerButtons(state, load) {
  document.getElementById("prev").addEventListener("click", () => { state.page--; load(); });
  document.getElementById("next").addEventListener("click", () => { state.page++; load(); });
}

// ---- runs list ------------------------------------------------------------------------
async function runsPage() {
  const params = new URLSearchParams(location.search);
  const state = { page: Number(params.get("page") || 1), pageSize: 20 };
  const templateSel = document.getElementById("f-template");
  const modeSel = document.getElementById("f-mode");
  const templates = await api("/v1/templates");
  for (const t of templates.body || []) templateSel.append(el("option", { value: t.id }, t.id));
  const tlist = document.getElementById("template-links");
  for (const t of templates.body || []) {
    tlist.append(el("li", {}, el("a", { href: "/templates/" + t.id }, t.title || t.id), " ",
                    el("span", { class: "muted" }, t.version)));
  }
  templateSel.value = params.get("templateId") || "";
  modeSel.value = params.get("mode") || "";
  const sweepBox = document.getElementById("f-sweeps");
  const paramBox = document.getElementById("f-param");
  const sweepId = params.get("sweepId");
  sweepBox.checked = Boolean(sweepId);
  if (sweepId) document.getElementById("title").textContent = "Runs of " + sweepId;
  const chosen = new Set();
  const compare = document.getElementById("compare");
  function updateCompare() {
    compare.disabled = chosen.size < 2 || chosen.size > 5;
    compare.textContent = `Compare selected (${chosen.size})`;
  }
  compare.addEventListener("click", () => {
    location.href = "/compare?ids=" + encodeURIComponent(Array.from(chosen).join(","));
  });
  updateCompare();

  async function load() {
    const q = new URLSearchParams({ page: state.page, pageSize: state.pageSize });
    if (templateSel.value) q.set("templateId", templateSel.value);
    if (modeSel.value) q.set("mode", modeSel.value);
    if (sweepId) q.set("sweepId", sweepId);
    q.set("sweepMembers", sweepBox.checked ? "include" : "exclude");
    const [pname, pvalue] = paramBox.value.split("=").map((x) => x.trim());
    if (pname && pvalue !== undefined && pvalue !== "") q.set("param." + pname, pvalue);
    const result = await api("/v1/runs?" + q);
    const body = document.getElementById("runs-body");
    body.replaceChildren();
    if (!result.ok) {
      body.append(el("tr", {}, el("td", { colspan: "7", class: "error" }, result.body.detail || "error")));
      return;
    }
    for (const run of result.body.items) {
      const pick = el("input", { type: "checkbox", class: "pick", value: run.runId,
                                 "aria-label": "compare " + run.runId });
      pick.checked = chosen.has(run.runId);
      pick.addEventListener("change", () => {
        if (pick.checked) chosen.add(run.runId); else chosen.delete(run.runId);
        updateCompare();
      });
      body.append(el("tr", { "data-run-id": run.runId }, el("td", {}, pick),
        el("td", {}, el("a", { href: "/runs/" + encodeURIComponent(run.runId) }, run.runId)),
        el("td", {}, run.templateTitle || run.templateId, " ", el("span", { class: "muted" }, run.templateVersion)),
        el("td", {}, run.mode), el("td", {}, run.createdUtc), el("td", {}, run.warningCount),
        el("td", { class: "params" }, briefParameters(run.parameters),
           run.sweepId ? el("span", { class: "muted" }, " · ", el("a", { href: "/sweeps/" + run.sweepId }, "sweep")) : "")));
    }
    showPage(state, result.body.totalCount, "runs");
  }
  sweepBox.addEventListener("change", () => { state.page = 1; load(); });
  paramBox.addEventListener("change", () => { state.page = 1; load(); });
  templateSel.addEventListener("change", () => { state.page = 1; load(); });
  modeSel.addEventListener("change", () => { state.page = 1; load(); });
  pagerButtons(state, load);
  await load();
}

function briefParameters(parameters) {
  const parts = Object.entries(parameters || {})
    .filter(([, v]) => v !== "" && v !== null && typeof v !== "object")
    .map(([k, v]) => `${k}=${fmt(v)}`);
  const text = parts.join(" ");
  return text.length > 60 ? text.slice(0, 59) + "…" : text;
}

// ---- one run ----------------------------------------------------------------------------
const METRICS = ["arrivals", "served", "errors", "queue", "capacity", "externalDemand"];
const COLORS = { arrivals: "#2457c5", served: "#2e9e5b", errors: "#cf3b3b", queue: "#8e44ad",
                 capacity: "#e08a00", externalDemand: "#607d8b" };

const LARGE_RUN_BINS = 1500;  // beyond three 500-bin windows, a run page starts from the overview

// Draws a chart slot when it scrolls near the viewport (a long run has hundreds of nodes).
const lazyCharts = new IntersectionObserver((entries) => {
  for (const entry of entries) {
    if (!entry.isIntersecting || entry.target.drawn) continue;
    entry.target.drawn = true;
    lazyCharts.unobserve(entry.target);
    entry.target.draw();
  }
}, { rootMargin: "400px 0px" });

async function loadOverview(runId, bins) {
  const answer = await api(`/v1/runs/${encodeURIComponent(runId)}/overview?buckets=${Math.min(bins, 400)}`);
  const body = answer.body;
  return { stamps: body.timestampsUtc, bucketBins: body.bucketBins, warnings: body.warnings || [],
           nodes: body.nodes.map((n) => ({ id: n.id, kind: n.kind, aliases: n.aliases || {},
                                            series: n.series, byClass: {}, sla: n.sla || [] })) };
}

// Every bin's start (seconds), from the grid: the slider and findings speak in bins.
function binStamps(grid) {
  const start = Date.parse(grid.startTimeUtc) / 1000;
  const step = grid.binSize * ({ minutes: 60, hours: 3600, days: 86400, weeks: 604800 }[grid.binUnit] || 60);
  return Array.from({ length: grid.bins }, (_, i) => start + i * step);
}

async function loadWindow(runId, bins, from = 0) {
  const nodes = new Map();
  const stamps = [];
  const warnings = new Map();  // a finding reported by several 500-bin windows is one finding
  const edges = new Map();
  for (let start = from; start < bins; start += 500) {
    const end = Math.min(bins, start + 500) - 1;
    const part = await api(`/v1/runs/${encodeURIComponent(runId)}/state_window?startBin=${start}&endBin=${end}`);
    stamps.push(...part.body.timestampsUtc);
    for (const w of part.body.warnings || []) {
      const key = `${w.code}|${w.nodeId || ""}|${w.message}`;
      if (!warnings.has(key)) warnings.set(key, w);
    }
    for (const node of part.body.nodes) {
      const entry = nodes.get(node.id) ||
        { id: node.id, kind: node.kind, aliases: node.aliases || {}, series: {}, byClass: {},
          sla: node.sla || [] };
      for (const [name, values] of Object.entries(node.series)) {
        entry.series[name] = (entry.series[name] || []).concat(values);
      }
      for (const [cls, metrics] of Object.entries(node.byClass || {})) {
        entry.byClass[cls] = entry.byClass[cls] || {};
        for (const [name, values] of Object.entries(metrics)) {
          entry.byClass[cls][name] = (entry.byClass[cls][name] || []).concat(values);
        }
      }
      nodes.set(node.id, entry);
    }
    for (const edge of part.body.edges || []) {
      const entry = edges.get(edge.id) || { id: edge.id, from: edge.from, to: edge.to, series: {} };
      for (const [name, values] of Object.entries(edge.series || {})) {
        entry.series[name] = (entry.series[name] || []).concat(values);
      }
      edges.set(edge.id, entry);
    }
  }
  return { stamps, nodes: [...nodes.values()], warnings: [...warnings.values()],
           edges: [...edges.values()] };
}

// A node's `aliases` name its metrics in the modeller's words: "Waiting (queue)".
function metricLabel(metric, aliases) {
  const alias = aliases && aliases[metric];
  return alias ? `${alias} (${metric})` : metric;
}

// The slider's bin, drawn as a vertical marker on every chart of the page.
const marker = { bin: 0, xs: [], charts: [] };

function markerPlugin() {
  return { hooks: { draw: [(u) => {
    const x = marker.xs[marker.bin];
    if (x === undefined) return;
    const left = Math.round(u.valToPos(x, "x", true));
    const ctx = u.ctx;
    ctx.save();
    ctx.strokeStyle = "rgba(23, 34, 59, 0.55)";
    ctx.lineWidth = 1.5;
    ctx.setLineDash([4, 3]);
    ctx.beginPath();
    ctx.moveTo(left, u.bbox.top);
    ctx.lineTo(left, u.bbox.top + u.bbox.height);
    ctx.stroke();
    ctx.restore();
  }] } };
}

function moveMarker(bin) {
  marker.bin = bin;
  for (const chart of marker.charts) chart.redraw(false);
}

function drawChart(container, node, xs, cls = "") {
  const source = cls ? (node.byClass[cls] || {}) : node.series;
  const names = METRICS.filter((m) => source[m]);
  const box = el("div", { class: "card chart", "data-node": node.id, "data-class": cls },
                 el("h3", {}, node.id, " ", el("span", { class: "muted" }, cls ? `${node.kind} · ${cls}` : node.kind)));
  box.dataset.sums = JSON.stringify(Object.fromEntries(names.map((n) => [n,
    source[n].reduce((a, v) => a + (Number.isFinite(v) ? v : 0), 0)])));
  container.append(box);
  const width = Math.max(240, box.clientWidth - 32);
  const opts = {
    width, height: 220,
    scales: { x: { time: true } },
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"),
    series: [{}].concat(names.map((n) => ({ label: metricLabel(n, node.aliases), stroke: COLORS[n],
                                            width: 1.6 }))),
    axes: [{}, { size: 50 }],
    plugins: [markerPlugin(), highlightPlugin()],
  };
  const chart = new uPlot(opts, [xs].concat(names.map((n) => source[n])), box);
  marker.charts.push(chart);
  if (!cls) classStack(box, node, xs);
  return chart;
}

// A node with class series gets its arrivals (or served) stacked by class under its chart:
// each band one class, the top of the stack the node's total.
const CLASS_COLORS = ["#2457c5", "#e08a00", "#2e9e5b", "#8e44ad", "#cf3b3b", "#607d8b",
                      "#00897b", "#c2185b"];

function classStack(box, node, xs) {
  const classes = Object.keys(node.byClass || {});
  const metric = ["arrivals", "served"].find((m) => classes.length &&
    classes.every((c) => Array.isArray(node.byClass[c][m])));
  if (!metric) return;
  const holder = el("div", { class: "class-stack", "data-metric": metric },
                    el("p", { class: "muted" }, `${metric} by class (stacked)`));
  box.append(holder);
  const running = xs.map(() => 0);
  const layers = classes.map((c) => {
    const values = node.byClass[c][metric];
    return running.map((_, i) => (running[i] += Number.isFinite(values[i]) ? values[i] : 0));
  });
  const total = (values) => values.reduce((a, v) => a + v, 0);
  holder.dataset.classes = JSON.stringify(classes);
  holder.dataset.sums = JSON.stringify(Object.fromEntries(classes.map((c) =>
    [c, total(node.byClass[c][metric].map((v) => (Number.isFinite(v) ? v : 0)))])));
  holder.dataset.top = String(total(layers[layers.length - 1]));
  // the largest layer first: each smaller one is painted over it, so every band shows
  const order = classes.map((_, i) => i).reverse();
  const chart = new uPlot({
    width: Math.max(240, box.clientWidth - 32), height: 160,
    scales: { x: { time: true } },
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"),
    series: [{}].concat(order.map((i) => ({ label: classes[i], stroke: CLASS_COLORS[i % 8],
      fill: CLASS_COLORS[i % 8] + "55", width: 1 }))),
    axes: [{}, { size: 50 }], plugins: [markerPlugin()],
  }, [xs].concat(order.map((i) => layers[i])), holder);
  marker.charts.push(chart);
}

// Every series of the run (the export table), grouped under the topology node whose id
// its name starts with ("billing_utilization", "billingBacklog" → Billing), then the rest.
function normalise(text) { return text.toLowerCase().replace(/[^a-z0-9]/g, ""); }

async function allSeries(runId, topologyIds) {
  const table = await api(`/v1/runs/${encodeURIComponent(runId)}/export?format=json`);
  const box = document.getElementById("all-series");
  if (!table.ok) { box.append(el("p", { class: "error" }, table.body.detail || "cannot read series")); return; }
  const xs = table.body.time.map((t) => Date.parse(t) / 1000);
  const keys = topologyIds.map((id) => [id, normalise(id)]).sort((a, b) => b[1].length - a[1].length);
  const groups = new Map(topologyIds.map((id) => [id, []]));
  const rest = [];
  for (const name of Object.keys(table.body.series)) {
    const owner = keys.find(([, key]) => key && normalise(name).startsWith(key));
    if (owner) groups.get(owner[0]).push(name); else rest.push(name);
  }
  const ordered = [...groups.entries()].filter(([, names]) => names.length);
  if (rest.length) ordered.push(["Other series", rest]);
  for (const [group, names] of ordered) {
    box.append(el("h3", { class: "group" }, group));
    for (const name of names) {
      const card = el("div", { class: "card chart wide", "data-series": name }, el("h3", {}, name));
      box.append(card);
      const chart = new uPlot({
        width: Math.max(240, card.clientWidth - 32), height: 150,
        scales: { x: { time: true } },
        tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"),
        series: [{}, { label: name, stroke: "#2457c5", width: 1.4 }],
        axes: [{}, { size: 50 }], legend: { show: false }, plugins: [markerPlugin(), highlightPlugin()],
      }, [xs, table.body.series[name].map((v) => (v === null ? null : v))], card);
      marker.charts.push(chart);
    }
  }
}

// The topology: nodes and edges from /graph laid out by dagre (Cytoscape.js), nodes
// coloured by their /state colour at the slider's bin, edges as wide as their flow.
const STATE_COLORS = { green: "#2e9e5b", yellow: "#d7a413", red: "#cf3b3b", gray: "#8a94a3", dlq: "#6b4fa3" };

async function topologyView(runId) {
  const box = document.getElementById("topology");
  const graph = await api(`/v1/runs/${encodeURIComponent(runId)}/graph`);
  if (!graph.ok || !graph.body.nodes.length || typeof cytoscape === "undefined") {
    box.replaceChildren(el("p", { class: "muted" }, "This model has no topology."));
    box.classList.add("empty");
    return null;
  }
  if (typeof cytoscapeDagre !== "undefined") cytoscape.use(cytoscapeDagre);
  const elements = graph.body.nodes.map((n) => ({ data: { id: n.id, label: n.id, kind: n.kind } }))
    .concat(graph.body.edges.map((e) => ({ data: { id: "e:" + e.id, edgeId: e.id, source: e.from,
                                                    target: e.to, type: e.type } })));
  box.dataset.overflowEdges = String(graph.body.edges.filter((e) => e.type === "overflow").length);
  const cy = cytoscape({
    container: box, elements, userZoomingEnabled: false, boxSelectionEnabled: false,
    style: [
      { selector: "node", style: { "background-color": "#8a94a3", label: "data(label)", "font-size": 11,
          "text-valign": "bottom", "text-margin-y": 4, width: 26, height: 26, color: "#1d2430" } },
      { selector: "node[kind = 'queue'], node[kind = 'dlq']", style: { shape: "round-rectangle" } },
      // a bin's colour is data (`state`), mapped here: restyling 500 nodes by data is one
      // style pass, where per-node style bypasses cost one each
      ...Object.entries(STATE_COLORS).map(([state, color]) => ({
        selector: `node[state = '${state}']`, style: { "background-color": color } })),
      { selector: "edge", style: { width: 2, "curve-style": "bezier", "target-arrow-shape": "triangle",
          "line-color": "#9aa5b5", "target-arrow-color": "#9aa5b5", label: "data(flow)", "font-size": 9,
          color: "#5b6675", "text-background-color": "#fff", "text-background-opacity": 0.8 } },
      // overflow (WIP limit → its target, often a DLQ) and terminal routes: dashed
      { selector: "edge[type = 'overflow'], edge[type = 'terminal']", style: {
          "line-style": "dashed", "line-color": "#b08ad6", "target-arrow-color": "#b08ad6" } },
      { selector: "edge[width]", style: { width: "data(width)" } },  // a bin's flow, set as data
    ],
    layout: { name: typeof cytoscapeDagre !== "undefined" ? "dagre" : "breadthfirst", rankDir: "LR",
              nodeSep: 40, rankSep: 90 },
  });
  // `cls`: the class chosen in the class filter — edges then carry that class's flow
  return (state, cls) => cy.batch(() => {  // one style pass for every node and edge
    const colors = new Map(state.nodes.map((n) => [n.id, n.derived.color]));
    cy.nodes().forEach((node) => {
      const color = colors.get(node.id()) || "gray";
      node.data("state", STATE_COLORS[color] ? color : "gray");
    });
    // an edge's volume in this bin: the first of its series (flowVolume, attemptsVolume, …),
    // of the chosen class when one is chosen (an edge without class series shows none)
    const flows = new Map((state.edges || []).map((e) => {
      const series = cls ? (e.byClass || {})[cls] : e.series;
      return [e.id, series ? (Object.values(series)[0] || [])[0] : null];
    }));
    const top = Math.max(1e-9, ...[...flows.values()].map((v) => Math.abs(v || 0)));
    cy.edges().forEach((edge) => {
      const flow = flows.get(edge.data("edgeId"));
      edge.data("flow", flow === undefined || flow === null ? "" : fmt(flow));
      edge.data("width", 1 + 7 * Math.abs(flow || 0) / top);
    });
    box.dataset.bin = String(state.bin.index);
    box.dataset.edgeClass = cls || "";
  });
}

// A long run's heatmap starts from the overview (bucket maxima); a range of up to
// MAX_ZOOM_BINS bins can be shown at full resolution from /state_window, and back.
const MAX_ZOOM_BINS = 2000;

function heatZoom(runId, grid, overview, showHeat) {
  const box = document.getElementById("heat-zoom");
  if (!box) return;
  box.hidden = false;
  const from = document.getElementById("zoom-from");
  const to = document.getElementById("zoom-to");
  const status = document.getElementById("zoom-status");
  const canvas = document.getElementById("heat-canvas");
  from.max = to.max = String(grid.bins - 1);
  from.value = "0";
  to.value = String(Math.min(grid.bins, MAX_ZOOM_BINS) - 1);
  document.getElementById("zoom-go").addEventListener("click", async () => {
    const start = Math.max(0, Math.min(grid.bins - 1, Math.floor(Number(from.value) || 0)));
    let end = Math.max(start, Math.min(grid.bins - 1, Math.floor(Number(to.value) || 0)));
    if (end - start + 1 > MAX_ZOOM_BINS) end = start + MAX_ZOOM_BINS - 1;
    from.value = String(start);
    to.value = String(end);
    status.textContent = "loading…";
    const part = await loadWindow(runId, end + 1, start);
    showHeat(part.nodes, part.stamps.length, 1, start, part.edges || []);
    canvas.dataset.zoom = `${start}-${end}`;
    status.textContent = `bins ${start}–${end} at full resolution`;
  });
  document.getElementById("zoom-reset").addEventListener("click", () => {
    showHeat(overview.nodes, overview.stamps.length, overview.bucketBins || 1, 0, []);
    delete canvas.dataset.zoom;
    status.textContent = `overview: each column the largest of ${overview.bucketBins} bins`;
  });
  status.textContent = `overview: each column the largest of ${overview.bucketBins} bins`;
}

async function runPage(runId) {
  const run = await api("/v1/runs/" + encodeURIComponent(runId));
  if (!run.ok) {
    document.getElementById("title").textContent = run.body.detail || "run not found";
    return;
  }
  const meta = run.body.metadata;
  const grid = run.body.grid;
  document.getElementById("title").textContent = `${meta.templateTitle || meta.templateId} — ${meta.runId}`;
  const metaBox = document.getElementById("meta");
  const facts = { "Run": meta.runId, "Template": `${meta.templateId} ${meta.templateVersion}`,
    "Mode": meta.mode, "Created": meta.createdUtc,
    "Grid": `${grid.bins} × ${grid.binSize} ${grid.binUnit}`, "Start": grid.startTimeUtc,
    "Series": run.body.artifacts.seriesCount, "Model hash": meta.schema.hash.slice(0, 19) + "…" };
  const scenario = run.body.scenario || {};
  if (scenario.seed !== undefined && scenario.seed !== null) facts["Seed"] = `${scenario.seed} (${scenario.rngKind})`;
  if (scenario.pmfMode && scenario.pmfMode !== "sample") facts["PMF mode"] = scenario.pmfMode;
  if (run.body.sweepId) facts["Sweep"] = el("a", { href: "/sweeps/" + encodeURIComponent(run.body.sweepId) }, run.body.sweepId);
  const tags = Object.entries(run.body.tags || {});
  if (tags.length) facts["Tags"] = tags.map(([k, v]) => `${k}: ${v}`).join(", ");
  for (const [k, v] of Object.entries(facts)) metaBox.append(el("div", { "data-fact": k }, el("span", {}, k), v));
  const params = document.getElementById("parameters");
  for (const [name, value] of Object.entries(scenario.parameters || {})) {
    params.append(el("div", { "data-param": name }, el("span", {}, name),
                     Array.isArray(value) ? value.join(", ") : String(value)));
  }
  // A long run is painted from its overview (every series reduced to ≤ 400 bucket maxima,
  // one request) with charts drawn as they scroll into view; a short one from full windows.
  const large = grid.bins > LARGE_RUN_BINS;
  const data = large ? await loadOverview(runId, grid.bins) : await loadWindow(runId, grid.bins);
  const xs = data.stamps.map((s) => Date.parse(s) / 1000);
  marker.xs = large ? binStamps(grid) : xs;
  document.body.dataset.runMode = large ? "overview" : "full";
  const charts = document.getElementById("charts");
  const classes = [...new Set(data.nodes.flatMap((n) => Object.keys(n.byClass)))];
  const classSel = document.getElementById("class-filter");
  for (const c of classes) classSel.append(el("option", { value: c }, c));
  classSel.closest(".filters").hidden = !classes.length;
  function drawCharts() {
    const old = marker.charts.filter((c) => c.root.closest("#charts"));
    for (const c of old) c.destroy();
    marker.charts = marker.charts.filter((c) => !old.includes(c));
    charts.replaceChildren();
    lazyCharts.disconnect();
    for (const node of data.nodes) {
      if (classSel.value && !node.byClass[classSel.value]) continue;
      if (!large) {
        drawChart(charts, node, xs, classSel.value);
        continue;
      }
      const slot = el("div", { class: "chart-slot", "data-slot": node.id, style: "min-height:260px" });
      slot.draw = () => drawChart(slot, node, xs, classSel.value);
      charts.append(slot);
      lazyCharts.observe(slot);
    }
    if (!data.nodes.length) charts.append(el("p", { class: "muted" }, "This model has no topology nodes."));
  }
  drawCharts();
  let lastState = null;  // the latest /state answer (the snapshot redraws from it)
  let paint = null;  // the topology's painter, once it is drawn
  classSel.addEventListener("change", () => {
    drawCharts();
    moveMarker(Number(document.getElementById("bin").value));
    if (lastState) fillSnapshot(lastState);
    if (lastState && paint) paint(lastState, classSel.value);
  });
  paint = await topologyView(runId);
  if (large) {
    document.getElementById("all-series").append(el("p", { class: "muted", "data-large": "1" },
      `A long run (${grid.bins} bins): charts show the largest value of every ${data.bucketBins} bins; `,
      el("a", { href: `/v1/runs/${encodeURIComponent(runId)}/export?format=csv` }, "export every series"),
      " for full resolution, or move the slider for any bin."));
  } else {
    await allSeries(runId, data.nodes.map((n) => n.id));
  }

  const slider = document.getElementById("bin");
  slider.max = String(grid.bins - 1);
  slider.value = "0";
  findingsPanel(data.warnings, (w) => {
    if (w.startBin !== undefined && w.startBin !== null) {
      highlight.start = w.startBin;
      highlight.end = w.endBin;
      document.body.dataset.highlight = `${w.startBin}-${w.endBin}`;
      slider.value = String(w.startBin);
      showBin();
    } else {
      highlight.start = null;
      delete document.body.dataset.highlight;
      moveMarker(Number(slider.value));
    }
    const card = w.nodeId && charts.querySelector(`[data-node="${CSS.escape(w.nodeId)}"]`);
    if (card) card.scrollIntoView({ block: "nearest" });
  });
  const per = data.bucketBins || 1;
  const showHeat = heatmap(data.nodes, data.stamps.length, (bin) => {
    slider.value = String(Math.min(grid.bins - 1, bin));
    showBin();
  }, per, data.edges || []);
  if (large) heatZoom(runId, grid, data, showHeat);
  document.getElementById("heat-canvas").dataset.painted = String(performance.now());
  await attainment(runId);
  await observedVsModel(runId, marker.xs);
  await lineage(runId, run.body.baseRunId);
  if (run.body.baseRunId && !large) await scenarioCharts(run.body.baseRunId, data, xs, run.body.overlays || []);
  const snapshot = document.getElementById("snapshot");
  async function showBin() {
    const bin = Number(slider.value);
    const state = await api(`/v1/runs/${encodeURIComponent(runId)}/state?binIndex=${bin}`);
    document.getElementById("bin-label").textContent =
      `bin ${bin} · ${state.body.bin.startUtc} → ${state.body.bin.endUtc}`;
    lastState = state.body;
    performance.mark("bin:answered");
    fillSnapshot(state.body);
    performance.mark("bin:snapshot");
    moveMarker(bin);
    performance.mark("bin:markers");
    if (paint) paint(state.body, classSel.value);
    performance.mark("bin:topology");  // benchmarks/viewer.py reads these marks
  }
  // The snapshot's rows are built once per class choice; moving the slider only rewrites
  // their texts (a long run has hundreds of rows).
  function fillSnapshot(body) {
    const bin = body.bin.index;
    const cls = classSel.value;
    const shown = body.nodes.filter((n) => cls ? (n.byClass || {})[cls] : n.metrics);
    const key = cls + "|" + shown.map((n) => n.id).join(",");
    if (snapshot.dataset.rows !== key) {
      snapshot.replaceChildren(...shown.map((node) => el("tr", { "data-node": node.id },
        el("td", {}, node.id),
        ...METRICS.map((m) => el("td", { "data-metric": m, title: metricLabel(m, node.aliases) })),
        el("td", { "data-derived": "utilization" }), el("td", { "data-derived": "latencyMinutes" }),
        el("td", { "data-derived": "flowLatencyMs" }), el("td", {}, el("span", { class: "badge" })))));
      snapshot.dataset.rows = key;
    }
    shown.forEach((node, r) => {
      const metrics = cls ? node.byClass[cls] : node.metrics;
      const cells = snapshot.rows[r].cells;
      METRICS.forEach((m, i) => { cells[i + 1].textContent = fmt(metrics[m]); });
      const d = node.derived;
      cells[7].textContent = fmt(d.utilization);
      cells[8].textContent = fmt(d.latencyMinutes);
      cells[9].textContent = fmt(d.flowLatencyMs === null || d.flowLatencyMs === undefined
        ? null : d.flowLatencyMs / 60000);
      const badge = cells[10].firstChild;
      badge.className = "badge " + d.color;
      badge.textContent = d.color;
    });
    snapshot.dataset.bin = String(bin);
    snapshot.dataset.class = cls;
  }
  slider.addEventListener("input", showBin);
  await showBin();

  const downloads = document.getElementById("downloads");
  const base = `/v1/runs/${encodeURIComponent(runId)}`;
  for (const f of ["run.json", "manifest.json", "series/index.json", "model/metadata.json",
                   "model/provenance.json", "model/model.yaml"]) {
    downloads.append(el("a", { href: `${base}/files/${f}`, download: "" }, f));
  }
  const index = await api(base + "/index");
  for (const s of index.body.series) {
    downloads.append(el("a", { href: `${base}/series/${encodeURIComponent(s.id)}`, download: "" },
                        s.id.split("@")[0] + ".csv"));
  }
}

// ---- compare page (/compare?ids=a,b) -----------------------------------------------------
async function comparePage() {
  const ids = new URLSearchParams(location.search).get("ids") || "";
  const result = await api("/v1/runs/compare?ids=" + encodeURIComponent(ids));
  if (!result.ok) {
    document.getElementById("title").textContent = result.body.detail || "cannot compare";
    return;
  }
  const body = result.body;
  const runIds = body.runs.map((r) => r.runId);
  document.getElementById("title").textContent = `Compare ${runIds.length} runs`;
  const head = el("tr", {}, el("th", {}, "parameter"), ...runIds.map((id) =>
    el("th", {}, el("a", { href: "/runs/" + encodeURIComponent(id) }, id))));
  const rows = body.differingParameters.map((name) => el("tr", { "data-param": name },
    el("td", {}, name), ...runIds.map((id) => el("td", {}, fmt(body.parameters[name][id])))))
    .concat((body.differingSettings || []).map((name) => el("tr", { "data-setting": name },
      el("td", {}, "(" + name + ")"), ...runIds.map((id) => el("td", {}, fmt(body.settings[name][id]))))));
  document.getElementById("param-diff").append(el("thead", {}, head), el("tbody", {}, ...rows));
  const select = document.getElementById("cmp-series");
  const differing = body.series.filter((s) => s.differs);
  for (const s of body.series) select.append(el("option", { value: s.id }, s.id + (s.differs ? " *" : "")));
  // default: a queue or latency that differs between the runs and varies over time the most
  const first = runIds[0];
  const outputs = differing.filter((s) => /(queue|latency|backlog)/i.test(s.id));
  const pick = variesMost(outputs.map((s) => ({ id: s.id, values: s.values[first] })))
    || variesMost(differing.map((s) => ({ id: s.id, values: s.values[first] })))
    || variesMost(body.series.map((s) => ({ id: s.id, values: (s.values || {})[first] })));
  select.value = pick || (differing[0] || body.series[0] || {}).id || "";
  const stamps = await api(`/v1/runs/${encodeURIComponent(first)}`);
  const grid = stamps.ok ? stamps.body.grid : null;
  const start = grid && grid.startTimeUtc ? Date.parse(grid.startTimeUtc) / 1000 : null;
  const binSeconds = grid ? grid.binSize * ({ minutes: 60, hours: 3600, days: 86400, weeks: 604800 }[grid.binUnit] || 60) : 0;
  let chart = null;
  function draw() {
    const series = body.series.find((s) => s.id === select.value);
    if (!series) return;
    const clock = start !== null;
    const xs = series.values[runIds[0]].map((_, i) => (clock ? start + i * binSeconds : i));
    const data = [xs].concat(runIds.map((id) => series.values[id]));
    if (chart) chart.destroy();
    const box = document.getElementById("cmp-chart");
    box.dataset.series = series.id;
    chart = new uPlot({ width: Math.max(240, box.clientWidth || 900), height: 300,
      scales: { x: { time: clock } },
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"),
      series: [{ label: clock ? "time" : "bin" }].concat(runIds.map((id, i) => ({ label: id,
        stroke: WHATIF_COLORS[i % WHATIF_COLORS.length], width: 1.6 }))),
      axes: [{}, { size: 50 }] }, data, box);
    const summary = document.getElementById("cmp-summary");
    summary.replaceChildren(el("tr", {}, el("th", {}, "statistic"), ...runIds.map((id) => el("th", {}, id))),
      ...["mean", "max", "p95", "last"].map((stat) => el("tr", {}, el("td", {}, stat),
        ...runIds.map((id) => el("td", {}, fmt(series.summaries[id][stat]))))));
  }
  select.addEventListener("change", draw);
  draw();
}

// ---- sweeps (/sweeps, /sweeps/{id}) ------------------------------------------------------
const ACTIVE = ["queued", "running"];

function progressText(p) {
  const eta = p.etaSeconds ? ` · ~${Math.round(p.etaSeconds)} s left` : "";
  return `${p.done}/${p.total} (${p.created} new, ${p.reused} reused, ${p.failed} failed)${eta}`;
}

async function sweepsPage() {
  const state = { page: 1, pageSize: 20 };
  const status = document.getElementById("f-status");
  async function load() {
    const q = new URLSearchParams({ page: state.page, pageSize: state.pageSize });
    if (status.value) q.set("status", status.value);
    const result = await api("/v1/sweeps?" + q);
    const body = document.getElementById("sweeps-body");
    body.replaceChildren();
    for (const s of result.body.items) {
      body.append(el("tr", { "data-sweep-id": s.sweepId },
        el("td", {}, el("a", { href: "/sweeps/" + encodeURIComponent(s.sweepId) }, s.sweepId)),
        el("td", {}, s.templateId), el("td", {}, el("span", { class: "badge status " + s.status }, s.status)),
        el("td", {}, progressText(s.progress)), el("td", {}, s.startedUtc), el("td", {}, s.executor)));
    }
    if (!result.body.items.length) body.append(el("tr", {}, el("td", { colspan: "6", class: "muted" },
      "No sweeps yet: start one from a template page, with `flowtime sweep` or POST /v1/sweeps.")));
    showPage(state, result.body.totalCount, "sweeps");
  }
  status.addEventListener("change", () => { state.page = 1; load(); });
  pagerButtons(state, load);
  await load();
}

function seriesName(id) { return id.split("@")[0]; }

async function sweepPage(sweepId) {
  const base = "/v1/sweeps/" + encodeURIComponent(sweepId);
  let summary = (await api(base)).body;
  document.getElementById("title").textContent = `Sweep ${sweepId} — ${summary.templateId}`;
  document.getElementById("runs-link").href = "/?sweepId=" + encodeURIComponent(sweepId);
  document.getElementById("export-link").href = base + "/export?format=csv";
  const gridNames = Object.keys(summary.grid || {});
  const seriesSel = document.getElementById("f-series");
  const statSel = document.getElementById("f-stat");
  const withAggregates = summary.runs.find((r) => r.aggregates);
  const seriesIds = withAggregates ? Object.keys(withAggregates.aggregates).filter((k) => k.endsWith("@DEFAULT")) : [];
  for (const id of seriesIds) seriesSel.append(el("option", { value: id }, seriesName(id)));
  // default: an output (queue, latency, backlog) whose mean differs most between points
  const spread = (id) => {
    const means = summary.runs.map((r) => r.aggregates && r.aggregates[id] && r.aggregates[id].mean)
      .filter(Number.isFinite);
    return means.length > 1 ? Math.max(...means) - Math.min(...means) : 0;
  };
  const outputs = seriesIds.filter((id) => /(queue|latency|backlog)/i.test(id));
  const ranked = (outputs.length ? outputs : seriesIds).slice().sort((a, b) => spread(b) - spread(a));
  if (ranked.length && spread(ranked[0]) > 0) seriesSel.value = ranked[0];

  function showMeta() {
    const meta = document.getElementById("meta");
    const owner = summary.owner ? `${summary.owner.role} ${summary.owner.pid} on ${summary.owner.host}` : "—";
    meta.replaceChildren(...Object.entries({ "Status": summary.status, "Progress": progressText(summary.progress),
      "Template": summary.templateId, "Executor": summary.executor, "Samples": summary.samples ?? "—",
      "Started": summary.startedUtc, "Driven by": owner, "Fixed parameters": JSON.stringify(summary.parameters) })
      .map(([k, v]) => el("div", { "data-fact": k }, el("span", {}, k), v)));
    const actions = document.getElementById("actions");
    actions.replaceChildren();
    if (ACTIVE.includes(summary.status)) {
      actions.append(el("button", { id: "cancel", onclick: async () => {
        const answer = await api(base, { method: "DELETE" });
        actions.append(el("span", { class: "muted" }, " ", answer.body.status || answer.body.detail));
      } }, "Cancel sweep"));
    }
  }

  function cells() {
    const found = new Map();
    for (const run of summary.runs) {
      const key = JSON.stringify(run.parameters);
      if (!found.has(key)) found.set(key, { parameters: run.parameters, runs: [] });
      found.get(key).runs.push(run);
    }
    return [...found.values()];
  }

  function showCells() {
    const stat = statSel.value;
    const sid = seriesSel.value;
    document.getElementById("cells-head").replaceChildren(el("tr", {}, el("th", {}, "cell"),
      ...gridNames.map((n) => el("th", {}, n)), el("th", {}, "points"), el("th", {}, "done"),
      el("th", {}, sid ? `${seriesName(sid)} ${stat} (mean over points)` : "")));
    const body = document.getElementById("cells-body");
    body.replaceChildren(...cells().map((cell, i) => {
      const values = cell.runs.map((r) => r.aggregates && r.aggregates[sid] && r.aggregates[sid][stat])
        .filter((v) => v !== undefined && v !== null);
      const mean = values.length ? values.reduce((a, b) => a + b, 0) / values.length : null;
      return el("tr", { "data-cell": String(i) }, el("td", {}, i),
        ...gridNames.map((n) => el("td", {}, fmt(cell.parameters[n]))),
        el("td", {}, cell.runs.length), el("td", {}, cell.runs.filter((r) => r.status !== "pending").length),
        el("td", { class: "value" }, fmt(mean)));
    }));
  }

  function showPoints() {
    document.getElementById("points-head").replaceChildren(el("tr", {}, el("th", {}, "#"),
      ...gridNames.map((n) => el("th", {}, n)), el("th", {}, "seed"), el("th", {}, "status"), el("th", {}, "run")));
    document.getElementById("points-body").replaceChildren(...summary.runs.slice(0, 200).map((r) =>
      el("tr", {}, el("td", {}, r.index), ...gridNames.map((n) => el("td", {}, fmt(r.parameters[n]))),
        el("td", {}, fmt(r.seed)), el("td", {}, r.status),
        el("td", {}, r.runId ? el("a", { href: "/runs/" + encodeURIComponent(r.runId) }, r.runId) : "—"))));
  }

  const bandsBox = document.getElementById("bands-box");
  const cellSel = document.getElementById("f-cell");
  let bandsChart = null;
  async function showBands() {
    if (!summary.samples || summary.status !== "succeeded") { bandsBox.style.display = "none"; return; }
    bandsBox.style.display = "";
    if (!cellSel.options.length) {
      const listing = await api(base + "/bands");
      for (const c of listing.body.cells || []) {
        const label = Object.entries(c.parameters).filter(([k]) => gridNames.includes(k))
          .map(([k, v]) => `${k}=${fmt(v)}`).join(", ") || "all samples";
        cellSel.append(el("option", { value: String(c.cell) }, label));
      }
    }
    const name = seriesName(seriesSel.value || "");
    const answer = await api(`${base}/bands?series=${encodeURIComponent(name)}&cell=${cellSel.value || 0}`);
    const box = document.getElementById("bands");
    box.replaceChildren();
    if (!answer.ok) { box.append(el("p", { class: "error" }, answer.body.detail)); return; }
    const card = el("div", { class: "card chart wide", "data-bands": name }, el("h3", {}, `${name}: p5 / p50 / p95 over ${summary.samples} samples`));
    box.append(card);
    if (bandsChart) bandsChart.destroy();
    bandsChart = new uPlot({ width: Math.max(240, card.clientWidth - 32), height: 260,
      scales: { x: { time: false } },
      series: [{ label: "bin" }, { label: "p5", stroke: "#9aa5b5", width: 1.2 },
               { label: "p50", stroke: "#2457c5", width: 2 }, { label: "p95", stroke: "#9aa5b5", width: 1.2 }],
      bands: [{ series: [3, 1], fill: "rgba(36, 87, 197, 0.12)" }],
      axes: [{}, { size: 50 }] }, [answer.body.bins, answer.body.p5, answer.body.p50, answer.body.p95], card);
  }

  seriesSel.addEventListener("change", () => { showCells(); showBands(); });
  statSel.addEventListener("change", showCells);
  cellSel.addEventListener("change", showBands);
  showMeta(); showCells(); showPoints(); await showBands();
  while (ACTIVE.includes(summary.status)) {  // follow a sweep in progress
    await new Promise((resolve) => setTimeout(resolve, 2000));
    summary = (await api(base)).body;
    showMeta(); showCells(); showPoints();
  }
  await showBands();
}

// ---- template form ------------------------------------------------------------------------
function inputFor(p) {
  const attrs = { id: "p-" + p.name, name: p.name, "data-type": p.type };
  if (p.type === "boolean") {
    const box = el("select", attrs, el("option", { value: "true" }, "true"), el("option", { value: "false" }, "false"));
    box.value = String(p.default ?? false);
    return box;
  }
  if (p.type === "integer" || p.type === "number") {
    Object.assign(attrs, { type: "number", step: p.type === "integer" ? "1" : "any" });
    if (p.minimum !== null) attrs.min = p.minimum;
    if (p.maximum !== null) attrs.max = p.maximum;
  } else {
    attrs.type = "text";
  }
  const input = el("input", attrs);
  input.value = p.type === "array" ? (p.default || []).join(", ") : (p.default ?? "");
  return input;
}

function valueOf(input) {
  const text = input.value.trim();
  switch (input.dataset.type) {
    case "integer": case "number": return text === "" ? null : Number(text);
    case "boolean": return text === "true";
    case "array": return text === "" ? [] : text.split(",").map((v) => Number(v.trim()));
    default: return text;
  }
}

async function templatePage(templateId) {
  const result = await api("/v1/templates/" + encodeURIComponent(templateId));
  if (!result.ok) {
    document.getElementById("title").textContent = result.body.detail;
    return;
  }
  const t = result.body;
  document.getElementById("title").textContent = `${t.title || t.id} (${t.version})`;
  document.getElementById("description").textContent = t.description || "";
  const form = document.getElementById("params");
  for (const p of t.parameters) {
    const bounds = [p.minimum !== null ? `≥ ${p.minimum}` : "", p.maximum !== null ? `≤ ${p.maximum}` : ""].filter(Boolean).join(", ");
    form.append(el("div", { class: "field" },
      el("label", { for: "p-" + p.name }, `${p.title || p.name} · ${p.name} (${p.type}${bounds ? ", " + bounds : ""})`),
      inputFor(p), el("div", { class: "error", id: "err-" + p.name })));
  }
  whatIf(t);
  analysisForm(t);
  goalSeekForm(t);
  optimizeForm(t);
  document.getElementById("o-mode").value = t.defaultMode || "simulation";
  const sweepParam = document.getElementById("s-param");
  for (const p of t.parameters.filter((q) => q.type !== "array" && q.type !== "string")) {
    sweepParam.append(el("option", { value: p.name }, p.name));
  }
  const submit = document.getElementById("submit");
  const relabel = () => {
    submit.textContent = document.getElementById("s-on").checked ? "Start sweep"
      : document.getElementById("o-dry").checked ? "Check (dry run)" : "Run simulation";
  };
  for (const id of ["s-on", "o-dry"]) document.getElementById(id).addEventListener("change", relabel);
  submit.addEventListener("click", async (event) => {
    event.preventDefault();
    for (const node of document.querySelectorAll(".error")) node.textContent = "";
    const parameters = {};
    for (const p of t.parameters) {
      const value = valueOf(document.getElementById("p-" + p.name));
      if (value !== null) parameters[p.name] = value;
    }
    const seedText = document.getElementById("o-seed").value.trim();
    const mode = document.getElementById("o-mode").value;
    const pmfMode = document.getElementById("o-pmf").value;
    const json = { "Content-Type": "application/json" };
    let response;
    if (document.getElementById("s-on").checked) {
      const name = sweepParam.value;
      const values = document.getElementById("s-values").value.split(",").map((v) => v.trim())
        .filter(Boolean).map((v) => (Number.isFinite(Number(v)) ? Number(v) : v));
      delete parameters[name];
      const body = { templateId: t.id, mode, parameters, grid: { [name]: values }, pmfMode };
      const samples = Number(document.getElementById("s-samples").value);
      if (samples > 0) body.samples = samples;
      if (seedText) body.seed = Number(seedText);
      response = await api("/v1/sweeps", { method: "POST", body: JSON.stringify(body), headers: json });
      if (response.status === 202) {
        location.href = "/sweeps/" + encodeURIComponent(response.body.sweepId);
        return;
      }
    } else {
      const options = { pmfMode, dryRun: document.getElementById("o-dry").checked };
      if (seedText) options.seed = Number(seedText);
      response = await api("/v1/runs", { method: "POST", headers: json,
        body: JSON.stringify({ templateId: t.id, mode, parameters, options }) });
      if (response.status === 200 && response.body.isDryRun) {
        const plan = response.body.plan;
        const box = document.getElementById("plan");
        box.hidden = false;
        box.replaceChildren(...Object.entries({ "Dry run: would create": plan.runId || "a new run",
          "Seed": plan.seed, "Grid": `${plan.grid.bins} × ${plan.grid.binSize} ${plan.grid.binUnit}`,
          "Series": plan.series.length, "Warnings": response.body.warnings.length })
          .map(([k, v]) => el("div", { "data-plan": k }, el("span", {}, k), v)));
        return;
      }
      if (response.status === 201 || response.status === 200) {
        location.href = "/runs/" + encodeURIComponent(response.body.metadata.runId);
        return;
      }
    }
    const general = document.getElementById("form-error");
    general.textContent = response.body.detail || "the run could not be created";
    for (const e of response.body.errors || []) {
      const name = (e.loc || "").replace(/^parameters\./, "").replace(/\[\d+\]$/, "");
      const slot = document.getElementById("err-" + name);
      if (slot) slot.textContent = e.msg;
    }
  });
}

// ---- what-if panel (a live session over WS /v1/sessions) ----------------------------------
const WHATIF_COLORS = ["#2457c5", "#2e9e5b", "#cf3b3b", "#8e44ad", "#d7a413", "#17a2b8"];

function sliderRange(p) {
  const base = Number(p.default ?? 0);
  const lo = p.minimum ?? Math.min(0, base);
  let hi = p.maximum ?? Math.max(lo + 1, base > 0 ? base * 2 : 100);
  if (hi > lo + 10000 && p.maximum !== null) hi = Math.max(lo + 1, base * 2 || lo + 100);
  const step = p.type === "integer" ? 1 : Math.max((hi - lo) / 200, 1e-6);
  return { lo, hi, step };
}

function whatIf(t) {
  const panel = document.getElementById("whatif");
  const status = document.getElementById("wi-status");
  const errorBox = document.getElementById("wi-error");
  const knobs = numericKnobs(t);
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  const socket = new WebSocket(scheme + location.host + "/v1/sessions");
  const select = document.getElementById("wi-series");
  let chart = null;
  let pending = null;
  let busy = false;

  function chosen() {
    return Array.from(select.selectedOptions).map((o) => o.value);
  }
  function send(message) {
    if (busy) { pending = message; return; }  // keep only the latest move while one is out
    busy = true;
    socket.send(JSON.stringify(message));
  }
  function draw(series) {
    const names = Object.keys(series);
    const xs = series[names[0]].map((_, i) => i);
    const data = [xs].concat(names.map((n) => series[n]));
    panel.dataset.series = JSON.stringify(series);
    if (chart && chart.series.length === names.length + 1 &&
        names.every((n, i) => chart.series[i + 1].label === n)) {
      chart.setData(data);
      return;
    }
    if (chart) chart.destroy();
    const box = document.getElementById("wi-chart");
    chart = new uPlot({
      width: Math.max(240, box.clientWidth || 700), height: 260,
      scales: { x: { time: false } },
      series: [{ label: "bin" }].concat(names.map((n, i) => ({
        label: n, stroke: WHATIF_COLORS[i % WHATIF_COLORS.length], width: 1.6 }))),
      axes: [{}, { size: 50 }],
    }, data, box);
  }
  socket.addEventListener("open", () => {
    const first = { templateId: t.id };
    if (apiKey()) first.apiKey = apiKey();
    socket.send(JSON.stringify(first));
  });
  socket.addEventListener("close", (event) => {
    status.textContent = "session closed" + (event.reason ? ": " + event.reason : "");
    panel.dataset.state = "closed";
    if (event.code === 4401) askForKey("This server needs an API key for the what-if panel.");
  });
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(event.data);
    busy = false;
    if (message.ready) {
      for (const id of message.series) {
        const option = el("option", { value: id }, id);
        select.append(option);
      }
      const preferred = message.series.filter((s) => /queue$/.test(s)).slice(0, 2);
      const picks = preferred.length ? preferred : message.series.slice(0, 2);
      for (const option of select.options) option.selected = picks.includes(option.value);
      panel.dataset.state = "ready";
      status.textContent = "live";
      send({ set: {}, series: chosen() });
    } else if (message.error) {
      errorBox.textContent = message.error;
    } else if (message.series) {
      errorBox.textContent = "";
      status.textContent = `live · evaluated in ${message.elapsedMs} ms` +
        (message.warnings.length ? ` · ${message.warnings.length} warnings` : "");
      draw(message.series);
      panel.dataset.updates = String(Number(panel.dataset.updates || 0) + 1);
    }
    if (!busy && pending) { const next = pending; pending = null; send(next); }
  });
  const holder = document.getElementById("knobs");
  for (const p of knobs) {
    const { lo, hi, step } = sliderRange(p);
    const slider = el("input", { type: "range", id: "k-" + p.name, min: lo, max: hi, step,
                                 "data-knob": p.name });
    slider.value = p.default ?? lo;
    const shown = el("span", { class: "muted" }, fmt(Number(slider.value)));
    slider.addEventListener("input", () => {
      const value = p.type === "integer" ? Math.round(Number(slider.value)) : Number(slider.value);
      shown.textContent = fmt(value);
      const field = document.getElementById("p-" + p.name);
      if (field) field.value = value;
      send({ set: { [p.name]: value }, series: chosen() });
    });
    holder.append(el("div", { class: "field" },
      el("label", { for: "k-" + p.name }, p.title || p.name),
      el("div", { class: "slider" }, slider, shown)));
  }
  select.addEventListener("change", () => send({ set: {}, series: chosen() }));
  document.getElementById("wi-save").addEventListener("click", () => {
    document.getElementById("submit").click();
  });
}

document.addEventListener("DOMContentLoaded", () => {
  setupKeyBar();
  const page = document.body.dataset.page;
  const target = decodeURIComponent(location.pathname.split("/").slice(2).join("/"));
  const run = { runs: runsPage, run: () => runPage(target), template: () => templatePage(target),
                compare: comparePage, sweeps: sweepsPage, sweep: () => sweepPage(target),
                analysis: () => analysisPage(target), forecasts: forecastsPage,
                forecast: () => forecastPage(target), notfound: async () => {} }[page];
  run().catch((error) => { document.getElementById("title").textContent = "error: " + error; });
});
