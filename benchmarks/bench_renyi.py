"""Matrix-based Rényi α-entropy: speed and accuracy of the exact and the scalable (SLQ) modes.

Four measurements, each printed as a ratio measured in the same run (alpha = 1.01, the
papers' choice; the kernel width of every data shape is the estimator's default "knn" rule,
`infoplane.estimators.kernel_width`, computed once per shape):

(a) exact `infoplane.matrix_entropy` (float64 eigenvalues) vs NumPy: the Gram built in float64
    from the same float32 samples (``exp(-d2 / (2 sigma^2)) / n``), ``np.linalg.eigvalsh`` in
    float64 and the entropy; time ratio NumPy / infoplane and |difference| in bits, at
    n = 1024 and 4096 (``--quick``: 512, 1024).
(b) ``mode="slq"`` vs ``mode="exact"`` at n = 4096 (quick: 1024) on three data shapes
    (``tanh``: tanh of a linear map of a d = 10 Gaussian; ``manifold``: a 3-d swiss-roll-like
    manifold embedded in d = 64; ``wide``: a ReLU layer of d = 6272 values, 28 x 28 x 8, driven
    by 32 latent factors) over ``--seeds`` SLQ seeds: time ratio exact / SLQ, |error| in bits,
    the reported standard error and |error| / stderr. One extra row: SLQ matrix-free
    (``cache_mb=0``) on ``tanh``, the route the large sizes take.
(c) SLQ at n = 20 000 and 50 000 (quick: 6000, 10 000) on ``tanh`` (each n x n float32 Gram
    is 1.6 GB / 10 GB, over ``cache_mb=512``: matrix-free in row blocks), one subprocess per
    size, with wall time (compilation included; the kernel width from the first 10 000 rows,
    the full knn rule timed separately up to n = 20 000) and peak RSS (``VmHWM`` of
    /proc/self/status, else ``ru_maxrss``).
(d) the whole estimator `infoplane.estimators.MatrixRenyi` per layer-epoch (I(X;T) and
    I(T;Y): three entropies and the layer's width) at n = 1024 and 4096 (quick: 256, 512),
    exact vs SLQ: X a d = 64 manifold, T a d = 256 tanh layer of it, Y 10 classes; seconds
    per layer-epoch after compilation (first call in brackets) and |I_exact - I_slq| against
    the reported stderr.

The machine (CPU count, load average before and after, jax version and device) is printed.

On a shared, loaded host set ``--blas-threads 1``: LAPACK (the tridiagonal reduction of the
exact mode, NumPy's ``eigvalsh``) with OpenBLAS's default threads on 2 busy cores ran up to
~100x slower here (benchmarks/RESULTS.md); both sides of (a) use the same OpenBLAS.

Usage: ``python benchmarks/bench_renyi.py [--quick] [--seeds 3] [--repeats 2]
[--parts abcd] [--big 20000,50000] [--child-timeout 1500] [--blas-threads 1]``.
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

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("--quick", action="store_true", help="small sizes (a smoke run, ~1-2 min)")
ap.add_argument("--seeds", type=int, default=3, help="SLQ seeds per shape in (b)")
ap.add_argument("--repeats", type=int, default=2, help="timed calls per case (best is kept)")
ap.add_argument("--parts", default="abcd", help="which measurements to run, e.g. 'ab'")
ap.add_argument("--big", default=None, help="comma-separated n of (c) (default 20000,50000)")
ap.add_argument("--child-timeout", type=float, default=1500.0,
                help="seconds before a (c) subprocess is killed (reported as such)")
ap.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)
ap.add_argument("--blas-threads", type=int, default=0,
                help="set OPENBLAS/OMP/MKL_NUM_THREADS before NumPy loads (0: leave as is)")
ARGS = ap.parse_args()
BLAS_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
if ARGS.blas_threads:  # inherited by the (c) subprocesses
    os.environ.update({v: str(ARGS.blas_threads) for v in BLAS_VARS})

import numpy as np  # noqa: E402 - after the thread settings

ALPHA = 1.01
SIZES_A = (512, 1024) if ARGS.quick else (1024, 4096)
N_B = 1024 if ARGS.quick else 4096
SIZES_C = tuple(int(v) for v in ARGS.big.split(",")) if ARGS.big else (
    (6000, 10_000) if ARGS.quick else (20_000, 50_000))
SIZES_D = (256, 512) if ARGS.quick else (1024, 4096)
WIDTH_ROWS = 10_000  # (c): the kernel width from this many rows


# ---- data ------------------------------------------------------------------------------------


def tanh_gauss(n: int, seed: int = 0) -> np.ndarray:
    """(n, 10): tanh of a random linear map of a 10-d standard Gaussian."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(10, 10)) / np.sqrt(10)
    return np.tanh(rng.normal(size=(n, 10)) @ w).astype(np.float32)


