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


def bsy_weights(k: int, d: int, n_constraints=None) -> np.ndarray:
    """Min-norm w: sum w = 1, sum_j w_j Gamma(j + 2l/d)/Gamma(j) = 0, l = 1..L, L = floor(d/4)
    unless given."""
    n_l = d // 4 if n_constraints is None else n_constraints
    j = np.arange(1, k + 1)
    a = [np.ones(k)] + [np.exp(gammaln(j + 2 * l / d) - gammaln(j)) for l in range(1, n_l + 1)]
    a = np.array(a)
    b = np.zeros(len(a))
    b[0] = 1
    return np.linalg.lstsq(a, b, rcond=None)[0]


def capped_bsy_weights(d: int, k_min=5, k_max=40, max_norm=3.0) -> np.ndarray:
    """Smallest k >= k_min, then the largest L in floor(d/4)..1, with ||BSY w||_2 <= max_norm;
    plain KL e_{k_min} if none."""
    for k in range(k_min, k_max + 1):
        for n_l in range(min(d // 4, k - 1), 0, -1):
            w = bsy_weights(k, d, n_l)
            if np.linalg.norm(w) <= max_norm:
                return w
    return np.eye(k_min)[k_min - 1]


def knn_radii(z, k: int) -> np.ndarray:
    """Euclidean distances to the 1..k nearest other samples, (N, k)."""
    z = np.asarray(z, np.float64)
    dist, _ = cKDTree(z).query(z, k=k + 1)
    return dist[:, 1:]  # column 0 is the point itself (distance 0)


def whiten(z):
    """((z - mean) Sigma^{-1/2} in the eigenbasis, 0.5 log det Sigma), Sigma = np.cov."""
    z = np.asarray(z, np.float64)
    lam, u = np.linalg.eigh(np.cov(z, rowvar=False).reshape(z.shape[1], z.shape[1]))
    return (z - z.mean(0)) @ u / np.sqrt(lam), 0.5 * np.sum(np.log(lam))


def weights_of(k, d, weighted):
    """weighted: None (plain up to d = 4, capped BSY above), True (BSY, k), False (plain),
    or an explicit weight vector."""
    if weighted is None:
        return np.eye(k)[k - 1] if d <= 4 else capped_bsy_weights(d, k_min=k)
    if weighted is True:
        return bsy_weights(k, d)
    if weighted is False:
        return np.eye(k)[k - 1]
    return np.asarray(weighted, np.float64)


def knn_entropy_terms(z, k=5, weighted=None) -> np.ndarray:
    """Per-sample kNN entropy terms, H = psi(N) + mean(terms):
    term_i = sum_j w_j (log V_d - psi(j) + d log r_ij)."""
    z = np.asarray(z, np.float64)
    n, d = z.shape
    w = weights_of(k, d, weighted)
    r = knn_radii(z, len(w))
    log_vd = 0.5 * d * math.log(math.pi) - gammaln(d / 2 + 1)
    out = np.zeros(n)
    for j in range(1, len(w) + 1):
        if w[j - 1] != 0:
            out += w[j - 1] * (log_vd - digamma(j) + d * np.log(r[:, j - 1]))
    return out


def knn_entropy(z, k=5, weighted=None, whiten_=False) -> float:
    """H = -mean_i sum_j w_j log f_j(z_i), f_j = exp(psi(j)) / (exp(psi(N)) V_d r_ij^d)."""
    z = np.asarray(z, np.float64)
    shift = 0.0
    if whiten_:
        z, shift = whiten(z)
    return float(digamma(len(z)) + np.mean(knn_entropy_terms(z, k, weighted)) + shift)


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


def compressed_entropies(t_code, x_code, labels, k=5, weighted="paper") -> dict:
    """I(X';T') = H(X') + H(T') - H(X',T') and I(T';Y) from already compressed (and whitened)
    codes, by the formulas, with per-sample standard errors. weighted="paper": plain KL up to
    4 dimensions, BSY (all constraints, k) above (`Compressed(mi="entropy")`)."""
    labels = np.asarray(labels)
    n = len(labels)

    def terms(z):
        w = (z.shape[1] > 4) if weighted == "paper" else weighted
        return knn_entropy_terms(z, k, w)

    tt, tx, txt = terms(t_code), terms(x_code), terms(np.hstack([x_code, t_code]))
    per_xt = tx + tt - txt
    per_ty = tt.copy()
    for c in np.unique(labels):
        m = labels == c
        per_ty[m] -= terms(t_code[m]) + digamma(m.sum())
    return {"i_xt": digamma(n) + per_xt.mean(), "i_ty": digamma(n) + per_ty.mean(),
            "h_t": digamma(n) + tt.mean(), "n": n,
            "i_xt_stderr": per_xt.std() / math.sqrt(n), "i_ty_stderr": per_ty.std() / math.sqrt(n)}


def shuffle_mi(x_code, x_shuffled, t_code, k=5, whiten_shuffled=False) -> tuple[float, float]:
    """I(X';T') = H(X'_pi, T') - H(X', T'), plain KL (nats), (X', T') jointly whitened, the
    shuffled pair too if ``whiten_shuffled`` (else as it is: white codes), and the per-sample
    standard error (the terms include 0.5 (|z|^2 - d) for the log determinants)."""
    out = []
    for x, white in ((x_shuffled, whiten_shuffled), (x_code, True)):
        z = np.hstack([x, t_code]).astype(np.float64)
        j, shift = whiten(z) if white else (z, 0.0)
        terms = knn_entropy_terms(j, k, False)
        out.append((terms.mean() + shift, terms + 0.5 * ((j * j).sum(1) - j.shape[1])))
    per = out[0][1] - out[1][1]
    return float(out[0][0] - out[1][0]), float(per.std() / math.sqrt(len(per)))
