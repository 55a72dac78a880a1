"""Slow, readable NumPy references for the matrix-based Rényi α-entropy (float64, bits).

Written straight from the definitions (Giraldo, Rao & Príncipe 2014; Wickstrøm et al. 2019;
Yu et al. 2020) with explicit n x n matrices and ``numpy.linalg.eigvalsh``:

* Gram of the rows z_i of an (n, d) array (an (n, ...) array is flattened):
  ``K_ij = exp(-||z_i - z_j||^2 / (2 sigma^2))``, ``A = K / tr K``.
* ``S_alpha(A) = 1 / (1 - alpha) log2(sum_i lambda_i^alpha)``; alpha = 1: von Neumann,
  ``-sum_i lambda_i log2 lambda_i``.
* Joint: ``S_alpha(A, B) = S_alpha(A o B / tr(A o B))``; MI: ``S(A) + S(B) - S(A, B)``.
* Labels: the Gaussian kernel of width sigma_y on one-hot vectors (1 within a class,
  ``exp(-1 / sigma_y^2)`` across) or the linear kernel ``Y Y^T``.
* Widths: a number; "silverman" ``gamma n^(-1/(4+d))``; "knn" the mean distance to the k-th
  nearest other sample. conv="multivariate": one width per channel, the Gram the Hadamard
  product of the per-channel Grams.

Shares no code with `infoplane`.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.spatial.distance import cdist


def rows(z) -> np.ndarray:
    """(n, ...) -> (n, d) float64."""
    z = np.asarray(z, np.float64)
    return z.reshape(z.shape[0], -1)


def sqdist(z) -> np.ndarray:
    """(n, n) squared Euclidean distances ``sum_k (z_ik - z_jk)^2`` in float64 (SciPy's
    ``cdist`` sums the differences themselves: no cancellation)."""
    z = rows(z)
    return cdist(z, z, "sqeuclidean")


def gaussian_gram(z, sigma: float) -> np.ndarray:
    """K_ij = exp(-||z_i - z_j||^2 / (2 sigma^2)), float64."""
    return np.exp(-sqdist(z) / (2.0 * sigma**2))


def label_gram(y, kernel: str = "gaussian", sigma_y: float = 0.1) -> np.ndarray:
    """Gram of one-hot labels: Gaussian of width sigma_y, or linear Y Y^T."""
    _, codes = np.unique(np.asarray(y), return_inverse=True)
    onehot = np.eye(codes.max() + 1)[codes.reshape(-1)]
    if kernel == "gaussian":
        return gaussian_gram(onehot, sigma_y)
    if kernel == "linear":
        return onehot @ onehot.T
    raise ValueError(kernel)


def normalise(k) -> np.ndarray:
    """A = K / tr K."""
    return k / np.trace(k)


def spectrum_entropy_bits(lam, alpha: float) -> float:
    """S_alpha of a spectrum (non-negative, summing to 1) in bits."""
    lam = np.clip(np.asarray(lam, np.float64), 0.0, None)
    lam = lam / lam.sum()
    if alpha == 1:
        p = lam[lam > 0]
        return float(-np.sum(p * np.log2(p)))
    return float(np.log2(np.sum(lam**alpha)) / (1.0 - alpha))


def entropy_of_gram_bits(k, alpha: float) -> float:
    """S_alpha(K / tr K) in bits."""
    return spectrum_entropy_bits(np.linalg.eigvalsh(normalise(k)), alpha)


def entropy_bits(z, sigma: float, alpha: float = 1.01) -> float:
    """S_alpha of the Gaussian Gram of the rows of z."""
    return entropy_of_gram_bits(gaussian_gram(z, sigma), alpha)


def mi_of_grams_bits(ka, kb, alpha: float) -> dict:
    """{"mi", "s_a", "s_b", "s_ab"} in bits from two Gram matrices."""
    s_a, s_b = entropy_of_gram_bits(ka, alpha), entropy_of_gram_bits(kb, alpha)
    s_ab = entropy_of_gram_bits(ka * kb, alpha)
    return {"mi": s_a + s_b - s_ab, "s_a": s_a, "s_b": s_b, "s_ab": s_ab}


def mi_bits(a, b, sigma_a: float, sigma_b: float, alpha: float = 1.01) -> float:
    """I_alpha(A; B) = S(A) + S(B) - S(A o B) in bits."""
    return mi_of_grams_bits(gaussian_gram(a, sigma_a), gaussian_gram(b, sigma_b), alpha)["mi"]


def varentropy_nats2(z, sigma: float) -> float:
    """sum_i lambda_i (ln lambda_i + S_1)^2 (nats^2): d S_alpha / d alpha at alpha = 1 is
    -varentropy / 2 (nats), the slope the alpha -> 1 continuity test uses."""
    lam = np.clip(np.linalg.eigvalsh(normalise(gaussian_gram(z, sigma))), 0.0, None)
    p = lam[lam > 0] / lam.sum()
    h = -np.sum(p * np.log(p))
    return float(np.sum(p * (np.log(p) + h) ** 2))


# ---- kernel widths ------------------------------------------------------------------------------


def knn_width(z, k: int) -> float:
    """Mean over samples of the distance to the k-th nearest OTHER sample (self excluded by
    index; duplicates count as distance 0)."""
    d2 = sqdist(z)
    np.fill_diagonal(d2, np.inf)
    kth = np.sort(d2, axis=1)[:, k - 1]
    return float(np.mean(np.sqrt(kth)))


def silverman_width(n: int, d: int, gamma: float) -> float:
    """gamma * n^(-1 / (4 + d))."""
    return gamma * n ** (-1.0 / (4.0 + d))


def width(z, rule, k: int = 10, gamma: float = 1.0) -> float:
    """The kernel width of the rows of z by ``rule`` (a number, "knn" or "silverman")."""
    z = rows(z)
    if rule == "knn":
        return knn_width(z, k)
    if rule == "silverman":
        return silverman_width(z.shape[0], z.shape[1], gamma)
    return float(rule)


def channel_maps(t, channels: int, channels_last: bool = True) -> list[np.ndarray]:
    """The C per-channel (n, H*W) maps of flattened (H, W, C) (or (C, H, W)) rows."""
    t = rows(t)
    n = t.shape[0]
    if channels_last:
        per = t.reshape(n, -1, channels)
        return [per[:, :, c] for c in range(channels)]
    per = t.reshape(n, channels, -1)
    return [per[:, c, :] for c in range(channels)]


def layer_gram(t, rule, *, conv="tensor", channels=0, channels_last=True, k=10, gamma=1.0):
    """(Gram of the layer, width used: for "multivariate" the mean of the channel widths)."""
    if conv == "tensor":
        s = width(t, rule, k, gamma)
        return gaussian_gram(t, s), s
    widths, gram = [], 1.0
    for m in channel_maps(t, channels, channels_last):
        widths.append(width(m, rule, k, gamma))
        gram = gram * gaussian_gram(m, widths[-1])
    return gram, float(np.mean(widths))


def information_plane(x, t, y, *, alpha=1.01, sigma="knn", sigma_x=None, k=10, gamma=1.0,
                      label_kernel="gaussian", sigma_y=0.1, conv="tensor", channels=0,
                      channels_last=True) -> dict:
    """Every number MatrixRenyi reports (bits): i_xt, i_ty, s_t, s_x, s_y, s_xt, s_ty and the
    widths sigma_t, sigma_x."""
    kt, s_t_width = layer_gram(t, sigma, conv=conv, channels=channels,
                               channels_last=channels_last, k=k, gamma=gamma)
    s_x_width = width(x, sigma if sigma_x is None else sigma_x, k, gamma)
    kx = gaussian_gram(x, s_x_width)
    ky = label_gram(y, label_kernel, sigma_y)
    xt, ty = mi_of_grams_bits(kx, kt, alpha), mi_of_grams_bits(kt, ky, alpha)
    return {"i_xt": xt["mi"], "i_ty": ty["mi"], "s_t": xt["s_b"], "s_x": xt["s_a"],
            "s_y": ty["s_b"], "s_xt": xt["s_ab"], "s_ty": ty["s_ab"],
            "sigma_t": s_t_width, "sigma_x": s_x_width}


def renyi_of_proportions_bits(p, alpha: float) -> float:
    """Closed form for block-diagonal A: the Rényi α-entropy of the block proportions."""
    p = np.asarray(p, np.float64)
    p = p / p.sum()
    if alpha == 1:
        return float(-np.sum(p * np.log2(p)))
    return float(math.log2(np.sum(p**alpha)) / (1.0 - alpha))
