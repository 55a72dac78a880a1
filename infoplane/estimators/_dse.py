"""One masked diffusion-spectral-entropy problem, solved exactly or by stochastic Lanczos
quadrature (the numerics behind `infoplane.estimators.spectral`; the maths is there).

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
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
from jax import lax

from infoplane.estimators._numerics import pairwise_sqdist, xlogx

#: Largest problem (rows) that ``mode="auto"`` solves exactly. Measured on a 2-core CPU
#: (benchmarks/bench_spectral.py): exact DSE ~0.6 s at 2000 rows and ~4 s at 4096 rows, SLQ
#: with the defaults 6-17x faster at 4096 rows with errors of ~0.01-0.03 bits.
EXACT_MAX_N = 2048
MODES = ("auto", "exact", "slq")


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
