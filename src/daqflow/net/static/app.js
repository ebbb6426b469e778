// The control page of a running daqflow graph: the graph, its live figures, a control per
// Param or instrument setting, and live views of its web_view sinks (docs/control.md).
"use strict";

const token = new URLSearchParams(location.search).get("token");
const auth = token ? { Authorization: "Bearer " + token } : {};
// What the page holds, for scripts and tests: views by name, the last meta drawn, latencies.
const daqflow = (window.daqflow = { views: {}, latencies: [], drawn: 0, errors: [] });

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: { ...auth, ...(options.headers || {}) } });
  const text = await response.text();
  const body = text && response.headers.get("Content-Type", "").startsWith("application/json") ? JSON.parse(text) : text;
  if (!response.ok) throw new Error(body && body.error ? body.error : response.status + " " + text);
  return body;
}

// -- the graph: columns by depth from the sources ------------------------------------------
async function drawGraph() {
  const graph = await api("/graph");
  const depth = {};
  for (const node of graph.nodes) depth[node.name] = 0;
  for (let pass = 0; pass < graph.nodes.length; pass++)
    for (const e of graph.edges) depth[e.to] = Math.max(depth[e.to], depth[e.from] + 1);
  const columns = {};
  for (const node of graph.nodes) (columns[depth[node.name]] ||= []).push(node.name);
  const svg = document.getElementById("graph");
  const width = svg.clientWidth || 600, height = svg.clientHeight || 240;
  const ncol = Object.keys(columns).length || 1, place = {};
  for (const [col, names] of Object.entries(columns))
    names.forEach((name, k) => (place[name] = [(+col + 0.5) * width / ncol, (k + 0.5) * height / names.length]));
  const ns = "http://www.w3.org/2000/svg";
  svg.innerHTML = '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0L10,5L0,10z" fill="#8895b3"/></marker></defs>';
  const longest = Math.max(...graph.nodes.map(n => n.name.length), 4);
  const box = Math.min(Math.max(60, 7 * longest + 12), width / ncol - 12);
  for (const e of graph.edges) {
    const [x1, y1] = place[e.from], [x2, y2] = place[e.to];
    const line = document.createElementNS(ns, "line");
    Object.entries({ x1: x1 + box / 2, y1, x2: x2 - box / 2, y2 }).forEach(([k, v]) => line.setAttribute(k, v));
    svg.appendChild(line);
  }
  for (const node of graph.nodes) {
    const [x, y] = place[node.name];
    const g = document.createElementNS(ns, "g");
    g.innerHTML = `<rect x="${x - box / 2}" y="${y - 13}" width="${box}" height="26" rx="4"></rect><text x="${x}" y="${y}"></text>`;
    g.querySelector("text").textContent = node.name;
    svg.appendChild(g);
  }
}

// -- the live figures ----------------------------------------------------------------------
let previous = null;
function cells(row, values) { row.innerHTML = values.map(v => `<td>${v}</td>`).join(""); }
function si(x) { if (x === null || x === undefined) return "-"; const a = Math.abs(x);
  return a >= 1e9 ? (x / 1e9).toFixed(2) + " G" : a >= 1e6 ? (x / 1e6).toFixed(2) + " M" : a >= 1e3 ? (x / 1e3).toFixed(1) + " k" : (+x).toFixed(0); }
async function pollReport() {
  for (;;) {
    try {
      const report = await api("/report");
      document.getElementById("state").textContent = (report.stopping ? "stopping" : "running") + `, ${report.duration.toFixed(1)} s`;
      const blocks = document.getElementById("blocks");
      blocks.innerHTML = "<tr><th>block</th><th>items</th><th>samples/s</th><th>busy</th><th>lost</th></tr>";
      for (const b of report.blocks) {
        const before = previous && previous.blocks.find(p => p.name === b.name);
        const dt = previous ? report.duration - previous.duration : 0;
        const sink = b.kind === "sink", items = sink ? b.items_in : b.items_out;
        const samples = x => (x ? (sink ? x.samples_in : x.samples_out) : 0);
        const rate = before && dt > 0 ? (samples(b) - samples(before)) / dt : null;
        cells(blocks.insertRow(), [b.name, items, si(rate), report.duration > 0 ? (100 * b.busy / report.duration).toFixed(0) + " %" : "-", b.lost]);
      }
      const edges = document.getElementById("edges");
      edges.innerHTML = "<tr><th>FIFO</th><th>items</th><th>queued</th><th>capacity</th><th>lost</th><th>skipped</th></tr>";
      for (const e of report.edges) cells(edges.insertRow(), [`${e.producer} → ${e.consumer}`, e.items, e.size, e.capacity, e.policy === "block" ? e.dropped_items : 0, e.policy === "block" ? 0 : e.dropped_items]);
      previous = report;
    } catch (error) {
      document.getElementById("state").textContent = "ended (" + error.message + ")";
      return;
    }
    await new Promise(r => setTimeout(r, 500));
  }
}

