"""Diffusion spectral entropy and mutual information (Liao, Liu et al. 2023: DSE / DSMI).

Maths (everything here is a function of the spectrum of one symmetric matrix):

* Kernel with self-loops, ``G_ij = exp(-||z_i - z_j||^2 / (2 sigma^2))`` (so ``G_ii = 1``), row
  sums ``D = diag(G 1)``. The diffusion operator ``P = D^-1 G`` has the same eigenvalues as its
  symmetric conjugate ``K = D^-1/2 G D^-1/2``, so a symmetric eigen-solver (``eigvalsh``) is used.
* ``G`` is positive semi-definite (a Gaussian kernel is positive definite), hence so is ``K``
  (a congruence of ``G``); ``P`` is stochastic, so every eigenvalue of ``K`` is in ``[0, 1]``.
  Therefore ``|lambda| = lambda``: the tiny negative eigenvalues that float32 rounding produces are
  clipped to 0 rather than folded in with ``abs``.
* ``p_i = lambda_i^t / sum_j lambda_j^t`` and ``DSE = -sum_i p_i log p_i`` (bits by default), with
  ``0 <= DSE <= log2 N``. Written with ``A = tr(K^t)`` and ``B = tr(K^t log K^t)``:
  ``DSE = log A - B / A`` (nats), which is how both the exact and the scalable mode compute it.
* For a discrete variable ``C`` with classes of sizes ``n_c``::

      DSMI(Z; C) = sum_c p(c) [ mean over `subsets` random subsets S of size n_c of DSE(Z_S)
                                - DSE(Z | C=c) ]

  DSE/DSMI are **not Shannon quantities** (DSMI(A;A) != DSE(A); they depend on the data's scale
  relative to ``sigma``): label them "DSE"/"DSMI" and record ``sigma`` and ``t``.

Fixed shapes under jit
----------------------
Every class and every random subset is the same fixed-shape problem: the rows of ``Z`` gathered
into an ``(M, d)`` block (``M`` a static bound on the class size: the largest class when the
labels are known on the host, ``N`` otherwise) with a 0/1 mask over the ``M`` rows. In the masked
kernel the masked rows and columns are zeroed and each masked row gets an isolated self-loop, so
``K = K_sub (+) I``: the masked rows contribute eigenvalues exactly 1, i.e. ``(M - n)`` to ``A``
and ``1^t log 1^t = 0`` to ``B``, which `masked_dse` removes exactly. All ``C * subsets + C``
problems are then batched with ``lax.map``.

Modes
-----
* ``"exact"``: dense ``(n, n)`` kernel and ``jnp.linalg.eigvalsh`` (float32): O(n^2 d) kernel,
  O(n^3) time, O(n^2) memory.
* ``"slq"``: stochastic Lanczos quadrature. ``A`` and ``B`` are traces of spectral functions
  of ``K``, estimated from ``probes`` start vectors (Hutch++ sketch + Rademacher probes with
  exact control variates, see `masked_dse_slq`); each quadratic form ``v^T f(K) v`` comes from
  ``steps`` Lanczos steps with full re-orthogonalisation, as the mean of its Gauss and
  Gauss-Radau quadratures (which bracket it for the convex ``x log x``). ``tr K = sum_i 1/D_ii``
  and ``tr K^2 = ||K||_F^2`` are exact, so for ``t = 1, 2`` only ``B`` is estimated. The
  standard error over probes plus the quadrature gap is reported. Kernel products: when the
  ``N x N`` float32 kernel fits in ``cache_mb`` (default 256 MB, i.e. N <= 8192) it is built
  once and kept (fast); above that, or with ``cache_mb=0``, every product recomputes the kernel
  in row blocks of ``chunk`` rows: memory O(N * (chunk + steps * probes)), never an ``N x N``
  matrix, time O(steps * N^2 * (d + probes)).
* ``"auto"`` (default): ``"exact"`` for problems of at most `EXACT_MAX_N` rows, ``"slq"`` above;
  decided per problem size (the full layer and the class-sized problems may differ).

Precision: float32 throughout. Eigenvalues below ~1e-7 are rounding noise; for ``t >= 1`` they
are damped (agreement with a float64 reference ~1e-5 bits), but ``t < 1`` magnifies them
(``lambda^t``), so with ``t < 1`` and ``sigma`` large relative to the data (a spectrum that
decays below 1e-7) the result is only accurate to ~0.1 bits.

``sigma`` may be a traced value in `dse` / `dsmi` (changing it does not recompile); ``t``,
``mode``, ``subsets``, ``probes``, ``steps`` and ``chunk`` are static (part of the jit cache key).

Reference: X. Liao, C. Liu et al., "Assessing Neural Network Representations During Training
Using Noise-Resilient Diffusion Spectral Entropy", 2023.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from infoplane.estimators._base import (
    Estimate,
    Probe,
    check_units,
    dataclass_params,
    nats_to,
)
from infoplane.estimators._numerics import is_concrete, nonfinite_rows, pairwise_sqdist, xlogx

#: Largest problem (rows) that ``mode="auto"`` solves exactly. Measured on a 2-core CPU
#: (benchmarks/bench_spectral.py): exact DSE ~0.6 s at 2000 rows and ~4 s at 4096 rows, SLQ
#: with the defaults 6-17x faster at 4096 rows with errors of ~0.01-0.03 bits.
EXACT_MAX_N = 2048
MODES = ("auto", "exact", "slq")


# ---- validation -----------------------------------------------------------------------------


def _check_sigma_t(sigma, t) -> None:
    if is_concrete(sigma):
        s = float(np.asarray(sigma))
        if not (math.isfinite(s) and s > 0):
            raise ValueError(
                f"DSE needs a kernel width sigma > 0, got sigma={sigma!r}. sigma is in the units "
                "of the activations (the reference uses sigma=10); choose it relative to the "
                "typical distance between samples."
            )
    if not (isinstance(t, (int, float)) and math.isfinite(t) and t > 0):
        raise ValueError(
            f"DSE needs a diffusion time t > 0 (a Python number; it is static under jit), got "
            f"t={t!r}. The reference uses t=1."
        )


def _check_mode(mode, probes, steps, chunk, cache_mb=0) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}.")
    if not (isinstance(cache_mb, (int, float)) and cache_mb >= 0):
        raise ValueError(f"cache_mb must be a number >= 0 (0: matrix-free), got {cache_mb!r}.")
    for name, v, lo in (("probes", probes, 6), ("steps", steps, 2), ("chunk", chunk, 1)):
        if not isinstance(v, int) or isinstance(v, bool) or v < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}.")


def _check_z(z, what: str = "z") -> None:
    shape = tuple(np.shape(z))
    if len(shape) != 2:
        raise ValueError(
            f"{what} must have shape (N, d): N samples of d features; got shape {shape}. "
            "Flatten each sample first, e.g. z.reshape(N, -1)."
        )
    if shape[0] < 2:
        raise ValueError(f"DSE needs at least N=2 samples, got N={shape[0]}.")
    rows = nonfinite_rows(z)
    if rows.size:
        raise ValueError(
            f"{what} has NaN or inf values in {rows.size} row(s), first at row {rows[0]}; "
            "the kernel would be undefined. Drop or fix those samples (a diverged network "
            "produces them)."
        )


def resolve_mode(mode: str, n: int) -> str:
    """The mode actually used for a problem of ``n`` rows ("auto" -> exact up to EXACT_MAX_N)."""
    if mode == "auto":
        return "exact" if n <= EXACT_MAX_N else "slq"
    return mode


# ---- shared pieces ----------------------------------------------------------------------------


def _entropy_from_traces(a, b):
    """DSE in nats from A = tr(K^t) and B = tr(K^t log K^t)."""
    a = jnp.maximum(a, jnp.finfo(jnp.float32).tiny)
    return jnp.log(a) - b / a


def _center(z, mask):
    """Subtract the mean of the valid rows (distances are translation invariant; this keeps the
    matmul form of the distances accurate for wide layers)."""
    m = mask.astype(z.dtype)
    mu = jnp.sum(z * m[:, None], axis=0) / jnp.maximum(jnp.sum(m), 1.0)
    return z - mu


# ---- exact mode -------------------------------------------------------------------------------


def masked_kernel(z, mask, sigma):
    """The symmetric diffusion matrix K of the valid rows, padded with an identity block.

    z: (M, d) float32; mask: (M,) bool; sigma: scalar. Returns (M, M) K with
    ``K[valid, valid] = D^-1/2 G D^-1/2`` of the valid rows, ``K[i, i] = 1`` for masked rows and
    zeros between valid and masked rows. The distance matrix is built by `pairwise_sqdist`
    (per-feature accumulation on (M, M) arrays for d <= 32, the centred matmul form above):
    there is no (M, M, d) temporary.
    """
    z = _center(z.astype(jnp.float32), mask)
    m = mask.astype(jnp.float32)
    d2 = pairwise_sqdist(z, z)  # (M, M)
    g = jnp.exp(d2 * (-0.5 / (sigma * sigma)))
    g = g * m[:, None] * m[None, :] + jnp.diag(1.0 - m)  # masked rows: isolated self-loop
    r = lax.rsqrt(jnp.sum(g, axis=1))  # (M,) D^-1/2 (>= 1 term: the self-loop)
    return g * r[:, None] * r[None, :]


def masked_dse_exact(z, mask, sigma, t):
    """Exact DSE (nats) of the rows of z where mask is True. z: (M, d), mask: (M,) bool."""
    k = masked_kernel(z, mask, sigma)
    lam = jnp.clip(jnp.linalg.eigvalsh(k), 0.0, 1.0)  # K is PSD with spectrum in [0, 1]
    w = lam if t == 1 else jnp.where(lam > 0, lam ** jnp.float32(t), 0.0)
    n_masked = jnp.sum(~mask).astype(jnp.float32)
    a = jnp.sum(w) - n_masked  # the masked rows' eigenvalues are exactly 1
    b = jnp.sum(xlogx(w))  # ... and add 1 log 1 = 0 here
    return _entropy_from_traces(a, b)


# ---- scalable mode: stochastic Lanczos quadrature -------------------------------------------


def _gram_apply(z, w, sigma, chunk: int):
    """G @ w in row blocks, never forming G. z: (M, d), w: (M, p) -> (M, p).
    Memory O(chunk * M)."""
    n, d = z.shape
    chunk = min(chunk, n)
    n_blocks = -(-n // chunk)
    pad = n_blocks * chunk - n
    zp = jnp.concatenate([z, jnp.zeros((pad, d), z.dtype)]) if pad else z
    scale = -0.5 / (sigma * sigma)

    def block(zb):  # (chunk, d) -> (chunk, p)
        g = jnp.exp(pairwise_sqdist(zb, z) * scale)  # (chunk, M)
        return jnp.dot(g, w, precision=lax.Precision.HIGHEST)

    out = lax.map(block, zp.reshape(n_blocks, chunk, d))  # (n_blocks, chunk, p)
    return out.reshape(n_blocks * chunk, -1)[:n]


def lanczos(matvec, v0, steps: int, tol: float = 1e-5):
    """``steps`` Lanczos steps with full re-orthogonalisation, for p independent start vectors.

    matvec: (M, p) -> (M, p), applying a symmetric matrix to each column; v0: (M, p).
    Returns (alpha, beta), each (steps, p): the diagonal and the off-diagonal (beta[j] couples
    steps j and j+1) of each column's tridiagonal matrix. On breakdown (beta < tol: the Krylov
    space is exhausted) the remaining vectors are zero, so the rest of the tridiagonal matrix is
    a decoupled zero block with zero quadrature weight.
    """
    m_rows, p = v0.shape
    q0 = v0 / jnp.maximum(jnp.linalg.norm(v0, axis=0), 1e-30)

    def body(carry, j):
        qs, q, q_prev, b_prev = carry
        qs = qs.at[j].set(q)
        w = matvec(q)
        a = jnp.sum(q * w, axis=0)
        w = w - a * q - b_prev * q_prev
        for _ in range(2):  # full re-orthogonalisation, twice ("twice is enough")
            c = jnp.einsum("snp,np->sp", qs, w)
            w = w - jnp.einsum("snp,sp->np", qs, c)
        b = jnp.linalg.norm(w, axis=0)
        ok = b > tol
        q_next = jnp.where(ok, w / jnp.where(ok, b, 1.0), 0.0)
        b = jnp.where(ok, b, 0.0)
        return (qs, q_next, q, b), (a, b)

    init = (jnp.zeros((steps, m_rows, p), v0.dtype), q0, jnp.zeros_like(q0),
            jnp.zeros((p,), v0.dtype))
    _, (alpha, beta) = lax.scan(body, init, jnp.arange(steps))
    return alpha, beta


def _orthonormal_columns(y, rtol: float = 1e-5):
    """Orthonormal basis of the span of y's columns, (M, k) -> (M, k), every column inside
    span(y) (so it stays zero on masked rows); near-dependent directions become zero columns.
    Two passes of eigen-based Gram-Schmidt (like CholeskyQR2) for float32 orthogonality."""
    for _ in range(2):
        ev, v = jnp.linalg.eigh(jnp.dot(y.T, y, precision=lax.Precision.HIGHEST))
        keep = ev > rtol * jnp.max(ev)
        y = jnp.dot(y, v * jnp.where(keep, lax.rsqrt(jnp.where(keep, ev, 1.0)), 0.0),
                    precision=lax.Precision.HIGHEST)
    return y


def _control_variate_mean(x, c, c_mean, unit):
    """Mean of samples x (n,) corrected by control variates c (n, k) of known means c_mean (k,).

    Regression coefficients from the samples (standardised, lightly ridged); a covariate whose
    spread is below 1e-6 * ``unit`` (its natural scale) is rounding noise and left out.
    Returns the corrected mean and the residual samples (for the standard error)."""
    cc = c - jnp.mean(c, axis=0)
    sd = jnp.std(c, axis=0)
    keep = sd > 1e-6 * unit
    scale = jnp.where(keep, sd, 1.0)
    cs = jnp.where(keep, cc / scale, 0.0)
    xc = x - jnp.mean(x)
    n = x.shape[0]
    cov = cs.T @ cs / (n - 1) + 1e-3 * jnp.eye(c.shape[1])
    coef = jnp.linalg.solve(cov, cs.T @ xc / (n - 1))
    shift = jnp.where(keep, (jnp.mean(c, axis=0) - c_mean) / scale, 0.0) @ coef
    return jnp.mean(x) - shift, x - cs @ coef


def _quadrature(alpha, beta, *, radau: bool):
    """Nodes and weights of each column's Lanczos quadrature. alpha, beta: (steps, p).

    Gauss: the eigen-decomposition of the m x m tridiagonal T (nodes = Ritz values, weights =
    squared first components). Gauss-Radau (Golub & Meurant): an (m+1)-node rule with one node
    fixed just below the spectrum (at a = -1e-6; K is PSD): T extended by beta_m and the last
    diagonal a + delta_m, where (T - a I) delta = beta_m^2 e_m. Returns (nodes, weights), each
    (p, m) or (p, m + 1).
    """
    steps = alpha.shape[0]

    def one(a_col, b_col):
        t = jnp.diag(a_col) + jnp.diag(b_col[:-1], 1) + jnp.diag(b_col[:-1], -1)
        if radau:
            shift = -1e-6
            e_m = jnp.zeros((steps,), a_col.dtype).at[-1].set(b_col[-1] ** 2)
            delta = jnp.linalg.solve(t - shift * jnp.eye(steps), e_m)
            t = jnp.pad(t, ((0, 1), (0, 1)))
            t = t.at[-1, -1].set(shift + delta[-1]).at[-1, -2].set(b_col[-1])
            t = t.at[-2, -1].set(b_col[-1])
        theta, u = jnp.linalg.eigh(t)
        return jnp.clip(theta, 0.0, 1.0), u[0, :] ** 2

    return jax.vmap(one, in_axes=(1, 1))(alpha, beta)


def _slq_entropy(rule, t, norms2, k_sketch, n_valid, tr_k, tr_k2):
    """DSE (nats) and its standard error from one quadrature rule (see `masked_dse_slq`)."""
    theta, tau = rule
    n_res = norms2.shape[0] - k_sketch
    w = theta if t == 1 else jnp.where(theta > 0, theta ** jnp.float32(t), 0.0)

    def qf(f_vals):  # (probes,) quadratic forms v^T f(K) v
        return norms2 * jnp.sum(tau * f_vals, axis=1)

    q1, q2 = qf(theta), qf(theta * theta)
    # control variates on the residual probes and their exact means
    cvars = jnp.stack([norms2[k_sketch:], q1[k_sketch:], q2[k_sketch:]], axis=1)  # (n_res, 3)
    cmean = jnp.stack([n_valid - jnp.sum(norms2[:k_sketch]), tr_k - jnp.sum(q1[:k_sketch]),
                       tr_k2 - jnp.sum(q2[:k_sketch])])
    qb = qf(xlogx(w))
    unit = jnp.maximum(jnp.mean(norms2[k_sketch:]), 1e-30)  # scale of the quadratic forms
    b_res, b_samples = _control_variate_mean(qb[k_sketch:], cvars, cmean, unit)
    b = jnp.sum(qb[:k_sketch]) + b_res
    if t == 1 or t == 2:
        a = tr_k if t == 1 else tr_k2
        a_samples = jnp.zeros_like(b_samples)
    else:
        qa = qf(w)
        a_res, a_samples = _control_variate_mean(qa[k_sketch:], cvars, cmean, unit)
        a = jnp.sum(qa[:k_sketch]) + a_res
    a = jnp.maximum(a, jnp.finfo(jnp.float32).tiny)
    h = _entropy_from_traces(a, b)
    # delta method: dH = (dA (1 + B/A) - dB) / A, with the residual (centred) samples
    h_j = (a_samples * (1.0 + b / a) - b_samples) / a
    return h, jnp.std(h_j, ddof=1) / jnp.sqrt(jnp.float32(n_res))


def masked_dse_slq(z, mask, sigma, t, key, *, probes: int, steps: int, chunk: int,
                   cache_mb: float = 0, sketch: float = 0.5):
    """SLQ estimate of the DSE (nats) of the valid rows, and its standard error over probes.

    z: (M, d), mask: (M,) bool. Masked rows and columns of G are zeroed and every start vector
    vanishes on them, so the Lanczos iterations run in the subspace of the valid rows (the
    masked rows are eigenvalue-0 directions, and f(0) = 0 for both traces).

    ``B = tr(K^t log K^t)`` (and ``A = tr(K^t)`` unless known exactly: ``tr K = sum_i 1/D_ii``,
    ``tr K^2 = ||K||_F^2``) are estimated as follows; every quadratic form ``v^T f(K) v`` is a
    Gauss quadrature from ``steps`` Lanczos steps started at ``v`` (all columns in one batch).

    1. Hutch++ (Meyer et al. 2021): ``round(sketch * probes)`` columns span a sketch Q of the top
       of the spectrum -- the known top eigenvector D^1/2 1 (eigenvalue 1) plus K^2 S for a
       Gaussian S, orthonormalised -- contributing ``tr(Q^T f(K) Q)``; the other probes are
       Rademacher vectors projected off Q (Hutchinson on the rest of the spectrum).
    2. Control variates on the residual probes: ``||v||^2``, ``v^T K v`` and ``v^T K^2 v`` come
       exactly from the same quadrature and have exactly known means (``n - tr(Q^T Q)``,
       ``tr K - tr(Q^T K Q)``, ``tr K^2 - tr(Q^T K^2 Q)``); regressing them out removes most of
       the variance (it amounts to the best shift ``K log(K / c)`` of the spectral function).

    Each quadratic form is averaged over its Gauss and Gauss-Radau rules (`_quadrature`). The
    standard error combines the spread of the residual probes after the regression (delta
    method for the ratio) with half the Gauss/Gauss-Radau gap (a quadrature-bias bound).
    Kernel products use a kept kernel when ``M*M*4`` bytes fit in ``cache_mb`` MB, otherwise
    row blocks of ``chunk`` rows recomputed at every product (memory O(M * chunk)).
    """
    z = _center(z.astype(jnp.float32), mask)
    m = mask.astype(jnp.float32)
    n_rows = z.shape[0]
    n_valid = jnp.sum(m)
    if n_rows * n_rows * 4 <= cache_mb * 2**20:  # small enough: keep the masked kernel
        g = jnp.exp(pairwise_sqdist(z, z) * (-0.5 / (sigma * sigma))) * m[:, None] * m[None, :]
        deg = jnp.sum(g, axis=1)
        r = jnp.where(mask, lax.rsqrt(jnp.maximum(deg, 1.0)), 0.0)
        kmat = g * r[:, None] * r[None, :]
        tr_k2 = jnp.sum(kmat * kmat)

        def matvec(v):
            return jnp.dot(kmat, v, precision=lax.Precision.HIGHEST)
    else:  # matrix-free: recompute the kernel in row blocks at every product
        deg = _gram_apply(z, m[:, None], sigma, chunk)[:, 0]  # (M,) row sums over valid columns
        r = jnp.where(mask, lax.rsqrt(jnp.maximum(deg, 1.0)), 0.0)  # D^-1/2, 0 on masked rows
        r2 = r * r
        # ||K||_F^2 = sum_ij r_i^2 G_ij^2 r_j^2, and G_ij^2 is the kernel of width sigma/sqrt 2
        tr_k2 = jnp.sum(r2 * _gram_apply(z, r2[:, None], sigma * math.sqrt(0.5), chunk)[:, 0])

        def matvec(v):  # K v for v (M, p)
            return r[:, None] * _gram_apply(z, r[:, None] * v, sigma, chunk)

    tr_k = jnp.sum(r * r)  # tr(K) = sum_i G_ii / D_ii exactly
    k_sketch = max(2, min(probes - 4, int(round(probes * sketch))))
    n_res = probes - k_sketch
    k_s, k_r = jax.random.split(key)
    u1 = jnp.where(mask, jnp.sqrt(jnp.maximum(deg, 0.0)), 0.0)[:, None]  # K u1 = u1
    s = jax.random.normal(k_s, (n_rows, k_sketch - 1), jnp.float32) * m[:, None]
    q = _orthonormal_columns(jnp.concatenate([u1, matvec(matvec(s))], axis=1))  # (M, k)
    g = jax.random.rademacher(k_r, (n_rows, n_res), jnp.float32) * m[:, None]
    g = g - jnp.dot(q, jnp.dot(q.T, g, precision=lax.Precision.HIGHEST),
                    precision=lax.Precision.HIGHEST)  # probes on the complement of span(Q)
    v0 = jnp.concatenate([q, g], axis=1)  # (M, probes)
    norms2 = jnp.sum(v0 * v0, axis=0)  # (probes,)
    alpha, beta = lanczos(matvec, v0, steps)  # (steps, probes)
    gauss = _quadrature(alpha, beta, radau=False)
    radau = _quadrature(alpha, beta, radau=True)
    h_g, se = _slq_entropy(gauss, t, norms2, k_sketch, n_valid, tr_k, tr_k2)
    h_r, _ = _slq_entropy(radau, t, norms2, k_sketch, n_valid, tr_k, tr_k2)
    # For f(x) = x log x (convex on [0, 1]) Gauss and Gauss-Radau quadrature bracket each
    # quadratic form; their mean is the estimate and half their gap a bound on the remaining
    # quadrature bias, added to the probe spread.
    h = 0.5 * (h_g + h_r)
    se = jnp.sqrt(se * se + 0.25 * (h_g - h_r) ** 2)
    return h, se


# ---- one masked problem, either mode -----------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Cfg:
    """Static configuration of one DSE solve."""

    t: float
    mode: str  # "exact" or "slq" (already resolved)
    probes: int = 32
    steps: int = 20
    chunk: int = 1024
    cache_mb: float = 256
    sketch: float = 0.5


def masked_dse(z, mask, sigma, key, cfg: _Cfg):
    """(DSE in nats, standard error) of the valid rows; the error is 0 in exact mode."""
    if cfg.mode == "exact":
        return masked_dse_exact(z, mask, sigma, cfg.t), jnp.float32(0.0)
    return masked_dse_slq(z, mask, sigma, cfg.t, key, probes=cfg.probes, steps=cfg.steps,
                          chunk=cfg.chunk, cache_mb=cfg.cache_mb, sketch=cfg.sketch)


# ---- DSMI ---------------------------------------------------------------------------------------


def class_groups(labels, n_classes: int, m: int):
    """Row indices of each class, padded to the static size m. labels: (N,) int in 0..C-1.

    Returns idx (C, m) int32, mask (C, m) bool, sizes (C,) int32. Needs m >= the largest class.
    """
    n = labels.shape[0]
    order = jnp.argsort(labels, stable=True).astype(jnp.int32)  # rows grouped by class
    sizes = jnp.zeros((n_classes,), jnp.int32).at[labels].add(1)
    starts = jnp.cumsum(sizes) - sizes
    pos = starts[:, None] + jnp.arange(m, dtype=jnp.int32)[None, :]  # (C, m)
    mask = jnp.arange(m)[None, :] < sizes[:, None]
    idx = order[jnp.clip(pos, 0, n - 1)]
    return jnp.where(mask, idx, 0), mask, sizes


def subset_groups(sizes, n: int, m: int, subsets: int, key):
    """Random subsets (without replacement) of the N rows, of each class's size.

    sizes: (C,) int32. Returns idx (C, subsets, m) int32 and mask (C, subsets, m) bool; subset
    (c, s) is the first sizes[c] entries of a random order of the rows (key folded with c, s).
    """
    n_classes = sizes.shape[0]

    def perm(c, s):
        k = jax.random.fold_in(jax.random.fold_in(key, c), s)
        # a uniformly random order: argsort of random 32-bit keys (compiles much faster than
        # jax.random.permutation; a tie only fixes the order of the tied rows)
        return jnp.argsort(jax.random.bits(k, (n,), jnp.uint32))[:m].astype(jnp.int32)

    cs = jnp.arange(n_classes)
    ss = jnp.arange(subsets)
    idx = jax.vmap(lambda c: jax.vmap(lambda s: perm(c, s))(ss))(cs)  # (C, S, m)
    mask = jnp.arange(m)[None, None, :] < sizes[:, None, None]
    return jnp.where(mask, idx, 0), jnp.broadcast_to(mask, idx.shape)


def dsmi_parts(z, labels, sigma, key, *, n_classes: int, m: int, subsets: int, cfg: _Cfg):
    """DSMI(Z; C) in nats with its pieces. z: (N, d); labels: (N,) int in 0..n_classes-1.

    m: static bound on the largest class (N always works). Returns a dict with ``dsmi``,
    ``dse_cond`` = sum_c p(c) DSE(Z|C=c), ``dse_subsets`` = sum_c p(c) mean_s DSE(Z_subset),
    ``stderr`` (SLQ error of dsmi, summed in quadrature; 0 in exact mode) and ``sizes``.
    """
    n = z.shape[0]
    z = z.astype(jnp.float32)
    k_sub, k_slq = jax.random.split(key)
    c_idx, c_mask, sizes = class_groups(labels, n_classes, m)
    s_idx, s_mask = subset_groups(sizes, n, m, subsets, k_sub)
    idx = jnp.concatenate([c_idx, s_idx.reshape(-1, m)])  # (C + C*S, m)
    mask = jnp.concatenate([c_mask, s_mask.reshape(-1, m)])
    keys = jax.random.split(k_slq, idx.shape[0])

    def one(args):
        i, mk, k = args
        return masked_dse(z[i], mk, sigma, k, cfg)

    h, se = lax.map(one, (idx, mask, keys))  # (C + C*S,)
    h = jnp.where(jnp.concatenate([sizes, jnp.repeat(sizes, subsets)]) > 0, h, 0.0)
    p = sizes.astype(jnp.float32) / n  # (C,)
    h_cond = h[:n_classes]
    h_sub = h[n_classes:].reshape(n_classes, subsets).mean(axis=1)
    se_c = se[:n_classes]
    se_s = se[n_classes:].reshape(n_classes, subsets)
    var = jnp.sum(p**2 * (se_c**2 + jnp.sum(se_s**2, axis=1) / subsets**2))
    return {
        "dsmi": jnp.sum(p * (h_sub - h_cond)),
        "dse_cond": jnp.sum(p * h_cond),
        "dse_subsets": jnp.sum(p * h_sub),
        "stderr": jnp.sqrt(var),
        "sizes": sizes,
    }


# ---- public functions ---------------------------------------------------------------------------


@functools.partial(jax.jit, static_argnames=("cfg", "units"))
def _dse_jit(z, sigma, key, cfg: _Cfg, units: str):
    mask = jnp.ones((z.shape[0],), bool)
    h, se = masked_dse(z.astype(jnp.float32), mask, jnp.float32(sigma), key, cfg)
    return nats_to(units, h), nats_to(units, se)


def dse(z, sigma=10.0, t=1, *, units: str = "bits", mode: str = "auto", seed: int = 0,
        probes: int = 32, steps: int = 20, chunk: int = 1024, cache_mb: float = 256,
        return_stderr: bool = False):
    """Diffusion spectral entropy of the rows of ``z`` (Liao, Liu et al. 2023).

    Args:
      z: (N, d) samples (N >= 2, finite).
      sigma: Gaussian kernel width (> 0), in the units of z; may be traced.
      t: diffusion time (> 0), static.
      units: "bits" (default) or "nats".
      mode: "exact" (eigvalsh), "slq" (stochastic Lanczos quadrature, matrix-free) or "auto"
        (exact for N <= EXACT_MAX_N). See the module docstring.
      seed: seed of the SLQ probe vectors. probes, steps, chunk, cache_mb: SLQ settings (start
        vectors, Lanczos steps, kernel rows per block, largest kernel kept in memory in MB; 0
        means strictly matrix-free). Defaults: 32, 20, 1024, 256.
      return_stderr: also return the SLQ standard error over probes (0 in exact mode).

    Returns a float32 scalar in [0, log N] (and its standard error). Pure and jit-compiled;
    calls with the same shapes and static settings do not recompile.

    >>> import numpy as np
    >>> round(float(dse(np.zeros((8, 3)), sigma=1.0)), 4)  # identical points
    0.0
    """
    check_units(units)
    _check_sigma_t(sigma, t)
    _check_mode(mode, probes, steps, chunk, cache_mb)
    _check_z(z)
    cfg = _Cfg(t=t, mode=resolve_mode(mode, int(np.shape(z)[0])), probes=probes, steps=steps,
               chunk=chunk, cache_mb=cache_mb)
    h, se = _dse_jit(jnp.asarray(z), sigma, jax.random.PRNGKey(seed), cfg, units)
    return (h, se) if return_stderr else h


@functools.partial(jax.jit, static_argnames=("n_classes", "m", "subsets", "cfg", "units"))
def _dsmi_jit(z, labels, sigma, key, n_classes, m, subsets, cfg, units):
    parts = dsmi_parts(z, labels, jnp.float32(sigma), key, n_classes=n_classes, m=m,
                       subsets=subsets, cfg=cfg)
    return {k: (v if k == "sizes" else nats_to(units, v)) for k, v in parts.items()}


def dsmi(z, c, sigma=10.0, t=1, subsets: int = 5, seed: int = 0, *, units: str = "bits",
         mode: str = "auto", n_classes: int | None = None, probes: int = 32, steps: int = 20,
         chunk: int = 1024, cache_mb: float = 256, return_parts: bool = False):
    """Diffusion spectral mutual information DSMI(Z; C) for discrete C.

    ``DSMI = sum_c p(c) [mean over `subsets` random size-n_c subsets S of DSE(Z_S) - DSE(Z|C=c)]``
    with the subsets drawn without replacement from all N rows using ``seed`` (see
    `subset_groups`). Not a Shannon mutual information: label it "DSMI".

    Args:
      z: (N, d) samples. c: (N,) integer labels (any values when concrete: they are re-coded
        to 0..C-1; when traced under jit they must already be in 0..n_classes-1 and
        ``n_classes`` must be given, and every class is padded to N rows instead of the largest
        class, which is slower in exact mode).
      sigma, t, units, mode, probes, steps, chunk, cache_mb: as in `dse`; mode is resolved per
        problem size (the class-sized problems).
      subsets: random subsets per class (>= 1). seed: seed of the subsets (and SLQ probes).
      return_parts: return the dict of pieces (dsmi, dse_cond, dse_subsets, stderr, sizes).
    """
    check_units(units)
    _check_sigma_t(sigma, t)
    _check_mode(mode, probes, steps, chunk, cache_mb)
    _check_z(z)
    if not isinstance(subsets, int) or subsets < 1:
        raise ValueError(f"subsets must be an integer >= 1, got {subsets!r}.")
    n = int(np.shape(z)[0])
    if tuple(np.shape(c)) != (n,):
        raise ValueError(
            f"Labels c must have shape (N,) = ({n},) to match z, got shape {tuple(np.shape(c))}."
        )
    if is_concrete(c):
        c_np = np.asarray(c)
        if not (np.issubdtype(c_np.dtype, np.integer) or c_np.dtype == bool):
            raise TypeError(
                f"Labels c must be integers (class ids), got dtype {c_np.dtype}; pass "
                "c.astype(int) if they are ids stored as floats."
            )
        _, codes = np.unique(c_np, return_inverse=True)
        codes = codes.reshape(-1)
        counts = np.bincount(codes)
        n_classes = int(counts.size)
        m = int(counts.max())
        labels = jnp.asarray(codes, jnp.int32)
    else:
        if n_classes is None:
            raise ValueError("Traced labels c need n_classes=... (a static number of classes).")
        m = n
        labels = c.astype(jnp.int32)
    cfg = _Cfg(t=t, mode=resolve_mode(mode, m), probes=probes, steps=steps, chunk=chunk,
               cache_mb=cache_mb)
    parts = _dsmi_jit(jnp.asarray(z), labels, sigma, jax.random.PRNGKey(seed), n_classes, m,
                      subsets, cfg, units)
    return parts if return_parts else parts["dsmi"]


# ---- k-means (clusters of the inputs) -----------------------------------------------------------


@functools.partial(jax.jit, static_argnames=("k", "iters"))
def kmeans(x, k: int, iters: int = 50, seed: int = 0):
    """k-means with k-means++ initialisation, a fixed number of Lloyd iterations, seeded.

    x: (N, D) -> (ids (N,) int32 in 0..k-1, centres (k, D)). k-means++ picks the first centre
    uniformly and each next one with probability proportional to the squared distance to the
    nearest centre so far (uniformly if all are zero); then ``iters`` Lloyd steps (an empty
    cluster keeps its centre). Deterministic for a given seed.
    """
    x = jnp.asarray(x, jnp.float32)
    n, dim = x.shape
    key = jax.random.PRNGKey(seed)
    key, k0 = jax.random.split(key)
    first = x[jax.random.randint(k0, (), 0, n)]
    centres = jnp.zeros((k, dim), jnp.float32).at[0].set(first)
    d2 = jnp.sum((x - first) ** 2, axis=1)

    def pick(i, carry):
        centres, d2, key = carry
        key, sub = jax.random.split(key)
        logits = jnp.log(d2 / jnp.maximum(jnp.max(d2), 1e-30) + 1e-30)
        c = x[jax.random.categorical(sub, logits)]
        return centres.at[i].set(c), jnp.minimum(d2, jnp.sum((x - c) ** 2, axis=1)), key

    centres, _, _ = lax.fori_loop(1, k, pick, (centres, d2, key))

    def assign(c):
        return jnp.argmin(pairwise_sqdist(x, c), axis=1).astype(jnp.int32)

    def lloyd(_, c):
        oh = jax.nn.one_hot(assign(c), k, dtype=jnp.float32)  # (N, k)
        cnt = jnp.sum(oh, axis=0)
        s = jnp.dot(oh.T, x, precision=lax.Precision.HIGHEST)
        return jnp.where(cnt[:, None] > 0, s / jnp.maximum(cnt, 1.0)[:, None], c)

    centres = lax.fori_loop(0, iters, lloyd, centres)
    return assign(centres), centres


# ---- the estimator ----------------------------------------------------------------------------


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class SpectralContext:
    """What `DiffusionSpectral.prepare` builds once per probe set.

    Array fields: ``probe`` (the `Probe`), ``clusters`` int32 (N,) k-means cluster id of each
    input row. Static: ``max_cluster`` / ``max_class``, the largest cluster / class (the padded
    size of the class-conditional problems).
    """

    probe: Probe
    clusters: jax.Array
    max_cluster: int = dataclasses.field(metadata=dict(static=True))
    max_class: int = dataclasses.field(metadata=dict(static=True))


@dataclasses.dataclass(frozen=True)
class DiffusionSpectral:
    """Information plane of DSMI: (DSMI(T; clusters of X), DSMI(T; Y)) (Liao, Liu et al. 2023).

    Args:
      sigma: kernel width (> 0) in activation units; default 10 as in the reference.
      t: diffusion time (> 0); default 1.
      subsets: random subsets per class in DSMI (>= 1); default 5.
      clusters: number of k-means clusters of the inputs X standing in for X (>= 2);
        default 10. k-means++ initialisation, `kmeans_iters` Lloyd steps, seeded with ``seed``
        (the reference uses spectral clustering; k-means is the documented substitute).
      mode: "auto" (default: exact eigvalsh for problems of at most `EXACT_MAX_N` rows, SLQ
        above), "exact" or "slq".
      seed: seed of k-means, the random subsets and the SLQ probes.
      probes, steps, chunk, cache_mb: SLQ settings (see the module docstring).
      kmeans_iters: Lloyd iterations of the input clustering (default 50).
      units: "bits" (default) or "nats".

    ``i_xt`` = DSMI(T; clusters of X), ``i_ty`` = DSMI(T; Y): **not** Shannon MI; ``params``
    carries ``quantity="DSMI"`` for axis labels. aux: ``dse_t`` (DSE of the layer),
    ``dse_t_given_x`` / ``dse_t_given_y`` (sum_c p(c) DSE(T|C=c)), ``stderr_xt`` /
    ``stderr_ty`` / ``stderr_dse_t`` (SLQ standard errors; 0 in exact mode) and
    ``n_clusters`` (non-empty input clusters).
    """

    sigma: float = 10.0
    t: float = 1
    subsets: int = 5
    clusters: int = 10
    mode: str = "auto"
    seed: int = 0
    probes: int = 32
    steps: int = 20
    chunk: int = 1024
    cache_mb: float = 256
    kmeans_iters: int = 50
    units: str = "bits"

    name: ClassVar[str] = "dsmi"
    epoch_batching: ClassVar[str] = "map"

    def __post_init__(self):
        check_units(self.units)
        _check_sigma_t(self.sigma, self.t)
        _check_mode(self.mode, self.probes, self.steps, self.chunk, self.cache_mb)
        for name, lo in (("subsets", 1), ("clusters", 2), ("kmeans_iters", 0)):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < lo:
                raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}.")

    def params(self) -> tuple:
        return dataclass_params(self) + (("quantity", "DSMI"),)

    def prepare(self, probe: Probe) -> SpectralContext:
        if probe.n < 2:
            raise ValueError(f"DSMI needs at least N=2 samples, got N={probe.n}.")
        ids, _ = kmeans(probe.x, self.clusters, self.kmeans_iters, self.seed)
        ids = np.asarray(ids)
        return SpectralContext(
            probe=probe,
            clusters=jnp.asarray(ids, jnp.int32),
            max_cluster=int(np.bincount(ids, minlength=self.clusters).max()),
            max_class=int(np.bincount(np.asarray(probe.labels)).max()),
        )

    def _cfg(self, n: int) -> _Cfg:
        return _Cfg(t=self.t, mode=resolve_mode(self.mode, n), probes=self.probes,
                    steps=self.steps, chunk=self.chunk, cache_mb=self.cache_mb)

    def estimate_layer(self, ctx: SpectralContext, t) -> Estimate:
        t = t.astype(jnp.float32)
        n = t.shape[0]
        sigma = jnp.float32(self.sigma)
        key = jax.random.PRNGKey(self.seed)
        k_t, k_x, k_y = jax.random.split(key, 3)
        h_t, se_t = masked_dse(t, jnp.ones((n,), bool), sigma, k_t, self._cfg(n))
        px = dsmi_parts(t, ctx.clusters, sigma, k_x, n_classes=self.clusters,
                        m=ctx.max_cluster, subsets=self.subsets, cfg=self._cfg(ctx.max_cluster))
        py = dsmi_parts(t, ctx.probe.labels, sigma, k_y, n_classes=ctx.probe.n_classes,
                        m=ctx.max_class, subsets=self.subsets, cfg=self._cfg(ctx.max_class))
        conv = lambda v: nats_to(self.units, v)  # noqa: E731
        return Estimate(
            i_xt=conv(px["dsmi"]),
            i_ty=conv(py["dsmi"]),
            aux={
                "dse_t": conv(h_t),
                "dse_t_given_x": conv(px["dse_cond"]),
                "dse_t_given_y": conv(py["dse_cond"]),
                "stderr_dse_t": conv(se_t),
                "stderr_xt": conv(px["stderr"]),
                "stderr_ty": conv(py["stderr"]),
                "n_clusters": jnp.sum(px["sizes"] > 0).astype(jnp.int32),
            },
            units=self.units,
            estimator=self.name,
            params=self.params(),
        )


__all__ = [
    "EXACT_MAX_N",
    "DiffusionSpectral",
    "SpectralContext",
    "dse",
    "dsmi",
    "kmeans",
    "lanczos",
    "masked_dse",
    "masked_kernel",
]
