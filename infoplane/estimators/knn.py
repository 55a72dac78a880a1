"""k-nearest-neighbour entropy and mutual information (Kozachenko–Leonenko, BSY, KSG).

Entropy (``knn_entropy``), in nats before unit conversion. With r_ij the Euclidean distance
from z_i to its j-th nearest other sample, d the dimension, V_d = pi^(d/2) / Gamma(d/2 + 1) the
volume of the unit ball and w a weight vector over j = 1..k with sum_j w_j = 1:

    H = psi(N) + log V_d + sum_j w_j [ -psi(j) + d * mean_i log r_ij ]

i.e. H = -mean_i sum_j w_j log f_j(z_i) with f_j(z_i) = e^psi(j) / (e^psi(N) V_d r_ij^d).

* d <= 4 (default): the standard Kozachenko–Leonenko estimator with the k-th neighbour,
  w = e_k: H = psi(N) - psi(k) + log V_d + d * mean_i log r_ik (Kraskov et al. 2004, eq. 20).
* d > 4: the weighted KL estimator of Berrett, Samworth & Yuan (2019, Ann. Stat.): w is the
  minimum-norm vector with sum_j w_j = 1 and sum_j w_j Gamma(j + 2l/d) / Gamma(j) = 0 for
  l = 1..L, which cancels the leading bias terms (k/N)^(2l/d). BSY take L = floor(d/4)
  (`bsy_weights`, ``weighted=True``; needs k > L). Those weights grow fast with d: at k = 5
  they are (9.9, -7.7, -7.2, -1.2, 7.2) in 8 dimensions and (495, -4350, 11280, -11520,
  4096) in 16, and the estimate's spread grows with them (~0.4 and ~50 nats at N = 5000).
  The default (``weighted=None``) therefore keeps ||w||_2 <= `MAX_WEIGHT_NORM` = 3
  (`capped_bsy_weights`): the fewest neighbours k' >= k, and for that k' the most
  low-order constraints, that fit; measured numbers in `entropy_weights` and
  benchmarks/study_knn.py. Weights are solved on the host with NumPy once per (k, d).

(Butakov et al. 2024 write f_j with (N - 1) in place of e^psi(N); the two differ by less than
1/(2N) nats. We use psi(N), the standard KL normalisation, for both forms.)

Mutual information (``ksg_mi``): estimator 1 of Kraskov, Stögbauer & Grassberger (2004) with the
max-norm: eps_i = the max-norm distance from (a_i, b_i) to its k-th nearest other sample in the
joint space, n_a(i) / n_b(i) = the number of other samples strictly closer than eps_i in a / b:

    I = psi(k) + psi(N) - mean_i [ psi(n_a(i) + 1) + psi(n_b(i) + 1) ]

Neighbour search is exact brute force on device, in blocks of ``chunk`` rows mapped with
``lax.map`` (padded to a whole number of blocks; padded rows are discarded), so memory is
O(N * chunk), never O(N^2). Self-matches are excluded by index. Only neighbour *distances* are
used, so ties between equidistant neighbours cannot change a result. The k smallest distances
come from ``lax.top_k`` on negated distances, with ``lax.optimization_barrier`` on its outputs:
without the barrier XLA:CPU rewrites top_k followed by slicing into a full sort (~30x slower).

All functions are pure and jit-able. Input checks (shapes, k < N, finite values) run eagerly on
concrete arrays; under ``jit`` only the static (shape) checks can run.
"""

from __future__ import annotations

import functools
import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.scipy.special import digamma

from infoplane.estimators._base import check_units, nats_to
from infoplane.estimators._numerics import DIST_UNROLL, nonfinite_rows, pairwise_sqdist
from infoplane.estimators.validate import (
    check_flag,
    check_int,
    check_not_subnormal,
    check_real_array,
)

#: Default rows per block of the distance matrix. Memory of one block ~ chunk * N * 4 bytes per
#: live temporary; 512 x 50 000 is ~100 MB.
CHUNK = 512


# ---- weights and constants (host) --------------------------------------------------------------


def log_unit_ball_volume(d: int) -> float:
    """log V_d, V_d = pi^(d/2) / Gamma(d/2 + 1) (volume of the Euclidean unit ball)."""
    return 0.5 * d * math.log(math.pi) - math.lgamma(0.5 * d + 1.0)


