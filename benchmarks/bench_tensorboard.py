"""Cost of logging one recorded epoch to TensorBoard (`infoplane.tensorboard`).

Workload: the default preset's shape: 7 layers x 3 estimators (binning, adaptive_binning,
kde) on the train split, one epoch per call (the recorder's worst case: buffer=1): what a
`Recorder` flush logs, i.e. `TensorBoardLogger.on_diagnostics` (4 saturation statistics per
layer), `on_results`, `on_aux` (5 auxiliary values per layer and estimator, as the binning
estimators and KDE report them), plus 4 metrics through `on_metrics`. Images are off while
timing (they are rendered every ``image_every`` epochs, timed separately below).
Per epoch this writes 42 result, 105 auxiliary and 28 diagnostic scalars in 7 layer runs,
3 dashboard tensors and 4 metric scalars, and flushes the 9 event files once per call.

Target: everything logged per epoch under 5 ms (wall clock; median and p90 reported, with
this process's CPU time next to them, which other processes' load does not inflate).

Also timed: one information-plane image render + write (the injected default renderer,
`infoplane.plot`, when it exists; else a small matplotlib scatter), per (label, split).

Usage: python benchmarks/bench_tensorboard.py [--epochs 200] [--layers 7]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import tempfile
import time

import numpy as np

from infoplane.report.tensorboard.logger import TensorBoardLogger

TARGET_MS = 5.0
ESTIMATORS = (("binning", {"n_bins": 30}), ("adaptive_binning", {"n_bins": 30}),
              ("kde", {"noise_variance": 0.1}))


def result_rows(epoch: int, layers: list[str], rng: np.random.Generator) -> list[dict]:
    """One epoch of result rows, sorted as the recorder sorts them (layer, then estimator)."""
    rows = []
    for layer in layers:
        for name, params in ESTIMATORS:
            meta = json.dumps({"estimator": name, "units": "bits", **params}, sort_keys=True)
            rows.append({"run": "bench", "seed": 0, "split": "train", "epoch": epoch,
                         "layer": layer, "estimator": name, "i_xt": float(rng.uniform(0, 12)),
                         "i_ty": float(rng.uniform(0, 1)), "units": "bits", "params": meta})
    return rows


AUX_NAMES = {"binning": ("h_t", "h_t_given_x", "h_t_given_y", "n_states", "hash_collisions"),
             "adaptive_binning": ("h_t", "h_t_given_x", "h_t_given_y", "n_states",
                                  "hash_collisions"),
             "kde": ("i_xt_lower", "i_xt_upper", "i_ty_lower", "i_ty_upper", "sigma2")}


def aux_rows(results: list[dict], rng: np.random.Generator) -> list[dict]:
    return [{k: r[k] for k in ("run", "seed", "split", "epoch", "layer", "estimator", "params")}
            | {"name": n, "value": float(rng.random())}
            for r in results for n in AUX_NAMES[r["estimator"]]]


def diag_rows(epoch: int, layers: list[str], rng: np.random.Generator) -> list[dict]:
    return [{"run": "bench", "seed": 0, "split": "train", "epoch": epoch, "layer": layer,
             "name": n, "value": float(rng.random())}
            for layer in layers for n in ("saturated", "zero", "dead_units", "mean_abs")]


def metric_rows(epoch: int, rng: np.random.Generator) -> list[dict]:
    return [{"run": "bench", "seed": 0, "epoch": epoch, "name": n, "value": float(rng.random())}
            for n in ("train_acc", "test_acc", "train_loss", "test_loss")]


def _scatter_png(table, *, estimator, split, params) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4))
    ax.scatter(table["i_xt"], table["i_ty"], c=table["epoch"], s=4)
    ax.set(xlabel="I(X;T) bits", ylabel="I(T;Y) bits", title=f"{estimator} {split}")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return buf.getvalue()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--layers", type=int, default=7)
    args = ap.parse_args()
    layers = [f"Dense_{i}" for i in range(args.layers - 1)] + ["softmax"]
    rng = np.random.default_rng(0)
    print(f"python {platform.python_version()}, {platform.machine()}, "
          f"{os.cpu_count()} CPUs; {args.epochs} epochs, {len(layers)} layers x "
          f"{len(ESTIMATORS)} estimators, train split")

    with tempfile.TemporaryDirectory() as d:
        tb = TensorBoardLogger(os.path.join(d, "bench"), run="bench",
                               ceilings={"train": {"i_xt": 12.0, "i_ty": 1.0}},
                               hparams={"lr": 0.001, "activation": "tanh"}, images=False)
        inputs = []
        for e in range(args.epochs):
            res = result_rows(e, layers, rng)
            inputs.append((diag_rows(e, layers, rng), res, aux_rows(res, rng),
                           metric_rows(e, rng)))
        per_epoch, results_only, cpu = [], [], []
        for diag, res, aux, met in inputs:
            c0, t0 = time.process_time(), time.perf_counter()
            tb.on_diagnostics(diag)
            tb.on_results(res)
            t1 = time.perf_counter()
            tb.on_aux(aux)
            tb.on_metrics(met)
            t2, c2 = time.perf_counter(), time.process_time()
            per_epoch.append((t2 - t0) * 1e3)
            results_only.append((t1 - t0) * 1e3)
            cpu.append((c2 - c0) * 1e3)
        tb.close()
        size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(d) for f in fs)

        steady = per_epoch[1:]  # the first call creates the files and the layout
        med, p90 = statistics.median(steady), float(np.percentile(steady, 90))
        print(f"first epoch (creates {len(layers) + 2} event files): {per_epoch[0]:.2f} ms")
        print(f"diagnostics + results + aux + metrics per epoch: median {med:.3f} ms, "
              f"p90 {p90:.3f} ms, max {max(steady):.3f} ms (diagnostics + results alone: "
              f"median {statistics.median(results_only[1:]):.3f} ms)")
        print(f"CPU time of this process per epoch: median {statistics.median(cpu[1:]):.3f} ms, "
              f"p90 {float(np.percentile(cpu[1:], 90)):.3f} ms (wall-clock p90 above this means "
              f"other processes shared the CPUs; load average {os.getloadavg()[0]:.1f})")
        print(f"ratio to the {TARGET_MS:g} ms target: median {med / TARGET_MS:.2f}, "
              f"p90 {p90 / TARGET_MS:.2f} ({'met' if p90 < TARGET_MS else 'NOT met'} at p90)")
        print(f"event files: {size / 1e3:.1f} kB for {args.epochs} epochs")

    with tempfile.TemporaryDirectory() as d:
        try:
            import infoplane.plot  # noqa: F401

            render, which = None, "infoplane.plot (default renderer)"
        except ImportError:
            render, which = _scatter_png, "matplotlib scatter (infoplane.plot not available)"
        tb = TensorBoardLogger(os.path.join(d, "bench"), images=True, image_every=0,
                               render=render, ceilings={"train": {"i_xt": 12.0, "i_ty": 1.0}})
        for e in range(args.epochs):
            tb.on_results(result_rows(e, layers, rng))
        tb._write_images()  # warm-up: imports matplotlib, builds the font cache
        tb._new_epochs.add(0)
        t0 = time.perf_counter()
        tb._write_images()
        dt = (time.perf_counter() - t0) * 1e3
        tb.close()
        print(f"image render + write, {which}: {dt / len(ESTIMATORS):.1f} ms per (label, split) "
              f"({len(ESTIMATORS)} images of {args.epochs} epochs x {len(layers)} layers)")


if __name__ == "__main__":
    main()
