"""Diffusion spectral entropy: speed of the exact and the scalable (SLQ) modes.

Three measurements, each printed with absolute times and a ratio:

1. Exact DSE at N (default 4096) vs a NumPy reference timed in the same process: float32 data,
   the kernel from BLAS distances, ``K = D^-1/2 G D^-1/2`` by explicit diagonal-matrix products
   (``np.diag(r) @ G @ np.diag(r)``), ``numpy.linalg.eigvalsh`` (float64, as a user would write
   it) -- target >= 1.5x. Also shown: the same NumPy code in float32.
2. Scalable DSE (``mode="slq"``) at N vs our exact DSE -- target >= 10x -- and the SLQ error
   against the exact value.
3. SLQ at a large N (default 50 000; ``--big``) in a subprocess, reporting time and peak RSS
   (bounded memory: no N x N matrix).

Data (``--data``): ``manifold`` (default), a 3-dimensional manifold (swiss-roll-like) embedded in
64 ambient dimensions, unit scale, sigma = 1 (DSE ~5 bits); or ``small``, Gaussian data in 64
dimensions at scale 0.0657 with sigma = 10 (the kernel is nearly all ones: DSE ~0.044 bits, the
small-DSE regime of benchmarks/study_dse_slq.py). Usage: ``python benchmarks/bench_spectral.py
[--n 4096] [--big 50000] [--repeats 2] [--skip-numpy] [--data manifold|small]``.
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

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("--n", type=int, default=4096)
ap.add_argument("--big", type=int, default=50_000, help="N of the bounded-memory SLQ run (0: skip)")
ap.add_argument("--repeats", type=int, default=2)
ap.add_argument("--sigma", type=float, default=None, help="default: 1 (manifold), 10 (small)")
ap.add_argument("--data", choices=("manifold", "small"), default="manifold")
ap.add_argument("--skip-numpy", action="store_true",
                help="time only our exact DSE, not the NumPy references (for large --n)")
ap.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)
ARGS = ap.parse_args()
if ARGS.sigma is None:
    ARGS.sigma = 1.0 if ARGS.data == "manifold" else 10.0


def manifold(n: int, ambient: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    u = rng.uniform(0, 3 * np.pi, n)
    h = rng.uniform(0, 4, n)
    v = rng.normal(size=n) * 0.3
    low = np.stack([u * np.cos(u) / 3, h, u * np.sin(u) / 3 + v], axis=1)  # (n, 3)
    rot, _ = np.linalg.qr(rng.normal(size=(ambient, ambient)))
    return (low @ rot[:3]).astype(np.float32)  # (n, ambient): a 3-d manifold in 64 dims


def data(n: int) -> np.ndarray:
    if ARGS.data == "small":
        return (0.0657 * np.random.default_rng(0).normal(size=(n, 64))).astype(np.float32)
    return manifold(n)


def numpy_dse(z: np.ndarray, sigma: float, dtype=np.float64) -> float:
    z = z.astype(dtype)
    sq = np.sum(z * z, axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * z @ z.T, 0)
    g = np.exp(-d2 / (2 * sigma**2))
    r = np.diag(1 / np.sqrt(g.sum(axis=1)))
    k = r @ g @ r
    lam = np.abs(np.linalg.eigvalsh(k))
    p = lam / lam.sum()
    p = p[p > 0]
    return float(-np.sum(p * np.log2(p)))


def timed(f, repeats):
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = f()
        best = min(best, time.perf_counter() - t0)
    return best, out


def child(n: int) -> None:
    """Run SLQ at N = n and print JSON with time and peak RSS."""
    from infoplane.estimators.spectral import dse

    z = data(n)
    t0 = time.perf_counter()
    h, se = dse(z, ARGS.sigma, mode="slq", return_stderr=True)
    h = float(h)
    dt = time.perf_counter() - t0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = {"n": n, "seconds": dt, "dse_bits": h, "stderr": float(se), "peak_rss_mb": rss_mb}
    out.update(device_peak_mb())
    print(json.dumps(out))


def device_peak_mb() -> dict:
    """Peak accelerator memory in use (jax's memory_stats), or {} on CPU / when unavailable."""
    import jax

    dev = jax.devices()[0]
    stats = dev.memory_stats() if dev.platform != "cpu" else None
    if not stats or "peak_bytes_in_use" not in stats:
        return {}
    return {"device_peak_mb": stats["peak_bytes_in_use"] / 2**20}


if ARGS.child:
    child(ARGS.child)
    sys.exit(0)

import jax  # noqa: E402

from infoplane.estimators.spectral import dse  # noqa: E402


def main() -> None:
    n, sigma = ARGS.n, ARGS.sigma
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"jax {jax.__version__}, load average {os.getloadavg()[0]:.2f} at start, data "
          f"{ARGS.data}, sigma {sigma}")
    z = data(n)

    float(dse(z, sigma, mode="exact"))  # compile
    t_ex, h_ex = timed(lambda: float(dse(z, sigma, mode="exact")), ARGS.repeats)
    if ARGS.skip_numpy:
        print(f"exact DSE  N={n}: jax {t_ex:.2f} s  (NumPy references skipped)")
    else:
        t_np, h_np = timed(lambda: numpy_dse(z, sigma), ARGS.repeats)
        t_np32, _ = timed(lambda: numpy_dse(z, sigma, np.float32), ARGS.repeats)
        print(f"exact DSE  N={n}: jax {t_ex:.2f} s  numpy(float64) {t_np:.2f} s  "
              f"numpy(float32) {t_np32:.2f} s")
        print(f"  ratio numpy64/jax = {t_np / t_ex:.2f}x (target >= 1.5x)   "
              f"numpy32/jax = {t_np32 / t_ex:.2f}x   |jax - numpy| = {abs(h_ex - h_np):.2e} bits")

    float(dse(z, sigma, mode="slq"))  # compile
    t_slq, (h_slq, se) = timed(lambda: tuple(map(float, dse(z, sigma, mode="slq",
                                                            return_stderr=True))), ARGS.repeats)
    print(f"SLQ DSE    N={n}: {t_slq:.2f} s  ratio exact/slq = {t_ex / t_slq:.1f}x "
          f"(target >= 10x)   slq {h_slq:.4f} +- {se:.4f} vs exact {h_ex:.4f} bits "
          f"(error {h_slq - h_ex:+.4f})")

    if ARGS.big:
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(ARGS.big), "--sigma", str(sigma),
             "--data", ARGS.data],
            capture_output=True, text=True, check=True,
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        dense_gb = ARGS.big**2 * 4 / 1e9
        print(f"SLQ DSE    N={r['n']}: {r['seconds']:.1f} s (incl. compile), peak RSS "
              f"{r['peak_rss_mb']:.0f} MB (a dense float32 kernel alone would be "
              f"{dense_gb:.1f} GB); DSE {r['dse_bits']:.4f} +- {r['stderr']:.4f} bits")
        if "device_peak_mb" in r:
            print(f"  accelerator peak memory in use {r['device_peak_mb']:.0f} MB")
    print(f"# load average {os.getloadavg()[0]:.2f} at end")


if __name__ == "__main__":
    main()
