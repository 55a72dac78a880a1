"""Slow, readable NumPy references of the binning conventions, written from their descriptions
(estimators.md §1-2, issue 17): the original Shwartz-Ziv & Tishby states, infoplane's clipped
digitize, the range="data" edge rule and Chelombiev et al.'s adaptive edges.

They share no code with `infoplane` (only the fixed-noise KDE draws its noise with the same
`jax.random` call, since the noise itself is the parameter being reproduced).
"""

from __future__ import annotations

import numpy as np

# ---- uniform binning -------------------------------------------------------------------------


def linspace_edges(lo=-1.0, hi=1.0, n_bins=29) -> np.ndarray:
    """The original code's edges: ``np.linspace(lo, hi, n_bins + 1)`` as float32."""
    return np.linspace(lo, hi, n_bins + 1).astype(np.float32)


def idnns_states(t, n_bins=29, range=(-1.0, 1.0), wrap_below=True) -> np.ndarray:
    """The original code, literally: every value replaced by ``edges[digitize(t, edges) - 1]``.

    With ``wrap_below=True`` a value below lo gets index -1, i.e. the last edge (Python's
    negative indexing), like t >= hi; with False it gets the first edge instead.
    Returns float32 state values of t's shape (rows of them are the layer states).
    """
    edges = linspace_edges(*range, n_bins)
    index = np.digitize(np.asarray(t, np.float32), edges) - 1
    if not wrap_below:
        index = np.maximum(index, 0)
    return edges[index]


def binning_indices(t, n_bins=29, range=(-1.0, 1.0), convention="clip", wrap_below=False):
    """State indices of `infoplane.estimators.Binning` for a fixed range, from np.digitize.

    "clip": ``clip(digitize(t, edges) - 1, 0, n_bins - 1)``. "idnns": ``digitize - 1`` with the
    top state n_bins for t >= hi, and for t < lo: n_bins if wrap_below else 0.
    """
    t = np.asarray(t, np.float32)
    index = np.digitize(t, linspace_edges(*range, n_bins)) - 1  # -1 .. n_bins
    if convention == "clip":
        return np.clip(index, 0, n_bins - 1)
    below = index == -1
    index[below] = n_bins if wrap_below else 0
    return index


def _float_at(rank: int) -> np.float32:
    """The float32 of a given rank in value order: rank r >= 0 -> bits r (+0.0 .. +max),
    r < 0 -> the negative float with bits 0x80000000 | (-1 - r) (-0.0 .. -max)."""
    bits = rank if rank >= 0 else 0x80000000 | (-1 - rank)
    return np.array([bits], np.uint32).view(np.float32)[0]


def floor_threshold(lo, s, j) -> np.float32:
    """The smallest float32 t with floor((t - lo) * s) >= j (float32 arithmetic), by bisection
    over the float32 values in order (plain Python ints as ranks)."""
    lo, s = np.float32(lo), np.float32(s)

    def reached(rank):
        with np.errstate(over="ignore"):
            return np.floor((_float_at(rank) - lo) * s) >= j

    below, above = -0x7F800000, 0x7F7FFFFF  # ranks of -max (not reached) and +max (reached)
    while above - below > 1:
        mid = (below + above) // 2
        if reached(mid):
            above = mid
        else:
            below = mid
    return _float_at(above)


def data_edges(t, n_bins) -> np.ndarray:
    """The range="data" edges: lo = min t, hi = max t (lo + 1 for a constant layer),
    ``[lo, a_1, ..., a_{n-1}, hi]`` with a_j = `floor_threshold` for s = n / (hi - lo)."""
    t = np.asarray(t, np.float32)
    lo, hi = t.min(), t.max()
    if not hi > lo:
        hi = lo + np.float32(1.0)
    s = np.float32(n_bins) / (hi - lo)
    inner = [floor_threshold(lo, s, j) for j in range(1, n_bins)]
    return np.array([lo, *inner, hi], np.float32)


def data_binning_indices(t, n_bins=29, convention="clip"):
    """range="data": digitize on `data_edges`; "idnns" gives the maximum its own state."""
    t = np.asarray(t, np.float32)
    index = np.digitize(t, data_edges(t, n_bins)) - 1  # 0 .. n_bins
    if convention == "clip" or not t.max() > t.min():
        return np.clip(index, 0, n_bins - 1)
    return index


# ---- adaptive binning ------------------------------------------------------------------------


def chelombiev_positions(u_count, n_bins):
    """``int(k * (U / B))`` for k = 0..B-1, in Python floats (float64)."""
    return [int(k * (u_count / n_bins)) for k in range(n_bins)]


def chelombiev_edges(t, n_bins=30, lower=None) -> np.ndarray | None:
    """Chelombiev et al.'s edges: the sorted distinct values at `chelombiev_positions`, plus
    the maximum appended. With ``lower``: the same rule on the distinct values above lower
    with n_bins - 1 bins (values <= lower fall below the first edge). None: nothing above."""
    u = np.unique(np.asarray(t, np.float32))  # sorted distinct values (-0.0 == 0.0)
    b = n_bins
    if lower is not None:
        u = u[u > np.float32(lower)]
        b = n_bins - 1
    if len(u) == 0:
        return None
    edges = [u[p] for p in chelombiev_positions(len(u), b)] + [u[-1]]
    return np.array(edges, np.float32)


def chelombiev_states(t, n_bins=30, lower=None) -> np.ndarray:
    """``np.digitize(t, chelombiev_edges(t))``: 1..B+1 without lower (the maximum is B+1),
    0..B with lower (0 = values <= lower)."""
    t = np.asarray(t, np.float32)
    edges = chelombiev_edges(t, n_bins, lower)
    if edges is None:
        return np.zeros(t.shape, np.int64)
    return np.digitize(t, edges)


# ---- fixed-noise KDE preprocessing -----------------------------------------------------------


def fixed_noise(t, input_noise, seed, abs_values):
    """``|t + input_noise * eps|`` with eps = jax.random.normal(PRNGKey(seed), t.shape)."""
    import jax

    t = np.asarray(t, np.float32)
    if input_noise > 0:
        eps = np.asarray(jax.random.normal(jax.random.PRNGKey(seed), t.shape, np.float32))
        t = t + np.float32(input_noise) * eps
    return np.abs(t) if abs_values else t


# ---- helpers ---------------------------------------------------------------------------------


def same_partition(a, b) -> bool:
    """True when two labelings of the same elements group them identically."""
    a, b = np.asarray(a).reshape(-1), np.asarray(b).reshape(-1)
    pairs = np.unique(np.stack([a, b], axis=1), axis=0)
    return len(pairs) == len(np.unique(a)) == len(np.unique(b))
