"""Slow, readable NumPy references for diffusion spectral entropy / DSMI (float64, bits).

Written straight from the definitions with explicit matrices (Liao, Liu et al. 2023):
G_ij = exp(-||z_i - z_j||^2 / (2 sigma^2)), D = diag(row sums of G), K = D^-1/2 G D^-1/2,
eigenvalues by numpy.linalg.eigvalsh, p_i = |lambda_i|^t / sum_j |lambda_j|^t,
DSE = -sum_i p_i log2 p_i. Shares no code with `infoplane`.
"""

from __future__ import annotations

import numpy as np


def diffusion_matrix(z, sigma=10.0):
    """The symmetric diffusion matrix K (float64) of the rows of z."""
    z = np.asarray(z, np.float64)
    diff = z[:, None, :] - z[None, :, :]
    g = np.exp(-np.sum(diff**2, axis=-1) / (2.0 * sigma**2))
    d_inv_sqrt = np.diag(1.0 / np.sqrt(g.sum(axis=1)))
    return d_inv_sqrt @ g @ d_inv_sqrt


def dse_bits(z, sigma=10.0, t=1) -> float:
    """Diffusion spectral entropy in bits."""
    lam = np.linalg.eigvalsh(diffusion_matrix(z, sigma))
    w = np.abs(lam) ** t
    p = w / w.sum()
    p = p[p > 0]
    return float(-np.sum(p * np.log2(p)))


def dsmi_bits(z, c, subsets_idx, sigma=10.0, t=1) -> float:
    """DSMI(Z; C) in bits given the random subsets.

    c: (N,) labels; subsets_idx: {class value: [index array of each random subset]} (each of
    that class's size). DSMI = sum_c p(c) [mean_s DSE(Z[subset_s]) - DSE(Z[c == value])].
    """
    z = np.asarray(z, np.float64)
    c = np.asarray(c)
    n = len(c)
    total = 0.0
    for value in np.unique(c):
        rows = z[c == value]
        h_cond = dse_bits(rows, sigma, t) if len(rows) > 1 else 0.0
        h_sub = np.mean([dse_bits(z[idx], sigma, t) if len(idx) > 1 else 0.0
                         for idx in subsets_idx[value]])
        total += len(rows) / n * (h_sub - h_cond)
    return float(total)
