// Pure helpers of the "Information plane" tab (no DOM): estimator instances and their
// readable labels, the epoch colour scale (linear, or log for log-spaced schedules), range
// and DPI checks, intervals, and the CSV export.

const Z95 = 1.959963984540054;
// Not Shannon quantities: no DPI check (infoplane.report.bounds.NOT_SHANNON).
export const NOT_SHANNON = new Set(["dsmi", "matrix_renyi"]);
// The DPI tolerance of the figures (infoplane.plot.information_plane, dpi_tolerance=0.05).
export const DPI_TOLERANCE = 0.05;
export const CSV_COLUMNS = ["run", "seed", "split", "epoch", "layer", "estimator", "params",
  "i_xt", "i_ty", "i_xt_lo", "i_xt_hi", "i_ty_lo", "i_ty_hi", "i_ty_null"];

function canon(v) {
  if (Array.isArray(v)) return `[${v.map(canon).join(",")}]`;
  if (v && typeof v === "object") {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canon(v[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(v);
}

// The identity of an estimator instance: its name and parameters (not its tag label, which
// one run may give another parameter set than another run does).
export function instanceKey(s) {
  return `${s.estimator}|${canon(s.params || {})}`;
}

function valueText(v) {
  return typeof v === "string" ? v : canon(v);
}

// [{key, estimator, params, label, value, title}] of the series, first-recorded first: the
// first run's instances in recording order ("order", else the first write's wall time), then
// those only later runs have. "label": the estimator's name, plus the parameters that differ
// between the instances of one name, e.g. "binning(n_bins=8)".
export function instances(runs) {
  const out = new Map();
  const rank = (s) => [s.order ?? Infinity, s.first_wall_time ?? Infinity];
  for (const r of runs) {
    const series = [...r.series].sort((a, b) => {
      const [a0, a1] = rank(a);
      const [b0, b1] = rank(b);
      return a0 - b0 || a1 - b1 || (a.label < b.label ? -1 : a.label > b.label ? 1 : 0);
    });
    for (const s of series) {
      const key = instanceKey(s);
      if (!out.has(key)) {
        out.set(key, { key, estimator: s.estimator, params: s.params || {}, labels: new Set() });
      }
      out.get(key).labels.add(s.label);
    }
  }
  const list = [...out.values()];
  const byName = new Map();
  for (const i of list) byName.set(i.estimator, (byName.get(i.estimator) || []).concat([i]));
  const labelOwners = new Map();
  for (const i of list) for (const l of i.labels) labelOwners.set(l, (labelOwners.get(l) || 0) + 1);
  for (const i of list) {
    const group = byName.get(i.estimator);
    const keys = [...new Set(group.flatMap((g) => Object.keys(g.params)))].sort()
      .filter((k) => new Set(group.map((g) => (k in g.params ? canon(g.params[k]) : "-"))).size > 1);
    i.label = keys.length ? `${i.estimator}(${keys.map((k) => `${k}=${k in i.params
      ? valueText(i.params[k]) : "-"}`).join(", ")})` : i.estimator;
    // the tag label where it names this instance alone (stable values for old links/tests)
    const only = [...i.labels].filter((l) => labelOwners.get(l) === 1);
    i.value = i.labels.size === 1 && only.length === 1 ? only[0] : i.key;
  }
  return list;
}

// Whether the epochs are roughly log-spaced over more than a decade: then the colour scale is
// logarithmic (the gaps between epochs vary less on a log scale than on a linear one).
export function isLogSpaced(epochs) {
  if (epochs.length < 4) return false;
  const e0 = epochs[0];
  const e1 = epochs[epochs.length - 1];
  if (!(e1 / Math.max(e0, 1) > 10)) return false;
  const cv = (xs) => {
    const d = xs.slice(1).map((x, i) => x - xs[i]);
    const m = d.reduce((a, b) => a + b, 0) / d.length;
    const sd = Math.sqrt(d.reduce((a, b) => a + (b - m) ** 2, 0) / d.length);
    return m > 0 ? sd / m : 0;
  };
  return cv(epochs.map((e) => Math.log1p(e))) < cv(epochs);
}

function linearTicks(e0, e1) {
  if (!(e1 > e0)) return [e0];
  const raw = (e1 - e0) / 4;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = Math.max(1, [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) || 10 * mag);
  const out = [e0];
  for (let v = Math.ceil(e0 / step + 1e-9) * step; v < e1; v += step) {
    if (v - out[out.length - 1] > step * 0.4 && e1 - v > step * 0.4) out.push(v);
  }
  out.push(e1);
  return out;
}

// The epoch colour scale: {log, t(epoch) in [0, 1], ticks}; log ticks at 0 (when it is
// recorded), the decades and the last epoch, as the figures' colour bars.
export function epochScale(epochs) {
  const e0 = epochs.length ? epochs[0] : 0;
  const e1 = epochs.length ? epochs[epochs.length - 1] : 0;
  const log = isLogSpaced(epochs);
  const f = log ? (e) => Math.log1p(Math.max(0, e)) : (e) => e;
  const t = (e) => (e1 > e0 ? (f(e) - f(e0)) / (f(e1) - f(e0)) : 1);
  let ticks;
  if (log) {
    ticks = e0 <= 0 ? [0] : [];
    for (let k = Math.ceil(Math.log10(Math.max(e0, 1))); 10 ** k <= e1; k++) {
      if (10 ** k >= e0) ticks.push(10 ** k);
    }
    if (e0 > 0 && (!ticks.length || ticks[0] / e0 > 2)) ticks.unshift(e0);
    if (!ticks.length || e1 / Math.max(ticks[ticks.length - 1], 1) > 2) ticks.push(e1);
  } else {
    ticks = linearTicks(e0, e1);
  }
  return { log, t, ticks, e0, e1 };
}

// The mean of a point's values over seeds and the half width of its 95 % interval
// (1.96 standard errors; null for one value).
export function meanAndSpread(values) {
  const v = values.filter((x) => x !== null && Number.isFinite(x));
  if (!v.length) return { mean: null, half: null, n: 0 };
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  if (v.length < 2) return { mean, half: null, n: 1 };
  const sd = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (v.length - 1));
  return { mean, half: (Z95 * sd) / Math.sqrt(v.length), n: v.length };
}

// Range checks of a point against 0 and its ceilings: a list of reasons (empty: in range).
export function rangeViolations(p, ceilings, names, estimator) {
  const out = [];
  const c = ceilings || {};
  const n = names || {};
  const sym = symbols(estimator);
  if (Number.isFinite(p.x) && p.x < 0) out.push(`${sym.i_xt} below 0`);
  if (Number.isFinite(p.y) && p.y < 0) out.push(`${sym.i_ty} below 0`);
  if (Number.isFinite(p.x) && Number.isFinite(c.i_xt) && p.x > c.i_xt * (1 + 1e-9) + 1e-12) {
    out.push(`${sym.i_xt} above ${n.i_xt || "H(X)"}`);
  }
  if (Number.isFinite(p.y) && Number.isFinite(c.i_ty) && p.y > c.i_ty * (1 + 1e-9) + 1e-12) {
    out.push(`${sym.i_ty} above ${n.i_ty || "H(Y)"}`);
  }
  return out;
}

// The short symbols of an estimator's quantities (format.quantity_symbols).
export function symbols(estimator) {
  if (estimator === "dsmi") return { i_xt: "DSMI(X;T)", i_ty: "DSMI(T;Y)" };
  if (estimator === "matrix_renyi") return { i_xt: "I_α(X;T)", i_ty: "I_α(T;Y)" };
  return { i_xt: "I(X;T)", i_ty: "I(T;Y)" };
}

// DPI violations of a points payload, as infoplane.dpi_violations (each seed separately,
// layers in order, a NaN layer skipped): Map "layerIndex|epoch" -> [text, ...].
export function dpiViolations(payload, tolerance = DPI_TOLERANCE) {
  const out = new Map();
  if (NOT_SHANNON.has(payload.estimator)) return out;
  const layers = payload.layers || [];
  for (const s of payload.series || []) {
    s.epochs.forEach((e, i) => {
      for (const [q, sym] of [["i_xt", "I(X;T)"], ["i_ty", "I(T;Y)"]]) {
        let prev = null;
        (s[q][i] || []).forEach((v, l) => {
          if (v === null || !Number.isFinite(v)) return;
          if (prev !== null && v - prev.v > tolerance + 1e-9) {
            const key = `${l}|${e}`;
            out.set(key, (out.get(key) || []).concat(
              [`DPI: ${sym} of ${layers[l]} exceeds ${layers[prev.l]} by ${(v - prev.v)
                .toPrecision(3)} (seed ${s.seed})`]));
          }
          prev = { v, l };
        });
      }
    });
  }
  return out;
}

function csvField(v) {
  if (v === null || v === undefined || (typeof v === "number" && !Number.isFinite(v))) return "";
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

// The CSV text of rows (objects with the CSV_COLUMNS keys), with its header line.
export function toCSV(rows) {
  return [CSV_COLUMNS.join(",")].concat(rows.map((r) => CSV_COLUMNS.map((c) => csvField(r[c]))
    .join(","))).join("\n") + "\n";
}

// The unit text of an axis: DSMI is a difference of diffusion spectral entropies, reported in
// bits of DSE, never Shannon information (infoplane.estimators.spectral).
export function unitText(estimator, units) {
  return estimator === "dsmi" ? `${units} of DSE, not Shannon MI` : units;
}
