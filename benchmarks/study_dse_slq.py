"""Diffusion spectral entropy: bias and error-bar coverage of the SLQ mode against float64.

For each case (data, sigma) and diffusion time t: a float64 NumPy reference (``eigvalsh`` of
the explicit K, `tests/estimators/reference_spectral.py`), our exact mode (float32) and the SLQ
mode over ``--seeds`` probe seeds. Printed per (case, t): the reference, the exact-mode error,
the SLQ mean error (bias, also as a fraction of the reference), how many seeds fell below the
reference, the coverage of the reported standard error (|err| <= 2 se and <= 3 se), the largest
|err| / se, and the time of one SLQ call.

Cases: ``small-gauss`` (Gaussian, 32 dims, scale 0.1: 32 near-equal eigenvalues ~1e-4 besides
the 1, DSE 0.047 bits), ``small-tanh`` (a tanh layer of width 4 on 12 binary inputs,
1/sqrt(12) weights: DSE 0.062 bits), both at the default sigma = 10, and ``moderate`` (the
benchmark's 3-d manifold in 64 dims, sigma = 1: DSE 5.3 bits). ``--impl FILE`` runs another
copy of ``_dse.py`` (e.g. the previous version) for a before/after comparison; ``--dsmi`` also
checks DSMI with two classes, SLQ forced on every class and subset problem, against exact mode
on the same subsets. The float64 spectra are cached in ``--ref-cache``.

Usage: ``python benchmarks/study_dse_slq.py [--n 2500] [--seeds 10] [--cases small-gauss,...]
[--ts 1,2,0.5] [--cache-mb 256] [--probes 32] [--steps 20] [--sketch 0.5]
[--impl path/to/_dse.py] [--dsmi]``. Measured on a 2-core CPU: ~1 min per case and t at the
defaults (the float64 reference of N = 2500 takes ~20 s once).
"""

from __future__ import annotations

import argparse
import faulthandler
import importlib.util
import math
import os
import signal
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("--n", type=int, default=2500)
ap.add_argument("--seeds", type=int, default=10)
ap.add_argument("--cases", default="small-gauss,small-tanh,moderate")
ap.add_argument("--ts", default="1,2,0.5")
ap.add_argument("--cache-mb", type=float, default=256)
ap.add_argument("--probes", type=int, default=32)
ap.add_argument("--steps", type=int, default=20)
ap.add_argument("--sketch", type=float, default=0.5)
ap.add_argument("--impl", default="", help="path of another _dse.py to study")
ap.add_argument("--dsmi", action="store_true")
ap.add_argument("--ref-cache", default=os.environ.get("DSE_REF_CACHE", "/tmp/dse_ref_cache"))
ARGS = ap.parse_args()
faulthandler.register(signal.SIGUSR1)  # kill -USR1 <pid>: where is it?

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from tests.estimators import reference_spectral as ref  # noqa: E402

if ARGS.impl:
    spec = importlib.util.spec_from_file_location("dse_impl", ARGS.impl)
    D = importlib.util.module_from_spec(spec)
    sys.modules["dse_impl"] = D  # dataclasses look their module up
    spec.loader.exec_module(D)
else:
    from infoplane.estimators import _dse as D


def case(name: str, n: int, seed: int = 0) -> tuple[np.ndarray, float]:
    rng = np.random.default_rng(seed)
    if name == "small-gauss":
        return (0.1 * rng.normal(size=(n, 32))).astype(np.float32), 10.0
    if name == "small-tanh":
        x = rng.integers(0, 2, (n, 12)).astype(np.float64)
        w = rng.normal(size=(12, 4)) / np.sqrt(12)
        return np.tanh(x @ w + 0.1 * rng.normal(size=4)).astype(np.float32), 10.0
    if name == "moderate":
        u = rng.uniform(0, 3 * np.pi, n)
        low = np.stack([u * np.cos(u) / 3, rng.uniform(0, 4, n),
                        u * np.sin(u) / 3 + 0.3 * rng.normal(size=n)], axis=1)
        rot, _ = np.linalg.qr(rng.normal(size=(64, 64)))
        return (low @ rot[:3]).astype(np.float32), 1.0
    raise ValueError(name)


def reference_spectrum(name: str, z: np.ndarray, sigma: float) -> np.ndarray:
    os.makedirs(ARGS.ref_cache, exist_ok=True)
    path = os.path.join(ARGS.ref_cache, f"{name}_{len(z)}.npy")
    if not os.path.exists(path):
        np.save(path, np.linalg.eigvalsh(ref.diffusion_matrix(z, sigma)))
    return np.load(path)


