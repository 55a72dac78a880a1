// The "Information plane" dashboard: plain JS + hand-written SVG, no dependencies.
//
// Data: GET <api>/runs and <api>/points?run=&label=&split= (all seeds), where <api> is
// /data/plugin/infoplane/ (derived from this module's URL, so it works both inside
// TensorBoard's iframe and on the stand-alone page static/index.html).
//
// Stable hooks for tests: #plot (the SVG), g.trajectory[data-run][data-layer] (one per run and
// layer), .point[data-epoch] (one per plotted epoch), .marker (one per trajectory, at the
// slider's epoch), #epoch-slider, #play, #epoch-label, #tooltip, #legend, #empty, #error,
// #run-list input[data-run], #label-select (one option per estimator instance: name and
// parameters, e.g. "binning(n_bins=8)"), #split-select, #seed-select, .errorbar (per-point
// 95 % intervals), .null-band / .null-line (the label-permutation null of I(T;Y) per layer),
// .forbidden (regions below 0 / above a ceiling), .point.violation, .dpi-mark,
// #colorbar[data-scale] .cb-tick, #export-svg, #export-csv; mount(root).exportSVG() /
// exportCSV() return what the buttons download (also kept in app.lastExport).

import {
  NOT_SHANNON as NOT_SHANNON_NAMES, dpiViolations, epochScale, instanceKey as instanceKeyOf, instances, meanAndSpread, rangeViolations, symbols, toCSV,
  unitText,
} from "./plane.js";

const SVG_NS = "http://www.w3.org/2000/svg";
const POLL_MS = 5000;
const PLAY_MS = 90;
const DASHES = ["", "7 4", "2 3", "10 3 2 3", "4 2 1 2 1 2"];
const SHAPES = ["circle", "square", "triangle", "diamond", "cross"];
const SHAPE_NAMES = {
  circle: "circles", square: "squares", triangle: "triangles", diamond: "diamonds",
  cross: "crosses",
};
// viridis, 11 stops (matplotlib's colormap sampled evenly)
const VIRIDIS = [
  [68, 1, 84], [72, 36, 117], [65, 68, 135], [53, 95, 141], [42, 120, 142], [33, 145, 140],
  [34, 168, 132], [68, 191, 112], [122, 209, 81], [189, 223, 38], [253, 231, 37],
];

export function viridis(t) {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const f = x - i;
  const c = VIRIDIS[i].map((v, k) => Math.round(v + f * (VIRIDIS[i + 1][k] - v)));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

function el(tag, attrs = {}, parent = null, text = null) {
  const e = tag.startsWith("svg:")
    ? document.createElementNS(SVG_NS, tag.slice(4))
    : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v !== null && v !== undefined) e.setAttribute(k, String(v));
  }
  if (text !== null) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}

function shapePath(shape, r) {
  switch (shape) {
    case "square":
      return `M${-r},${-r}H${r}V${r}H${-r}Z`;
    case "triangle": {
      const h = r * 1.25;
      return `M0,${-h}L${h},${h * 0.8}L${-h},${h * 0.8}Z`;
    }
    case "diamond": {
      const h = r * 1.35;
      return `M0,${-h}L${h},0L0,${h}L${-h},0Z`;
    }
    case "cross": {
      const a = r * 0.45;
      return `M${-a},${-r}H${a}V${-a}H${r}V${a}H${a}V${r}H${-a}V${a}H${-r}V${-a}H${-a}Z`;
    }
    default:
      return `M${r},0A${r},${r} 0 1,1 ${-r},0A${r},${r} 0 1,1 ${r},0Z`;
  }
}

export function niceTicks(lo, hi, count = 6) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || 10 * mag;
  const out = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) {
    out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  }
  return out;
}

function fmt(v, digits = 4) {
  if (v === null || v === undefined || !Number.isFinite(v)) return "n/a";
  return Number(v).toPrecision(digits).replace(/(\.\d*?)0+$/, "$1").replace(/\.$/, "");
}

function tickLabel(v, step) {
  const d = Math.max(0, -Math.floor(Math.log10(step || 1) + 1e-9));
  return v.toFixed(Math.min(d, 6));
}

