"""One masked diffusion-spectral-entropy problem, solved exactly or by stochastic Lanczos
quadrature (the numerics behind `infoplane.estimators.spectral`; the maths is there).

The deflated operator
---------------------
``K = D^-1/2 G D^-1/2`` always has the eigenpair ``(1, u1)``, ``u1 = D^1/2 1 / ||D^1/2 1||``.
Both modes work on ``K' = K - u1 u1^T`` (the spectrum of K with the 1 replaced by 0) and add the
known eigenvalue back exactly: ``A = 1 + tr(K'^t)``, ``B = tr(K'^t log K'^t)``, DSE = ``log1p(A -
1) - B / A``. ``K'`` is formed without cancellation: with a constant ``c`` (`_log_c`), ``H = G -
c 11^T`` computed as ``c expm1(x - log c)`` (``x = -||z_i - z_j||^2 / 2 sigma^2``), ``h = H 1``,
``hs = 1^T h``, degrees ``d = n c + h``, ``S = 1^T d`` and ``r = d^-1/2``::

    K'_ij = r_i r_j (H_ij + c hs/S - (n c / S)(h_i + h_j) - h_i h_j / S)

every term of which is small when G is nearly all ones (sigma large relative to the data: small
DSE). There the plain K carries rounding of ~1e-7 on entries ~1/n, a noise floor near 1e-9 that
swamps the small eigenvalues; K' has a floor ~1e-7 of its own largest eigenvalue instead.

Accuracy, measured against float64 ``eigvalsh`` on a 2-core CPU (N = 2500, 20 seeds, sigma =
10 on data giving DSE 0.047 and 0.062 bits, and a 5.3-bit manifold at sigma = 1;
``benchmarks/study_dse_slq.py``):

* exact: <= 2e-5 bits at t = 1, 2 (a DSE of 1e-5 bits to 1e-6 of itself; the plain K and
  ``log A``: 0.5 %); t = 0.5: 0.002-0.05 bits (plain K: 0.03-0.57 bits).
* SLQ, t = 1, 2: mean error over seeds <= 0.15 % of the DSE (the previous SLQ: +6.7 % and
  -14 % on the 0.047-bit data); |err| <= 2 se in 85-100 % of the runs per case (95 % pooled),
  <= 3 se in all (previously 65-95 % and 90-100 %). SLQ, t = 0.5: biased high by 5-24 %
  (0.14-0.66 bits; 3x the steps halve it); the standard error includes the change from
  steps // 2 to steps, which covers the error at 3 se in 85-100 % of the runs per case (up to
  4 se); hence "auto" stays exact up to `EXACT_MAX_N_SMALL_T`.
* previously the Lanczos breakdown tolerance (1e-5) and the Hutch++ sketch's rank tolerance
  were relative to K's eigenvalue 1: for a small DSE every Lanczos run stopped after a step
  or two (a Jensen bias no error bar showed, Gauss = Gauss-Radau) and the sketch kept only u1.

Modes
-----
* ``"exact"``: dense ``(n, n)`` ``K'`` and ``jnp.linalg.eigvalsh`` (float32): O(n^2 d) kernel,
  O(n^3) time, O(n^2) memory (N = 4096: 3 s; N = 8192: 30 s and 1.3 GB).
* ``"slq"``: stochastic Lanczos quadrature on ``K'`` (`masked_dse_slq`): ``B`` (and ``A`` unless
  t is 1 or 2: ``tr K'`` and ``tr K'^2`` are exact) from ``probes`` start vectors, each quadratic
  form from ``steps`` Lanczos steps, as the mean of its Gauss and Gauss-Radau quadratures. The
  standard error is the spread over probes (on the degrees of freedom the control variates
  leave), half the Gauss/Gauss-Radau gap and a float32 resolution term (1e-4 of ``B/A``).
  Kernel products: when the ``N x N`` float32 kernel fits in ``cache_mb`` (default 256 MB, i.e.
  N <= 8192) H is built once and kept (N = 4096: 0.2 s, 12-15x faster than exact); above that,
  or with ``cache_mb=0``, every product recomputes H in row blocks of ``chunk`` rows: memory
  O(N * (chunk + steps * probes)), never an ``N x N`` matrix, time O(steps * N^2 * (d + probes)).
* ``"auto"`` (default): ``"exact"`` for problems of at most `EXACT_MAX_N` rows
  (`EXACT_MAX_N_SMALL_T` when t < 1), ``"slq"`` above; decided per problem size (the full
  layer and the class-sized problems may differ).
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from infoplane.estimators._numerics import pairwise_sqdist, xlogx

#: Largest problem (rows) that ``mode="auto"`` solves exactly. Measured on a 2-core CPU
#: (benchmarks/bench_spectral.py): exact DSE ~0.6 s at 2000 rows and ~3 s at 4096 rows, SLQ
#: with the defaults 12-15x faster at 4096 rows with errors of ~0.01 bits (5.3-bit manifold)
#: and < 1e-4 bits (a 0.044-bit DSE).
EXACT_MAX_N = 2048
#: Largest problem that ``mode="auto"`` solves exactly when ``t < 1``: SLQ does not resolve
#: ``x^t`` near 0 with 20 Lanczos steps (measured +5 % to +24 % at t = 0.5), so the exact
#: solver is used as far as its cost is reasonable (8192 rows: 30 s, 1.3 GB on 2 cores).
EXACT_MAX_N_SMALL_T = 8192
MODES = ("auto", "exact", "slq")
_HI = lax.Precision.HIGHEST
_BREAKDOWN = 1e-6  # Lanczos breakdown, relative to min(||K'||_F, 1) >= the top of K'
_RADAU = 1e-6  # the Gauss-Radau node at -_RADAU min(||K'||_F, 1)
_RESOLUTION = 1e-4  # float32 resolution of B/A, relative, added to the standard error


def resolve_mode(mode: str, n: int, t: float = 1) -> str:
    """The mode actually used for a problem of ``n`` rows at diffusion time ``t``: "auto" ->
    exact up to `EXACT_MAX_N` rows (`EXACT_MAX_N_SMALL_T` when t < 1), SLQ above. Warns when SLQ
    is used with t < 1 (biased high; its error bar is only a rough guide there)."""
    if mode == "auto":
        mode = "exact" if n <= (EXACT_MAX_N if t >= 1 else EXACT_MAX_N_SMALL_T) else "slq"
    if mode == "slq" and t < 1:
        warnings.warn(
            f"DSE with t={t} < 1 by SLQ ({n} rows) is biased high: x^t is not resolved near 0 by "
            "Lanczos quadrature (measured +5 % to +24 % of the DSE at t=0.5, 0.14-0.66 bits, "
            "errors up to 4 reported standard errors). Use mode='exact' (O(n^2) memory) or "
            f"subsample to at most {EXACT_MAX_N_SMALL_T} rows.", stacklevel=3)
    return mode


# ---- shared pieces ----------------------------------------------------------------------------


def _entropy_from_traces(a1, b):
    """DSE in nats, ``log A - B / A``, from ``A - 1 = tr(K'^t)`` and ``B = tr(K'^t log K'^t)``.

    ``A - 1`` is passed on its own: with a small DSE it is far below float32's resolution of
    A = 1 + ... (``log1p`` keeps it; ``log(1 + a1)`` lost 0.5 % of a DSE of 1e-5 bits)."""
    a1 = jnp.maximum(a1, 0.0)
    return jnp.log1p(a1) - b / (1.0 + a1)


def _power(lam, t):
    """lam^t for lam >= 0 (0^t = 0)."""
    return lam if t == 1 else jnp.where(lam > 0, lam ** jnp.float32(t), 0.0)


def _center(z, mask):
    """Subtract the mean of the valid rows (distances are translation invariant; this keeps the
    matmul form of the distances accurate for wide layers)."""
    m = mask.astype(z.dtype)
    mu = jnp.sum(z * m[:, None], axis=0) / jnp.maximum(jnp.sum(m), 1.0)
    return z - mu


def masked_kernel(z, mask, sigma):
    """The symmetric diffusion matrix K of the valid rows, padded with an identity block.

    z: (M, d) float32; mask: (M,) bool; sigma: scalar. Returns (M, M) K with
    ``K[valid, valid] = D^-1/2 G D^-1/2`` of the valid rows, ``K[i, i] = 1`` for masked rows and
    zeros between valid and masked rows (plain form; the solvers use `deflated_kernel`).
    """
    z = _center(z.astype(jnp.float32), mask)
    m = mask.astype(jnp.float32)
    g = jnp.exp(pairwise_sqdist(z, z) * (-0.5 / (sigma * sigma)))  # (M, M)
    g = g * m[:, None] * m[None, :] + jnp.diag(1.0 - m)  # masked rows: isolated self-loop
    r = lax.rsqrt(jnp.sum(g, axis=1))  # (M,) D^-1/2 (>= 1 term: the self-loop)
    return g * r[:, None] * r[None, :]


# ---- the deflated operator K' = K - u1 u1^T ---------------------------------------------------


class _Deflation(NamedTuple):
    """The row quantities of ``K'`` (module docstring); every (M,) array is 0 on masked rows."""

    n: jax.Array  # valid rows
    c: jax.Array  # the constant taken out of G
    h: jax.Array  # (M,) row sums of H
    hs: jax.Array  # sum of h
    d: jax.Array  # (M,) degrees n c + h
    s: jax.Array  # sum of d
    r: jax.Array  # (M,) d^-1/2

    def corr(self, hi, hj):
        """``K'_ij / (r_i r_j) - H_ij`` for row sums hi, hj (broadcasting): only small terms."""
        return self.c * self.hs / self.s - (self.n * self.c / self.s) * (hi + hj) - hi * hj / self.s

    def u1(self):
        """The known top eigenvector D^1/2 1 / ||D^1/2 1|| (eigenvalue 1 of K, 0 of K')."""
        return jnp.sqrt(self.d / self.s)


def _log_c(z, m, sigma):
    """log c: -(mean squared distance of the valid rows) / 2 sigma^2, at least -log n.

    z: (M, d) centred over the valid rows, m: (M,) 0/1. Any c > 0 is exact; one near the typical
    ``G_ij`` (here a Jensen lower bound on the mean of G, floored at the self-loops' 1/n) keeps
    H small (benchmarks/study_dse_slq.py: as precise as the plain form where G is not nearly
    all ones)."""
    n = jnp.maximum(jnp.sum(m), 1.0)
    msd = 2.0 * jnp.sum(m * jnp.sum(z * z, axis=1)) / n  # (1/n^2) sum_ij ||z_i - z_j||^2
    return jnp.maximum(msd * (-0.5 / (sigma * sigma)), -jnp.log(n))


def _h_block(zb, mb, z, m, sigma, log_c):
    """Rows of H = G - c: (a, d), (a,) against (M, d), (M,) -> (a, M), 0 on masked pairs."""
    x = pairwise_sqdist(zb, z) * (-0.5 / (sigma * sigma))
    return jnp.exp(log_c) * jnp.expm1(x - log_c) * (mb[:, None] * m[None, :])


def _deflation(h, m, log_c):
    n = jnp.sum(m)
    c = jnp.exp(log_c)
    hs = jnp.sum(h)
    s = jnp.maximum(n * n * c + hs, jnp.finfo(jnp.float32).tiny)
    d = (n * c + h) * m
    r = jnp.where(m > 0, lax.rsqrt(jnp.maximum(d, jnp.finfo(jnp.float32).tiny)), 0.0)
    return _Deflation(n=n, c=c, h=h, hs=hs, d=d, s=s, r=r)


def deflated_kernel(z, mask, sigma):
    """``K' = K - u1 u1^T`` of the valid rows (module docstring), 0 on masked rows and columns.

    z: (M, d), mask: (M,) bool. Returns ((M, M) K', `_Deflation`). Its spectrum is that of K
    with the eigenvalue 1 of u1 replaced by 0, plus a 0 for each masked row.
    """
    z = _center(z.astype(jnp.float32), mask)
    m = mask.astype(jnp.float32)
    log_c = _log_c(z, m, sigma)
    hmat = _h_block(z, m, z, m, sigma, log_c)  # (M, M)
    df = _deflation(jnp.sum(hmat, axis=1), m, log_c)
    kp = (hmat + df.corr(df.h[:, None], df.h[None, :])) * (df.r[:, None] * df.r[None, :])
    return kp, df


# ---- exact mode -------------------------------------------------------------------------------


def masked_dse_exact(z, mask, sigma, t):
    """Exact DSE (nats) of the rows of z where mask is True. z: (M, d), mask: (M,) bool."""
    kp, _ = deflated_kernel(z, mask, sigma)
    lam = jnp.clip(jnp.linalg.eigvalsh(kp), 0.0, 1.0)  # K' is PSD with spectrum in [0, 1]
    w = _power(lam, t)
    return _entropy_from_traces(jnp.sum(w), jnp.sum(xlogx(w)))  # A = 1 (u1) + sum w


# ---- scalable mode: stochastic Lanczos quadrature -------------------------------------------


def _row_blocks(fn, z, m, chunk: int, *rows):
    """``fn(zb, mb, *row_blocks)`` over blocks of ``chunk`` rows (padded rows have mb = 0),
    results stacked back to (M, ...). z: (M, d), m: (M,), rows: (M, ...) arrays."""
    n, d = z.shape
    chunk = min(chunk, n)
    n_blocks = -(-n // chunk)
    pad = n_blocks * chunk - n

    def split(a):
        a = jnp.concatenate([a, jnp.zeros((pad,) + a.shape[1:], a.dtype)]) if pad else a
        return a.reshape((n_blocks, chunk) + a.shape[1:])

    out = lax.map(lambda args: fn(*args), tuple(split(a) for a in (z, m) + rows))
    return out.reshape((n_blocks * chunk,) + out.shape[2:])[:n]


def _operator(z, mask, sigma, chunk: int, cache_mb: float):
    """``(matvec, deflation, tr K', tr K'^2)`` for K' of the valid rows; matvec: (M, p) -> (M, p).

    ``K' v = r (H w + rank-2 correction)`` with ``w = r v`` (`_Deflation.corr` summed over j, in
    O(M p)). H is kept dense when ``M*M*4`` bytes fit in ``cache_mb`` MB, else every product
    recomputes it in row blocks of ``chunk`` rows (memory O(M * chunk))."""
    z = _center(z.astype(jnp.float32), mask)
    m = mask.astype(jnp.float32)
    log_c = _log_c(z, m, sigma)
    n_rows = z.shape[0]
    if n_rows * n_rows * 4 <= cache_mb * 2**20:  # small enough: keep H
        hmat = _h_block(z, m, z, m, sigma, log_c)  # (M, M)
        df = _deflation(jnp.sum(hmat, axis=1), m, log_c)
        kp = (hmat + df.corr(df.h[:, None], df.h[None, :])) * (df.r[:, None] * df.r[None, :])
        tr_k2 = jnp.sum(kp * kp)

        def h_apply(w):
            return jnp.dot(hmat, w, precision=_HI)
    else:
        def h_rows(zb, mb):
            return jnp.sum(_h_block(zb, mb, z, m, sigma, log_c), axis=1)

        df = _deflation(_row_blocks(h_rows, z, m, chunk), m, log_c)

        def frob_rows(zb, mb, hb, rb):  # per-row sums of K'_ij^2
            kb = _h_block(zb, mb, z, m, sigma, log_c) + df.corr(hb[:, None], df.h[None, :])
            return jnp.sum((kb * rb[:, None] * df.r[None, :]) ** 2, axis=1)

        tr_k2 = jnp.sum(_row_blocks(frob_rows, z, m, chunk, df.h, df.r))

        def h_apply(w):
            return _row_blocks(lambda zb, mb: jnp.dot(_h_block(zb, mb, z, m, sigma, log_c), w,
                                                      precision=_HI), z, m, chunk)

    tr_k = jnp.sum(df.r * df.r * ((1.0 - df.c) * m + df.corr(df.h, df.h)))  # H_ii = 1 - c

    def matvec(v):
        w = df.r[:, None] * v
        sw = jnp.sum(w, axis=0)  # (p,) each
        hsw, dw = jnp.dot(df.h, w, precision=_HI), jnp.dot(df.d, w, precision=_HI)
        corr = (m[:, None] * (df.c * df.hs / df.s * sw - df.n * df.c / df.s * hsw)
                - df.h[:, None] * (dw / df.s))
        return df.r[:, None] * (h_apply(w) + corr)

    return matvec, df, tr_k, tr_k2


def lanczos(matvec, v0, steps: int, tol=1e-5):
    """``steps`` Lanczos steps with full re-orthogonalisation, for p independent start vectors.

    matvec: (M, p) -> (M, p), applying a symmetric matrix to each column; v0: (M, p).
    Returns (alpha, beta), each (steps, p): the diagonal and the off-diagonal (beta[j] couples
    steps j and j+1) of each column's tridiagonal matrix. On breakdown (beta < tol, an absolute
    tolerance that may be traced: the Krylov space is exhausted) the remaining vectors are zero,
    so the rest of the tridiagonal matrix is a decoupled zero block with zero quadrature weight.
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
        ev, v = jnp.linalg.eigh(jnp.dot(y.T, y, precision=_HI))
        keep = ev > rtol * jnp.max(ev)
        y = jnp.dot(y, v * jnp.where(keep, lax.rsqrt(jnp.where(keep, ev, 1.0)), 0.0),
                    precision=_HI)
    return y


def _control_variate_mean(x, c, c_mean, unit):
    """Mean of samples x (n,) corrected by control variates c (n, k) of known means c_mean (k,).

    Regression coefficients from the samples (standardised, lightly ridged); a covariate whose
    spread is below 1e-6 * ``unit`` (its natural scale) is rounding noise and left out.
    Returns the corrected mean, the residual samples and the number of covariates used (for
    the degrees of freedom of the standard error)."""
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
    return jnp.mean(x) - shift, x - cs @ coef, jnp.sum(keep)


def _quadrature(alpha, beta, shift, half: int = 0):
    """Nodes and weights of each column's Lanczos quadratures. alpha, beta: (steps, p).

    Gauss: the eigen-decomposition of the m x m tridiagonal T (nodes = Ritz values, weights =
    squared first components). Gauss-Radau (Golub & Meurant): an (m+1)-node rule with one node
    fixed at ``shift``, just below the spectrum (K' is PSD): T extended by beta_m and the last
    diagonal ``shift + beta_m^2 [(T - shift I)^-1]_mm``, the latter from the LDL^T recurrence of
    the tridiagonal. With ``half > 0`` also the Gauss rule of the first ``half`` steps.

    Every rule is zero-padded to m + 1 nodes (a padded node has weight 0) and all come from ONE
    batched ``eigh``: two batched LAPACK calls that XLA:CPU runs concurrently can deadlock its
    thread pool on a 2-core machine (both workers wait in jaxlib's ParallelBatchMap; seen with
    the batched LU solve of the earlier Radau construction). Returns a list of (nodes, weights),
    each (p, m + 1), nodes clipped to [0, 1]: [Gauss, Gauss-Radau(, half-step Gauss)].
    """
    steps, p = alpha.shape

    def padded(a_col, b_col, k):  # the leading k x k tridiagonal, zero-padded to m + 1
        a_col = jnp.where(jnp.arange(steps) < k, a_col, 0.0)
        b_col = jnp.where(jnp.arange(steps - 1) < k - 1, b_col[:-1], 0.0)
        t = jnp.diag(a_col) + jnp.diag(b_col, 1) + jnp.diag(b_col, -1)
        return jnp.pad(t, ((0, 1), (0, 1)))

    def omega_step(omega, ab):  # LDL^T pivots of T - shift I (positive: shift < spectrum)
        a, b_prev = ab
        omega = jnp.maximum(a - shift - b_prev * b_prev / omega, 1e-30)
        return omega, None

    omega, _ = lax.scan(omega_step, jnp.maximum(alpha[0] - shift, 1e-30), (alpha[1:], beta[:-1]))
    gauss = jax.vmap(lambda a, b: padded(a, b, steps), in_axes=(1, 1))(alpha, beta)  # (p, m+1, m+1)
    b_m = beta[-1]  # (p,)
    radau = (gauss.at[:, steps, steps].set(shift + b_m * b_m / omega)
             .at[:, steps, steps - 1].set(b_m).at[:, steps - 1, steps].set(b_m))
    mats = [gauss, radau]
    if half:
        mats.append(jax.vmap(lambda a, b: padded(a, b, half), in_axes=(1, 1))(alpha, beta))
    theta, u = jnp.linalg.eigh(jnp.concatenate(mats))  # one batched call, (k p, m+1)
    nodes, weights = jnp.clip(theta, 0.0, 1.0), u[:, 0, :] ** 2
    return [(nodes[i * p:(i + 1) * p], weights[i * p:(i + 1) * p]) for i in range(len(mats))]


def _slq_entropy(rule, t, norms2, k_sketch, cmean, tr_k, tr_k2):
    """DSE (nats) and its standard error from one quadrature rule (see `masked_dse_slq`).

    cmean: (3,) exact totals of ||v||^2, v^T K' v, v^T K'^2 v over sketch + residual."""
    theta, tau = rule
    n_res = norms2.shape[0] - k_sketch
    w = _power(theta, t)

    def qf(f_vals):  # (probes,) quadratic forms v^T f(K') v
        return norms2 * jnp.sum(tau * f_vals, axis=1)

    q1, q2 = qf(theta), qf(theta * theta)
    # control variates on the residual probes and their exact means
    cvars = jnp.stack([norms2[k_sketch:], q1[k_sketch:], q2[k_sketch:]], axis=1)  # (n_res, 3)
    cm = cmean - jnp.stack([jnp.sum(norms2[:k_sketch]), jnp.sum(q1[:k_sketch]),
                            jnp.sum(q2[:k_sketch])])
    unit = jnp.maximum(jnp.mean(jnp.abs(cvars), axis=0), 1e-30)  # each covariate's scale
    qb = qf(xlogx(w))
    b_res, b_samples, k_used = _control_variate_mean(qb[k_sketch:], cvars, cm, unit)
    b = jnp.sum(qb[:k_sketch]) + b_res
    if t == 1 or t == 2:
        a1 = tr_k if t == 1 else tr_k2  # A - 1 (the eigenvalue 1 of u1)
        a_samples = jnp.zeros_like(b_samples)
    else:
        qa = qf(w)
        a_res, a_samples, _ = _control_variate_mean(qa[k_sketch:], cvars, cm, unit)
        a1 = jnp.maximum(jnp.sum(qa[:k_sketch]) + a_res, 0.0)
    h = _entropy_from_traces(a1, b)
    a = 1.0 + a1
    # delta method: dH = (dA (1 + B/A) - dB) / A, with the residual samples; the regression
    # used 1 + k_used degrees of freedom
    h_j = (a_samples * (1.0 + b / a) - b_samples) / a
    dof = jnp.maximum(n_res - 1 - k_used, 1).astype(jnp.float32)
    var = jnp.sum((h_j - jnp.mean(h_j)) ** 2) / dof / n_res
    return h, jnp.sqrt(var + (_RESOLUTION * b / a) ** 2)


def masked_dse_slq(z, mask, sigma, t, key, *, probes: int, steps: int, chunk: int,
                   cache_mb: float = 0, sketch: float = 0.5):
    """SLQ estimate of the DSE (nats) of the valid rows, and its standard error over probes.

    z: (M, d), mask: (M,) bool. Everything runs on the deflated ``K'`` (module docstring): its
    masked rows and columns are zero and every start vector vanishes on them and is orthogonal
    to u1. ``B = tr(K'^t log K'^t)`` (and ``tr(K'^t)`` unless t is 1 or 2) are estimated so;
    every quadratic form ``v^T f(K') v`` is a quadrature from ``steps`` Lanczos steps:

    1. Hutch++ (Meyer et al. 2021): ``round(sketch * probes)`` columns ``Q = orth(K'^2 S)`` (S
       Gaussian) sketch the top of the spectrum of K' and contribute ``tr(Q^T f(K') Q)``; the
       other probes are Rademacher vectors projected off u1 and Q (Hutchinson on the rest).
    2. Control variates on the residual probes: ``||v||^2``, ``v^T K' v`` and ``v^T K'^2 v``
       come exactly from the same quadrature and have exactly known means; regressing them out
       removes most of the variance.

    Lanczos breakdown and the Gauss-Radau node are relative to ``min(||K'||_F, 1)``. The
    standard error: module docstring (delta method for the ratio A, B).
    """
    matvec, df, tr_k, tr_k2 = _operator(z, mask, sigma, chunk, cache_mb)
    m = mask.astype(jnp.float32)
    n_rows = z.shape[0]
    scale = jnp.clip(jnp.sqrt(tr_k2), 1e-20, 1.0)  # >= the largest eigenvalue of K' (<= 1)
    k_sketch = max(2, min(probes - 4, int(round(probes * sketch))))
    n_res = probes - k_sketch
    k_s, k_r = jax.random.split(key)
    u1 = df.u1()[:, None]  # (M, 1)
    s = jax.random.normal(k_s, (n_rows, k_sketch), jnp.float32) * m[:, None]
    q = _orthonormal_columns(matvec(matvec(s)))  # (M, k_sketch)
    g = jax.random.rademacher(k_r, (n_rows, n_res), jnp.float32) * m[:, None]
    g = g - jnp.dot(u1, jnp.dot(u1.T, g, precision=_HI), precision=_HI)
    g = g - jnp.dot(q, jnp.dot(q.T, g, precision=_HI), precision=_HI)  # off span(u1, Q)
    v0 = jnp.concatenate([q, g], axis=1)  # (M, probes)
    norms2 = jnp.sum(v0 * v0, axis=0)  # (probes,)
    alpha, beta = lanczos(matvec, v0, steps, tol=_BREAKDOWN * scale)  # (steps, probes)
    rules = _quadrature(alpha, beta, -_RADAU * scale, half=max(1, steps // 2) if t < 1 else 0)
    gauss, radau = rules[0], rules[1]
    cmean = jnp.stack([jnp.maximum(df.n - 1.0, 0.0), tr_k, tr_k2])
    h_g, se = _slq_entropy(gauss, t, norms2, k_sketch, cmean, tr_k, tr_k2)
    h_r, _ = _slq_entropy(radau, t, norms2, k_sketch, cmean, tr_k, tr_k2)
    # For f(x) = x log x (convex on [0, 1]) Gauss and Gauss-Radau quadrature bracket each
    # quadratic form; their mean is the estimate and half their gap a bound on the remaining
    # quadrature bias, added to the probe spread.
    h = 0.5 * (h_g + h_r)
    var = se * se + 0.25 * (h_g - h_r) ** 2
    if t < 1:  # x^t converges slowly near 0: add the change from steps // 2 to steps
        h_half, _ = _slq_entropy(rules[2], t, norms2, k_sketch, cmean, tr_k, tr_k2)
        var = var + (h_g - h_half) ** 2
    return h, jnp.sqrt(var)


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
