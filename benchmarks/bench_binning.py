"""Binning-family speed vs NumPy references, on the Shwartz-Ziv–Tishby-sized workload.

Workload: N = 4096 probe samples (all 12-bit patterns), the layer widths of the 12-10-7-5-4-3-2
network, E stacked epochs of tanh activations (weights scaled up over "epochs" so later epochs
saturate, as in training). Both sides estimate every (epoch, layer).

References, timed in the same process:
* binning / adaptive binning: NumPy the way the original code does it -- per layer per epoch,
  ``np.digitize`` then ``np.unique`` on row views for p(t), and again per class for H(T|Y);
  adaptive edges from ``np.unique`` over the layer's pooled values. The convention rows
  (``convention="idnns"`` / ``"chelombiev"``, issue 17) time the original codes' states:
  ``edges[digitize(t, edges) - 1]`` on float32 linspace edges, and edges at
  ``int(k * (U / B))`` plus the maximum.
* KDE: NumPy of the same formula, vectorised (float32 BLAS distances, one kernel matrix, per-class
  sums by a matrix product).

Prints absolute times and the speed ratios (targets: >= 10x for binning + adaptive binning
together, >= 3x for KDE). Usage: ``python benchmarks/bench_binning.py [--epochs 64]
[--devices K]``; ``--devices K`` exposes K CPU devices to JAX (XLA's
``--xla_force_host_platform_device_count``) so `estimate_epochs` shards the epochs over them.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("--epochs", type=int, default=64)
ap.add_argument("--kde-epochs", type=int, default=8)
ap.add_argument("--devices", type=int, default=1, help="CPU devices to shard epochs over")
ARGS = ap.parse_args()
if ARGS.devices > 1:  # must be set before JAX initialises its CPU backend
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "")
        + f" --xla_force_host_platform_device_count={ARGS.devices}"
    )

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import infoplane  # noqa: E402
from infoplane.estimators import KDE, AdaptiveBinning, Binning  # noqa: E402

WIDTHS = (12, 10, 7, 5, 4, 3, 2)


def workload(n_epochs: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = ((np.arange(4096)[:, None] >> np.arange(12)[::-1]) & 1).astype(np.float32)
    y = (x @ rng.normal(size=12) > 0).astype(np.int32)
    layers = []
    h = np.broadcast_to(2 * x - 1, (n_epochs, 4096, 12))
    scale = np.linspace(0.5, 4.0, n_epochs)[:, None, None]
    fan_in = 12
    for w in WIDTHS:
        wmat = rng.normal(size=(fan_in, w)) / np.sqrt(fan_in)
        h = np.tanh(scale * (h @ wmat)).astype(np.float32)
        layers.append(h)
        fan_in = w
    return x, y, layers  # layers[i]: (E, N, width)


# ---- NumPy references ----------------------------------------------------------------------


def _entropy_of_rows(rows):
    view = np.ascontiguousarray(rows).view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1])))
    _, counts = np.unique(view, return_counts=True)
    p = counts / counts.sum()
    return -np.sum(p * np.log2(p))


def np_discrete_mi(digitized, y):
    h_t = _entropy_of_rows(digitized)
    h_t_y = 0.0
    for c in np.unique(y):
        m = y == c
        h_t_y += m.mean() * _entropy_of_rows(digitized[m])
    return h_t, h_t - h_t_y  # I(X;T) = H(T) for distinct inputs, I(T;Y)


ORIGINAL_EDGES = np.linspace(-1, 1, 30).astype(np.float32)


def np_binning(t, y):
    return np_discrete_mi(np.digitize(t, ORIGINAL_EDGES), y)


def np_binning_idnns(t, y):
    return np_discrete_mi(ORIGINAL_EDGES[np.digitize(t, ORIGINAL_EDGES) - 1], y)


def np_adaptive(t, y, n_bins=30):
    u = np.unique(t)
    edges = u[(np.arange(1, n_bins) * len(u)) // n_bins]
    return np_discrete_mi(np.digitize(t, edges), y)


def np_adaptive_chelombiev(t, y, n_bins=30):
    u = np.unique(t)
    edges = [u[int(k * (len(u) / n_bins))] for k in range(n_bins)] + [u[-1]]
    return np_discrete_mi(np.digitize(t, np.array(edges, t.dtype)), y)


def np_kde(t, y, sigma2=1e-3):
    sq = np.sum(t * t, axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * (t @ t.T), 0)
    onehot = np.eye(int(y.max()) + 1, dtype=np.float32)[y]
    out = []
    for c in (2.0, 8.0):
        k = np.exp(-d2 / np.float32(c * sigma2))
        s = k @ onehot
        i_xt = -np.mean(np.log(s.sum(1) / len(t)))
        own = s[np.arange(len(t)), y] / onehot.sum(0)[y]
        out.append((i_xt, i_xt + np.mean(np.log(own))))
    return out


# ---- timing --------------------------------------------------------------------------------


def time_numpy(fn, layers, y, n_epochs):
    t0 = time.perf_counter()
    for layer in layers:
        for e in range(n_epochs):
            fn(layer[e], y)
    return time.perf_counter() - t0


def time_jax(est, x, layers, y, repeats=3):
    devs = [jnp.asarray(layer) for layer in layers]
    ctx = infoplane.prepare(est, x, y)[1]

    def run():
        out = [infoplane.estimate_epochs(est, x, ts, y, ctx=ctx) for ts in devs]
        jax.block_until_ready(out)
        return out

    run()  # compile
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - t0)
    return best


def main():
    args = ARGS
    x, y, layers = workload(args.epochs)
    print(f"machine: {platform.machine()} {platform.processor() or ''} | jax {jax.__version__} "
          f"on {jax.local_device_count()} {jax.devices()[0].platform} device(s) | N=4096, "
          f"widths={WIDTHS}, epochs={args.epochs}")

    rows = []
    t_np_bin = time_numpy(np_binning, layers, y, args.epochs)
    t_jx_bin = time_jax(Binning(), x, layers, y)
    rows.append(("binning", t_np_bin, t_jx_bin))
    t_np_ad = time_numpy(np_adaptive, layers, y, args.epochs)
    t_jx_ad = time_jax(AdaptiveBinning(), x, layers, y)
    rows.append(("adaptive_binning", t_np_ad, t_jx_ad))
    rows.append(("binning + adaptive", t_np_bin + t_np_ad, t_jx_bin + t_jx_ad))
    rows.append(("binning (idnns)", time_numpy(np_binning_idnns, layers, y, args.epochs),
                 time_jax(Binning(convention="idnns"), x, layers, y)))
    rows.append(("adaptive (chelombiev)",
                 time_numpy(np_adaptive_chelombiev, layers, y, args.epochs),
                 time_jax(AdaptiveBinning(convention="chelombiev"), x, layers, y)))

    ke = args.kde_epochs
    kl = [layer[:ke] for layer in layers]
    t_np_kde = time_numpy(np_kde, kl, y, ke)
    t_jx_kde = time_jax(KDE(), x, kl, y, repeats=1)
    rows.append((f"kde ({ke} epochs)", t_np_kde, t_jx_kde))

    print(f"{'estimator':<22}{'numpy s':>10}{'infoplane s':>13}{'ratio':>8}")
    for name, a, b in rows:
        print(f"{name:<22}{a:>10.3f}{b:>13.3f}{a / b:>7.1f}x")


if __name__ == "__main__":
    main()