def manifold(n: int, ambient: int = 64, seed: int = 0) -> np.ndarray:
    """(n, ambient): a 3-d swiss-roll-like manifold, rotated into ``ambient`` dimensions."""
    rng = np.random.default_rng(seed)
    u = rng.uniform(0, 3 * np.pi, n)
    h = rng.uniform(0, 4, n)
    v = rng.normal(size=n) * 0.3
    low = np.stack([u * np.cos(u) / 3, h, u * np.sin(u) / 3 + v], axis=1)
    rot, _ = np.linalg.qr(rng.normal(size=(ambient, ambient)))
    return (low @ rot[:3]).astype(np.float32)


def wide(n: int, d: int = 6272, seed: int = 0) -> np.ndarray:
    """(n, 6272): a ReLU layer (a 28 x 28 x 8 map) driven by 32 latent factors, plus noise."""
    rng = np.random.default_rng(seed)
    g = rng.normal(size=(n, 32)).astype(np.float32)
    w = (rng.normal(size=(32, d)) / np.sqrt(32)).astype(np.float32)
    return np.maximum(g @ w + 0.1 * rng.normal(size=(n, d)).astype(np.float32), 0.0)


SHAPES = {"tanh": tanh_gauss, "manifold": manifold, "wide": wide}


# ---- helpers ---------------------------------------------------------------------------------


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MB (VmHWM, else ru_maxrss)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(f, repeats: int):
    """(best seconds over ``repeats`` calls, the last result)."""
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = f()
        best = min(best, time.perf_counter() - t0)
    return best, out


def numpy_entropy(z: np.ndarray, sigma: float, alpha: float = ALPHA) -> float:
    """S_alpha(K / n) in bits, all in float64: Gram, ``eigvalsh``, entropy."""
    z = z.astype(np.float64)
    z = z - z.mean(axis=0)
    sq = np.sum(z * z, axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * (z @ z.T), 0.0)
    np.fill_diagonal(d2, 0.0)
    a = np.exp(-d2 / (2.0 * sigma * sigma)) / len(z)
    lam = np.clip(np.linalg.eigvalsh(a), 0.0, None)
    lam = lam / lam.sum()
    return float(np.log2(np.sum(lam[lam > 0] ** alpha)) / (1.0 - alpha))


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


# ---- (c) child: one large SLQ run in its own process ------------------------------------------


def child(n: int) -> None:
    """SLQ on ``tanh`` at n rows; prints one JSON line (time, entropy, stderr, peak RSS)."""
    import infoplane
    from infoplane.estimators.renyi import kernel_width

    z = tanh_gauss(n)
    # the width from the first 10 000 rows (the full knn rule is O(n^2 d): ~11 min at
    # n = 50 000 on 2 cores); the full rule is timed too up to n = 20 000
    sigma = kernel_width(z[:WIDTH_ROWS], "knn")
    t_width = float("nan")
    if n <= 20_000:
        t0 = time.perf_counter()
        kernel_width(z, "knn")
        t_width = time.perf_counter() - t0
    t0 = time.perf_counter()
    s, se = infoplane.matrix_entropy(z, sigma, ALPHA, mode="slq", return_stderr=True)
    s, se = float(s), float(se)
    out = {"n": n, "seconds": time.perf_counter() - t0, "width_seconds": t_width,
           "sigma": sigma, "bits": s, "stderr": se, "peak_rss_mb": peak_rss_mb(),
           "log2n": float(np.log2(n))}
    print(json.dumps(out), flush=True)


if ARGS.child:
    child(ARGS.child)
    sys.exit(0)

import jax  # noqa: E402

