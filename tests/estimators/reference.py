"""Slow, readable NumPy references of every estimator, written straight from the formulas.

They share no code with `infoplane`: dictionaries of counts for the discrete estimators and an
explicit float64 distance matrix with per-class sub-matrices for KDE. Everything in bits.
Binning indices reproduce the float32 arithmetic documented in `infoplane.estimators.binning`.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np


def entropy_bits(counter: Counter) -> float:
    n = sum(counter.values())
    return -sum(c / n * math.log2(c / n) for c in counter.values())


def discrete_mi(b: np.ndarray, x: np.ndarray, y: np.ndarray) -> dict:
    """Plug-in I(X;T), I(T;Y) in bits of integer rows b (N, d) given inputs x and labels y."""
    n = b.shape[0]
    t_rows = [tuple(r) for r in np.asarray(b).tolist()]
    x_rows = [tuple(r) for r in np.asarray(x).reshape(n, -1).tolist()]
    y = np.asarray(y).tolist()
    h_t = entropy_bits(Counter(t_rows))
    h_t_given_y = entropy_bits(Counter(zip(t_rows, y, strict=True))) - entropy_bits(Counter(y))
    h_t_given_x = entropy_bits(Counter(zip(t_rows, x_rows, strict=True))) - entropy_bits(
        Counter(x_rows)
    )
    return {
        "i_xt": h_t - h_t_given_x,
        "i_ty": h_t - h_t_given_y,
        "h_t": h_t,
        "n_states": len(set(t_rows)),
    }


# ---- bin indices ---------------------------------------------------------------------------


def uniform_bins(t, lo, hi, n_bins):
    t = np.asarray(t, np.float32)
    lo = np.float32(lo)
    s = np.float32(n_bins) / (np.float32(hi) - lo)
    k = np.floor((t - lo) * s)
    return np.clip(k, 0, n_bins - 1).astype(np.int64)


def binning_indices(t, n_bins=29, range=(-1.0, 1.0), width=None):
    t = np.asarray(t, np.float32)
    if width is not None:
        return np.floor(t / np.float32(width)).astype(np.int64)
    if range == "data":
        lo, hi = t.min(), t.max()
        if not hi > lo:
            hi = lo + np.float32(1.0)
        return uniform_bins(t, lo, hi, n_bins)
    return uniform_bins(t, range[0], range[1], n_bins)


def adaptive_indices(t, n_bins=30, lower=None, per_neuron=False):
    t = np.asarray(t, np.float32)
    n, d = t.shape
    if per_neuron:
        out = np.empty((n, d), np.int64)
        for j in range(d):
            s = np.sort(t[:, j])
            edges = [s[(k * n) // n_bins] for k in range(1, n_bins)]
            out[:, j] = np.searchsorted(np.array(edges, np.float32), t[:, j], side="right")
        return out
    u = np.unique(t)  # sorted distinct values (-0.0 and 0.0 are one value)
    if lower is None:
        big_u = len(u)
        edges = [u[(k * big_u) // n_bins] for k in range(1, n_bins)]
    else:
        above = u[u > np.float32(lower)]
        big_u = len(above)
        if big_u == 0:
            return np.zeros((n, d), np.int64)
        edges = [above[0]] + [above[(k * big_u) // (n_bins - 1)] for k in range(1, n_bins - 1)]
    return np.searchsorted(np.array(edges, np.float32), t, side="right")


# ---- KDE -----------------------------------------------------------------------------------


def kde_mi(t, y, sigma2=1e-3, adaptive=False) -> dict:
    """Kolchinsky–Tracey bounds in bits with an explicit float64 distance matrix."""
    t = np.asarray(t, np.float32).astype(np.float64)
    y = np.asarray(y)
    if adaptive:
        m = np.abs(t).max()
        sigma2 = sigma2 * (m * m if m > 0 else 1.0)
    d2 = ((t[:, None, :] - t[None, :, :]) ** 2).sum(-1)
    out = {}
    for name, c in (("upper", 2.0), ("lower", 8.0)):
        k = np.exp(-d2 / (c * sigma2))
        h = -np.mean(np.log(k.mean(axis=1)))
        h_cond = 0.0
        for cls in np.unique(y):
            m = y == cls
            sub = k[np.ix_(m, m)]
            h_cond += m.mean() * -np.mean(np.log(sub.mean(axis=1)))
        out[f"i_xt_{name}"] = h / math.log(2)
        out[f"i_ty_{name}"] = (h - h_cond) / math.log(2)
    return out
