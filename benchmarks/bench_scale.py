"""Scaling benchmark (issue 19, part 5): every estimator over probe size N and layer width d.

For each estimator (the five of `infoplane.estimators.NAMES` with their defaults, and the
building blocks knn_entropy, ksg_mi and dse) and each cell N in --ns, d in --ds, in a
subprocess of its own (so that its peak RSS, ``ru_maxrss``, is the cell's own):

- first call (compilation + one run) and time per recorded epoch (steady state: median of up
  to --repeats further calls) of one (N, d) tanh layer, through `estimate_prepared` as the
  Recorder calls it (one epoch), or the building block's public function (its input checks
  included); `prepare` (once per probe set) is timed apart;
- peak RSS of the child and its RSS just before the first call (the inputs, on host and
  device), and on an accelerator the device's peak bytes in use.

A cell that the cells measured so far predict (by the fit; by the stated exponents only when
hopeless) to take more than --max-seconds / 2 per call is skipped and its time extrapolated
(marked ``~``, "extrapolated"); one that runs past its cap is killed and reported. Then: the
growth exponents of the time per epoch in N and in d (a log-log least-squares fit over the
measured cells of >= 20 ms), next to the complexity the estimator's docstring states; the
compile time (first call minus steady state, at N = 256, one subprocess per cell) at every d,
with the target compile(d = 25 088) <= 3x compile(d = 10); and the float64 check: KDE,
Binning and AdaptiveBinning at d = 25 088 against NumPy float64 (target: within 1e-4 bits).

Usage: python benchmarks/bench_scale.py [--quick] [--max-seconds 60] [--budget-minutes 20]
       [--estimators binning,kde] [--ns 1024,4096,10000] [--ds 10,1024,6272,25088]
       [--skip grid,compile,check]
The defaults are the full grid, for a GPU machine as well as this CPU; --quick is a smoke run
(a tiny grid, under a minute).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

import numpy as np

ESTIMATORS = ("binning", "adaptive_binning", "kde", "compressed", "dsmi", "knn_entropy",
              "ksg_mi", "dse")
#: The time complexity each docstring states, and the exponents (N, d) used to predict a cell
#: from a smaller one before any fit is possible.
STATED = {
    "binning": ("O(N d c + N log N)", 1, 1),
    "adaptive_binning": ("O(N d log(N d) + N d B)", 1, 1),
    "kde": ("O(N^2 (d + C))", 2, 1),
    "compressed": ("PCA O(N d^2) d<=N | O(N^2 d) d>N | O(N d k q); kNN O(N^2 dim)", 2, 1),
    "dsmi": ("exact O(M^2 d + M^3) | SLQ O(M^2 (d + steps probes)), M <= N", 2, 1),
    "knn_entropy": ("O(N^2 d)", 2, 1),
    "ksg_mi": ("O(N^2 (d + d_x))", 2, 1),
    "dse": ("exact O(N^2 d + N^3) | SLQ O(N^2 (d + steps probes))", 2, 1),
}
X_DIM, N_CLASSES = 16, 10


# ---- the child: one measurement in a fresh process ----------------------------------------


def rss_now_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return float("nan")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def workload(n: int, d: int, seed: int = 0):
    """x (n, 16) Gaussian inputs, y (n,) 10 classes from x, t (n, d) = tanh(x W): a tanh
    layer of rank 16, float32 throughout (no float64 temporary of the layer's size)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, X_DIM), dtype=np.float32)
    y = np.argmax(x[:, :N_CLASSES], axis=1).astype(np.int32)
    w = rng.standard_normal((X_DIM, d), dtype=np.float32) * np.float32(0.6)
    t = np.tanh(x @ w, dtype=np.float32)
    return x, y, t


def make_call(name: str, x, y, t):
    """(prepare seconds, a function running one estimate and waiting for it)."""
    import jax
    import jax.numpy as jnp

    import infoplane
    from infoplane.estimators import apply

    if name in ("knn_entropy", "ksg_mi", "dse"):
        fn = getattr(infoplane.estimators, name)
        tj, xj = jnp.asarray(t), jnp.asarray(x)
        if name == "ksg_mi":
            return 0.0, lambda: jax.block_until_ready(fn(tj, xj))
        return 0.0, lambda: jax.block_until_ready(fn(tj))
    est = infoplane.estimators.by_name(name)
    t0 = time.perf_counter()
    _, ctx = infoplane.prepare(est, x, y)
    jax.block_until_ready(ctx)
    prep = time.perf_counter() - t0
    ts = jnp.asarray(t[None])
    return prep, lambda: jax.block_until_ready(
        apply.estimate_prepared(est, ctx, ts, shard=False).i_xt)


def child_cell(name: str, n: int, d: int, repeats: int, cap: float) -> dict:
    import jax

    try:
        jax.config.update("jax_enable_compilation_cache", False)  # every first call compiles
    except (AttributeError, KeyError):
        pass
    x, y, t = workload(n, d)
    prep, call = make_call(name, x, y, t)
    del t
    base = rss_now_mb()
    t0 = time.perf_counter()
    call()
    first = time.perf_counter() - t0
    times: list[float] = []
    while len(times) < repeats and first + sum(times) + (times[-1] if times else first) < cap:
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    out = {"first": first, "steady": statistics.median(times) if times else None,
           "runs": len(times), "prepare": prep, "base_mb": base, "peak_mb": peak_rss_mb(),
           "load": os.getloadavg()[0]}
    dev = jax.devices()[0]
    stats = dev.memory_stats() if dev.platform != "cpu" else None
    if stats and "peak_bytes_in_use" in stats:
        out["device_peak_mb"] = stats["peak_bytes_in_use"] / 2**20
    return out


# ---- the float64 check ---------------------------------------------------------------------


def _plugin_mi_bits(states, y):
    """I(X;T), I(T;Y) in bits of integer rows ``states`` (distinct inputs: I(X;T) = H(T)),
    counted in float64 with np.unique over rows."""
    def h(codes):
        p = np.unique(codes, return_counts=True)[1] / codes.shape[0]
        return float(-np.sum(p * np.log2(p)))

    _, row = np.unique(states, axis=0, return_inverse=True)
    row = row.reshape(-1).astype(np.int64)
    h_t = h(row)
    return h_t, h_t - (h(row * N_CLASSES + y) - h(y))


def numpy_binning_states(t, n_bins=29, lo=-1.0, hi=1.0):
    """Binning()'s states: ``clip(digitize(t, e) - 1, 0, n_bins - 1)``, e the float32 edges."""
    e = np.linspace(lo, hi, n_bins + 1).astype(np.float32)
    return np.clip(np.digitize(t, e) - 1, 0, n_bins - 1)


def numpy_adaptive_states(t, n_bins=30):
    """AdaptiveBinning()'s states: edges u[floor(k U / B)], k = 1..B-1, over the U sorted
    distinct values u of the layer; a value's state is the number of edges <= it."""
    u = np.unique(t)
    edges = u[(np.arange(1, n_bins) * len(u)) // n_bins]
    return np.searchsorted(edges, t, side="right")


def numpy_kde_bits(t, y, sigma2):
    """Kolchinsky-Tracey bounds in bits, float64: D from explicit float64 products of the
    centred layer (error ~1e-16 |t|^2), K = exp(-D / (c sigma2)), c = 2 (upper), 8 (lower)."""
    t = t.astype(np.float64)
    t = t - t.mean(axis=0)
    sq = np.sum(t * t, axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * (t @ t.T), 0.0)
    np.fill_diagonal(d2, 0.0)
    out = {}
    for bound, c in (("upper", 2.0), ("lower", 8.0)):
        k = np.exp(-d2 / (c * sigma2))
        h = -np.mean(np.log(k.mean(axis=1)))
        h_c = sum(np.mean(y == v) * -np.mean(np.log(k[np.ix_(y == v, y == v)].mean(axis=1)))
                  for v in np.unique(y))
        out[f"i_xt_{bound}"], out[f"i_ty_{bound}"] = h / math.log(2), (h - h_c) / math.log(2)
    return out


def child_check(n: int, d: int) -> dict:
    """|infoplane - NumPy float64| in bits at width d: binning / adaptive binning on repeated
    tanh prototypes and rows moved off them in 3 units, KDE on tight clusters (within-cluster
    squared distances ~ sigma2, where the kernel is neither 0 nor 1)."""
    import infoplane
    from infoplane.estimators import KDE, AdaptiveBinning, Binning

    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, X_DIM), dtype=np.float32)
    which = rng.integers(0, n // 8, n)
    y = (which % 3).astype(np.int64)
    proto = np.tanh(2.0 * rng.standard_normal((n // 8, d), dtype=np.float32))
    t = proto[which].copy()
    half = n // 2  # the other half: 3 units of the prototype moved a little (many merge)
    cols = rng.integers(0, d, (n - half, 3))
    rows = np.arange(half, n)[:, None]
    t[rows, cols] += 0.02 * rng.standard_normal(cols.shape, dtype=np.float32)
    out = {}
    for est, states in ((Binning(), numpy_binning_states), (AdaptiveBinning(),
                                                            numpy_adaptive_states)):
        got = infoplane.estimate(est, x, t, y)
        want = _plugin_mi_bits(states(t), y)
        out[est.name] = max(abs(float(got.i_xt) - want[0]), abs(float(got.i_ty) - want[1]))
        out[est.name + "_i_xt"] = want[0]
    sigma2 = 1e-3
    noise = math.sqrt(sigma2 / (2 * d))  # within-cluster E||t_i - t_j||^2 = sigma2
    tk = (proto[which] + noise * rng.standard_normal((n, d), dtype=np.float32)).astype(
        np.float32)
    got = infoplane.estimate(KDE(sigma2=sigma2), x, tk, y)
    want = numpy_kde_bits(tk, y, sigma2)
    out["kde"] = max(abs(float(got.aux[k]) - v) for k, v in want.items())
    out["kde_i_xt_upper"] = want["i_xt_upper"]
    return out


# ---- the parent: grid, fits, tables ----------------------------------------------------------


def run_child(args: list[str], timeout: float) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", json.dumps(args)]
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"killed after {timeout:.0f} s (cap)", "wall": timeout}
    wall = time.perf_counter() - t0
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if p.returncode != 0 or not lines:
        tail = (p.stderr.strip().splitlines() or ["?"])[-1]
        return {"error": f"exit {p.returncode}: {tail[:160]}", "wall": wall}
    return {**json.loads(lines[-1]), "wall": wall}


def fit(cells):
    """(log a, exponent in N, exponent in d, N_ref, d_ref) of t = a (N / N_ref)^bn (d /
    d_ref)^bd, least squares over cells [(n, d, seconds)] of >= 20 ms (N_ref, d_ref: their
    geometric means). None when the cells span neither axis; an axis with one value gets no
    exponent (None in its place: `predict` uses the stated one)."""
    pts = [(n, d, s) for n, d, s in cells if s is not None and s >= 0.02]
    ns, ds = {p[0] for p in pts}, {p[1] for p in pts}
    if len(pts) < 2 or (len(ns) < 2 and len(ds) < 2):
        return None
    ln = np.log([p[0] for p in pts])
    ld = np.log([p[1] for p in pts])
    n_ref, d_ref = math.exp(ln.mean()), math.exp(ld.mean())
    cols = [np.ones(len(pts))]
    if len(ns) > 1:
        cols.append(ln - ln.mean())
    if len(ds) > 1:
        cols.append(ld - ld.mean())
    coef = np.linalg.lstsq(np.stack(cols, 1), np.log([p[2] for p in pts]), rcond=None)[0]
    it = iter(coef[1:])
    return (float(coef[0]), next(it) if len(ns) > 1 else None,
            next(it) if len(ds) > 1 else None, n_ref, d_ref)


def predict(name, cells, n, d):
    """(seconds per call of cell (n, d), basis): from the fit ("fit") where it has an
    exponent for every axis the cell differs on, else ("stated") the stated exponents applied
    to the nearest measured smaller cell -- an upper-bound-like guess, since a cost such as
    O(N^3 + N^2 d) does not grow with d where its d-free term dominates. (None, None): nothing
    to go by."""
    _, en, ed = STATED[name]
    f = fit(cells)
    if f is not None:
        a, bn, bd, n_ref, d_ref = f
        pts = [c for c in cells if c[2] is not None and c[2] >= 0.02]
        n_ok = bn is not None or n == pts[0][0]
        d_ok = bd is not None or d == pts[0][1]
        if n_ok and d_ok:
            return (math.exp(a) * (n / n_ref) ** (bn if bn is not None else en) *
                    (d / d_ref) ** (bd if bd is not None else ed)), "fit"
    base = [(cn, cd, s) for cn, cd, s in cells if s is not None and cn <= n and cd <= d]
    if not base:
        return None, None
    cn, cd, s = max(base, key=lambda c: (c[0] * c[1], c[2]))
    return s * (n / cn) ** en * (d / cd) ** ed, "stated"


def _over_cap(guess, basis, cap) -> bool:
    """Skip a cell: a fitted prediction over half the cap, or a stated-exponent one over ten
    caps (it may overestimate; the child is killed at the cap anyway)."""
    if guess is None:
        return False
    return 2 * guess > cap if basis == "fit" else guess > 10 * cap


def _extrapolated(p, basis) -> str:
    return f"~{p:.3g}" + ("" if basis == "fit" else "s")


def grid(args, names):
    print(f"\n## Time per recorded epoch and peak RSS (cap {args.max_seconds:.0f} s per "
          f"cell{'' if not args.budget_minutes else f', grid budget {args.budget_minutes} min'})")
    print(f"{'estimator':<17}{'N':>6}{'d':>7}{'first s':>9}{'compile~s':>10}{'s/epoch':>10}"
          f"{'prep s':>8}{'peak MB':>9}{'base MB':>9}{'load':>6}")
    t_start = time.perf_counter()
    results = {name: {} for name in names}
    measured = {name: [] for name in names}
    # N, then d, then the estimators: a spent budget cuts the largest cells of every estimator
    for n in args.ns:
        for d in args.ds:
            for name in names:
                cells = measured[name]
                over = args.budget_minutes and (time.perf_counter() - t_start
                                                > 60 * args.budget_minutes)
                guess, basis = predict(name, cells, n, d)
                skip_reason = None
                if over:
                    skip_reason = "not run: grid budget spent"
                elif _over_cap(guess, basis, args.max_seconds):
                    skip_reason = "skipped: predicted over the cap"
                elif any(r.get("error") or r.get("skipped")
                         for (cn, cd), r in results[name].items() if cn <= n and cd <= d):
                    skip_reason = "skipped: a smaller cell was not measured"
                if skip_reason:
                    results[name][(n, d)] = {"skipped": skip_reason, "predicted": guess}
                    est = _extrapolated(guess, basis) if guess is not None else "?"
                    print(f"{name:<17}{n:>6}{d:>7}  {skip_reason} (extrapolated {est} s/epoch)",
                          flush=True)
                    continue
                r = run_child(["cell", name, n, d, args.repeats, args.max_seconds],
                              timeout=args.max_seconds + 120)
                results[name][(n, d)] = r
                if r.get("error"):
                    print(f"{name:<17}{n:>6}{d:>7}  {r['error']}", flush=True)
                    continue
                steady = r["steady"] if r["steady"] is not None else r["first"]
                cells.append((n, d, steady))
                comp = r["first"] - steady
                mark = "" if r["steady"] is not None else "*"
                print(f"{name:<17}{n:>6}{d:>7}{r['first']:>9.3f}{comp:>10.2f}{steady:>9.4f}"
                      f"{mark:1}{r['prepare']:>8.2f}{r['peak_mb']:>9.0f}{r['base_mb']:>9.0f}"
                      f"{r['load']:>6.2f}" + (f"  device peak {r['device_peak_mb']:.0f} MB"
                                             if "device_peak_mb" in r else ""), flush=True)
    print("(* first call only: no time for a second within the cap; compile~ = first call - "
          "steady state)")
    print("\n## Seconds per recorded epoch (peak RSS MB); ~: EXTRAPOLATED, not measured, from "
          "the fit below, or (~...s) from the stated exponents and the nearest measured cell")
    print(f"{'estimator':<17}{'N':>6}" + "".join(f"{'d=' + str(d):>18}" for d in args.ds))
    for name in names:
        for n in args.ns:
            row = ""
            for d in args.ds:
                r = results[name].get((n, d), {})
                if r.get("skipped") or r.get("error"):
                    p, basis = predict(name, measured[name], n, d)
                    text = _extrapolated(p, basis) if p else "?"
                    if r.get("error"):
                        text = (">cap " if "killed" in r["error"] else "failed ") + text
                else:
                    sec = r["steady"] if r["steady"] is not None else r["first"]
                    text = f"{sec:.4g} ({r['peak_mb']:.0f})"
                row += f"{text:>18}"
            print(f"{name:<17}{n:>6}{row}")
    print("\n## Growth of the time per epoch: measured (log-log fit over cells >= 20 ms) vs "
          "stated")
    for name in names:
        f = fit(measured[name])
        meas = "too few cells" if f is None else (
            f"N^{f[1]:.2f}" if f[1] is not None else "N^?") + " " + (
            f"d^{f[2]:.2f}" if f[2] is not None else "d^?")
        print(f"{name:<17} measured {meas:<16} stated {STATED[name][0]}")
        extra = [f"N={n} d={d}: {_extrapolated(*pb)} s" for (n, d), r in results[name].items()
                 if (r.get("skipped") or r.get("error"))
                 and (pb := predict(name, measured[name], n, d))[0]]
        if extra:
            print(f"{'':<17} extrapolated (not measured): " + "; ".join(extra))
    return results


def compile_table(args, names):
    n, ds = args.compile_n, args.ds
    print(f"\n## Compile time (first call - steady state) at N = {n}, one process per cell; "
          f"target compile(d={ds[-1]}) <= 3x compile(d={ds[0]})")
    print(f"{'estimator':<17}" + "".join(f"{'d=' + str(d):>10}" for d in ds) +
          f"{'ratio':>8}  target")
    for name in names:
        comp = []
        for d in ds:
            r = run_child(["cell", name, n, d, 3, 120.0], timeout=400)
            comp.append(None if r.get("error") else
                        r["first"] - (r["steady"] if r["steady"] is not None else 0.0))
        cells = "".join(f"{c:>10.2f}" if c is not None else f"{'failed':>10}" for c in comp)
        if comp[0] and comp[-1] is not None:
            ratio = comp[-1] / comp[0]
            verdict = "met" if ratio <= 3 else "NOT met"
            print(f"{name:<17}{cells}{ratio:>7.2f}x  {verdict}", flush=True)
        else:
            print(f"{name:<17}{cells}", flush=True)
    print(f"(load average {os.getloadavg()[0]:.2f} after)")


def check_table(args):
    n, d = args.check_n, args.check_d
    print(f"\n## float64 check at N = {n}, d = {d}: max |infoplane - NumPy float64| in bits "
          "(target <= 1e-4)")
    r = run_child(["check", n, d], timeout=1800)
    if r.get("error"):
        print(f"check failed: {r['error']}")
        return
    for name in ("binning", "adaptive_binning", "kde"):
        verdict = "met" if r[name] <= 1e-4 else "NOT met"
        print(f"{name:<17}{r[name]:>10.2e}  {verdict}")
    print(f"(I(X;T) = H(T): binning {r['binning_i_xt']:.3f}, adaptive binning "
          f"{r['adaptive_binning_i_xt']:.3f} of log2 N = {math.log2(n):.3f} bits; KDE data: "
          f"tight clusters, I_upper(X;T) = {r['kde_i_xt_upper']:.3f} bits; "
          f"{r['wall']:.0f} s)")


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    out = subprocess.run([sys.executable, "-c", "import jax; print(jax.__version__, "
                          "jax.default_backend(), jax.devices()[0].device_kind)"],
                         capture_output=True, text=True).stdout.strip()
    return (f"{model}, {os.cpu_count()} CPUs, jax/backend/device {out}, load average "
            f"{os.getloadavg()[0]:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a smoke run: tiny grid, < 1 min")
    ap.add_argument("--estimators", default=",".join(ESTIMATORS))
    ap.add_argument("--ns", default="1024,4096,10000")
    ap.add_argument("--ds", default="10,1024,6272,25088")
    ap.add_argument("--max-seconds", type=float, default=60.0,
                    help="cap on one cell's calls (first + repeats); predicted-over cells skip")
    ap.add_argument("--budget-minutes", type=float, default=0,
                    help="stop starting grid cells after this long (0: no limit)")
    ap.add_argument("--repeats", type=int, default=3, help="steady-state calls per cell")
    ap.add_argument("--compile-n", type=int, default=256)
    ap.add_argument("--check-n", type=int, default=512)
    ap.add_argument("--check-d", type=int, default=25088)
    ap.add_argument("--skip", default="", help="comma-separated: grid, compile, check")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        job = json.loads(args.child)
        if job[0] == "cell":
            print(json.dumps(child_cell(job[1], int(job[2]), int(job[3]), int(job[4]),
                                        float(job[5]))))
        else:
            print(json.dumps(child_check(int(job[1]), int(job[2]))))
        return
    if args.quick:
        args.ns, args.ds, args.repeats = "256,512", "10,300", 1
        args.compile_n, args.check_n, args.check_d = 128, 128, 1024
        if args.estimators == ",".join(ESTIMATORS):
            args.estimators = "binning,kde"
    args.ns = [int(v) for v in args.ns.split(",")]
    args.ds = [int(v) for v in args.ds.split(",")]
    names = [v for v in args.estimators.split(",") if v]
    unknown = sorted(set(names) - set(ESTIMATORS))
    if unknown:
        ap.error(f"unknown estimators {unknown}; choose from {', '.join(ESTIMATORS)}")
    skip = set(args.skip.split(",")) - {""}
    t0 = time.perf_counter()
    print(f"# bench_scale.py on {machine()}")
    print(f"# workload: x (N, {X_DIM}) Gaussian, y {N_CLASSES} classes, layer tanh(x W) (N, d) "
          "float32; estimators with their defaults")
    if "compile" not in skip:
        compile_table(args, names)
    if "check" not in skip:
        check_table(args)
    if "grid" not in skip:
        grid(args, names)
    print(f"\n# total {time.perf_counter() - t0:.0f} s, load average {os.getloadavg()[0]:.2f} "
          "at the end")


if __name__ == "__main__":
    main()