import infoplane  # noqa: E402
from infoplane.estimators import MatrixRenyi  # noqa: E402
from infoplane.estimators.renyi import kernel_width  # noqa: E402


def entropy(z, sigma, mode, seed=0, cache_mb=512):
    s, se = infoplane.matrix_entropy(z, sigma, ALPHA, mode=mode, seed=seed, cache_mb=cache_mb,
                                     return_stderr=True)
    return float(s), float(se)


def part_a() -> None:
    print("\n## (a) exact matrix_entropy vs NumPy float64 eigvalsh (Gram + eigvalsh + entropy)")
    print("| n | shape | sigma | infoplane exact s | NumPy s | NumPy / infoplane | "
          "|difference| bits | entropy bits |")
    print("|---|---|---|---|---|---|---|---|")
    for n in SIZES_A:
        errs, ratios = [], []
        for name, make in SHAPES.items():
            z = make(n)
            sigma = kernel_width(z, "knn")
            entropy(z, sigma, "exact")  # compile
            t_ip, (s_ip, _) = timed(lambda z=z, s=sigma: entropy(z, s, "exact"), ARGS.repeats)
            t_np, s_np = timed(lambda z=z, s=sigma: numpy_entropy(z, s), ARGS.repeats)
            errs.append(abs(s_ip - s_np))
            ratios.append(t_np / t_ip)
            print(f"| {n} | {name} | {sigma:.4g} | {t_ip:.2f} | {t_np:.2f} | "
                  f"{t_np / t_ip:.2f}x | {abs(s_ip - s_np):.1e} | {s_np:.4f} |", flush=True)
        print(f"n = {n}: time ratio NumPy / infoplane {min(ratios):.2f}-{max(ratios):.2f}x, "
              f"max |difference| {max(errs):.1e} bits", flush=True)


def part_b() -> None:
    n = N_B
    print(f"\n## (b) SLQ vs exact at n = {n}, {ARGS.seeds} SLQ seeds per shape")
    print("| shape | d | exact bits | exact s | SLQ s (mean) | exact / SLQ | "
          "|error| bits (mean, max) | stderr (mean) | max |error| / stderr |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, make in SHAPES.items():
        z = make(n)
        sigma = kernel_width(z, "knn")
        entropy(z, sigma, "exact")
        t_ex, (s_ex, _) = timed(lambda z=z, s=sigma: entropy(z, s, "exact"), ARGS.repeats)
        entropy(z, sigma, "slq")  # compile
        times, errs, ses = [], [], []
        for seed in range(ARGS.seeds):
            t, (s, se) = timed(lambda z=z, s=sigma, k=seed: entropy(z, s, "slq", seed=k), 1)
            times.append(t)
            errs.append(abs(s - s_ex))
            ses.append(se)
        z_scores = [e / max(se, 1e-12) for e, se in zip(errs, ses, strict=True)]
        print(f"| {name} | {z.shape[1]} | {s_ex:.4f} | {t_ex:.2f} | {np.mean(times):.3f} | "
              f"{t_ex / np.mean(times):.1f}x | {np.mean(errs):.1e}, {max(errs):.1e} | "
              f"{np.mean(ses):.1e} | {max(z_scores):.2f} |", flush=True)
        if name == "tanh":
            entropy(z, sigma, "slq", cache_mb=0)
            t_mf, (s_mf, se_mf) = timed(lambda z=z, s=sigma: entropy(z, s, "slq", cache_mb=0),
                                        ARGS.repeats)
            print(f"| tanh, matrix-free (cache_mb=0) | {z.shape[1]} | {s_ex:.4f} | {t_ex:.2f} | "
                  f"{t_mf:.3f} | {t_ex / t_mf:.1f}x | {abs(s_mf - s_ex):.1e} | {se_mf:.1e} | "
                  f"{abs(s_mf - s_ex) / max(se_mf, 1e-12):.2f} |", flush=True)


def route(n: int, cache_mb: float = 512) -> str:
    return "kept" if n * n * 4 <= cache_mb * 2**20 else "matrix-free"


def part_c() -> None:
    print("\n## (c) SLQ, matrix-free above cache_mb = 512, one subprocess per n (tanh, d = 10)")
    print(f"| n | SLQ wall s (incl. compile) | full knn width s (n <= 20 000; sigma from the "
          f"first {WIDTH_ROWS} rows) | bits (log2 n) | stderr | peak RSS MB | dense float32 "
          "Gram would be |")
    print("|---|---|---|---|---|---|---|")
    for n in SIZES_C:
        t0 = time.perf_counter()
        try:
            out = subprocess.run([sys.executable, __file__, "--child", str(n)],
                                 capture_output=True, text=True, check=True,
                                 timeout=ARGS.child_timeout)
        except subprocess.TimeoutExpired:
            print(f"| {n} | killed after {ARGS.child_timeout:.0f} s | | | | | "
                  f"{n * n * 4 / 1e9:.1f} GB |", flush=True)
            continue
        except subprocess.CalledProcessError as err:
            tail = (err.stderr or "").strip().splitlines()[-3:]
            print(f"| {n} | failed (exit {err.returncode}): {' / '.join(tail)} | | | | | |")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"| {n} | {r['seconds']:.1f} | {r['width_seconds']:.1f} | {r['bits']:.4f} "
              f"({r['log2n']:.2f}) | {r['stderr']:.1e} | {r['peak_rss_mb']:.0f} | "
              f"{n * n * 4 / 1e9:.1f} GB ({route(n)}) |  (process "
              f"{time.perf_counter() - t0:.0f} s)",
              flush=True)


