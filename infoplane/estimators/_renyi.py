"""Numerics of the matrix-based Rényi α-entropy (the maths is in `infoplane.estimators.renyi`).

A Gram matrix here is a Hadamard product of *factors*, each with a unit diagonal:

* Gaussian factors ``exp(-||u_i - u_j||^2)`` of scaled samples ``u = z / (sqrt(2) sigma)``
  (a product of Gaussian factors is the Gaussian kernel of the concatenated scaled samples:
  the tensor kernel of Wickstrøm et al. and the multivariate kernel of Yu et al. are both
  this, with one scale or one scale per channel);
* at most one label factor: 1 between samples of one class, ``off`` between classes
  (``off = exp(-1 / sigma_y^2)`` for the Gaussian kernel on one-hot labels, 0 for Y Y^T).

so ``tr K = n`` and ``A = K / n``, ``tr A = 1``, ``0 <= lambda_i(A) <= 1``.

The entropy is computed from ``g(lambda) = lambda^alpha - lambda`` (``lambda log lambda`` at
alpha = 1), whose sum over the spectrum is ``tr A^alpha - 1`` (small when the entropy is
small): ``S = log1p(sum g) / (1 - alpha)`` (``-sum g`` at alpha = 1), in nats.

Modes
-----
* exact: the dense Gram (squared distances in float32 by the centred matrix-product form, the
  diagonal set to exactly 0), the kernel and the eigenvalues in float64 (``precision=
  "float64"``: a tridiagonal reduction and a values-only tridiagonal eigensolver) or float32.
  O(n^2 d) time for the distances, O(n^3) for the eigenvalues, O(n^2) memory.
  float32 eigenvalues carry an absolute error of ~1e-7 of the largest one, and the many
  near-zero eigenvalues of a smooth kernel each add ~15 of it to the entropy at alpha = 1.01:
  up to ~7e-4 bits at n = 2048 (measured), which float64 removes.
* slq: stochastic Lanczos quadrature of ``tr g(A)`` (the machinery of the spectral family,
  `infoplane.estimators._dse`: Lanczos with full re-orthogonalisation, Gauss and Gauss-Radau
  rules from one batched ``eigh``, a Hutch++ sketch of the top of the spectrum and control
  variates ``||v||^2``, ``v^T A v``, ``v^T A^2 v`` with exactly known means). The Gram is kept
  when ``n^2 * 4`` bytes fit in ``cache_mb``, else every product recomputes it in row blocks
  of ``chunk`` rows: memory O(n (chunk + steps probes)), never an n x n matrix.
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from jax.scipy.linalg import eigh_tridiagonal

from infoplane.estimators._dse import _control_variate_mean, _quadrature, lanczos
from infoplane.estimators._numerics import pairwise_sqdist

#: Largest Gram (rows) that ``mode="auto"`` solves exactly (float64 eigenvalues of a 4096 x
#: 4096 Gram take ~10 s on a 2-core CPU; benchmarks/bench_renyi.py).
EXACT_MAX_N = 4096
MODES = ("auto", "exact", "slq")
_EIGVALSH_MAX_N = 1024
PRECISIONS = ("float64", "float32")
_HI = lax.Precision.HIGHEST
_BREAKDOWN = 1e-6  # Lanczos breakdown, relative to min(||A||_F, 1)
_RADAU = 1e-6  # the Gauss-Radau node at -_RADAU min(||A||_F, 1)
_RESOLUTION = 2e-6  # float32 resolution of tr g(A), relative to |tr g| + 1e-3 |tr A log A|


def resolve_mode(mode: str, n: int) -> str:
    """"auto" -> "exact" up to `EXACT_MAX_N` rows, "slq" above."""
    if mode == "auto":
        return "exact" if n <= EXACT_MAX_N else "slq"
    return mode


class Gram(NamedTuple):
    """The factors of one Gram matrix (module docstring). ``us``: tuple of (n, d_f) float32
    scaled samples (the Gaussian factors); ``labels``: (n,) int32 or None; ``off``: the label
    factor between classes (a scalar; ignored without labels)."""

    us: tuple
    labels: jax.Array | None = None
    off: jax.Array | float = 0.0
    d2: jax.Array | None = None  # (n, n) float32 scaled squared distances of more factors

    @property
    def n(self) -> int:
        for a in (*self.us, self.d2, self.labels):
            if a is not None:
                return int(a.shape[0])
        raise ValueError("a Gram needs at least one factor")


def scale(z, sigma):
    """Samples scaled for a Gaussian factor: ``(z - mean) / (sqrt(2) sigma)``, float32.
    z: (n, d); sigma: scalar or (d,) (a per-column width: the multivariate kernel)."""
    z = z.astype(jnp.float32)
    z = z - jnp.mean(z, axis=0)
    return z * (1.0 / (math.sqrt(2.0) * jnp.asarray(sigma, jnp.float32)))


def _block(gram: Gram, rows, ub: tuple, lb, n: int, dtype=jnp.float32):
    """Rows ``rows`` (b,) of K: ``ub`` their scaled samples, ``lb`` their labels. Distances in
    float32, each factor's cast to ``dtype`` (float64 inside ``enable_x64``) before the sum and
    the kernel, so near-one entries keep their small differences."""
    d2 = 0.0 if gram.d2 is None else gram.d2[rows].astype(dtype)
    for u, u_rows in zip(gram.us, ub, strict=True):
        d2 = d2 + pairwise_sqdist(u_rows, u).astype(dtype)
    self_ = rows[:, None] == jnp.arange(n)[None, :]
    k = jnp.where(self_, 1.0, jnp.exp(-jnp.where(self_, 0.0, d2))).astype(dtype)
    if gram.labels is not None:
        same = lb[:, None] == gram.labels[None, :]
        k = k * jnp.where(same, 1.0, jnp.asarray(gram.off, dtype))
    return k


def dense(gram: Gram, dtype=jnp.float32):
    """The (n, n) Gram K (unit diagonal) in ``dtype``."""
    n = gram.n
    return _block(gram, jnp.arange(n), gram.us, gram.labels, n, dtype)


def _row_map(fn, gram: Gram, chunk: int):
    """``fn(rows, ub, lb)`` over blocks of ``chunk`` rows (the last block padded with row 0,
    its results dropped), stacked back to (n, ...)."""
    n = gram.n
    chunk = max(1, min(chunk, n))
    n_blocks = -(-n // chunk)
    idx = jnp.arange(n_blocks * chunk) % n
    idx = jnp.where(jnp.arange(n_blocks * chunk) < n, idx, 0).reshape(n_blocks, chunk)
    labels = gram.labels if gram.labels is not None else jnp.zeros((n,), jnp.int32)

    def one(rows):
        return fn(rows, tuple(u[rows] for u in gram.us), labels[rows])

    out = lax.map(one, idx)
    return out.reshape((n_blocks * chunk,) + out.shape[2:])[:n]


# ---- the entropy from a spectrum ----------------------------------------------------------------


def _g(lam, alpha: float):
    """g(lambda) = lambda^alpha - lambda (lambda log lambda at alpha = 1), 0 at lambda = 0."""
    pos = lam > 0
    log = jnp.log(jnp.where(pos, lam, 1.0))
    if alpha == 1:
        return jnp.where(pos, lam * log, 0.0)
    return jnp.where(pos, lam * jnp.expm1((alpha - 1.0) * log), 0.0)


def entropy_from_g(sum_g, alpha: float):
    """S in nats from ``sum g = tr A^alpha - 1``: ``log1p(sum g) / (1 - alpha)`` (``-sum g``
    at alpha = 1), clipped at 0 from below (rounding)."""
    if alpha == 1:
        return jnp.maximum(-sum_g, 0.0)
    s = jnp.log1p(jnp.maximum(sum_g, -1.0 + 1e-30)) / (1.0 - alpha)
    return jnp.maximum(s, 0.0)


def _eigvals(k):
    """Eigenvalues of a symmetric matrix, values only: above `_EIGVALSH_MAX_N` rows a
    Householder tridiagonalisation and a tridiagonal eigensolver (about half the time of
    ``eigvalsh``, which also forms the eigenvectors on CPU: 9.5 s against 17.7 s in float64
    at n = 4096 on 2 cores), below it ``eigvalsh`` (compiles ~5x faster)."""
    if k.shape[0] <= _EIGVALSH_MAX_N:  # small: eigvalsh compiles in a fifth of the time
        return jnp.linalg.eigvalsh(k)
    _, d, e, _ = lax.linalg.tridiagonal(k)
    return eigh_tridiagonal(d, e, eigvals_only=True)


def _entropy_of(k, alpha: float):
    """S_alpha(K / n) in nats (K's dtype) from the eigenvalues of the dense Gram K."""
    lam = jnp.clip(_eigvals(k / k.shape[0]), 0.0, None)
    return entropy_from_g(jnp.sum(_g(lam / jnp.sum(lam), alpha)), alpha)


def exact_entropy(gram: Gram, alpha: float, precision: str = "float64"):
    """S_alpha(K / n) in nats (float32), from the eigenvalues of the dense Gram."""
    if precision == "float64":
        with jax.enable_x64(True):
            # the kernel in float64 from the float32 distances: near-one entries keep their
            # small differences (K = 1 - small on smooth kernels)
            return _entropy_of(dense(gram, jnp.float64), alpha).astype(jnp.float32)
    return _entropy_of(dense(gram), alpha)


# ---- scalable mode: stochastic Lanczos quadrature ----------------------------------------------


def _operator(gram: Gram, chunk: int, cache_mb: float):
    """``(matvec, ||A||_F^2)`` for A = K / n; matvec: (n, p) -> (n, p)."""
    n = gram.n
    if n * n * 4 <= cache_mb * 2**20:
        a = dense(gram) / n
        return (lambda v: jnp.dot(a, v, precision=_HI)), jnp.sum(a * a)

    frob = jnp.sum(_row_map(lambda r, ub, lb: jnp.sum(_block(gram, r, ub, lb, n) ** 2, axis=1),
                            gram, chunk)) / (float(n) * n)

    def matvec(v):
        return _row_map(lambda r, ub, lb: jnp.dot(_block(gram, r, ub, lb, n), v, precision=_HI),
                        gram, chunk) / n

    return matvec, frob


def slq_entropy(gram: Gram, alpha: float, key, *, probes: int, steps: int, chunk: int,
                cache_mb: float, sketch: float = 0.5):
    """(S_alpha in nats, its standard error) by SLQ (module docstring). ``tr A = 1`` and
    ``tr A^2 = ||A||_F^2`` are exact; at alpha = 2 so is the entropy (error 0)."""
    n = gram.n
    matvec, frob = _operator(gram, chunk, cache_mb)
    if alpha == 2:
        return entropy_from_g(frob - 1.0, alpha), jnp.float32(0.0)
    sc = jnp.clip(jnp.sqrt(frob), 1e-20, 1.0)  # >= the largest eigenvalue of A (<= 1)
    k_sketch = max(2, min(probes - 4, int(round(probes * sketch))))
    n_res = probes - k_sketch
    k_s, k_r = jax.random.split(key)
    # the sketch of the top of the spectrum: Householder QR of A S (any orthonormal Q keeps the
    # estimator unbiased; QR resolves directions down to float32's epsilon of the top one,
    # where the Gram-based orthonormalisation of A^2 S lost the eigenvalues below ~3e-3)
    q, _ = jnp.linalg.qr(matvec(jax.random.normal(k_s, (n, k_sketch), jnp.float32)))
    g0 = jax.random.rademacher(k_r, (n, n_res), jnp.float32)
    g0 = g0 - jnp.dot(q, jnp.dot(q.T, g0, precision=_HI), precision=_HI)  # off span(Q)
    v0 = jnp.concatenate([q, g0], axis=1)
    norms2 = jnp.sum(v0 * v0, axis=0)
    alpha_t, beta_t = lanczos(matvec, v0, steps, tol=_BREAKDOWN * sc)
    gauss, radau = _quadrature(alpha_t, beta_t, -_RADAU * sc)
    cmean = jnp.stack([jnp.float32(n), jnp.float32(1.0), frob])  # tr I, tr A, tr A^2
    s_g, se = _slq_one(gauss, alpha, norms2, k_sketch, cmean)
    s_r, _ = _slq_one(radau, alpha, norms2, k_sketch, cmean)
    # Gauss and Gauss-Radau bracket each quadratic form of a function of one-signed higher
    # derivatives; their mean is the estimate and half the gap a bound on the quadrature bias
    return 0.5 * (s_g + s_r), jnp.sqrt(se * se + 0.25 * (s_g - s_r) ** 2)


def _slq_one(rule, alpha: float, norms2, k_sketch: int, cmean):
    """S (nats) and its standard error from one quadrature rule: the sketch's quadratic forms
    plus the control-variate-corrected Hutchinson mean over the residual probes."""
    theta, tau = rule  # (p, m + 1) nodes in [0, 1] and weights

    def qf(vals):
        return norms2 * jnp.sum(tau * vals, axis=1)

    q1, q2, qg = qf(theta), qf(theta * theta), qf(_g(theta, alpha))
    cvars = jnp.stack([norms2[k_sketch:], q1[k_sketch:], q2[k_sketch:]], axis=1)
    cm = cmean - jnp.stack([jnp.sum(norms2[:k_sketch]), jnp.sum(q1[:k_sketch]),
                            jnp.sum(q2[:k_sketch])])
    # a covariate whose residual mean is a float32 cancellation (the sketch holds all but
    # < 1e-3 of its trace) is left out: its "known" mean is rounding noise
    resolved = jnp.abs(cm) > 1e-3 * jnp.abs(cmean)
    cvars = jnp.where(resolved[None, :], cvars, 0.0)
    cm = jnp.where(resolved, cm, 0.0)
    unit = jnp.maximum(jnp.mean(jnp.abs(cvars), axis=0), 1e-30)
    g_res, g_samples, k_used = _control_variate_mean(qg[k_sketch:], cvars, cm, unit)
    sum_g = jnp.sum(qg[:k_sketch]) + g_res
    s = entropy_from_g(sum_g, alpha)
    n_res = norms2.shape[0] - k_sketch
    dof = jnp.maximum(n_res - 1 - k_used, 1).astype(jnp.float32)
    var_g = jnp.sum((g_samples - jnp.mean(g_samples)) ** 2) / dof / n_res
    # dS/d(sum g) = 1 / ((1 - alpha)(1 + sum g)), -1 at alpha = 1
    deriv = 1.0 if alpha == 1 else 1.0 / (abs(1.0 - alpha) * jnp.maximum(1.0 + sum_g, 1e-30))
    res = _RESOLUTION * (jnp.abs(sum_g) * deriv + 1e-3 * s)
    return s, jnp.sqrt(var_g * deriv * deriv + res * res)


# ---- one entropy, either mode ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Cfg:
    """Static configuration of one entropy solve (mode already resolved)."""

    alpha: float
    mode: str  # "exact" or "slq"
    precision: str = "float64"
    probes: int = 32
    steps: int = 20
    chunk: int = 1024
    cache_mb: float = 512


def entropy(gram: Gram, key, cfg: Cfg):
    """(S_alpha(K / n) in nats, standard error; 0 in exact mode), float32."""
    if cfg.mode == "exact":
        return exact_entropy(gram, cfg.alpha, cfg.precision), jnp.float32(0.0)
    return slq_entropy(gram, cfg.alpha, key, probes=cfg.probes, steps=cfg.steps,
                       chunk=cfg.chunk, cache_mb=cfg.cache_mb)


# ---- kernel widths ------------------------------------------------------------------------------


def knn_width(z, k: int, chunk: int = 1024):
    """Mean over samples of the Euclidean distance to the k-th nearest other sample.

    z: (n, d) -> scalar float32. Row blocks of ``chunk`` rows against all n (memory O(chunk n),
    time O(n^2 d)); a sample's distance to itself is excluded by index, duplicates count 0."""
    z = z.astype(jnp.float32)
    z = z - jnp.mean(z, axis=0)
    n = z.shape[0]
    gram = Gram(us=(z,))

    def rows(r, ub, lb):
        d2 = pairwise_sqdist(ub[0], z)
        d2 = jnp.where(r[:, None] == jnp.arange(n)[None, :], jnp.inf, d2)
        kth = -lax.top_k(-d2, k)[0][:, k - 1]
        return jnp.sqrt(jnp.maximum(kth, 0.0))

    return jnp.mean(_row_map(rows, gram, chunk))


def knn_width_dense(d2, k: int):
    """`knn_width` from the (n, n) squared distances (the diagonal is ignored)."""
    n = d2.shape[0]
    d2 = jnp.where(jnp.eye(n, dtype=bool), jnp.inf, d2)
    return jnp.mean(jnp.sqrt(jnp.maximum(-lax.top_k(-d2, k)[0][:, k - 1], 0.0)))


def silverman_width(n: int, d: int, gamma: float) -> float:
    """Silverman's rule as the papers use it: ``gamma * n^(-1 / (4 + d))``."""
    return float(gamma) * float(n) ** (-1.0 / (4.0 + d))