@functools.cache
def bsy_weights(k: int, d: int, n_constraints: int | None = None) -> tuple[float, ...]:
    """Berrett–Samworth–Yuan weights: min-norm w in R^k, sum w = 1, and for l = 1..L
    sum_j w_j Gamma(j + 2l/d) / Gamma(j) = 0, L = floor(d/4) (BSY's choice) unless
    ``n_constraints`` says otherwise. With L = 0 this is w_j = 1/k."""
    n_l = d // 4 if n_constraints is None else int(n_constraints)
    if k <= n_l:
        raise ValueError(
            f"The weighted (BSY) kNN entropy in d={d} dimensions has {n_l} bias constraints and "
            f"needs k > floor(d/4) = {n_l} neighbours, got k={k}. Use k >= {n_l + 1}, or "
            "reduce the dimension first (e.g. PCA)."
        )
    j = np.arange(1, k + 1, dtype=np.float64)
    rows = [np.ones(k)]
    for l in range(1, n_l + 1):
        rows.append(np.exp([math.lgamma(jj + 2.0 * l / d) - math.lgamma(jj) for jj in j]))
    a = np.stack(rows)  # (1 + L, k)
    b = np.zeros(len(rows))
    b[0] = 1.0
    w = np.linalg.lstsq(a, b, rcond=None)[0]  # the minimum-norm solution of a w = b
    return tuple(float(v) for v in w)