def dse_of_spectrum(lam: np.ndarray, t: float) -> float:
    w = np.abs(lam) ** t
    p = w / w.sum()
    p = p[p > 0]
    return float(-np.sum(p * np.log2(p)))


def solver(t, mode):
    cfg = D._Cfg(t=t, mode=mode, probes=ARGS.probes, steps=ARGS.steps, cache_mb=ARGS.cache_mb,
                 sketch=ARGS.sketch)
    f = jax.jit(lambda z, mask, s, key: D.masked_dse(z, mask, s, key, cfg))
    return lambda z, s, seed: tuple(float(v) / math.log(2) for v in f(
        z, jnp.ones((z.shape[0],), bool), jnp.float32(s), jax.random.PRNGKey(seed)))


def study_dse() -> None:
    for name in ARGS.cases.split(","):
        z, sigma = case(name, ARGS.n)
        lam = reference_spectrum(name, z, sigma)
        for t in [float(v) if "." in v else int(v) for v in ARGS.ts.split(",")]:
            want = dse_of_spectrum(lam, t)
            exact = solver(t, "exact")(z, sigma, 0)[0]
            slq = solver(t, "slq")
            slq(z, sigma, 0)  # compile
            t0 = time.perf_counter()
            runs = np.array([slq(z, sigma, s) for s in range(ARGS.seeds)])  # (seeds, 2)
            dt = (time.perf_counter() - t0) / ARGS.seeds
            err, se = runs[:, 0] - want, runs[:, 1]
            r = np.abs(err) / np.maximum(se, 1e-30)
            print(f"{name:11s} t={t:<3} ref {want:9.5f}  exact err {exact - want:+.1e}  SLQ bias "
                  f"{err.mean():+.5f} ({err.mean() / want:+6.1%}) +- "
                  f"{err.std(ddof=1) / math.sqrt(len(err)):.5f}"
                  f"  below {np.sum(err < 0)}/{len(err)}  cover2 {np.mean(r <= 2):.0%} cover3 "
                  f"{np.mean(r <= 3):.0%}  max|err|/se {r.max():5.1f}  mean se {se.mean():.5f}"
                  f"  max|err| {np.abs(err).max():.4f}  {dt:.2f} s/call", flush=True)


def study_dsmi() -> None:
    """Two balanced classes, SLQ forced on every class / subset problem, vs exact mode on the
    same subsets (the same key), over ``--seeds`` keys: DSMI and sum_c p(c) DSE(Z|C=c)."""
    from infoplane.estimators import spectral as sp

    for name in ARGS.cases.split(","):
        z, sigma = case(name, ARGS.n)
        zj, c = jnp.asarray(z), jnp.asarray(np.arange(ARGS.n) % 2)
        m = ARGS.n // 2 + ARGS.n % 2
        rows = []
        for s in range(ARGS.seeds):
            parts = [sp.dsmi_parts(zj, c, jnp.float32(sigma), jax.random.PRNGKey(s), n_classes=2,
                                   m=m, subsets=5, cfg=D._Cfg(t=1, mode=mode,
                                                              cache_mb=ARGS.cache_mb))
                     for mode in ("exact", "slq")]
            ex, got = ({k: float(v) / math.log(2) for k, v in p.items() if k != "sizes"}
                       for p in parts)
            rows.append((got["dsmi"] - ex["dsmi"], got["stderr"],
                         got["dse_cond"] - ex["dse_cond"], ex["dse_cond"], ex["dsmi"]))
        r = np.array(rows)
        print(f"DSMI {name:11s} classes of {m} rows: exact DSMI {r[:, 4].mean():+.5f} bits, "
              f"dse_cond {r[:, 3].mean():.5f}; SLQ error of DSMI mean {r[:, 0].mean():+.5f} "
              f"max|.| {np.abs(r[:, 0]).max():.5f} (mean stderr {r[:, 1].mean():.5f}, |err| <= 2 "
              f"se in {np.mean(np.abs(r[:, 0]) <= 2 * r[:, 1]):.0%}); dse_cond error mean "
              f"{r[:, 2].mean():+.6f} ({r[:, 2].mean() / r[:, 3].mean():+.3%})", flush=True)


if __name__ == "__main__":
    print(f"# {os.cpu_count()} cores, jax {jax.__version__}, n={ARGS.n}, seeds={ARGS.seeds}, "
          f"cache_mb={ARGS.cache_mb}, impl={ARGS.impl or 'infoplane'}", flush=True)
    study_dse()
    if ARGS.dsmi:
        study_dsmi()