// -- controls --------------------------------------------------------------------------------
function controlFor(p) {
  const div = document.createElement("div");
  div.className = "control";
  div.dataset.name = p.name;
  const label = document.createElement("label");
  label.textContent = p.name + (p.unit ? ` (${p.unit})` : "");
  label.title = p.doc || p.source;
  div.appendChild(label);
  const error = document.createElement("div");
  error.className = "error";
  let input, slider = document.createElement("span");
  const choices = p.choices || (p.kind === "bool" ? [true, false] : null);
  if (choices) {
    input = document.createElement("select");
    for (const c of choices) input.add(new Option(c, c, false, c === p.value));
  } else {
    input = document.createElement("input");
    input.type = p.kind === "str" ? "text" : "number";
    input.value = p.value;
    if (p.low !== null && p.high !== null && p.kind !== "str" && p.kind !== "bool") {
      slider = document.createElement("input");
      slider.type = "range";
      Object.assign(slider, { min: p.low, max: p.high, step: p.kind === "int" ? 1 : (p.high - p.low) / 1000, value: p.value });
      slider.oninput = () => (input.value = slider.value);
      slider.onchange = () => send(slider.value);
    }
  }
  input.name = p.name;
  const send = async value => {
    const v = p.kind === "str" ? value : p.kind === "bool" ? value === "true"
      : p.choices && typeof p.choices[0] === "string" ? value : Number(value);
    try {
      const got = await api("/params/" + encodeURIComponent(p.name), { method: "PUT", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ value: v }) });
      input.value = got.value; if (slider.value !== undefined) slider.value = got.value;
      error.textContent = "";
    } catch (e) { error.textContent = e.message; daqflow.errors.push(e.message); }
  };
  input.onchange = () => send(input.value);
  div.append(slider, input, error);
  return div;
}
async function showControls() {
  const params = await api("/params");
  const box = document.getElementById("controls");
  if (params.length) box.innerHTML = "";
  for (const p of params) box.appendChild(controlFor(p));
}

