"""Slow, readable float64 references for the kNN estimators, straight from the formulas.

They share no code with `infoplane`: neighbours come from `scipy.spatial.cKDTree` (exact
queries), digamma from SciPy, weights from a direct least-squares solve. Everything in nats.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.spatial import cKDTree
from scipy.special import digamma, gammaln


def gaussian_pair(n: int, d: int, mi: float, seed: int):
    """(a, b), each (n, d), jointly Gaussian with I(a;b) = mi nats exactly.

    Component pairs (a_i, b_i) have correlation rho = sqrt(1 - exp(-2 mi / d)), so each carries
    mi/d nats; then each variable is mixed by its own random orthogonal matrix (MI unchanged).
    """
    rng = np.random.default_rng(seed)
    rho = math.sqrt(1.0 - math.exp(-2.0 * mi / d))
    a = rng.normal(size=(n, d))
    b = rho * a + math.sqrt(1.0 - rho * rho) * rng.normal(size=(n, d))
    qa, _ = np.linalg.qr(rng.normal(size=(d, d)))
    qb, _ = np.linalg.qr(rng.normal(size=(d, d)))
    return a @ qa, b @ qb


def gaussian_entropy(cov) -> float:
    cov = np.atleast_2d(cov)
    d = cov.shape[0]
    return 0.5 * (d * math.log(2 * math.pi * math.e) + np.linalg.slogdet(cov)[1])


def bsy_weights(k: int, d: int) -> np.ndarray:
    """Min-norm w: sum w = 1, sum_j w_j Gamma(j + 2l/d)/Gamma(j) = 0, l = 1..floor(d/4)."""
    j = np.arange(1, k + 1)
    a = [np.ones(k)] + [np.exp(gammaln(j + 2 * l / d) - gammaln(j)) for l in range(1, d // 4 + 1)]
    a = np.array(a)
    b = np.zeros(len(a))
    b[0] = 1
    return np.linalg.lstsq(a, b, rcond=None)[0]


def knn_radii(z, k: int) -> np.ndarray:
    """Euclidean distances to the 1..k nearest other samples, (N, k)."""
    z = np.asarray(z, np.float64)
    dist, _ = cKDTree(z).query(z, k=k + 1)
    return dist[:, 1:]  # column 0 is the point itself (distance 0)


def knn_entropy(z, k=5, weighted=None, whiten=False) -> float:
    """H = -mean_i sum_j w_j log f_j(z_i), f_j = exp(psi(j)) / (exp(psi(N)) V_d r_ij^d)."""
    z = np.asarray(z, np.float64)
    n, d = z.shape
    shift = 0.0
    if whiten:
        cov = np.cov(z, rowvar=False).reshape(d, d)
        lam, u = np.linalg.eigh(cov)
        z = (z - z.mean(0)) @ u / np.sqrt(lam)
        shift = 0.5 * np.sum(np.log(lam))
    if weighted is None:
        weighted = d > 4
    w = bsy_weights(k, d) if weighted else np.eye(k)[k - 1]
    r = knn_radii(z, k)
    log_vd = 0.5 * d * math.log(math.pi) - gammaln(d / 2 + 1)
    h = 0.0
    for j in range(1, k + 1):
        if w[j - 1] == 0:
            continue
        log_f = digamma(j) - digamma(n) - log_vd - d * np.log(r[:, j - 1])
        h += w[j - 1] * -np.mean(log_f)
    return float(h + shift)


def ksg_mi(a, b, k=5, standardize=True) -> float:
    """KSG estimator 1 with the max-norm, counts strictly inside eps_i."""
    a = np.asarray(a, np.float64).reshape(len(a), -1)
    b = np.asarray(b, np.float64).reshape(len(b), -1)
    if standardize:
        a = (a - a.mean(0)) / a.std(0)
        b = (b - b.mean(0)) / b.std(0)
    n = a.shape[0]
    joint = np.hstack([a, b])
    eps = cKDTree(joint).query(joint, k=k + 1, p=np.inf)[0][:, k]
    ta, tb = cKDTree(a), cKDTree(b)
    # points with distance < eps (strict): query_ball_point is <= r, so shrink r by one ulp
    r = np.nextafter(eps, 0)
    na = np.array([len(ta.query_ball_point(a[i], r[i], p=np.inf)) - 1 for i in range(n)])
    nb = np.array([len(tb.query_ball_point(b[i], r[i], p=np.inf)) - 1 for i in range(n)])
    return float(digamma(k) + digamma(n) - np.mean(digamma(na + 1) + digamma(nb + 1)))


def compressed_entropies(t_code, x_code, labels, k=5) -> dict:
    """I(X';T') and I(T';Y) from already compressed (and whitened) codes, by the formulas."""
    labels = np.asarray(labels)
    n = len(labels)
    h_t = knn_entropy(t_code, k)
    h_x = knn_entropy(x_code, k)
    h_xt = knn_entropy(np.hstack([x_code, t_code]), k)
    h_t_y = sum(np.mean(labels == c) * knn_entropy(t_code[labels == c], k)
                for c in np.unique(labels))
    return {"i_xt": h_x + h_t - h_xt, "i_ty": h_t - h_t_y, "h_t": h_t, "n": n}