def layer_data(n: int):
    x = manifold(n, seed=1)
    rng = np.random.default_rng(2)
    t = np.tanh(x @ (rng.normal(size=(64, 256)) / 4.0)).astype(np.float32)
    score = x @ rng.normal(size=(64, 10))
    y = np.argmax(score + 0.5 * rng.normal(size=score.shape), axis=1).astype(np.int32)
    return x, t, y


def part_d() -> None:
    print("\n## (d) MatrixRenyi per layer-epoch (X: manifold d = 64, T: tanh d = 256, 10 classes)")
    print("| n | mode | first call s | s per layer-epoch | I(X;T) bits | I(T;Y) bits | "
          "stderr_xt | stderr_ty |")
    print("|---|---|---|---|---|---|---|---|")
    for n in SIZES_D:
        x, t, y = layer_data(n)
        vals = {}
        for mode in ("exact", "slq"):
            est = MatrixRenyi(mode=mode)
            _, ctx = infoplane.prepare(est, x, y)

            def call(est=est, ctx=ctx, x=x, ts=t[None], y=y):
                e = infoplane.estimate_epochs(est, x, ts, y, ctx=ctx)
                return (float(e.i_xt[0]), float(e.i_ty[0]), float(e.aux["stderr_xt"][0]),
                        float(e.aux["stderr_ty"][0]))

            first, _ = timed(call, 1)
            sec, v = timed(call, ARGS.repeats)
            vals[mode] = v
            print(f"| {n} | {mode} | {first:.2f} | {sec:.3f} | {v[0]:.4f} | {v[1]:.4f} | "
                  f"{v[2]:.1e} | {v[3]:.1e} |", flush=True)
        ex, sl = vals["exact"], vals["slq"]
        print(f"n = {n}: |I_exact - I_slq| = {abs(ex[0] - sl[0]):.1e} (I(X;T)), "
              f"{abs(ex[1] - sl[1]):.1e} (I(T;Y)) bits; SLQ stderr {sl[2]:.1e}, {sl[3]:.1e}",
              flush=True)


def main() -> None:
    dev = jax.devices()[0]
    print(f"# {platform.processor() or platform.machine()}, os.cpu_count() = {os.cpu_count()}, "
          f"jax {jax.__version__}, device {dev.platform} ({dev.device_kind}), "
          f"load average (1/5/15 min) {load()} at start, {'quick' if ARGS.quick else 'full'} "
          f"sizes, alpha = {ALPHA}, BLAS threads: "
          + ", ".join(f"{v}={os.environ.get(v, 'unset')}" for v in BLAS_VARS))
    t0 = time.perf_counter()
    for part in ARGS.parts:
        {"a": part_a, "b": part_b, "c": part_c, "d": part_d}[part]()
    print(f"\n# load average (1/5/15 min) {load()} at end; {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
