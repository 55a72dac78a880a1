"""The mnist-cnn preset at full size (issue 19, targets): host memory and time per recorded
epoch of ``infoplane run --preset mnist-cnn --data DIR`` as a user runs it.

Full size is the preset's own: 60 000 training images, the 10 000 test images as the probe,
every epoch recorded, its default estimators (binning(range='data') and kde(adaptive=True)
with 20-subset confidence intervals, compressed(noise='absolute'), matrix_renyi on its
512-row subsample). No MNIST is downloaded: the four IDX files are written here in the
standard format (``--data DIR`` uses yours instead), with class templates plus noise, so the
network learns and the layers are not degenerate; sizes, shapes and every code path are the
real ones, the numbers are not MNIST's.

The run is a child process (``run_experiment`` as ``infoplane run`` calls it: CPU cores as JAX
devices, no persistent compilation cache). Printed: its peak RSS (ru_maxrss of the child,
target < 16 GB on a CPU host), the time per recorded epoch (capture + estimation over the
recorded epochs; the first recorded epoch, which compiles, separately from the others;
target < 1 s on a GPU), training time per epoch, and the device.

Usage: python benchmarks/bench_mnist_cnn.py [--epochs 1] [--data DIR] [--limit N]
       [--estimators SPEC,...] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np
from bench_scale import machine

CHILD = """
import json, sys, time
from infoplane.experiments import runtime
runtime.use_cpu_cores()
import jax
from infoplane.experiments.run import run_experiment
job = json.loads(sys.argv[1])
stamps = []
def on_results(rows):
    stamps.append((time.perf_counter(), sorted({r["epoch"] for r in rows})))
t0 = time.perf_counter()
s = run_experiment("mnist-cnn", data=job["data"], epochs=job["epochs"], logdir=job["logdir"],
                   name="full", limit=job["limit"], estimators=job["estimators"],
                   on_results=on_results, log=lambda m: print(m, flush=True))
print(json.dumps({"wall": time.perf_counter() - t0, "timings": s.timings,
                  "recorded": len({r["epoch"] for r in s.recorder.results().rows()}),
                  "device": str(jax.devices()[0].device_kind), "backend": jax.default_backend(),
                  "stamps": [(t - t0, e) for t, e in stamps]}))
"""


def idx(arr: np.ndarray) -> bytes:
    """An IDX file of unsigned bytes (the MNIST format: magic 0x08 << 8 | ndim, big-endian
    sizes, then the data)."""
    return (struct.pack(">I", (0x08 << 8) | arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
            + arr.astype(np.uint8).tobytes())


def write_mnist_like(root: str, n_train: int = 60_000, n_test: int = 10_000,
                     seed: int = 0) -> str:
    """The four MNIST IDX files (gzipped) of synthetic digits: one smooth random template per
    class, shifted by up to 2 pixels, plus noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:28, 0:28]
    templates = []
    for _ in range(10):
        img = np.zeros((28, 28))
        for _ in range(4):  # strokes: Gaussian blobs along a random segment
            (r0, c0), (r1, c1) = rng.uniform(6, 22, size=(2, 2))
            for t in np.linspace(0, 1, 8):
                img += np.exp(-((yy - (r0 + t * (r1 - r0))) ** 2
                                + (xx - (c0 + t * (c1 - c0))) ** 2) / 3.0)
        templates.append(img / img.max())
    templates = np.stack(templates)
    os.makedirs(root, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        shifts = rng.integers(-2, 3, size=(n, 2))
        images = np.empty((n, 28, 28), np.uint8)
        for i0 in range(0, n, 5000):
            sl = slice(i0, min(n, i0 + 5000))
            base = templates[labels[sl]]
            base = np.stack([np.roll(b, tuple(s), axis=(0, 1)) for b, s in
                             zip(base, shifts[sl], strict=True)])
            noisy = base * rng.uniform(0.7, 1.0, (len(base), 1, 1)) \
                + rng.normal(0, 0.15, base.shape)
            images[sl] = np.clip(noisy * 255, 0, 255).astype(np.uint8)
        for kind, arr in (("images-idx3", images), ("labels-idx1", labels)):
            with open(os.path.join(root, f"{prefix}-{kind}-ubyte.gz"), "wb") as f:
                f.write(gzip.compress(idx(arr), compresslevel=1))
    return root


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=1,
                    help="training epochs (every epoch and epoch 0 are recorded; default 1)")
    ap.add_argument("--data", default=None, help="your MNIST directory (default: synthetic)")
    ap.add_argument("--limit", type=int, default=None, help="first N train and test images")
    ap.add_argument("--estimators", default=None, help="comma-separated specs (default: the "
                    "preset's)")
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args()
    tmp = tempfile.TemporaryDirectory(prefix="bench-mnist-cnn-")
    work = args.workdir or tmp.name
    t0 = time.perf_counter()
    data = args.data or write_mnist_like(os.path.join(work, "mnist"))
    print(f"# bench_mnist_cnn.py on {machine()}")
    print(f"# data: {'yours, ' + data if args.data else 'synthetic IDX files'} "
          f"({time.perf_counter() - t0:.0f} s to write); --epochs {args.epochs}"
          f"{'' if args.limit is None else f', --limit {args.limit}'}", flush=True)
    job = {"data": data, "epochs": args.epochs, "logdir": os.path.join(work, "runs"),
           "limit": args.limit,
           "estimators": None if args.estimators is None else args.estimators.split(",")}
    env = {**os.environ, "INFOPLANE_NO_CACHE": "1"}
    p = subprocess.run([sys.executable, "-c", CHILD, json.dumps(job)], capture_output=True,
                       text=True, env=env)
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if p.returncode != 0 or not lines:
        sys.exit(f"the run failed (exit {p.returncode}):\n{p.stderr[-4000:]}")
    r = json.loads(lines[-1])
    tm, n = r["timings"], r["recorded"]
    per = (tm["capture"] + tm["estimate"]) / n
    print("\n".join(ln for ln in p.stdout.splitlines() if not ln.startswith("{"))[-3000:])
    stamps = r["stamps"]  # (seconds, epochs estimated) of each flush of result rows
    train_epoch = tm["train"] / max(1, args.epochs)
    # after the first flush: the time to the next flush is its epochs' training + recording
    steady = [(b[0] - a[0]) / len(b[1]) - train_epoch for a, b in zip(stamps, stamps[1:],
                                                                       strict=False)]
    print(f"device: {r['backend']} ({r['device']}); {n} recorded epochs; wall {r['wall']:.0f} s "
          f"(train {tm['train']:.1f} s, {train_epoch:.1f} s per epoch); result flushes: "
          + ", ".join(f"epochs {e} at {t:.0f} s" for t, e in stamps))
    print(f"per recorded epoch (capture + estimation, compilation included): {per:.1f} s")
    print(f"peak RSS {peak_gb:.2f} GB (target < 16 GB on a CPU host: "
          f"{'met' if peak_gb < 16 else 'NOT met'})")
    if steady:
        best = float(np.median(steady))
        verdict = (f"target < 1 s on a GPU: {'met' if best < 1 else 'NOT met'}"
                   if r["backend"] == "gpu" else "the < 1 s target is for a GPU")
        print(f"steady state (after the first flush, less training): ~{best:.2f} s per "
              f"recorded epoch ({verdict})")
    else:
        print("steady state: one flush only (run more --epochs to see it)")
    tmp.cleanup()


if __name__ == "__main__":
    main()
