"""kNN entropy and KSG speed vs scikit-learn tree-based references; Compressed timing.

Same estimator on both sides, same process, float32 inputs:
* kNN entropy (Kozachenko–Leonenko, k = 5; BSY weights for d > 4): JAX `knn_entropy` (exact
  brute force on device, row blocks) vs scikit-learn ``KDTree``/``BallTree`` ``query`` (the
  faster of the two is used) plus the same formula in NumPy.
* KSG (algorithm 1, k = 5, max-norm, a = first d/2 coordinates, b = the rest): JAX `ksg_mi` vs
  ``KDTree(metric="chebyshev")`` joint query + ``query_radius(count_only=True)`` marginal counts.
Sizes N = 4096 and 10 000, d = 4 and 8 (target >= 5x). Then the peak resident memory of
``knn_entropy`` and ``ksg_mi`` at N = 50 000 (each in a fresh subprocess; ``ru_maxrss``), and
one Compressed information-plane point: all six layers (10-7-5-4-3-2) of the 12-10-7-5-4-3-2
tanh network at N = 4096, after compilation (target < 1 s), for the default (mi="shuffle")
and the paper's route (mi="entropy").

Usage: ``python benchmarks/bench_knn.py [--repeats 3] [--skip-memory]``. Needs scikit-learn.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

import numpy as np


def best_of(f, repeats):
    f()  # warm-up (compilation for JAX)
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t0)
    return min(ts)


# ---- scikit-learn references (same estimators) -------------------------------------------------


def sk_entropy(z, k, weights, tree):
    from scipy.special import digamma, gammaln

    z = np.asarray(z, np.float64)
    n, d = z.shape
    dist, _ = tree(z).query(z, k=k + 1)
    r = dist[:, 1:]
    log_vd = 0.5 * d * np.log(np.pi) - gammaln(d / 2 + 1)
    w = np.asarray(weights)
    j = np.arange(1, k + 1)
    nz = w != 0
    return digamma(n) + log_vd - np.sum(w * digamma(j)) + d * np.mean(
        np.log(r[:, nz]) @ w[nz])


def sk_ksg(a, b, k):
    from scipy.special import digamma
    from sklearn.neighbors import KDTree

    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    a = (a - a.mean(0)) / a.std(0)
    b = (b - b.mean(0)) / b.std(0)
    n = a.shape[0]
    joint = np.hstack([a, b])
    eps = KDTree(joint, metric="chebyshev").query(joint, k=k + 1)[0][:, k]
    r = np.nextafter(eps, 0)
    na = KDTree(a, metric="chebyshev").query_radius(a, r, count_only=True) - 1
    nb = KDTree(b, metric="chebyshev").query_radius(b, r, count_only=True) - 1
    return digamma(k) + digamma(n) - np.mean(digamma(na + 1) + digamma(nb + 1))


# ---- memory probe (subprocess) ------------------------------------------------------------------


def current_rss_kib() -> float:
    """Resident set size now (Linux /proc; falls back to the high-water mark)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1024
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def memory_probe(which: str, n: int, d: int):
    import jax

    from infoplane.estimators.knn import knn_entropy, ksg_mi

    z = np.random.default_rng(0).normal(size=(n, d)).astype(np.float32)
    jax.numpy.zeros(1).block_until_ready()
    base = current_rss_kib()
    t0 = time.perf_counter()
    if which == "entropy":
        v = float(knn_entropy(z, units="nats"))
    else:
        v = float(ksg_mi(z[:, : d // 2], z[:, d // 2 :], units="nats"))
    dt = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = {"which": which, "value": v, "seconds_incl_compile": dt,
           "base_mb": base / 1024, "peak_mb": peak / 1024}  # maxrss: KiB
    dev = jax.devices()[0]
    stats = dev.memory_stats() if dev.platform != "cpu" else None
    if stats and "peak_bytes_in_use" in stats:  # accelerator: jax's allocator peak
        out["device_peak_mb"] = stats["peak_bytes_in_use"] / 2**20
    print(json.dumps(out))


# ---- main ----------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--probe", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.probe:
        memory_probe(args.probe[0], int(args.probe[1]), int(args.probe[2]))
        return

    import jax
    from sklearn.neighbors import BallTree, KDTree

    from infoplane.estimators.knn import entropy_weights, knn_entropy, ksg_mi

    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f}, jax {jax.__version__}, "
          f"backend {jax.default_backend()}")
    k = 5
    print(f"{'estimator':<12}{'N':>7}{'d':>3}{'jax s':>9}{'sklearn s':>11}{'ratio':>8}"
          f"{'|diff| nats':>13}")
    for n in (4096, 10000):
        for d in (4, 8):
            z = np.random.default_rng(n + d).normal(size=(n, d)).astype(np.float32)
            w = entropy_weights(k, d, None)
            tj = best_of(lambda z=z: knn_entropy(z, k, units="nats").block_until_ready(),
                         args.repeats)
            ts = min(best_of(lambda z=z, t=t, w=w: sk_entropy(z, k, w, t), args.repeats)
                     for t in (KDTree, BallTree))
            diff = abs(float(knn_entropy(z, k, units="nats")) - sk_entropy(z, k, w, KDTree))
            print(f"{'knn_entropy':<12}{n:>7}{d:>3}{tj:>9.3f}{ts:>11.3f}{ts / tj:>7.1f}x"
                  f"{diff:>13.1e}")
            a, b = z[:, : d // 2], z[:, d // 2 :] + z[:, : d // 2]
            tj = best_of(lambda a=a, b=b: ksg_mi(a, b, k, units="nats").block_until_ready(),
                         args.repeats)
            ts = best_of(lambda a=a, b=b: sk_ksg(a, b, k), args.repeats)
            diff = abs(float(ksg_mi(a, b, k, units="nats")) - sk_ksg(a, b, k))
            print(f"{'ksg_mi':<12}{n:>7}{d:>3}{tj:>9.3f}{ts:>11.3f}{ts / tj:>7.1f}x"
                  f"{diff:>13.1e}")

    if not args.skip_memory:
        for which in ("entropy", "ksg"):
            out = subprocess.run(
                [sys.executable, __file__, "--probe", which, "50000", "8"],
                capture_output=True, text=True, check=True,
            ).stdout.strip().splitlines()[-1]
            r = json.loads(out)
            print(f"N=50000 d=8 {which}: process peak RSS {r['peak_mb']:.0f} MB ("
                  f"{r['base_mb']:.0f} MB resident before the call), "
                  f"{r['seconds_incl_compile']:.1f} s incl. compile"
                  + (f"; accelerator peak memory in use {r['device_peak_mb']:.0f} MB"
                     if "device_peak_mb" in r else ""))

    compressed_point(args.repeats)


def compressed_point(repeats):
    from infoplane.estimators.compressed import Compressed

    rng = np.random.default_rng(0)
    x = ((np.arange(4096)[:, None] >> np.arange(12)[::-1]) & 1).astype(np.float32)
    y = (x @ rng.normal(size=12) > 0).astype(np.int32)
    layers, h, fan = [], 2 * x - 1, 12
    for w in (10, 7, 5, 4, 3, 2):
        h = np.tanh(2.0 * h @ (rng.normal(size=(fan, w)) / np.sqrt(fan))).astype(np.float32)
        layers.append(h)
        fan = w
    for est in (Compressed(), Compressed(mi="entropy")):
        compressed_timing(est, x, y, layers, repeats)


def compressed_timing(est, x, y, layers, repeats):
    import infoplane

    t0 = time.perf_counter()
    _, ctx = infoplane.prepare(est, x, y)
    jax_ready(ctx)
    t_prep = time.perf_counter() - t0

    def point():
        out = [infoplane.estimate_epochs(est, x, t[None], y, ctx=ctx, shard=False)
               for t in layers]
        jax_ready(out)
        return out

    t0 = time.perf_counter()
    point()
    t_first = time.perf_counter() - t0
    t_point = best_of(point, repeats)
    print(f"Compressed(mi={est.mi!r}), N=4096, 6 layers: prepare (autoencoder, "
          f"{est.ae_steps} steps) "
          f"{t_prep:.2f} s; first point incl. compile {t_first:.2f} s; one point after "
          f"compilation {t_point:.3f} s (target < 1 s); AE reconstruction error "
          f"{float(ctx.ae_recon_error):.3f}")


def jax_ready(tree):
    import jax

    jax.block_until_ready(tree)


if __name__ == "__main__":
    main()
