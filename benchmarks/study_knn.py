"""Bias and spread of kNN mutual-information routes for `Compressed` (issue 17), on ground truth.

Butakov et al.'s check (ICLR 2024): Gaussian pairs (A, B), each d-dimensional, with known
I(A;B) = I nats (per component pair rho_i = sqrt(1 - exp(-2 I / d)), then a random orthogonal
mix of each variable). Each variable is mapped by a fixed random smooth injective map into
D = 64 dimensions and compressed back by PCA to d (what ``Compressed(x_compressor="pca")``
does): f(z) = z Q + 0.3 tanh(z B + c) C, Q (d, D) and C (D - d, D) orthonormal rows spanning
orthogonal subspaces (so f is injective: z = f(z) Q^T), B, c standard normal. PCA keeps ~the
Q subspace (the tanh part has variance <= 0.09 per direction, z has 1; a slight tilt of the
subspace leaves the projection injective); I(A';B') = I. The PCA codes are whitened per
variable, as in `Compressed`. ``--warp tanh`` applies tanh to every coordinate of A and B
after the mix (strictly monotone: MI unchanged; bounded, saturating marginals like a tanh
layer), so that routes exact for Gaussians are also tested off them.

Routes for I(A';B') (k = 5 unless named):
  current   H(A') + H(B') - H(A',B'), `knn_entropy`'s old rule: plain KL for <= 4 dimensions,
            Berrett-Samworth-Yuan (BSY) weights with all floor(d/4) constraints above
  kl        plain Kozachenko-Leonenko (k-th neighbour) for all three entropies
  bsy-cap   BSY weights of bounded norm (`knn.capped_bsy_weights`: the fewest neighbours
            k in 5..40 for which some of the low-order constraints give ||w||_2 <= 3; in
            8 dimensions k = 5 with 1 of the 2 constraints)
  bsy-k40   BSY with all floor(d/4) constraints and k = 40 neighbours (a larger k alone)
  ksg       Kraskov-Stoegbauer-Grassberger algorithm 1 (`knn.ksg_mi`)
  jw-kl     kl, with H(A',B') estimated on the jointly whitened pair plus 0.5 log det of its
            covariance (exact for any distribution; the kNN part then only sees how far the
            pair is from Gaussian, not how strongly A' and B' are correlated)
  jw-bsy    jw-kl with the bsy-cap weights
  jw-shuf   jw-kl minus the same estimate on a shuffled pair (A'_pi, B'), pi a fixed random
            permutation: I = H(A'_pi, B') - H(A', B'), the true pair jointly whitened (the
            shuffled one is white already, up to O(N^-1/2)). The shuffled pair has the same
            marginals and I = 0, so the kNN bias at independence cancels (the shuffle
            correction of neuroscience MI estimates); H(A'), H(B') drop out. This is
            `Compressed`'s default, mi="shuffle"
  jw-shuf-bsy, jw-shuf-bsyL   jw-shuf with bounded BSY weights: bsy-cap's, or the most
            constraints that fit ||w||_2 <= 3 and then the fewest k (in 8-d: k = 36, 2)
Each cell of the table: mean error (estimate - truth) over the seeds, and their standard
deviation; ``se/sd`` is the mean per-sample standard error (std of the per-sample terms /
sqrt(N), `Compressed`'s ``i_xt_stderr``) divided by the observed spread over seeds.

Second table (``--task ty``): I(T';Y) for a C = 10 class Gaussian mixture (means s * m_c, m_c
standard normal, identity covariances, equal classes), T embedded and PCA-compressed as
above; the truth by Monte Carlo on 400 000 fresh samples of the mixture (float64, its
standard error < 0.005 nats). Routes: kl (H(T') - sum_y p(y) H(T'|Y=y), plain KL, one masked
pass), current, bsy-cap, ross (Ross 2014, the mixed discrete-continuous KSG analogue),
cw-kl (kl with every class whitened by its own covariance, the analogue of jw-kl), kl-shuf
(H(T'|Y shuffled) - H(T'|Y), the analogue of jw-shuf).

Third table (``--task h``): the entropy of a correlated Gaussian in 8, 16 and 32 dimensions
(two halves with I = 2 nats), raw and whitened, with `knn_entropy`'s weight choices.

Usage: ``python benchmarks/study_knn.py [--quick] [--task xt|ty|h|all] [--warp none|tanh]
[--dims 4,8] [--mis 0,2,6] [--routes jw-shuf,ksg] [--seeds 10]``. Measured on the 2-core CI
CPU shared with other jobs: --quick ~40 s; full --task xt ~15 min per warp, ty ~5 min,
h ~1 min.
"""