// -- views: long poll each web_view's stream and draw the newest ------------------------------
function decode(response, buffer) {
  const dtype = response.headers.get("X-Daqflow-Dtype") || "<f4";
  const shape = (response.headers.get("X-Daqflow-Shape") || "").split(",").filter(Boolean).map(Number);
  const meta = JSON.parse(response.headers.get("X-Daqflow-Meta") || "{}");
  if (dtype !== "<f4") throw new Error("unexpected dtype " + dtype);
  return { values: new Float32Array(buffer), shape, meta };
}
function fit(canvas) {
  const w = canvas.clientWidth, h = canvas.clientHeight;
  if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
  return [w, h];
}
function trace(ctx, xs, ys, w, h, lo, hi, colour) {
  ctx.strokeStyle = colour; ctx.beginPath();
  const x0 = xs[0], x1 = xs[xs.length - 1] || 1;
  for (let k = 0; k < ys.length; k++) {
    const x = ((xs[k] - x0) / (x1 - x0 || 1)) * w, y = h - ((ys[k] - lo) / (hi - lo || 1)) * h;
    k ? ctx.lineTo(x, y) : ctx.moveTo(x, y);
  }
  ctx.stroke();
}
const painters = {
  time(view, item) {
    const [w, h] = fit(view.canvas), ctx = view.ctx, n = item.shape[0] || 0, two = item.shape[1] === 2;
    const i = new Float32Array(n), q = new Float32Array(two ? n : 0), xs = new Float32Array(n);
    for (let k = 0; k < n; k++) { i[k] = two ? item.values[2 * k] : item.values[k]; if (two) q[k] = item.values[2 * k + 1]; xs[k] = k / item.meta.rate; }
    let lo = Infinity, hi = -Infinity; for (const v of [...i, ...q]) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    ctx.fillStyle = "#0b1020"; ctx.fillRect(0, 0, w, h);
    trace(ctx, xs, i, w, h, lo, hi, "#7fd1ff"); if (two) trace(ctx, xs, q, w, h, lo, hi, "#ffb86b");
    view.data = { x: Array.from(xs), y: Array.from(i) };
    view.caption.textContent = `${n} samples at ${si(item.meta.rate)}Hz`;
  },
  spectrum(view, item) {
    const [w, h] = fit(view.canvas), ctx = view.ctx, n = item.values.length, m = item.meta;
    const xs = Float32Array.from({ length: n }, (_, k) => m.f0 + k * m.df);
    let lo = Infinity, hi = -Infinity; for (const v of item.values) if (isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    ctx.fillStyle = "#0b1020"; ctx.fillRect(0, 0, w, h);
    trace(ctx, xs, item.values, w, h, lo - 3, hi + 3, "#9cff8f");
    let peak = 0; for (let k = 1; k < n; k++) if (item.values[k] > item.values[peak]) peak = k;
    view.data = { x: Array.from(xs), y: Array.from(item.values), peak: xs[peak] };
    view.caption.textContent = `${si(xs[0])}Hz … ${si(xs[n - 1])}Hz, peak ${si(xs[peak])}Hz at ${item.values[peak].toFixed(1)} dB` +
      (m.center_freq !== undefined ? `, centre ${si(m.center_freq)}Hz` : "");
  },
  waterfall(view, item) {
    const [w, h] = fit(view.canvas), ctx = view.ctx, n = item.values.length, m = item.meta;
    const key = `${m.f0}/${m.df}/${n}`;
    if (view.axis !== key) { ctx.fillStyle = "#0b1020"; ctx.fillRect(0, 0, w, h); view.axis = key; } // a retune: rows on the old axis go
    const tall = 3; // pixels per row
    ctx.drawImage(view.canvas, 0, 0, w, h - tall, 0, tall, w, h - tall); // scroll down one row
    let lo = Infinity, hi = -Infinity; for (const v of item.values) if (isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    const row = ctx.createImageData(w, tall);
    for (let x = 0; x < w; x++) {
      const v = (item.values[Math.floor((x / w) * n)] - lo) / (hi - lo || 1);
      for (let y = 0; y < tall; y++) row.data.set([255 * v, 255 * Math.sqrt(v) * 0.8, 255 * (1 - v) * 0.6, 255], 4 * (y * w + x));
    }
    ctx.putImageData(row, 0, 0);
    let peak = 0; for (let k = 1; k < n; k++) if (item.values[k] > item.values[peak]) peak = k;
    view.data = { x: null, y: Array.from(item.values), peak: m.f0 + peak * m.df };
    view.caption.textContent = `${si(m.f0)}Hz … ${si(m.f0 + (n - 1) * m.df)}Hz, newest row on top`;
  },
};
async function follow(spec) {
  const div = document.createElement("div");
  div.className = "view";
  div.innerHTML = `<h3></h3><canvas></canvas><div class="caption"></div>`;
  div.querySelector("h3").textContent = spec.name;
  document.getElementById("views").appendChild(div);
  const view = (daqflow.views[spec.name] = { kind: spec.kind, canvas: div.querySelector("canvas"), caption: div.querySelector(".caption"), shown: 0, missed: 0, meta: null, params: {}, latencies: [] });
  view.ctx = view.canvas.getContext("2d");
  let after = null; // the first request asks for the newest packet: no replay of old ones
  for (;;) {
    let response;
    const from = after === null ? "" : `after=${after}&`;
    try { response = await fetch(`${spec.url}?${from}timeout=10`, { headers: auth }); }
    catch (e) { await new Promise(r => setTimeout(r, 500)); continue; }
    if (response.status === 204) { if (response.headers.get("X-Daqflow-Ended")) return; continue; }
    if (!response.ok) return;
    after = Number(response.headers.get("X-Daqflow-Seq"));
    view.missed += Number(response.headers.get("X-Daqflow-Missed") || 0);
    if (response.headers.get("X-Daqflow-Kind") !== "chunk") { await response.arrayBuffer(); continue; }
    const item = decode(response, await response.arrayBuffer());
    Object.assign(view.params, item.meta.params || {});
    const waiting = view.pending;
    view.pending = item; // only the newest is drawn: one drawing per animation frame
    if (waiting) { view.skipped = (view.skipped || 0) + 1; continue; }
    requestAnimationFrame(() => {
      const newest = view.pending;
      view.pending = null;
      const kind = newest.meta.kind || spec.kind;
      painters[kind in painters ? kind : "time"](view, newest);
      view.shown++; daqflow.drawn++; view.meta = newest.meta;
      // seconds from the chunk's birth (meta "made", wall clock, if a block stamped it) or
      // from the view's publishing it, to its drawing
      const born = newest.meta.made ?? newest.meta.sent;
      if (born) {
        const age = Date.now() / 1000 - born;
        for (const list of [daqflow.latencies, view.latencies]) { list.push(age); if (list.length > 5000) list.splice(0, 1000); }
      }
    });
  }
}
async function showViews() {
  const views = await api("/views");
  if (!views.length) document.getElementById("views").innerHTML = '<p class="none">no web_view in this graph</p>';
  views.forEach(follow);
  // views that a sink registers a moment after the page loaded
  setTimeout(async () => { for (const v of await api("/views")) if (!(v.name in daqflow.views)) follow(v); }, 1500);
}

document.getElementById("stop").onclick = () => api("/stop", { method: "POST" }).catch(e => alert(e.message));
Promise.all([drawGraph(), showControls(), showViews()]).then(() => (daqflow.ready = true),
  e => { daqflow.errors.push(e.message); document.getElementById("state").textContent = e.message; });
pollReport();
