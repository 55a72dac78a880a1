"""The cost of confidence intervals (`infoplane.Intervals`, issue 21): time per recorded epoch
with and without them, on the default run's probe and layer widths.

Workload: the Shwartz-Ziv–Tishby probe (N = 4096 12-bit patterns and their labels,
`infoplane.datasets.tishby_dataset`) through a random 12-10-7-5-4-3-2 tanh network whose
weights grow over E "epochs" (later epochs saturate, as in training); every layer at every
epoch is estimated by `infoplane.estimate_epochs`, once plain and once wrapped in
``Intervals(est, resamples=B)`` (B subsets of N/2 rows without replacement, one vmap). Both
sides are compiled first (a warm-up call on the same shapes); the medians of ``--repeats``
timed calls are compared.

Prints, per estimator, the time per recorded epoch (all seven layers) of both and the ratio
(intervals / plain) beside the stated cost 1 + B (m/N)^k (binning k ~ 1: 11 at B = 20; KDE
k = 2: 6). Usage: ``python benchmarks/bench_intervals.py [--epochs 8] [--resamples 20]
[--repeats 3] [--estimators binning,kde,adaptive_binning]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import jax
import numpy as np

import infoplane
from infoplane.datasets import tishby_dataset

WIDTHS = (12, 10, 7, 5, 4, 3, 2)
EXPONENT = {"binning": 1, "adaptive_binning": 1, "kde": 2}


def saturating_layers(x: np.ndarray, n_epochs: int, seed: int = 0) -> list[np.ndarray]:
    """Each layer's (E, N, width) tanh activations of a random network scaled by 0.5..4."""
    rng = np.random.default_rng(seed)
    scales = np.geomspace(0.5, 4.0, n_epochs)[:, None, None]
    h = np.broadcast_to(2.0 * x - 1.0, (n_epochs, *x.shape))
    out = []
    for w in WIDTHS:
        weights = rng.normal(size=(h.shape[-1], w)) / np.sqrt(h.shape[-1])
        h = np.tanh(scales * (h @ weights)).astype(np.float32)
        out.append(h)
    return out


def time_per_epoch(est, x, y, layers, repeats: int) -> float:
    """Median seconds of estimating every layer at every epoch, divided by the epochs."""
    _, ctx = infoplane.prepare(est, x, y)

    def once() -> float:
        t0 = time.perf_counter()
        for ts in layers:
            r = infoplane.estimate_epochs(est, x, ts, y, ctx=ctx, shard=False)
            jax.block_until_ready((r.i_xt, r.i_ty))
        return time.perf_counter() - t0

    once()  # compile
    return statistics.median(once() for _ in range(repeats)) / layers[0].shape[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--resamples", type=int, default=20)
    ap.add_argument("--fraction", type=float, default=0.5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--estimators", default="binning,kde,adaptive_binning")
    args = ap.parse_args()
    x, y = tishby_dataset()
    x, y = np.asarray(x, np.float32), np.asarray(y, np.int32)
    layers = saturating_layers(x, args.epochs)
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, jax {jax.__version__} "
          f"({jax.default_backend()}), load {os.getloadavg()[0]:.1f}; N = {len(y)}, "
          f"{args.epochs} epochs x {len(WIDTHS)} layers, B = {args.resamples}, "
          f"fraction {args.fraction}")
    print(f"{'estimator':<18}{'plain ms/epoch':>16}{'intervals ms/epoch':>20}{'ratio':>8}"
          f"{'stated':>8}")
    for name in args.estimators.split(","):
        plain = infoplane.from_spec(name)
        wrapped = infoplane.Intervals(plain, resamples=args.resamples, fraction=args.fraction)
        t_plain = time_per_epoch(plain, x, y, layers, args.repeats)
        t_iv = time_per_epoch(wrapped, x, y, layers, args.repeats)
        stated = 1 + args.resamples * args.fraction ** EXPONENT.get(name, 1)
        print(f"{name:<18}{1e3 * t_plain:>16.1f}{1e3 * t_iv:>20.1f}{t_iv / t_plain:>8.1f}"
              f"{stated:>8.1f}")
    print(f"load at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