from __future__ import annotations

import argparse
import functools
import math
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import digamma

from infoplane.estimators import knn
from infoplane.estimators._numerics import pairwise_sqdist
from infoplane.estimators.compressed import pca_project, whiten_codes

K, KMAX, D_HIGH = 5, 40, 64


# ---- ground truth ------------------------------------------------------------------------------


def gaussian_pair(n: int, d: int, mi: float, rng):
    rho = math.sqrt(1.0 - math.exp(-2.0 * mi / d))
    a = rng.normal(size=(n, d))
    b = rho * a + math.sqrt(1.0 - rho * rho) * rng.normal(size=(n, d))
    qa, _ = np.linalg.qr(rng.normal(size=(d, d)))
    qb, _ = np.linalg.qr(rng.normal(size=(d, d)))
    return a @ qa, b @ qb


def smooth_map(d: int, rng):
    """A random smooth injective map R^d -> R^D_HIGH (module docstring)."""
    q, _ = np.linalg.qr(rng.normal(size=(D_HIGH, D_HIGH)))
    big_q, big_c = q[:, :d].T, q[:, d:].T  # (d, D), (D - d, D)
    b = rng.normal(size=(d, D_HIGH - d))
    c = rng.normal(size=D_HIGH - d)
    return lambda z: z @ big_q + 0.3 * np.tanh(z @ b + c) @ big_c


def compress(z_high, d: int):
    """PCA to d components and whitening, as `Compressed` does (float32)."""
    codes, lam, _ = pca_project(jnp.asarray(z_high, jnp.float32), d)
    return whiten_codes(codes, lam)[0]


# ---- routes ------------------------------------------------------------------------------------
# Every route gives per-sample terms p (N,) and a constant c with estimate = c + mean(p), so its
# per-sample standard error is std(p) / sqrt(N).


