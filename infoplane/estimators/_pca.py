"""Principal components of a layer or of the inputs at any width (`pca_project`), for
`infoplane.Compressed` (Butakov et al. 2024 compress both X and T by PCA before the kNN
entropies).

Three routes, by the smaller side ``m = min(N, d)`` of the centred (N, d) matrix Z:

- ``d <= N`` and ``m <= PCA_EXACT_MAX``: eigendecomposition of the (d, d) covariance
  Z^T Z / (N - 1). Time O(N d^2 + d^3), memory O(d^2).
- ``d > N`` and ``m <= PCA_EXACT_MAX``: the same eigenvalues from the (N, N) Gram matrix
  Z Z^T / (N - 1) (its eigenvectors v_k give the codes sqrt((N - 1) lam_k) v_k = Z u_k); the
  d x d covariance is never formed. Time O(N^2 d + N^3), memory O(N^2).
- ``m > PCA_EXACT_MAX``: randomized subspace iteration (Halko, Martinsson & Tropp 2011,
  Alg. 4.4): a Gaussian (d, k) start, k = dim + `OVERSAMPLE`, `POWER_ITERATIONS` passes of
  Z Z^T with QR re-orthonormalisation, then the exact principal directions of Z within that
  subspace. Time O(N d k q), memory O(N k + d k); the codes are exact projections of Z on
  the directions found (only the directions are approximate, accurate when the spectrum
  decays past the top ``dim`` components). Deterministic (a fixed PRNG key).

All routes return the codes Z u_k, their variances lam_k (descending) and the fraction of
the total variance (trace of the covariance, computed exactly) that the top ``dim`` discard.
Principal directions are defined up to sign: kNN entropies of the codes do not depend on it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["OVERSAMPLE", "PCA_EXACT_MAX", "POWER_ITERATIONS", "pca_project"]

#: Largest min(N, d) decomposed exactly (eigh); above it the randomized route.
PCA_EXACT_MAX = 2048
#: Extra random directions of the randomized route (its subspace has dim + OVERSAMPLE).
OVERSAMPLE = 10
#: Passes of Z Z^T of the randomized route.
POWER_ITERATIONS = 6


def _top(lam, vecs, m: int):
    """The ``m`` largest eigenpairs of an ascending ``eigh`` result, descending."""
    return lam[::-1][:m], vecs[:, ::-1][:, :m]


def _lost(lam_top, total):
    kept = jnp.sum(jnp.maximum(lam_top, 0.0))
    return jnp.where(total > 0, jnp.clip(1.0 - kept / total, 0.0, 1.0), 0.0)


def pca_project(z, dim: int):
    """Project centred z onto its top ``dim`` principal components (all of them if d <= dim).

    z: (N, d) -> (codes (N, m), variances (m,) of the codes, descending, discarded variance
    fraction ()), m = min(d, dim). The route (covariance, Gram or randomized) is chosen from
    the static shape; see the module docstring for each one's cost.
    """
    n, d = z.shape
    zc = z - jnp.mean(z, axis=0)
    m = min(dim, d)
    small = min(n, d)
    if small <= PCA_EXACT_MAX and d <= n:
        cov = zc.T @ zc / (n - 1)  # (d, d)
        lam, u = jnp.linalg.eigh(cov)  # ascending
        lam_top, u_top = _top(lam, u, m)
        total = jnp.sum(jnp.maximum(lam, 0.0))
        return zc @ u_top, lam_top, _lost(lam_top, total)
    total = jnp.sum(zc * zc) / (n - 1)  # the covariance's trace, exactly
    if small <= PCA_EXACT_MAX:  # d > N: the (N, N) Gram matrix has the same spectrum
        gram = zc @ zc.T / (n - 1)
        lam, v = jnp.linalg.eigh(gram)
        lam_top, v_top = _top(lam, v, m)
        codes = v_top * jnp.sqrt(jnp.maximum(lam_top, 0.0) * (n - 1))
        return codes, lam_top, _lost(lam_top, total)
    k = min(m + OVERSAMPLE, small)
    omega = jax.random.normal(jax.random.key(0), (d, k), zc.dtype)
    q, _ = jnp.linalg.qr(zc @ omega)  # (N, k)
    for _ in range(POWER_ITERATIONS):  # static and short: unrolled
        w, _ = jnp.linalg.qr(zc.T @ q)  # (d, k)
        q, _ = jnp.linalg.qr(zc @ w)
    b = q.T @ zc  # (k, d): Z restricted to the subspace
    s2, ub = jnp.linalg.eigh(b @ b.T)  # ascending squared singular values
    s2_top, ub_top = _top(s2, ub, m)
    dirs = (b.T @ ub_top) / jnp.sqrt(jnp.maximum(s2_top, jnp.finfo(zc.dtype).tiny))  # (d, m)
    codes = zc @ dirs
    lam_top = jnp.sum(codes * codes, axis=0) / (n - 1)
    return codes, lam_top, _lost(lam_top, total)