function paramsText(params) {
  // the estimator's name and the units are shown elsewhere
  const entries = Object.entries(params || {}).filter(([k]) => k !== "estimator" && k !== "units");
  if (!entries.length) return "default parameters";
  return entries.map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`)
    .join(", ");
}

async function getJSON(url) {
  const r = await fetch(url, { cache: "no-store" });
  let body = null;
  try {
    body = await r.json();
  } catch (e) {
    throw new Error(`${r.status} ${r.statusText} from ${url}`);
  }
  if (!r.ok) throw new Error(body && body.error ? body.error : `${r.status} from ${url}`);
  return body;
}

// Mean over seeds, per epoch present in every seed; NaN-aware per layer.
export function meanSeries(series) {
  if (series.length === 1) return series[0];
  const maps = series.map((s) => new Map(s.epochs.map((e, i) => [e, i])));
  const epochs = series[0].epochs.filter((e) => maps.every((m) => m.has(e)));
  const avg = (key) => epochs.map((e) => {
    const rows = series.map((s, k) => s[key][maps[k].get(e)]);
    return rows[0].map((_, l) => {
      const vals = rows.map((r) => r[l]).filter((v) => v !== null && Number.isFinite(v));
      return vals.length ? vals.reduce((a, b) => a + b, 0) / vals.length : null;
    });
  });
  return { seed: "mean", epochs, i_xt: avg("i_xt"), i_ty: avg("i_ty"), n: series.length };
}

const EXTRA = ["i_xt_lo", "i_xt_hi", "i_ty_lo", "i_ty_hi", "i_ty_null"];

function cell(s, key, i, l) {
  const rows = s[key];
  const v = rows && rows[i] ? rows[i][l] : null;
  return v === null || v === undefined || !Number.isFinite(v) ? null : v;
}

// The points of layer l: one seed as stored (with its per-estimate 95 % interval and null);
// several seeds: their mean per epoch present in every seed, the interval 1.96 standard
// errors over the seeds, the null their mean.
export function layerPoints(series, l) {
  if (series.length === 1) {
    const s = series[0];
    return s.epochs.map((e, i) => {
      const p = { epoch: e, x: cell(s, "i_xt", i, l), y: cell(s, "i_ty", i, l) };
      for (const k of EXTRA) p[k] = cell(s, k, i, l);
      p.ci = "95% interval";
      return p;
    });
  }
  const maps = series.map((s) => new Map(s.epochs.map((e, i) => [e, i])));
  const epochs = series[0].epochs.filter((e) => maps.every((m) => m.has(e)));
  return epochs.map((e) => {
    const at = (key) => series.map((s, k) => cell(s, key, maps[k].get(e), l));
    const x = meanAndSpread(at("i_xt"));
    const y = meanAndSpread(at("i_ty"));
    const nul = meanAndSpread(at("i_ty_null"));
    return {
      epoch: e, x: x.mean, y: y.mean,
      i_xt_lo: x.half === null ? null : x.mean - x.half,
      i_xt_hi: x.half === null ? null : x.mean + x.half,
      i_ty_lo: y.half === null ? null : y.mean - y.half,
      i_ty_hi: y.half === null ? null : y.mean + y.half,
      i_ty_null: nul.mean, ci: `±1.96 SE over ${series.length} seeds`,
    };
  });
}

class App {
  constructor(root) {
    this.root = root;
    this.api = new URL("../", import.meta.url);
    this.runs = []; // from /runs
    this.points = new Map(); // run -> points payload for the current label/split
    this.signature = new Map(); // run -> what the points were fetched for
    this.sel = { runs: null, inst: null, split: null, seed: "all", layers: new Set() };
    this.instances = [];
    this.hiddenLayers = new Set();
    this.epochIndex = null; // null: follow the latest epoch
    this.epochs = [];
    this.playing = null;
    this.message = null;
    this.build();
    this.refresh();
    this.timer = setInterval(() => this.refresh(), POLL_MS);
    window.addEventListener("resize", () => this.draw());
  }

  build() {
    const r = this.root;
    r.classList.add("ip-root");
    const head = el("div", { class: "ip-header" }, r);
    el("h1", { class: "ip-title" }, head, "Information plane");
    this.status = el("span", { id: "status", class: "ip-status" }, head, "loading…");
    this.errorBox = el("div", { id: "error", class: "ip-error", hidden: "" }, r);
    this.empty = el("div", { id: "empty", class: "ip-empty", hidden: "" }, r);
    const main = el("div", { class: "ip-main" }, r);
    const side = el("div", { class: "ip-side" }, main);

    const runBox = el("fieldset", { class: "ip-box" }, side);
    el("legend", {}, runBox, "Runs");
    this.runList = el("div", { id: "run-list", class: "ip-run-list" }, runBox);

    const serBox = el("fieldset", { class: "ip-box" }, side);
    el("legend", {}, serBox, "Series");
    const mk = (label, id) => {
      const row = el("label", { class: "ip-row" }, serBox);
      el("span", {}, row, label);
      const s = el("select", { id }, row);
      s.addEventListener("change", () => this.onSelect());
      return s;
    };
    this.labelSel = mk("Estimator", "label-select");
    this.splitSel = mk("Split", "split-select");
    this.seedSel = mk("Seed", "seed-select");
    this.paramsBox = el("div", { id: "params", class: "ip-params" }, serBox);

    const layerBox = el("fieldset", { class: "ip-box" }, side);
    el("legend", {}, layerBox, "Layers");
    this.layerList = el("div", { id: "layer-list", class: "ip-layer-list" }, layerBox);

    this.legend = el("div", { id: "legend", class: "ip-box ip-legend" }, side);

    const center = el("div", { class: "ip-center" }, main);
    this.plotWrap = el("div", { class: "ip-plot-wrap" }, center);
    this.svg = el("svg:svg", { id: "plot", role: "img", "aria-label": "information plane" },
      this.plotWrap);
    this.tooltip = el("div", { id: "tooltip", class: "ip-tooltip", hidden: "" }, this.plotWrap);
    // points whose I(X;T) or I(T;Y) is NaN / +-inf (null in /points) cannot be placed: counted
    this.nonfiniteNote = el("div", { id: "nonfinite-note", class: "ip-nonfinite", hidden: "" },
      center);

    const ctl = el("div", { class: "ip-controls" }, center);
    this.playBtn = el("button", { id: "play", type: "button", title: "Play / pause" }, ctl, "▶");
    this.slider = el("input", {
      id: "epoch-slider", type: "range", min: 0, max: 0, step: 1, value: 0,
      "aria-label": "epoch",
    }, ctl);
    this.epochLabel = el("span", { id: "epoch-label", class: "ip-epoch" }, ctl, "epoch –");
    this.followBtn = el("button", { id: "latest", type: "button", title: "Follow the latest epoch" },
      ctl, "latest");
    this.svgBtn = el("button", { id: "export-svg", type: "button",
      title: "Download the plane as drawn (SVG)" }, ctl, "SVG");
    this.csvBtn = el("button", { id: "export-csv", type: "button",
      title: "Download the points shown (CSV)" }, ctl, "CSV");
    this.svgBtn.addEventListener("click", () => this.exportSVG());
    this.csvBtn.addEventListener("click", () => this.exportCSV());
    this.slider.addEventListener("input", () => {
      this.stop();
      this.setEpochIndex(Number(this.slider.value), false);
    });
    this.playBtn.addEventListener("click", () => (this.playing ? this.stop() : this.play()));
    this.followBtn.addEventListener("click", () => {
      this.stop();
      this.epochIndex = null;
      this.setEpochIndex(this.epochs.length - 1, true);
    });

    this.svg.addEventListener("mouseover", (ev) => this.hover(ev));
    this.svg.addEventListener("mousemove", (ev) => this.hover(ev));
    this.svg.addEventListener("mouseleave", () => this.unhover());
  }

  // ------------------------------------------------------------------ data
  async refresh() {
    try {
      const payload = await getJSON(new URL("runs", this.api));
      this.runs = payload.runs || [];
      this.message = payload.message;
      this.sampling = payload.sampling || {};
      this.syncSelection();
      await this.fetchPoints();
      this.showError(null);
    } catch (e) {
      this.showError(`Could not load data: ${e.message}`);
    }
    this.render();
  }

  selectedRuns() {
    return this.runs.filter((r) => this.sel.runs.has(r.run));
  }

  syncSelection() {
    const names = this.runs.map((r) => r.run);
    if (this.sel.runs === null) {
      this.sel.runs = new Set(names);
    } else {
      // keep the user's choice; runs that appear later are shown too
      for (const n of names) if (!this.known || !this.known.has(n)) this.sel.runs.add(n);
    }
    this.known = new Set(names);
    // one entry per estimator instance (name + parameters), the run's first recorded first
    this.instances = instances(this.selectedRuns());
    const byValue = new Map(this.instances.map((i) => [i.value, i]));
    if (!byValue.has(this.sel.inst)) this.sel.inst = this.instances[0]?.value ?? null;
    const inst = byValue.get(this.sel.inst);
    const series = this.selectedRuns().flatMap((r) => r.series)
      .filter((s) => inst && this.seriesOf(s, inst));
    const splits = [...new Set(series.map((s) => s.split))]
      .sort((a, b) => (a === "train" ? -1 : b === "train" ? 1 : a < b ? -1 : 1));
    if (!splits.includes(this.sel.split)) this.sel.split = splits[0] ?? null;
    const seeds = [...new Set(series.filter((s) => s.split === this.sel.split)
      .map((s) => s.seed))].sort((a, b) => a - b);
    if (this.sel.seed !== "all" && !seeds.includes(this.sel.seed)) this.sel.seed = "all";
    this.fillSelect(this.labelSel, this.instances.map((i) => [i.value, i.label]),
      this.sel.inst);
    for (const o of this.labelSel.options) {
      const i = byValue.get(o.value);
      o.title = i ? `${i.estimator}: ${paramsText(i.params)}` : "";
      o.dataset.estimator = i ? i.estimator : "";
    }
    this.fillSelect(this.splitSel, splits.map((s) => [s, s]), this.sel.split);
    const seedOpts = [["all", seeds.length > 1 ? `all (mean of ${seeds.length})` : "all"]]
      .concat(seeds.map((s) => [String(s), `seed ${s}`]));
    this.fillSelect(this.seedSel, seedOpts, String(this.sel.seed));
    this.fillRunList();
  }

  currentInstance() {
    return this.instances.find((i) => i.value === this.sel.inst) || null;
  }

  seriesOf(s, inst) {
    return inst.key === instanceKeyOf(s);
  }

  fillSelect(select, options, value) {
    const key = JSON.stringify(options);
    if (select.dataset.key !== key) {
      select.replaceChildren();
      for (const [v, text] of options) el("option", { value: v }, select, text);
      select.dataset.key = key;
    }
    if (value !== null && value !== undefined) select.value = value;
    select.disabled = options.length <= 1 && select !== this.seedSel;
  }

  fillRunList() {
    const key = JSON.stringify(this.runs.map((r) => r.run));
    if (this.runList.dataset.key !== key) {
      this.runList.replaceChildren();
      this.runs.forEach((r, i) => {
        const row = el("label", { class: "ip-run" }, this.runList);
        const cb = el("input", { type: "checkbox", "data-run": r.run }, row);
        cb.addEventListener("change", () => {
          if (cb.checked) this.sel.runs.add(r.run);
          else this.sel.runs.delete(r.run);
          this.syncSelection();
          this.fetchPoints().then(() => this.render());
        });
        const sw = el("svg:svg", { class: "ip-swatch", width: 46, height: 14 }, row);
        this.styleSample(sw, i, 46, 14);
        el("span", { class: "ip-run-name", title: r.run }, row, r.run);
      });
      this.runList.dataset.key = key;
    }
    for (const cb of this.runList.querySelectorAll("input[data-run]")) {
      cb.checked = this.sel.runs.has(cb.dataset.run);
    }
  }

  styleSample(svg, i, w, h) {
    el("svg:line", {
      x1: 2, x2: w - 2, y1: h / 2, y2: h / 2, class: "ip-sample-line",
      "stroke-dasharray": DASHES[i % DASHES.length] || null,
    }, svg);
    el("svg:path", {
      d: shapePath(SHAPES[i % SHAPES.length], 4), transform: `translate(${w / 2},${h / 2})`,
      class: "ip-sample-shape",
    }, svg);
  }

  onSelect() {
    this.sel.inst = this.labelSel.value;
    this.sel.split = this.splitSel.value;
    this.sel.seed = this.seedSel.value === "all" ? "all" : Number(this.seedSel.value);
    this.syncSelection();
    this.fetchPoints().then(() => this.render());
  }

  async fetchPoints() {
    const wanted = new Set();
    const jobs = [];
    const inst = this.currentInstance();
    for (const r of this.selectedRuns()) {
      // never mixed: only this run's series of the selected instance (its own tag label)
      const series = inst ? r.series.filter((s) => this.seriesOf(s, inst)
        && s.split === this.sel.split) : [];
      if (!series.length) continue;
      wanted.add(r.run);
      const label = series[0].label;
      const sig = JSON.stringify([label, this.sel.split,
        series.map((s) => [s.seed, s.n_epochs, s.last_epoch])]);
      if (this.signature.get(r.run) === sig) continue;
      const q = new URLSearchParams({ run: r.run, label, split: this.sel.split });
      jobs.push(getJSON(new URL(`points?${q}`, this.api)).then((p) => {
        this.points.set(r.run, p);
        this.signature.set(r.run, sig);
      }));
    }
    for (const run of [...this.points.keys()]) {
      if (!wanted.has(run)) {
        this.points.delete(run);
        this.signature.delete(run);
      }
    }
    await Promise.all(jobs);
  }

  showError(msg) {
    this.errorBox.hidden = !msg;
    this.errorBox.textContent = msg || "";
  }

  // ------------------------------------------------------------------ view model
  traces() {
    const out = [];
    this.runs.forEach((r, runIndex) => {
      const p = this.points.get(r.run);
      if (!p || !this.sel.runs.has(r.run)) return;
      let series = p.series.filter((s) => s.epochs.length);
      if (this.sel.seed !== "all") series = series.filter((s) => s.seed === this.sel.seed);
      if (!series.length) return;
      const main = meanSeries(series);
      const dpi = dpiViolations({ ...p, series });
      (p.layers || []).forEach((layer, l) => {
        if (this.hiddenLayers.has(layer)) return;
        const pts = layerPoints(series, l);
        for (const q of pts) {
          q.violations = rangeViolations(q, p.ceilings, p.ceiling_names, p.estimator);
          q.dpi = dpi.get(`${l}|${q.epoch}`) || [];
        }
        const seedLines = series.length > 1 ? series.map((s) => ({
          seed: s.seed,
          pts: s.epochs.map((e, i) => ({ epoch: e, x: s.i_xt[i][l], y: s.i_ty[i][l] })),
        })) : [];
        out.push({
          run: r.run, runIndex, layer, layerIndex: l, pts, seedLines, payload: p,
          seeds: series.map((s) => s.seed),
          seedText: main.seed === "mean" ? `mean of ${main.n} seeds (${series.map((s) => s.seed)
            .join(", ")})` : `seed ${main.seed}`,
        });
      });
    });
    return out;
  }

  // ------------------------------------------------------------------ drawing
  render() {
    const noData = this.runs.length === 0;
    this.empty.hidden = !noData;
    if (noData) {
      this.empty.replaceChildren();
      el("h2", {}, this.empty, "No information-plane data yet");
      el("p", {}, this.empty, this.message || "No run in this log directory has infoplane data.");
      const pre = el("pre", {}, this.empty);
      pre.textContent = "rec = infoplane.Recorder(x_probe, y_probe, logdir=\"runs\")\n"
        + "for epoch in range(n_epochs):\n    train_one_epoch(model)\n"
        + "    rec.record(epoch, model)\nrec.close()\n\n# or:  infoplane run --logdir runs";
      el("p", { class: "ip-hint" }, this.empty,
        `This page checks for new data every ${POLL_MS / 1000} s.`);
    }
    this.root.querySelector(".ip-main").hidden = noData;
    const nSeries = this.runs.reduce((a, r) => a + r.series.length, 0);
    const warn = this.sampling && this.sampling.warning ? ` — ${this.sampling.warning}` : "";
    this.status.textContent = noData ? "no data" : `${this.runs.length} run(s), ${nSeries} series,`
      + ` updated ${new Date().toLocaleTimeString()}${warn}`;
    this.status.classList.toggle("ip-warn", Boolean(warn));
    this.fillLayerList();
    this.fillParams();
    this.draw();
  }

  fillLayerList() {
    const layers = [];
    for (const p of this.points.values()) {
      for (const l of p.layers || []) if (!layers.includes(l)) layers.push(l);
    }
    const key = JSON.stringify(layers);
    if (this.layerList.dataset.key === key) return;
    this.layerList.replaceChildren();
    for (const layer of layers) {
      const row = el("label", { class: "ip-layer" }, this.layerList);
      const cb = el("input", { type: "checkbox", "data-layer": layer, class: "layer-toggle" }, row);
      cb.checked = !this.hiddenLayers.has(layer);
      cb.addEventListener("change", () => {
        if (cb.checked) this.hiddenLayers.delete(layer);
        else this.hiddenLayers.add(layer);
        this.draw();
      });
      el("span", {}, row, layer);
    }
    this.layerList.dataset.key = key;
  }

  fillParams() {
    this.paramsBox.replaceChildren();
    for (const [run, p] of this.points) {
      if (!this.sel.runs.has(run)) continue;
      const div = el("div", { class: "ip-param-row" }, this.paramsBox);
      el("b", {}, div, p.title && p.title !== p.estimator ? `${p.estimator} · ${p.title}`
        : `${p.estimator}`);
      el("span", {}, div, ` (${run}): ${paramsText(p.params)}`);
    }
  }

  draw() {
    const traces = this.traces();
    const svg = this.svg;
    svg.replaceChildren();
    const W = Math.max(420, this.plotWrap.clientWidth || 800);
    const H = Math.round(Math.max(340, Math.min(640, W * 0.62, window.innerHeight - 130)));
    svg.setAttribute("width", W);
    svg.setAttribute("height", H);
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    const M = { l: 64, r: 86, t: 18, b: 54 };
    const pw = W - M.l - M.r;
    const ph = H - M.t - M.b;

    // epochs of everything shown -> slider
    const epochSet = new Set();
    for (const t of traces) for (const p of t.pts) epochSet.add(p.epoch);
    const epochs = [...epochSet].sort((a, b) => a - b);
    const follow = this.epochIndex === null;
    const prevEpoch = follow ? null : this.epochs[this.epochIndex];
    this.epochs = epochs;
    this.slider.max = String(Math.max(0, epochs.length - 1));
    let idx = epochs.length - 1;
    if (!follow && prevEpoch !== undefined) {
      const j = epochs.findIndex((e) => e >= prevEpoch);
      idx = j < 0 ? epochs.length - 1 : j;
    }
    this.slider.disabled = epochs.length < 2;
    this.playBtn.disabled = epochs.length < 2;

    if (!traces.length) {
      el("svg:text", { x: W / 2, y: H / 2, class: "ip-nodata", "text-anchor": "middle" }, svg,
        this.runs.length ? "Nothing selected: pick a run, estimator and split." : "");
      this.traceList = [];
      this.drawLegend([]);
      this.epochLabel.textContent = "epoch –";
      return;
    }

    // scales: 0 .. the ceilings, widened to every value and interval (negative ones too)
    // ceiling value -> its name ("H(X)", "log2 512", ...; older files: H(X), H(Y))
    const ceil = { x: new Map(), y: new Map() };
    const ext = { x: [0], y: [0] };
    for (const t of traces) {
      const c = t.payload.ceilings || {};
      const cn = t.payload.ceiling_names || {};
      if (Number.isFinite(c.i_xt)) ceil.x.set(c.i_xt, cn.i_xt || "H(X)");
      if (Number.isFinite(c.i_ty)) ceil.y.set(c.i_ty, cn.i_ty || "H(Y)");
      for (const p of t.pts.concat(...t.seedLines.map((q) => q.pts))) {
        for (const v of [p.x, p.i_xt_lo, p.i_xt_hi]) if (Number.isFinite(v)) ext.x.push(v);
        for (const v of [p.y, p.i_ty_lo, p.i_ty_hi, p.i_ty_null]) {
          if (Number.isFinite(v)) ext.y.push(v);
        }
      }
    }
    ext.x.push(...ceil.x.keys());
    ext.y.push(...ceil.y.keys());
    const range = (vals, pad) => {
      let lo = Math.min(...vals);
      let hi = Math.max(...vals);
      if (!(hi > lo)) hi = lo + 1;
      const span = hi - lo;
      return [lo < 0 ? lo - span * pad : 0, hi + span * pad];
    };
    const [xmin, xmax] = range(ext.x, 0.06);
    const [ymin, ymax] = range(ext.y, 0.08);
    const sx = (v) => M.l + ((v - xmin) / (xmax - xmin)) * pw;
    const sy = (v) => M.t + ph - ((v - ymin) / (ymax - ymin)) * ph;
    const scale = epochScale(epochs);
    const color = (e) => viridis(scale.t(e));

    // axes + grid
    const axes = el("svg:g", { class: "axes" }, svg);
    const xt = niceTicks(xmin, xmax, Math.max(3, Math.round(pw / 90)));
    const yt = niceTicks(ymin, ymax, Math.max(3, Math.round(ph / 60)));
    const xstep = xt.length > 1 ? xt[1] - xt[0] : 1;
    const ystep = yt.length > 1 ? yt[1] - yt[0] : 1;
    for (const v of xt) {
      el("svg:line", { x1: sx(v), x2: sx(v), y1: M.t, y2: M.t + ph, class: "grid" }, axes);
      el("svg:text", { x: sx(v), y: M.t + ph + 16, class: "tick", "text-anchor": "middle" }, axes,
        tickLabel(v, xstep));
    }
    for (const v of yt) {
      el("svg:line", { x1: M.l, x2: M.l + pw, y1: sy(v), y2: sy(v), class: "grid" }, axes);
      el("svg:text", { x: M.l - 7, y: sy(v) + 4, class: "tick", "text-anchor": "end" }, axes,
        tickLabel(v, ystep));
    }
    // impossible values: below 0 and above a ceiling (shaded; such points are marked)
    const fg = el("svg:g", { class: "forbidden-regions" }, svg);
    const shade = (x0, x1, y0, y1, what) => {
      if (!(x1 > x0 + 0.5) || !(y1 > y0 + 0.5)) return;
      const r = el("svg:rect", { x: x0, y: y0, width: x1 - x0, height: y1 - y0,
        class: "forbidden", "data-region": what }, fg);
      el("svg:title", {}, r, `impossible: ${what}`);
    };
    if (xmin < 0) shade(M.l, sx(0), M.t, M.t + ph, "below 0");
    if (ymin < 0) shade(M.l, M.l + pw, sy(0), M.t + ph, "below 0");
    for (const [v, n] of ceil.x) shade(sx(v), M.l + pw, M.t, M.t + ph, `above ${n}`);
    for (const [v, n] of ceil.y) shade(M.l, M.l + pw, M.t, sy(v), `above ${n}`);
    if (xmin < 0) el("svg:line", { x1: sx(0), x2: sx(0), y1: M.t, y2: M.t + ph, class: "zero" }, fg);
    if (ymin < 0) el("svg:line", { x1: M.l, x2: M.l + pw, y1: sy(0), y2: sy(0), class: "zero" }, fg);
    el("svg:rect", { x: M.l, y: M.t, width: pw, height: ph, class: "frame" }, axes);
    const first = traces[0].payload;
    const units = [...new Set(traces.map((t) => unitText(t.payload.estimator,
      t.payload.units || "bits")))].join("/");
    const ests = [...new Set(traces.map((t) => t.payload.estimator))].join(", ");
    // the figures' axis names (e.g. "matrix-Rényi I_α(X;T), α=1.01"; "DSMI(X;T)")
    const sym = symbols(first.estimator);
    const name = (q) => [...new Set(traces.map((t) => (t.payload.names || {})[q] || sym[q]))]
      .join(" / ");
    this.axisNames = { i_xt: name("i_xt"), i_ty: name("i_ty"), units };
    el("svg:text", { x: M.l + pw / 2, y: H - 12, class: "axis-label", id: "x-label",
      "text-anchor": "middle" }, axes,
    `${name("i_xt")} [${units}] — ${ests}, ${this.sel.split}`);
    el("svg:text", {
      x: 0, y: 0, class: "axis-label", id: "y-label", "text-anchor": "middle",
      transform: `translate(16,${M.t + ph / 2}) rotate(-90)`,
    }, axes, `${name("i_ty")} [${units}] — ${ests}`);

    // ceilings
    const cg = el("svg:g", { class: "ceilings" }, svg);
    const placed = []; // label boxes, so layer labels avoid the ceiling labels and each other
    const u0 = first.units || "bits";
    for (const [v, cname] of ceil.x) {
      const w = (`${cname} = ${fmt(v)} ${u0}`).length * 6;
      placed.push({ x: sx(v) - 4 - w, y: M.t + 12, w });
      el("svg:line", { x1: sx(v), x2: sx(v), y1: M.t, y2: M.t + ph, class: "ceiling ceiling-x" },
        cg);
      el("svg:text", {
        x: sx(v) - 4, y: M.t + 12, class: "ceiling-label", "text-anchor": "end",
      }, cg, `${cname} = ${fmt(v)} ${u0}`);
    }
    for (const [v, cname] of ceil.y) {
      placed.push({ x: M.l + 6, y: sy(v) - 5, w: (`${cname} = ${fmt(v)} ${u0}`).length * 6 });
      el("svg:line", { x1: M.l, x2: M.l + pw, y1: sy(v), y2: sy(v), class: "ceiling ceiling-y" },
        cg);
      el("svg:text", { x: M.l + 6, y: sy(v) - 5, class: "ceiling-label" }, cg,
        `${cname} = ${fmt(v)} ${u0}`);
    }

    // the null of I(T;Y) per layer: a faint band over its range, a line at the slider's epoch
    const ng = el("svg:g", { class: "nulls" }, svg);
    traces.forEach((t, ti) => {
      const nv = t.pts.map((p) => p.i_ty_null).filter((v) => Number.isFinite(v));
      if (!nv.length) return;
      const lo = Math.min(...nv);
      const hi = Math.max(...nv);
      const band = el("svg:rect", { x: M.l, width: pw, y: sy(hi) - 1, height: sy(lo) - sy(hi) + 2,
        class: "null-band", "data-run": t.run, "data-layer": t.layer }, ng);
      el("svg:title", {}, band, `null ${sym.i_ty} (permuted labels), ${t.layer}: ${fmt(lo)}`
        + ` – ${fmt(hi)} ${u0}`);
      el("svg:line", { x1: M.l, x2: M.l + pw, y1: sy(nv[nv.length - 1]), y2: sy(nv[nv.length - 1]),
        class: "null-line", "data-trace": ti, "data-run": t.run, "data-layer": t.layer }, ng);
    });

    // trajectories
    const tg = el("svg:g", { class: "trajectories" }, svg);
    const labels = el("svg:g", { class: "layer-labels" });
    const multiRun = new Set(traces.map((t) => t.run)).size > 1;
    this.traceList = traces;
    let nDpi = 0;
    let nRange = 0;
    traces.forEach((t, ti) => {
      const dash = DASHES[t.runIndex % DASHES.length];
      const shape = SHAPES[t.runIndex % SHAPES.length];
      const g = el("svg:g", {
        class: "trajectory", "data-run": t.run, "data-layer": t.layer, "data-index": ti,
        "data-shape": shape, "data-dash": dash || "solid",
      }, tg);
      for (const q of t.seedLines) {
        el("svg:path", { d: linePath(q.pts, sx, sy), class: "seed-line", "data-seed": q.seed,
          "stroke-dasharray": dash || null }, g);
      }
      el("svg:path", { d: linePath(t.pts, sx, sy), class: "line",
        "stroke-dasharray": dash || null }, g);
      // error bars: the per-estimate 95 % interval (one seed) or 1.96 SE over seeds
      let bars = "";
      for (const p of t.pts) {
        if (!Number.isFinite(p.x) || !Number.isFinite(p.y)) continue;
        if (Number.isFinite(p.i_xt_lo) && Number.isFinite(p.i_xt_hi)) {
          bars += `M${sx(p.i_xt_lo).toFixed(2)},${sy(p.y).toFixed(2)}H${sx(p.i_xt_hi).toFixed(2)}`;
        }
        if (Number.isFinite(p.i_ty_lo) && Number.isFinite(p.i_ty_hi)) {
          bars += `M${sx(p.x).toFixed(2)},${sy(p.i_ty_lo).toFixed(2)}V${sy(p.i_ty_hi).toFixed(2)}`;
        }
      }
      if (bars) el("svg:path", { d: bars, class: "errorbar", "data-ci": t.pts[0].ci }, g);
      const d = shapePath(shape, shape === "circle" ? 3.6 : 3.3);
      for (const p of t.pts) {
        if (!Number.isFinite(p.x) || !Number.isFinite(p.y)) continue;
        const at = `translate(${sx(p.x).toFixed(2)},${sy(p.y).toFixed(2)})`;
        const bad = p.violations.length > 0;
        el("svg:path", {
          d, class: bad ? "point violation" : "point", transform: at,
          fill: color(p.epoch), "data-epoch": p.epoch, "data-trace": ti,
          "data-violation": bad ? p.violations.join("; ") : null,
        }, g);
        if (bad) {
          nRange += 1;
          el("svg:path", { d: "M-6,-6L6,6M-6,6L6,-6", class: "violation-mark", transform: at }, g);
        }
        if (p.dpi.length) {
          nDpi += 1;
          el("svg:circle", { r: 8, class: "dpi-mark", transform: at, "data-epoch": p.epoch }, g);
        }
      }
      const last = [...t.pts].reverse().find((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
      if (last) {
        const text = multiRun ? `${t.layer} · ${t.run}` : t.layer;
        const [lx, ly] = placeLabel(placed, sx(last.x) + 7, sy(last.y) - 6, text.length * 6.4,
          M.l + pw);
        el("svg:text", { x: lx, y: ly, class: "layer-label", "data-run": t.run,
          "data-layer": t.layer }, labels, text);
      }
      el("svg:path", { d: shapePath(shape, 7), class: "marker", "data-trace": ti }, g);
    });

    svg.appendChild(labels); // above every trajectory and marker
    this.marks = { dpi: nDpi, range: nRange };
    this.showNonfinite(traces);
    this.drawColorbar(svg, W - M.r + 22, M.t + 6, 14, Math.min(220, ph - 30), scale);
    this.drawLegend(traces);
    this.scales = { sx, sy };
    this.setEpochIndex(idx, follow);
  }

  showNonfinite(traces) {
    // never dropped silently: count the drawn traces' points with a non-finite coordinate,
    // and name the kinds the server flagged (p.nonfinite: [epoch, layer, quantity, kind])
    let n = 0;
    for (const t of traces) {
      for (const p of t.pts) if (!Number.isFinite(p.x) || !Number.isFinite(p.y)) n += 1;
    }
    const kinds = new Set();
    for (const t of traces) {
      for (const s of t.payload.series || []) {
        for (const f of s.nonfinite || []) if (f[1] === t.layerIndex) kinds.add(f[3]);
      }
    }
    this.nonfiniteNote.hidden = n === 0;
    this.nonfiniteNote.dataset.count = String(n);
    this.nonfiniteNote.textContent = n === 0 ? "" : `${n} non-finite point(s) not drawn`
      + ` (${kinds.size ? [...kinds].sort().join(", ") : "NaN / ±inf"}): a withheld estimate`
      + " or an estimator failure; `infoplane plot` prints the check report naming each one.";
  }

  drawColorbar(svg, x, y, w, h, scale) {
    const id = "ip-viridis";
    const defs = el("svg:defs", {}, svg);
    const grad = el("svg:linearGradient", { id, x1: 0, y1: 1, x2: 0, y2: 0 }, defs);
    for (let i = 0; i <= 10; i++) {
      el("svg:stop", { offset: `${i * 10}%`, "stop-color": viridis(i / 10) }, grad);
    }
    const g = el("svg:g", { id: "colorbar", class: "colorbar",
      "data-scale": scale.log ? "log" : "linear" }, svg);
    el("svg:text", { x: x + w / 2, y: y - 4, class: "cb-title", "text-anchor": "middle" }, g,
      scale.log ? "epoch (log)" : "epoch");
    el("svg:rect", { x, y: y + 4, width: w, height: h, fill: `url(#${id})`, class: "cb-bar" }, g);
    // ticks at the colour bar's own scale (log: 0, the decades, the last epoch)
    for (const v of scale.ticks) {
      const yy = y + 4 + h - scale.t(v) * h;
      el("svg:line", { x1: x + w, x2: x + w + 4, y1: yy, y2: yy, class: "cb-tick-line" }, g);
      el("svg:text", { x: x + w + 6, y: yy + 4, class: "tick cb-tick", "data-value": v }, g,
        String(v));
    }
    this.cb = { x, y: y + 4, w, h, scale };
    this.cbMarker = el("svg:path", { class: "cb-marker", d: "" }, g);
  }

  drawLegend(traces) {
    this.legend.replaceChildren();
    el("div", { class: "ip-legend-title" }, this.legend, "Legend");
    const runs = [];
    for (const t of traces) if (!runs.some((r) => r.run === t.run)) runs.push(t);
    for (const t of runs) {
      const row = el("div", { class: "legend-item", "data-run": t.run }, this.legend);
      const sw = el("svg:svg", { class: "ip-swatch", width: 46, height: 14 }, row);
      this.styleSample(sw, t.runIndex, 46, 14);
      const shape = SHAPES[t.runIndex % SHAPES.length];
      el("span", {}, row, `${t.run}`);
      el("span", { class: "ip-muted" }, row,
        ` (${SHAPE_NAMES[shape]}, ${DASHES[t.runIndex % DASHES.length] ? "dashed" : "solid"};`
        + ` ${t.seedText})`);
    }
    if (traces.length) {
      const p = traces[0].payload;
      const sym = symbols(p.estimator);
      const hasCI = traces.some((t) => t.pts.some((q) => Number.isFinite(q.i_xt_lo)
        || Number.isFinite(q.i_ty_lo)));
      const hasNull = traces.some((t) => t.pts.some((q) => Number.isFinite(q.i_ty_null)));
      const notes = ["Points: one per recorded epoch, coloured by epoch"
        + `${this.cb && this.cb.scale.log ? " (log scale: log-spaced epochs)" : ""}.`
        + " Dashed grey lines: the largest values this estimator can report (H(X) and H(Y),"
        + " or log2 n of the samples it sees; none for DSMI); shaded: impossible values"
        + " (below 0, above a ceiling), points there drawn with a red ×."];
      if (hasCI) notes.push(`Error bars: ${traces[0].pts[0].ci}.`);
      if (hasNull) {
        notes.push(`Faint band and line per layer: the null ${sym.i_ty} of permuted labels`
          + " (its range; the line at the slider's epoch).");
      }
      if (NOT_SHANNON_NAMES.has(p.estimator)) {
        notes.push("Not Shannon: no DPI check.");
      } else {
        notes.push(`Red circles: DPI violations (a layer exceeds the previous one by > 0.05`
          + ` ${p.units || "bits"}): ${this.marks ? this.marks.dpi : 0}.`);
      }
      if (this.marks && this.marks.range) {
        notes.push(`${this.marks.range} point(s) outside the possible range.`);
      }
      notes.push("Hover a point for its values.");
      el("div", { class: "ip-muted ip-legend-note", id: "legend-note" }, this.legend,
        notes.join(" "));
    }
  }

  setEpochIndex(idx, follow) {
    const n = this.epochs.length;
    if (!n) return;
    idx = Math.max(0, Math.min(n - 1, idx));
    this.epochIndex = follow ? null : idx;
    this.slider.value = String(idx);
    const epoch = this.epochs[idx];
    this.epochLabel.textContent = `epoch ${epoch}${follow ? " (latest)" : ""}  ·  ${idx + 1}/${n}`;
    this.followBtn.classList.toggle("active", follow);
    const { sx, sy } = this.scales;
    for (const m of this.svg.querySelectorAll(".marker")) {
      const t = this.traceList[Number(m.dataset.trace)];
      // the last recorded point at or before this epoch
      let p = null;
      for (const q of t.pts) {
        if (q.epoch > epoch) break;
        if (Number.isFinite(q.x) && Number.isFinite(q.y)) p = q;
      }
      if (!p) {
        m.setAttribute("visibility", "hidden");
        continue;
      }
      const x = sx(p.x).toFixed(2);
      const y = sy(p.y).toFixed(2);
      m.setAttribute("visibility", "visible");
      m.setAttribute("transform", `translate(${x},${y})`);
      m.setAttribute("data-x", x);
      m.setAttribute("data-y", y);
      m.setAttribute("data-epoch", p.epoch);
      m.setAttribute("fill", viridis(this.cb.scale.t(p.epoch)));
    }
    for (const line of this.svg.querySelectorAll(".null-line")) {
      const t = this.traceList[Number(line.dataset.trace)];
      let v = null;
      for (const q of t.pts) {
        if (q.epoch > epoch) break;
        if (Number.isFinite(q.i_ty_null)) v = q.i_ty_null;
      }
      line.setAttribute("visibility", v === null ? "hidden" : "visible");
      if (v !== null) {
        line.setAttribute("y1", sy(v).toFixed(2));
        line.setAttribute("y2", sy(v).toFixed(2));
        line.setAttribute("data-value", String(v));
      }
    }
    for (const pt of this.svg.querySelectorAll(".point")) {
      pt.classList.toggle("future", Number(pt.dataset.epoch) > epoch);
    }
    const { x, y, w, h, scale } = this.cb;
    const yy = y + h - scale.t(epoch) * h;
    this.cbMarker.setAttribute("d", `M${x - 7},${yy - 4}L${x - 1},${yy}L${x - 7},${yy + 4}Z`
      + `M${x + w + 1},${yy}H${x + w + 3}`);
  }

  // ------------------------------------------------------------------ export
  exportName(ext) {
    const inst = this.currentInstance();
    const what = [inst ? inst.label : "plane", this.sel.split].join("-")
      .replace(/[^A-Za-z0-9._=-]+/g, "_");
    return `information-plane-${what}.${ext}`;
  }

  // The drawn plane as a stand-alone SVG document (the page's #plot styles inlined).
  exportSVG() {
    const clone = this.svg.cloneNode(true);
    clone.setAttribute("xmlns", SVG_NS);
    const css = [];
    for (const sheet of document.styleSheets) {
      let rules = null;
      try {
        rules = sheet.cssRules;
      } catch (e) {
        continue; // another origin's sheet
      }
      for (const r of rules || []) {
        if (r.selectorText && r.selectorText.includes("#plot")) css.push(r.cssText);
      }
    }
    const style = document.createElementNS(SVG_NS, "style");
    style.textContent = css.join("\n");
    clone.insertBefore(style, clone.firstChild);
    const text = `<?xml version="1.0" encoding="UTF-8"?>\n${new XMLSerializer()
      .serializeToString(clone)}`;
    return this.download(text, "image/svg+xml", this.exportName("svg"), "svg");
  }

  // The points shown (every drawn trajectory: a seed's values, or the mean over seeds with
  // seed "mean:0;1;..."), one row per layer and epoch, with the intervals and the null.
  exportCSV() {
    const rows = [];
    for (const t of this.traceList || []) {
      const p = t.payload;
      const seed = t.seeds.length === 1 ? t.seeds[0] : `mean:${t.seeds.join(";")}`;
      for (const q of t.pts) {
        rows.push({
          run: t.run, seed, split: p.split, epoch: q.epoch, layer: t.layer,
          estimator: p.estimator, params: JSON.stringify(p.params || {}), i_xt: q.x, i_ty: q.y,
          i_xt_lo: q.i_xt_lo, i_xt_hi: q.i_xt_hi, i_ty_lo: q.i_ty_lo, i_ty_hi: q.i_ty_hi,
          i_ty_null: q.i_ty_null,
        });
      }
    }
    return this.download(toCSV(rows), "text/csv", this.exportName("csv"), "csv");
  }

  download(text, type, filename, kind) {
    this.lastExport = { kind, text, filename };
    try {
      const url = URL.createObjectURL(new Blob([text], { type }));
      const a = el("a", { href: url, download: filename, hidden: "" }, document.body);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 30000);
    } catch (e) {
      this.showError(`Could not start the download: ${e.message}`);
    }
    return text;
  }

  play() {
    if (this.epochs.length < 2) return;
    let idx = this.epochIndex === null ? this.epochs.length - 1 : this.epochIndex;
    if (idx >= this.epochs.length - 1) idx = 0;
    this.setEpochIndex(idx, false);
    this.playBtn.textContent = "❚❚";
    this.playBtn.classList.add("active");
    this.playing = setInterval(() => {
      const next = this.epochIndex + 1;
      if (next >= this.epochs.length) {
        this.stop();
        return;
      }
      this.setEpochIndex(next, false);
    }, PLAY_MS);
  }

  stop() {
    if (this.playing) clearInterval(this.playing);
    this.playing = null;
    this.playBtn.textContent = "▶";
    this.playBtn.classList.remove("active");
  }

  // ------------------------------------------------------------------ tooltip
  hover(ev) {
    const target = ev.target;
    if (!target.classList || !target.classList.contains("point")) {
      if (ev.type === "mouseover") this.unhover();
      return;
    }
    const t = this.traceList[Number(target.dataset.trace)];
    const epoch = Number(target.dataset.epoch);
    const p = t.pts.find((q) => q.epoch === epoch);
    const u = unitText(t.payload.estimator, t.payload.units || "bits");
    const sym = symbols(t.payload.estimator);
    const names = t.payload.names || {};
    const tip = this.tooltip;
    tip.replaceChildren();
    el("div", { class: "tt-title" }, tip, `${t.layer} · ${t.run}`);
    const rows = [
      ["run", t.run], ["layer", t.layer], ["epoch", String(epoch)],
      [names.i_xt || sym.i_xt, `${fmt(p.x, 6)} ${u}`],
      [names.i_ty || sym.i_ty, `${fmt(p.y, 6)} ${u}`],
    ];
    for (const q of ["i_xt", "i_ty"]) {
      const lo = p[`${q}_lo`];
      const hi = p[`${q}_hi`];
      if (Number.isFinite(lo) && Number.isFinite(hi)) {
        rows.push([`${p.ci} ${sym[q]}`, `[${fmt(lo, 5)}, ${fmt(hi, 5)}] ${u}`]);
      }
    }
    if (Number.isFinite(p.i_ty_null)) {
      rows.push([`null ${sym.i_ty} (permuted labels)`, `${fmt(p.i_ty_null, 5)} ${u}`]);
    }
    for (const v of p.violations) rows.push(["out of range", v]);
    for (const v of p.dpi) rows.push(["DPI violation", v]);
    rows.push(["seeds", t.seedText], ["split", this.sel.split],
      ["estimator", `${t.payload.estimator} (${paramsText(t.payload.params)})`]);
    const table = el("table", {}, tip);
    for (const [k, v] of rows) {
      const tr = el("tr", {}, table);
      el("th", {}, tr, k);
      el("td", {}, tr, v);
    }
    tip.hidden = false;
    const box = this.plotWrap.getBoundingClientRect();
    let left = ev.clientX - box.left + 14;
    let top = ev.clientY - box.top + 14;
    const tw = tip.offsetWidth;
    const th = tip.offsetHeight;
    if (left + tw > box.width) left = Math.max(0, ev.clientX - box.left - tw - 14);
    if (top + th > box.height) top = Math.max(0, ev.clientY - box.top - th - 14);
    tip.style.left = `${left}px`;
    tip.style.top = `${top}px`;
    for (const g of this.svg.querySelectorAll(".trajectory")) {
      g.classList.toggle("dim", g !== target.parentNode);
    }
    for (const lab of this.svg.querySelectorAll(".layer-label")) {
      lab.classList.toggle("dim", lab.dataset.run !== t.run || lab.dataset.layer !== t.layer);
    }
  }

  unhover() {
    this.tooltip.hidden = true;
    for (const g of this.svg.querySelectorAll(".dim")) g.classList.remove("dim");
  }
}

// Greedy label placement: move a label down/up in steps until it overlaps no placed label.
function placeLabel(placed, x, y, w, xmax) {
  const h = 13;
  if (x + w > xmax) x = Math.max(0, xmax - w - 2);
  const overlaps = (yy) => placed.some((b) => x < b.x + b.w && b.x < x + w
    && yy - h < b.y && b.y - h < yy);
  let yy = y;
  for (let k = 1; k < 12 && overlaps(yy); k++) {
    yy = y + (k % 2 ? 1 : -1) * Math.ceil(k / 2) * (h + 1);
  }
  placed.push({ x, y: yy, w });
  return [x, yy];
}

function linePath(pts, sx, sy) {
  let d = "";
  let pen = false;
  for (const p of pts) {
    if (!Number.isFinite(p.x) || !Number.isFinite(p.y)) {
      pen = false;
      continue;
    }
    d += `${pen ? "L" : "M"}${sx(p.x).toFixed(2)},${sy(p.y).toFixed(2)}`;
    pen = true;
  }
  return d || "M0,0";
}

export function mount(root) {
  const app = new App(root);
  root.infoplane = app; // for debugging and tests
  return app;
}