@functools.cache
def capped_bsy_weights(d: int, k_min: int = 5, k_max: int = 40,
                       max_norm: float = 3.0) -> tuple[float, ...]:
    """BSY weights of bounded norm: the fewest neighbours k in k_min..k_max and, for that k,
    the most bias constraints L <= floor(d/4) whose min-norm weights have ||w||_2 <= max_norm
    (the low-order constraints, which cancel the largest bias terms (k/N)^(2l/d), are kept
    first). None of them (d > 32 at k <= 40): the plain KL weights e_{k_min}."""
    for k in range(k_min, k_max + 1):
        for n_l in range(min(d // 4, k - 1), 0, -1):
            w = bsy_weights(k, d, n_l)
            if math.sqrt(sum(v * v for v in w)) <= max_norm:
                return w
    return tuple(1.0 if j == k_min else 0.0 for j in range(1, k_min + 1))


#: The largest ||w||_2 of BSY weights that `entropy_weights` picks by itself (weighted=None).
#: Measured (benchmarks/study_knn.py --task h: a correlated Gaussian, N = 5000, 10 seeds,
#: error / spread in nats): in 8 dimensions BSY's weights at k = 5 (norm 16) -0.01 / 0.16,
#: the bounded ones (k = 5, 1 constraint) -0.14 / 0.04, plain KL +0.16 / 0.02; in 16,
#: BSY's (norm 17 000) -11 / 48, bounded (k = 12, 3 constraints) -0.82 / 0.10, plain
#: +1.01 / 0.05; in 32 (BSY impossible at k = 5) bounded -4.5 / 0.1, plain +3.6 / 0.05:
#: above ~10 dimensions no kNN entropy is accurate at this N, but a bounded one is stable.
MAX_WEIGHT_NORM = 3.0


def plain_weights(k: int) -> tuple[float, ...]:
    """e_k: the plain Kozachenko–Leonenko estimator with the k-th neighbour."""
    return tuple(1.0 if j == k else 0.0 for j in range(1, k + 1))


def entropy_weights(k: int, d: int, weighted: bool | None, n: int | None = None
                    ) -> tuple[float, ...]:
    """The weight vector over neighbours 1..len(w): plain KL (e_k) or BSY.

    weighted=None: plain KL for d <= 4; above, BSY weights of norm <= `MAX_WEIGHT_NORM`
    (`capped_bsy_weights` with k_min = k, k_max = max(k, min(40, n - 1)); with k = 5: in
    5..7 dimensions BSY's own weights; in 8, one constraint instead of two; in 9..11 k = 6..7
    with one; in 16, k = 12 with 3 of 4; so the result may use more than k neighbours).
    weighted=True: BSY's weights with all floor(d/4) constraints and exactly k neighbours,
    with a warning when their norm exceeds `MAX_WEIGHT_NORM`. weighted=False: plain KL."""
    if weighted is None:
        if d <= 4:
            return plain_weights(k)
        k_max = max(k, 40 if n is None else min(40, n - 1))
        return capped_bsy_weights(d, k_min=k, k_max=k_max, max_norm=MAX_WEIGHT_NORM)
    if weighted:
        w = bsy_weights(k, d)
        norm = math.sqrt(sum(v * v for v in w))
        if norm > MAX_WEIGHT_NORM:
            warnings.warn(
                f"BSY weights for k={k} in d={d} dimensions have norm {norm:.3g} (> "
                f"{MAX_WEIGHT_NORM:g}): the estimate's spread grows with it (measured at N = "
                "5000: ~0.4 nats at norm 16 in 8 dimensions, ~50 nats at norm 17 000 in 16). "
                "Use weighted=None (bounded weights) or weighted=False (plain KL).",
                RuntimeWarning, stacklevel=3)
        return w
    return plain_weights(k)


def _digamma_consts(weights) -> float:
    """sum_j w_j psi(j) on the host (float64)."""
    # psi(j) for integer j: -gamma + H_{j-1}
    out, harmonic = 0.0, 0.0
    for j, w in enumerate(weights, start=1):
        out += w * (-0.5772156649015329 + harmonic)
        harmonic += 1.0 / j
    return out


# ---- input checks ------------------------------------------------------------------------------


def _check_points(z, what: str, k: int) -> None:
    check_real_array(z, what)
    shape = tuple(np.shape(z))
    if len(shape) != 2:
        hint = f" For one variable pass {what}[:, None]." if len(shape) == 1 else ""
        raise ValueError(
            f"{what} must be a 2-D array of shape (N, d): N samples of a d-dimensional "
            f"variable; got shape {shape}.{hint}"
        )
    n, d = shape
    if d < 1:
        raise ValueError(f"{what} has zero dimensions (shape {shape}).")
    check_int(k, "k", hint="k is a number of neighbours (5 is usual).")
    if k < 1:
        raise ValueError(f"k must be a positive integer number of neighbours, got {k!r}.")
    if k >= n:
        raise ValueError(
            f"k={k} neighbours need at least k + 1 = {k + 1} samples, but {what} has N={n}. "
            "Use a smaller k (5 is usual) or more samples."
        )
    rows = nonfinite_rows(z)
    if rows.size:
        raise ValueError(
            f"{what} has {rows.size} rows with NaN or inf values (first: row "
            f"{int(rows[0])}). kNN distances are undefined there; drop those rows first."
        )
    check_not_subnormal(z, what)


# ---- blocked exact neighbour search ------------------------------------------------------------


def map_row_blocks(fn, n: int, chunk: int, *arrays):
    """Apply ``fn(rows, *blocks)`` to blocks of ``chunk`` rows and concatenate the results.

    arrays: each (N, ...). rows: (chunk,) int32 global row indices of the block (padded rows
    have indices >= N). fn returns a pytree of (chunk, ...) arrays; the result is that pytree
    with (N, ...) leaves (padded rows dropped). Memory is what ``fn`` uses for one block.
    """
    chunk = max(1, min(chunk, n))
    n_blocks = -(-n // chunk)
    pad = n_blocks * chunk - n
    rows = jnp.arange(n_blocks * chunk, dtype=jnp.int32).reshape(n_blocks, chunk)

    def blocks_of(a):
        if pad:
            a = jnp.concatenate([a, jnp.zeros((pad,) + a.shape[1:], a.dtype)])
        return a.reshape((n_blocks, chunk) + a.shape[1:])

    out = lax.map(lambda args: fn(*args), (rows, *[blocks_of(a) for a in arrays]))
    return jax.tree_util.tree_map(lambda o: o.reshape((n_blocks * chunk,) + o.shape[2:])[:n],
                                  out)


def smallest_k(dist, k: int):
    """The k smallest values of every row, ascending. dist: (R, N) -> (R, k).

    Exact, ties included (a multiset of the row's values). ``lax.top_k`` on -dist, with an
    optimization barrier on its outputs: without it XLA:CPU turns top_k plus the following
    slices/arithmetic into a full sort (measured ~30x slower). (An elementwise pre-selection,
    k running minima per lane, was tried: 2x faster in isolation at N = 4096 but slower inside
    the full pass and 3x slower at N = 10 000, so it was dropped.)
    """
    vals, idx = lax.top_k(-dist, k)
    vals, idx = lax.optimization_barrier((vals, idx))
    return -vals


def chebyshev_dist(a, b):
    """Max-norm distances (exact). a: (R, d), b: (N, d) -> (R, N): one (R, N) pass per
    coordinate up to `DIST_UNROLL` coordinates, else one fused broadcast-max reduction (no
    (R, N, d) temporary, compile time independent of d). Time O(R N d), memory O(R N)."""
    if a.shape[1] > DIST_UNROLL:
        return jnp.max(jnp.abs(a[:, None, :] - b[None, :, :]), axis=-1)
    bt = b.T
    acc = jnp.abs(a[:, :1] - bt[0][None, :])
    for j in range(1, a.shape[1]):
        acc = jnp.maximum(acc, jnp.abs(a[:, j : j + 1] - bt[j][None, :]))
    return acc


def knn_sqdist(z, k: int, *, labels=None, chunk: int = CHUNK):
    """Squared Euclidean distances to the k nearest *other* samples, ascending.

    z: (N, d) float32; labels: optional (N,) int -- if given, only samples of the same label
    count as neighbours (other labels are at +inf; a class with <= k samples then has +inf
    entries). Returns (N, k) float32. Exact (brute force), memory O(N * chunk).
    """
    z = jnp.asarray(z, jnp.float32)
    n = z.shape[0]
    cols = jnp.arange(n, dtype=jnp.int32)
    lab = None if labels is None else jnp.asarray(labels, jnp.int32)

    def block(rows, zb, *lb):
        d2 = pairwise_sqdist(zb, z)  # (chunk, N)
        drop = rows[:, None] == cols[None, :]
        if lb:
            drop = drop | (lb[0][:, None] != lab[None, :])
        return smallest_k(jnp.where(drop, jnp.inf, d2), k)

    extra = () if lab is None else (lab,)
    return map_row_blocks(block, n, chunk, z, *extra)


def entropy_from_log_radii(log_r, n_eff, d: int, weights):
    """Per-sample kNN entropy terms from log radii (nats).

    log_r: (N, k) log distances to neighbours 1..k. Returns (N,) terms whose mean over a set of
    n samples is H - psi(n): term_i = log V_d - sum_j w_j psi(j) + d * sum_j w_j log r_ij.
    Neighbours with zero weight are skipped (so a duplicate at j < k with r = 0 does not give
    0 * -inf = NaN in the plain form). ``n_eff`` is unused (kept for symmetry of call sites).
    """
    const = log_unit_ball_volume(d) - _digamma_consts(weights)
    acc = None
    for j, w in enumerate(weights):
        if w != 0.0:
            v = jnp.float32(w) * log_r[:, j]
            acc = v if acc is None else acc + v
    return jnp.float32(const) + d * acc


def whiten(z):
    """(z - mean) Sigma^{-1/2} and 0.5 log det Sigma (Sigma the sample covariance, N - 1).
    z: (N, d) -> ((N, d), ()); H(z) = H(whitened) + 0.5 log det Sigma exactly.

    Two passes (the second re-whitens the result of the first) so that float32 eigh of an
    ill-conditioned covariance still gives log det to ~1e-6 and unit covariance."""
    zc = z - jnp.mean(z, axis=0)
    shift = jnp.float32(0.0)
    for _ in range(2):
        cov = jnp.dot(zc.T, zc, precision=lax.Precision.HIGHEST) / (z.shape[0] - 1)
        lam, u = jnp.linalg.eigh(cov)
        lam = jnp.maximum(lam, jnp.finfo(jnp.float32).tiny)
        zc = (zc @ u) / jnp.sqrt(lam)
        shift = shift + 0.5 * jnp.sum(jnp.log(lam))
    return zc, shift


def gaussian_influence(z_white):
    """Per-sample influence of 0.5 log det of the sample covariance, from whitened samples:
    0.5 (|z_i|^2 - d). z_white: (N, d) -> (N,). Its mean is ~0; its spread is the sampling
    spread that `whiten`'s log det adds to an entropy (for the per-sample standard error)."""
    return 0.5 * (jnp.sum(z_white * z_white, axis=1) - z_white.shape[1])


def knn_entropy(z, k: int = 5, units: str = "bits", weighted: bool | None = None,
                whiten: bool = False, chunk: int = CHUNK):
    """Kozachenko–Leonenko kNN estimate of the differential entropy of samples ``z``.

    Args:
      z: (N, d) samples (d >= 1; pass ``z[:, None]`` for one variable).
      k: neighbours (default 5; Butakov et al. use 5). Needs k < N, and k > floor(d/4) for the
        weighted form.
      units: "bits" (default) or "nats".
      weighted: None (default) -- plain KL with the k-th neighbour for d <= 4, the
        Berrett–Samworth–Yuan weighted KL for d > 4 with weights of bounded norm
        (`entropy_weights`: it may use more than k neighbours, up to 40); True -- BSY's
        weights with all floor(d/4) constraints and k neighbours (warns when their norm is
        above `MAX_WEIGHT_NORM`: at k = 5 they are +-10 in 8 dimensions and up to 11 520 in
        16, where the estimate spreads by ~50 nats at N = 5000); False -- plain KL.
      whiten: estimate on Sigma^{-1/2}(z - mean) and add 0.5 log det Sigma (Sigma the sample
        covariance). Exact for the true entropy; helps when the scales of the coordinates differ.
      chunk: rows per distance block (memory O(N * chunk)); does not change the result.

    Cost: time O(N^2 d) (brute force in row blocks), memory O(N chunk + N d), compile time
    independent of d; ``whiten`` adds O(N d^2 + d^3) time and a (d, d) covariance, and needs
    d < N (with d >= N the covariance is singular: a ValueError).

    Returns a scalar (float32). Formula and references: see the module docstring. Samples that
    coincide exactly (r = 0) make the estimate -inf: add a little noise to discrete data.
    Values of any float32 magnitude work (an array whose largest |value| is outside
    [2^-20, 2^20] is divided by a power of two first and d e log 2 added back, exactly);
    an array of only subnormal values (< 1.2e-38, flushed to zero on device) is rejected.

    Example::

        h = knn_entropy(jax.random.normal(key, (4000, 2)), units="nats")  # ~ log(2 pi e)
    """
    check_units(units)
    _check_points(z, "z", k)
    check_flag(weighted, "weighted", none=True)
    check_flag(whiten, "whiten")
    check_int(chunk, "chunk", lo=1)
    z = jnp.asarray(z, jnp.float32)
    n, d = z.shape
    if whiten and d >= n:
        raise ValueError(
            f"knn_entropy(whiten=True) needs more samples than dimensions, got N={n} samples "
            f"in d={d} dimensions: their covariance is singular (rank <= N - 1), so whitening "
            "is undefined. Reduce the dimension first (e.g. PCA to fewer than N components) "
            "or pass whiten=False.")
    weights = entropy_weights(k, d, weighted, n)
    return _knn_entropy(z, units, weights, whiten, chunk)


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4))
def _knn_entropy(z, units, weights, whiten_, chunk):
    n, d = z.shape
    z, e = pow2_rescale(z)
    shift = jnp.float32(d * math.log(2.0)) * e  # H(2^e z') = H(z') + d e log 2, exactly
    if whiten_:
        z, w_shift = whiten(z)
        shift = shift + w_shift
    d2 = knn_sqdist(z, len(weights), chunk=chunk)  # (N, len(weights))
    terms = entropy_from_log_radii(0.5 * jnp.log(d2), n, d, weights)
    h = digamma(jnp.float32(n)) + jnp.mean(terms) + shift
    return nats_to(units, h)


# ---- KSG ---------------------------------------------------------------------------------------


def ksg_counts(a, b, k: int, *, chunk: int = CHUNK):
    """KSG-1 neighbour statistics. a: (N, da), b: (N, db) -> (eps (N,), n_a (N,), n_b (N,)).

    eps_i: max-norm distance to the k-th nearest other sample in the joint space;
    n_a(i), n_b(i): other samples with max-norm marginal distance strictly below eps_i.
    """
    a = jnp.asarray(a, jnp.float32)
    b = jnp.asarray(b, jnp.float32)
    n = a.shape[0]
    cols = jnp.arange(n, dtype=jnp.int32)

    def block(rows, ab, bb):
        self_ = rows[:, None] == cols[None, :]
        da = chebyshev_dist(ab, a)  # (chunk, N)
        db = chebyshev_dist(bb, b)
        joint = jnp.where(self_, jnp.inf, jnp.maximum(da, db))
        eps = smallest_k(joint, k)[:, k - 1]  # (chunk,)
        na = jnp.sum((da < eps[:, None]) & ~self_, axis=1, dtype=jnp.int32)
        nb = jnp.sum((db < eps[:, None]) & ~self_, axis=1, dtype=jnp.int32)
        return eps, na, nb

    return map_row_blocks(block, n, chunk, a, b)


def ksg_mi(a, b, k: int = 5, units: str = "bits", standardize: bool = True,
           chunk: int = CHUNK):
    """Kraskov–Stögbauer–Grassberger estimator (algorithm 1) of I(A;B).

    Args:
      a: (N, da) and b: (N, db) paired samples (pass ``v[:, None]`` for a scalar variable).
      k: neighbours in the joint space (default 5); needs k < N.
      units: "bits" (default) or "nats".
      standardize: divide every coordinate by its standard deviation first (default True).
        The max-norm mixes a's and b's scales, so without this the estimate changes when one
        variable is rescaled; with it, the estimate is invariant (up to float rounding) under
        any invertible per-coordinate scaling a_j -> c_j a_j (c_j != 0) of either variable.
      chunk: rows per distance block (memory O(N * chunk)); does not change the result.

    Cost: time O(N^2 (da + db)), memory O(N chunk + N (da + db)), compile time independent of
    the widths (max-norm distances fused above 32 coordinates).

    I = psi(k) + psi(N) - mean_i [psi(n_a(i) + 1) + psi(n_b(i) + 1)] with the max-norm (see the
    module docstring). A constant variable (every row equal) gives exactly 0. Values of any
    float32 magnitude work (`pow2_rescale`). Known limitation: KSG underestimates large MI in
    several dimensions
    (e.g. ~20% low at 2 nats for a 4+4-dimensional Gaussian pair, N = 4000).
    Kraskov et al., Phys. Rev. E 69, 066138 (2004).
    """
    check_units(units)
    _check_points(a, "a", k)
    _check_points(b, "b", k)
    check_flag(standardize, "standardize")
    check_int(chunk, "chunk", lo=1)
    if np.shape(a)[0] != np.shape(b)[0]:
        raise ValueError(
            f"a and b must be paired samples with the same N, got {np.shape(a)[0]} and "
            f"{np.shape(b)[0]} rows."
        )
    return _ksg_mi(jnp.asarray(a, jnp.float32), jnp.asarray(b, jnp.float32), k, units,
                   standardize, chunk)


def pow2_rescale(*zs):
    """Divide arrays by one power of two, ``2^e``, when their largest |value| is outside
    [2^-20, 2^20], so squared distances and variances neither overflow nor underflow float32
    (e.g. activations of ~1e19 or ~1e-20); exact, as a power of two only shifts exponents.
    Inside that range (and for all-zero arrays) e = 0 and the arrays are returned unchanged.
    zs: arrays (float32) -> (*scaled arrays, e as a float32 scalar)."""
    m = functools.reduce(jnp.maximum, [jnp.max(jnp.abs(z)) for z in zs])
    ok = (m == 0) | ((m >= 2.0**-20) & (m <= 2.0**20))
    e = jnp.where(ok, 0.0, jnp.floor(jnp.log2(jnp.where(ok, 1.0, m))))
    h1 = jnp.floor(e / 2)  # two factors, each a normal float32 (2^-127 alone is subnormal)
    f1, f2 = jnp.exp2(-h1), jnp.exp2(-(e - h1))
    return (*[z * f1 * f2 for z in zs], e)


def _standardize(z):
    sd = jnp.std(z, axis=0)
    return (z - jnp.mean(z, axis=0)) / jnp.where(sd > 0, sd, 1.0)


@functools.partial(jax.jit, static_argnums=(2, 3, 4, 5))
def _ksg_mi(a, b, k, units, standardize, chunk):
    n = a.shape[0]
    if standardize:  # scale-free: each variable on its own scale, then unit variance
        a, b = _standardize(pow2_rescale(a)[0]), _standardize(pow2_rescale(b)[0])
    else:  # the max-norm mixes a's and b's scales: one factor for both
        a, b, _ = pow2_rescale(a, b)
    _, na, nb = ksg_counts(a, b, k, chunk=chunk)
    i = (digamma(jnp.float32(k)) + digamma(jnp.float32(n))
         - jnp.mean(digamma(na + 1.0) + digamma(nb + 1.0)))
    # a constant variable (all rows tied, eps = 0, no count) carries no information: I = 0
    constant = jnp.all(a == a[:1]) | jnp.all(b == b[:1])
    return nats_to(units, jnp.where(constant, 0.0, i))


__all__ = [
    "MAX_WEIGHT_NORM",
    "bsy_weights",
    "capped_bsy_weights",
    "entropy_weights",
    "gaussian_influence",
    "knn_entropy",
    "knn_sqdist",
    "ksg_counts",
    "ksg_mi",
    "map_row_blocks",
    "plain_weights",
    "smallest_k",
    "whiten",
]
