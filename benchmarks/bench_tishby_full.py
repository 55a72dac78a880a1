"""The full Shwartz-Ziv–Tishby experiment end to end (issue 19, part 5), against the same
estimation done the original way, in the same run.

The experiment of the paper: the 12-10-7-5-4-3-2 tanh network, 8000 epochs, the original 274
log-spaced recorded epochs (``unique(logspace(0, log2 8000, 400, base=2, dtype=int)) - 1``),
binning + adaptive binning + KDE on all 4096 inputs, 5 seeds; no confidence intervals (the
paper has none; ``infoplane run`` puts them on binning and KDE by default, ``--intervals 0``).

- infoplane: `run_experiment` in a child process, as ``infoplane run`` does it (the CPU cores as
  JAX devices; no persistent compilation cache, i.e. a first run), with the activations stored
  (``--store-activations``) so the NumPy side sees the very same ones. The wall time is taken
  around the whole call: training, capture, estimation, checkpoints, TensorBoard, writing.
- the original way: the same training and capture (their times taken from that run, which
  favours the original: it trained in TensorFlow), then NumPy per layer-epoch on the stored
  activations, as Shwartz-Ziv & Tishby's and Saxe et al.'s code do it: ``np.digitize`` and
  ``np.unique`` over rows for binning, ``np.unique`` of the layer's values for adaptive
  binning's edges, and the KDE bounds from a float64 (N, N) distance matrix (BLAS products)
  with the per-class sub-matrices (`bench_scale.numpy_kde_bits`). KDE takes ~1-3 s per
  layer-epoch on this CPU (hours for the 8220 layer-epochs), so it is timed on a random
  stratified sample of ``--sample`` layer-epochs (binning and adaptive binning on 10x as many)
  and extrapolated per layer to all of them; the output says so. The sample is also checked
  against infoplane's results.csv (max |difference| in bits).

Prints the end-to-end ratio (original / infoplane; target >= 10x) and the estimation-only one.
Usage: python benchmarks/bench_tishby_full.py [--quick] [--seeds 5] [--epochs 8000]
       [--sample 60] [--workdir DIR]
(--quick: 300 epochs, ~25 recorded, 2 seeds, a few samples; a few minutes.)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from bench_scale import (
    _plugin_mi_bits,
    machine,
    numpy_adaptive_states,
    numpy_binning_states,
    numpy_kde_bits,
)

ESTIMATORS = ("binning", "adaptive_binning", "kde")


def original_schedule(epochs: int, points: int = 400) -> list[int]:
    """The original recorded epochs: 274 of them for 8000 epochs and 400 points."""
    e = np.unique(np.logspace(0, np.log2(epochs), points, dtype=int, base=2)) - 1
    return [int(v) for v in e]


CHILD = """
import json, resource, sys, time
from infoplane.experiments import runtime
runtime.use_cpu_cores()
from infoplane.experiments.run import run_experiment
job = json.loads(sys.argv[1])
t0 = time.perf_counter()
s = run_experiment("tishby-tanh", epochs=job["epochs"], schedule=job["schedule"],
                   estimators=job["estimators"], seeds=job["seeds"], logdir=job["logdir"],
                   name="full", store_activations=True, intervals=0)