@functools.cache
def route_weights(route: str, d: int) -> tuple[float, ...]:
    """Neighbour weights over 1..KMAX (zero-padded)."""
    if route == "current":
        w = knn.bsy_weights(K, d) if d > 4 else knn.entropy_weights(K, d, False)
    elif route in ("bsy-cap", "jw-bsy", "jw-shuf-bsy"):
        w = knn.capped_bsy_weights(d, k_min=K, k_max=KMAX)
    elif route == "jw-shuf-bsyL":  # the most constraints that fit ||w|| <= 3, then fewest k
        w = next((knn.bsy_weights(k, d, n_l) for n_l in range(d // 4, 0, -1)
                  for k in range(max(K, n_l + 1), KMAX + 1)
                  if np.linalg.norm(knn.bsy_weights(k, d, n_l)) <= knn.MAX_WEIGHT_NORM),
                 knn.plain_weights(K))
    elif route == "bsy-k40":
        w = knn.bsy_weights(KMAX, d)
    else:  # kl, jw-kl, cw-kl
        w = knn.entropy_weights(K, d, False)
    return tuple(w) + (0.0,) * (KMAX - len(w))


def log_radii(z, labels=None):
    return 0.5 * jnp.log(knn.knn_sqdist(z, KMAX, labels=labels))


def entropy_terms(log_r, d: int, route: str):
    """Per-sample terms whose mean is H - psi(N) (`knn.entropy_from_log_radii`)."""
    return knn.entropy_from_log_radii(log_r, 0, d, route_weights(route, d))


gaussian_influence = knn.gaussian_influence


def xt_routes(a, b, routes) -> dict:
    """{route: (estimate, stderr)} of I(a;b) in nats; a, b (N, d) whitened codes."""
    n, d = a.shape
    ab = jnp.concatenate([a, b], axis=1)
    lr = {"a": log_radii(a), "b": log_radii(b), "ab": log_radii(ab)}
    out = {}
    for route in routes:
        if route == "ksg":
            _, na, nb = knn.ksg_counts(a, b, K)
            per = -(digamma(na + 1.0) + digamma(nb + 1.0))
            const = digamma(float(K)) + digamma(float(n))
        elif route == "current" and 2 * d // 4 >= K:
            continue  # BSY needs k > floor(2d/4): the old code raises here (d = 16: 8 >= 5)
        else:
            per = entropy_terms(lr["a"], d, route) + entropy_terms(lr["b"], d, route)
            const = digamma(float(n))
            if route in ("jw-kl", "jw-bsy"):
                jw, shift = knn.whiten(ab)
                if "jw" not in lr:
                    lr["jw"] = log_radii(jw)
                per = (per - entropy_terms(lr["jw"], 2 * d, route) - gaussian_influence(jw)
                       + gaussian_influence(a) + gaussian_influence(b))
                const = const - shift
            elif route.startswith("jw-shuf"):
                jw, shift = knn.whiten(ab)
                perm = np.random.default_rng(0).permutation(n)
                js, shift_s = jnp.concatenate([a, b[perm]], axis=1), 0.0  # white to O(N^-1/2)
                if "jw" not in lr:
                    lr["jw"] = log_radii(jw)
                per = (entropy_terms(log_radii(js), 2 * d, route) + gaussian_influence(js)
                       - entropy_terms(lr["jw"], 2 * d, route) - gaussian_influence(jw))
                const = shift_s - shift
            else:
                per = per - entropy_terms(lr["ab"], 2 * d, route)
        out[route] = (float(const + jnp.mean(per)), float(jnp.std(per)) / math.sqrt(n))
    return out


def ty_routes(t, y, n_classes: int, routes) -> dict:
    """{route: (estimate, stderr)} of I(t;y) in nats; t (N, d) whitened, y (N,) int."""
    n, d = t.shape
    yj = jnp.asarray(y, jnp.int32)
    counts = np.bincount(y, minlength=n_classes)
    psi_ny = digamma(jnp.asarray(counts, jnp.float32))[yj]  # (N,)
    lr_t, lr_ty = log_radii(t), log_radii(t, labels=yj)
    out = {}
    for route in routes:
        if route == "ross":
            per = -(psi_ny + digamma(ross_counts(t, yj, lr_ty[:, K - 1]).astype(jnp.float32)))
            const = digamma(float(n)) + digamma(float(K))
        elif route == "cw-kl":
            zc, shift_c = class_whiten(t, y, n_classes)
            per = (entropy_terms(lr_t, d, route) - psi_ny
                   - entropy_terms(log_radii(zc, labels=yj), d, route)
                   + gaussian_influence(t) - gaussian_influence(zc))
            p = counts / n
            const = digamma(float(n)) - float(np.sum(p * shift_c))
        elif route == "kl-shuf":  # H(T|Y_shuffled) - H(T|Y): same class sizes, same bias
            y_s = jnp.asarray(np.random.default_rng(0).permutation(y), jnp.int32)
            per = (entropy_terms(log_radii(t, labels=y_s), d, route)
                   - entropy_terms(lr_ty, d, route))
            const = 0.0
        else:
            per = entropy_terms(lr_t, d, route) - psi_ny - entropy_terms(lr_ty, d, route)
            const = digamma(float(n))
        out[route] = (float(const + jnp.mean(per)), float(jnp.std(per)) / math.sqrt(n))
    return out


def class_whiten(t, y, n_classes: int):
    """Each sample whitened by its class's mean and covariance; 0.5 log det per class."""
    t = np.asarray(t, np.float64)
    z = np.empty_like(t)
    shifts = np.zeros(n_classes)
    for c in range(n_classes):
        m = y == c
        tc = t[m] - t[m].mean(0)
        lam, u = np.linalg.eigh(np.cov(tc, rowvar=False))
        z[m] = tc @ u / np.sqrt(lam)
        shifts[c] = 0.5 * np.sum(np.log(lam))
    return jnp.asarray(z, jnp.float32), shifts


@functools.partial(jax.jit, static_argnums=())
def ross_counts(t, y, eps):
    """m_i: samples j != i (any class) with |t_i - t_j| <= eps_i, eps_i the distance to the
    k-th neighbour of the own class (Ross 2014)."""
    n = t.shape[0]
    cols = jnp.arange(n, dtype=jnp.int32)

    def block(rows, tb, eb):
        d2 = pairwise_sqdist(tb, t)
        near = (0.5 * jnp.log(d2) <= eb[:, None]) & (rows[:, None] != cols[None, :])
        return jnp.sum(near, axis=1, dtype=jnp.int32)

    return knn.map_row_blocks(block, n, knn.CHUNK, t, eps)


# ---- the tasks ---------------------------------------------------------------------------------


def run_xt(dims, mis, seeds, n, warp, routes):
    rows = {}
    for d in dims:
        for mi in mis:
            for seed in range(seeds):
                rng = np.random.default_rng([d, int(mi * 100), seed, warp == "tanh"])
                a, b = gaussian_pair(n, d, mi, rng)
                if warp == "tanh":
                    a, b = np.tanh(a), np.tanh(b)
                fa, fb = smooth_map(d, rng), smooth_map(d, rng)
                res = xt_routes(compress(fa(a), d), compress(fb(b), d), routes)
                for route, (v, se) in res.items():
                    rows.setdefault((route, d, mi), []).append((v - mi, se))
    return rows


def mixture(n, d, n_classes, s, rng):
    means = s * rng.normal(size=(n_classes, d))
    y = rng.integers(0, n_classes, n)
    return means[y] + rng.normal(size=(n, d)), y, means


def mixture_mi(means, rng, m=400_000):
    """I(T;Y) of the equal-weight mixture of N(mean_c, I), Monte Carlo (nats)."""
    c, d = means.shape
    t, y = mixture(m, d, c, 0.0, rng)[:2]
    t = t + means[y]
    d2 = ((t[:, None, :] - means[None]) ** 2).sum(-1)  # (m, C)
    log_p_y = -0.5 * d2[np.arange(m), y]
    log_mix = np.logaddexp.reduce(-0.5 * d2, axis=1) - math.log(c)
    return float(np.mean(log_p_y - log_mix))


def run_ty(dims, scales, seeds, n, routes, n_classes=10):
    rows = {}
    for d in dims:
        for s in scales:
            for seed in range(seeds):
                rng = np.random.default_rng([d, int(s * 100), seed, 7])
                t, y, means = mixture(n, d, n_classes, s, rng)
                truth = mixture_mi(means, rng, m=100_000 if n < 5000 else 400_000)
                res = ty_routes(compress(smooth_map(d, rng)(t), d), y, n_classes, routes)
                for route, (v, se) in res.items():
                    rows.setdefault((route, d, s), []).append((v - truth, se, truth))
    return rows


def run_h(dims, seeds, n, routes):
    """Entropy of N(0, Sigma) in d dims (Sigma = the joint covariance of a Gaussian pair with
    I = 2 nats, i.e. correlated), raw and whitened: error of `knn_entropy`-style weights."""
    rows = {}
    for d in dims:
        for seed in range(seeds):
            rng = np.random.default_rng([d, seed, 11])
            a, b = gaussian_pair(n, d // 2, 2.0, rng)
            z = jnp.asarray(np.hstack([a, b]), jnp.float32)
            truth = d * 0.5 * math.log(2 * math.pi * math.e) - 2.0  # H(a) + H(b) - I(a;b)
            for white in (False, True):
                zz, shift = knn.whiten(z) if white else (z, 0.0)
                lr = log_radii(zz)
                for route in routes:
                    if route == "current" and d // 4 >= K:
                        continue  # BSY needs k > floor(d/4)
                    h = digamma(float(n)) + jnp.mean(entropy_terms(lr, d, route)) + shift
                    rows.setdefault((route + ("+white" if white else ""), d, 0), []).append(
                        (float(h) - truth, 0.0))
    return rows


# ---- printing ----------------------------------------------------------------------------------


def print_table(rows, title, col_name, routes, dims, cols, truth_col=False):
    print(f"\n{title}")
    if any(r == "current" for r in routes) and 16 in dims and col_name == "I":
        print("(current, d = 16: not computable, BSY in 32 dimensions needs k > 8; the old "
              "code raises)")
    print("cell: mean error / std over seeds (nats); se/sd: mean per-sample stderr / std")
    head = f"{'route':<13}{'d':>3} " + "".join(f"{col_name}={c:<12g}" for c in cols)
    print(head + "  se/sd  se")
    for route in routes:
        for d in dims:
            line, ratios, ses = f"{route:<13}{d:>3} ", [], []
            for c in cols:
                v = np.array(rows.get((route, d, c), []))
                if not len(v):
                    line += " " * (len(col_name) + 13)
                    continue
                err, se = v[:, 0], v[:, 1]
                sd = err.std(ddof=1) if len(err) > 1 else float("nan")
                cell = f"{err.mean():+.2f}/{sd:.2f}"
                if abs(err.mean()) > 99 or sd > 99:
                    cell = f"{err.mean():+.0e}/{sd:.0e}"
                line += f"{cell:<{len(col_name) + 13}}"
                if sd > 0 and np.all(se > 0):
                    ratios.append(se.mean() / sd)
                ses.append(se.mean())
            print(line + (f"  {np.median(ratios):.2f}" if ratios else "") +
                  (f"  {np.median(ses):.3f}" if ses and max(ses) > 0 else ""))
    if truth_col:
        print("true I(T;Y) (nats), mean over seeds: " + ", ".join(
            f"d={d} s={c:g}: {np.mean(np.array(rows[(routes[0], d, c)])[:, 2]):.2f}"
            for d in dims for c in cols))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="3 seeds, N = 2000, fewer cells")
    ap.add_argument("--task", default="all", choices=("xt", "ty", "h", "all"))
    ap.add_argument("--warp", default="none", choices=("none", "tanh"))
    ap.add_argument("--seeds", type=int, default=None)
    ap.add_argument("--dims", default=None, help="comma-separated, e.g. 4,8")
    ap.add_argument("--routes", default=None, help="comma-separated I(X;T) routes")
    ap.add_argument("--mis", default=None, help="comma-separated true MI values (nats)")
    args = ap.parse_args()
    seeds = args.seeds or (3 if args.quick else 10)
    n = 2000 if args.quick else 5000
    print(f"# study_knn: N = {n}, {seeds} seeds, k = {K}, jax {jax.__version__} "
          f"({jax.default_backend()}), warp {args.warp}")
    t0 = time.perf_counter()
    if args.task in ("h", "all"):
        routes = ["current", "kl", "bsy-cap", "bsy-k40"]
        dims = [8, 16, 32] if not args.quick else [8, 16]
        print_table(run_h(dims, seeds, n, routes), "H of a correlated Gaussian (I = 2 nats "
                    "between the halves), raw and whitened", "-", [r + w for r in routes
                    for w in ("", "+white")], dims, [0])
    if args.task in ("xt", "all"):
        routes = args.routes.split(",") if args.routes else [
            "current", "kl", "bsy-cap", "bsy-k40", "ksg", "jw-kl", "jw-bsy", "jw-shuf"]
        dims = [int(v) for v in args.dims.split(",")] if args.dims else (
            [4, 8] if args.quick else [2, 4, 8, 16])
        mis = [float(v) for v in args.mis.split(",")] if args.mis else (
            [0, 2, 6] if args.quick else [0, 1, 2, 4, 6, 8, 10])
        print_table(run_xt(dims, mis, seeds, n, args.warp, routes),
                    f"I(X';T') of Gaussian pairs (warp {args.warp}), d per variable", "I",
                    routes, dims, mis)
    if args.task in ("ty", "all"):
        routes = ["current", "kl", "bsy-cap", "ross", "cw-kl", "kl-shuf"]
        dims = [4] if args.quick else [4, 8]
        scales = [0, 1, 3] if args.quick else [0, 0.5, 1, 2, 4]
        print_table(run_ty(dims, scales, seeds, n, routes), "I(T';Y), 10-class Gaussian "
                    "mixture, means s * N(0, I)", "s", routes, dims, scales, truth_col=True)
    print(f"\n# {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