wall = time.perf_counter() - t0
print(json.dumps({"wall": wall, "timings": s.timings, "run_dir": s.run_dir,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run_infoplane(args, schedule) -> dict:
    job = {"epochs": args.epochs, "schedule": schedule, "estimators": list(ESTIMATORS),
           "seeds": args.seeds, "logdir": args.workdir}
    env = {**os.environ, "INFOPLANE_NO_CACHE": "1"}
    p = subprocess.run([sys.executable, "-c", CHILD, json.dumps(job)], capture_output=True,
                       text=True, env=env)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if p.returncode != 0 or not lines:
        sys.exit(f"the infoplane run failed (exit {p.returncode}):\n{p.stderr[-3000:]}")
    return json.loads(lines[-1])


def numpy_estimates(name: str, t: np.ndarray, y: np.ndarray, sigma2: float) -> tuple:
    """(i_xt, i_ty) in bits of one layer-epoch, the original way (KDE: the upper bound)."""
    if name == "kde":
        r = numpy_kde_bits(t, y, sigma2)
        return r["i_xt_upper"], r["i_ty_upper"]
    states = numpy_binning_states(t) if name == "binning" else numpy_adaptive_states(t)
    return _plugin_mi_bits(states, y)


def numpy_side(run_dir: str, sample: int, seed: int = 0):
    """Time the original way on a stratified random sample of layer-epochs per estimator.

    Returns {estimator: (extrapolated seconds for all layer-epochs, sampled count, max |diff|
    against results.csv in bits)} and the total number of layer-epochs."""
    from infoplane import load_results
    from infoplane.store.activations import ActivationStore

    store = ActivationStore(run_dir)
    _, y = store.read_probe("all")
    seeds = store.seeds("all")
    layers = store.layers("all", seeds[0])
    items = [(s, e, layer) for s in seeds for e in store.epochs("all", s) for layer in layers]
    res = load_results(run_dir)
    table = {(int(s), int(e), str(la), str(es)): (a, b) for s, e, la, es, a, b in zip(
        res["seed"], res["epoch"], res["layer"], res["estimator"], res["i_xt"], res["i_ty"],
        strict=True)}
    kde_params = json.loads(res.where(estimator="kde")["params"][0])
    rng = np.random.default_rng(seed)
    out = {}
    for name in ESTIMATORS:
        per_layer = max(1, (sample if name == "kde" else 10 * sample) // len(layers))
        total, n_done, worst = 0.0, 0, 0.0
        for layer in layers:
            mine = [it for it in items if it[2] == layer]
            pick = rng.choice(len(mine), size=min(per_layer, len(mine)), replace=False)
            secs = []
            for i in pick:
                s, e, _ = mine[i]
                t = store.read(s, "all", e)[layer].reshape(len(y), -1)
                t0 = time.perf_counter()
                got = numpy_estimates(name, t, y, kde_params["sigma2"])
                secs.append(time.perf_counter() - t0)
                ref = table[(s, e, layer, name)]
                worst = max(worst, abs(got[0] - ref[0]), abs(got[1] - ref[1]))
            total += float(np.mean(secs)) * len(mine)  # extrapolated to the layer's epochs
            n_done += len(secs)
        out[name] = (total, n_done, worst)
    return out, len(items)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--epochs", type=int, default=8000)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--points", type=int, default=400,
                    help="log-spaced points before de-duplication (400: the original's 274)")
    ap.add_argument("--sample", type=int, default=60,
                    help="KDE layer-epochs timed the NumPy way (binning: 10x as many)")
    ap.add_argument("--workdir", default=None, help="where the run is written (default: tmp)")
    args = ap.parse_args()
    if args.quick:
        args.epochs, args.points, args.seeds, args.sample = 300, 30, 2, 6
    tmp = None
    if args.workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench-tishby-")
        args.workdir = tmp.name
    schedule = original_schedule(args.epochs, args.points)
    print(f"# bench_tishby_full.py on {machine()}")
    print(f"# tishby-tanh, {args.epochs} epochs, {len(schedule)} recorded (the original "
          f"schedule), {args.seeds} seeds, estimators {'+'.join(ESTIMATORS)}; the same as\n"
          f"#   infoplane run --preset tishby-tanh --epochs {args.epochs} --seeds {args.seeds} "
          f"--estimators {','.join(ESTIMATORS)} --intervals 0 --store-activations --schedule "
          f"{','.join(map(str, schedule[:4]))},...,{schedule[-1]}")
    ip = run_infoplane(args, schedule)
    tm = ip["timings"]
    print(f"infoplane: {ip['wall']:.1f} s end to end (train {tm['train']:.1f} s, capture "
          f"{tm['capture']:.1f} s, estimate {tm['estimate']:.1f} s, checkpoints "
          f"{tm['checkpoint']:.1f} s, the rest: TensorBoard, tables, activations), peak RSS "
          f"{ip['peak_mb']:.0f} MB; load average {os.getloadavg()[0]:.2f}", flush=True)
    t0 = time.perf_counter()
    est, n_items = numpy_side(ip["run_dir"], args.sample)
    print(f"NumPy, per layer-epoch ({n_items} layer-epochs per estimator; timed on a random "
          f"sample per layer and EXTRAPOLATED to all; sampling took "
          f"{time.perf_counter() - t0:.0f} s):")
    for name, (secs, n, worst) in est.items():
        print(f"  {name:<17} ~{secs:9.1f} s for all ({n} sampled, {secs / n_items * 1e3:7.1f} "
              f"ms each); max |NumPy - infoplane| {worst:.1e} bits")
    np_est = sum(v[0] for v in est.values())
    original = tm["train"] + tm["capture"] + np_est
    ratio = original / ip["wall"]
    print(f"original way: training + capture {tm['train'] + tm['capture']:.1f} s (infoplane's "
          f"own) + NumPy estimation ~{np_est:.0f} s (extrapolated) = ~{original:.0f} s")
    verdict = "met" if ratio >= 10 else "NOT met"
    print(f"end to end: original / infoplane = ~{ratio:.1f}x (target >= 10x: {verdict}); "
          f"estimation only: ~{np_est / tm['estimate']:.1f}x; load average "
          f"{os.getloadavg()[0]:.2f} at the end")
    if math.isfinite(ratio) and tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
