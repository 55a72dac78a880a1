"""Numerically delicate helpers shared by the estimators (all pure, jit-able).

Everything here works in nats. Design notes, measured on a 2-core XLA:CPU (see
``benchmarks/RESULTS.md``): a single-operand ``uint32`` sort of 4096 keys costs ~140 us, while
a sort that carries a payload, a float sort, or a multi-key sort costs ~900 us. The discrete
estimators therefore reduce every grouping problem to *one sorted array of uint32 keys*.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

_U32 = jnp.uint32


def is_concrete(x) -> bool:
    """True for a concrete value (not a tracer), i.e. one that eager checks can inspect."""
    return not isinstance(x, jax.core.Tracer)


def nonfinite_rows(z):
    """Host-side check: indices of the rows of a concrete float array with NaN or inf.

    z: (N, d) array-like -> int64 (k,) row indices, empty when all finite. Returns an empty
    array for tracers (nothing to inspect at trace time) and for non-float dtypes.
    """
    if not is_concrete(z):
        return np.zeros((0,), np.int64)
    arr = np.asarray(z)
    if not np.issubdtype(arr.dtype, np.floating):
        return np.zeros((0,), np.int64)
    return np.flatnonzero(~np.all(np.isfinite(arr), axis=1))


def xlogx(x):
    """x * log(x) with the convention 0 log 0 = 0 (elementwise)."""
    safe = jnp.where(x > 0, x, 1.0)
    return jnp.where(x > 0, x * jnp.log(safe), 0.0)


def run_starts(s):
    """Boolean (n,): True where a sorted array ``s`` starts a new run of equal values."""
    return jnp.concatenate([jnp.ones((1,), bool), s[1:] != s[:-1]])


def cumsum_int(x, block: int = 256):
    """Inclusive cumulative sum of a 1-D int/bool array as int32.

    Two-level (within blocks, then block offsets): on XLA:CPU ~3.5x faster than ``jnp.cumsum``
    of a bool array and ~1.5x faster than of an int32 one at 49 152 elements.
    """
    n = x.shape[0]
    x = x.astype(jnp.int32)
    if n <= block:
        return jnp.cumsum(x)
    pad = (-n) % block
    if pad:
        x = jnp.concatenate([x, jnp.zeros((pad,), jnp.int32)])
    inner = jnp.cumsum(x.reshape(-1, block), axis=1)
    last = inner[:, -1]
    out = inner + (jnp.cumsum(last) - last)[:, None]
    return out.reshape(-1)[:n]


def entropy_of_sorted(s):
    """Plug-in entropy (nats) of the empirical distribution of a sorted 1-D key array.

    H = log n - (1/n) sum_runs c log c, where c are the run lengths (counts of equal keys).
    Returns ``(H, n_states)``.
    """
    n = s.shape[0]
    new = run_starts(s)
    seg = cumsum_int(new) - 1  # run id of each element, (n,)
    counts = jnp.zeros((n,), jnp.float32).at[seg].add(1.0)
    h = jnp.log(jnp.float32(n)) - jnp.sum(xlogx(counts)) / n
    return h, jnp.sum(new)


def entropy_of_labels(labels, n_classes: int):
    """Plug-in entropy (nats) of integer labels in 0..n_classes-1. labels: (n,) int."""
    counts = jnp.zeros((n_classes,), jnp.float32).at[labels].add(1.0)
    n = labels.shape[0]
    return jnp.log(jnp.float32(n)) - jnp.sum(xlogx(counts)) / n


#: Widest rows `hash_rows` hashes column by column (unrolled at trace time).
HASH_UNROLL = 16
#: Widest rows `pairwise_sqdist` and `knn.chebyshev_dist` handle one unrolled pass per unit.
DIST_UNROLL = 32


def fmix32(h):
    """MurmurHash3's 32-bit finaliser: a bijective avalanche mix of uint32 values."""
    h = h ^ (h >> 16)
    h = h * _U32(0x85EBCA6B)
    h = h ^ (h >> 13)
    h = h * _U32(0xC2B2AE35)
    return h ^ (h >> 16)


def hash_rows(b, seed: int):
    """Hash each row of an integer matrix to one uint32. b: (N, d) int32 -> (N,) uint32.

    Equal rows give equal hashes; distinct rows collide with probability ~2^-32 per pair.
    Callers detect collisions exactly (`count_collisions`) and retry with another ``seed``.
    Up to `HASH_UNROLL` columns the mixes are chained column by column (unrolled); wider rows
    hash every (column, value) pair independently and add the mixes modulo 2^32, one fused
    elementwise pass and reduction: O(N d) time, no (N, d) temporary, and a compile time
    that does not grow with d.
    """
    seed_mix = fmix32(_U32((0x9E3779B9 * (seed + 1)) & 0xFFFFFFFF))
    d = b.shape[1]
    if d > HASH_UNROLL:
        salt = (jnp.arange(1, d + 1, dtype=_U32) * _U32(0x7F4A7C15))[None, :]
        v = fmix32(b.astype(_U32) * _U32(0x9E3779B1) + salt)
        return fmix32(jnp.sum(fmix32(v ^ seed_mix), axis=1, dtype=_U32) ^ seed_mix)
    h = jnp.full(b.shape[:1], seed_mix, _U32)
    for j in range(d):  # d is static and small: unrolled, fused elementwise
        v = b[:, j].astype(_U32) * _U32(0x9E3779B1) + _U32((0x7F4A7C15 * (j + 1)) & 0xFFFFFFFF)
        h = fmix32(h ^ fmix32(v))
    return h


def pack_rows(b, bits: int):
    """Pack each row of non-negative ints < 2**bits into one uint32, exactly.

    b: (N, d) int32 with d * bits <= 32 -> (N,) uint32. Distinct rows give distinct keys.
    """
    key = jnp.zeros(b.shape[:1], _U32)
    for j in range(b.shape[1]):
        key = (key << bits) | b[:, j].astype(_U32)
    return key


def ordered_key(x):
    """Map float32 values to uint32 keys with the same order (and equality) as the floats.

    -0.0 and +0.0 are mapped to one key so that they count as one distinct value. The fold
    is done on the bits (``x == 0`` would also fold subnormals, which XLA:CPU flushes to zero
    in float comparisons, while ``np.unique`` keeps them apart).
    """
    u = lax.bitcast_convert_type(x.astype(jnp.float32), _U32)
    u = jnp.where(u == _U32(0x80000000), _U32(0), u)  # fold -0.0 into +0.0
    neg = (u >> 31) == 1
    return jnp.where(neg, ~u, u | _U32(0x80000000))


def first_index_of_group(s_sorted, keys):
    """Position in sorted ``s_sorted`` of the first element equal to each of ``keys``.

    s_sorted: (n,) sorted uint32; keys: (m,) uint32 all present in s_sorted -> (m,) int32.
    The position is an exact, dense-enough id of the key (< n).
    """
    return jnp.searchsorted(s_sorted, keys, side="left", method="scan").astype(jnp.int32)


def count_collisions(b, group_pos):
    """Rows whose values differ from the first row of their hash group (exact check).

    b: (N, d) int32 bin indices; group_pos: (N,) int32 position of each row's hash group.
    A row's representative is the smallest row index in its group; a hash collision (two
    distinct rows with one hash) shows up as a row unequal to its representative.
    Returns an int32 scalar: 0 means the hash-based grouping is exact.
    """
    n = b.shape[0]
    rep = jnp.full((n,), n, jnp.int32).at[group_pos].min(jnp.arange(n, dtype=jnp.int32))
    r = rep[group_pos]
    return jnp.sum(jnp.any(b != b[r], axis=1)).astype(jnp.int32)


def pairwise_sqdist(a, b, *, exact: bool = False):
    """Squared Euclidean distances. a: (R, d), b: (N, d) -> (R, N).

    Up to `DIST_UNROLL` units: explicit differences, one (R, N) pass per unit (no
    cancellation: exact to float32 rounding, which the narrow KDE kernels need). Wider:
    ``exact=True`` keeps explicit differences, as one fused broadcast-subtract-square-sum
    (XLA never forms the (R, N, d) difference; the error is relative to each distance, so a
    point's distance to itself is exactly 0 at any width; ~4-6x the time of a matmul on
    XLA:CPU); ``exact=False`` uses the matmul form |a|^2 + |b|^2 - 2 a.b on centred data
    (fast, but its absolute error grows with d and the norms: ~1e-2 at d = 4096 for unit
    values, so a kernel narrower than that must ask for ``exact``). Time O(R N d), memory
    O(R N) either way, compile time independent of d.
    """
    if a.shape[1] <= DIST_UNROLL:
        # one (R, N) pass per unit: lane-friendly and ~2x faster on XLA:CPU than reducing a
        # (R, N, d) difference over its short last axis
        bt = b.T
        acc = jnp.square(a[:, :1] - bt[0][None, :])
        for k in range(1, a.shape[1]):
            acc = acc + jnp.square(a[:, k : k + 1] - bt[k][None, :])
        return acc
    if exact:
        return jnp.sum(jnp.square(a[:, None, :] - b[None, :, :]), axis=-1)
    mu = jnp.mean(b, axis=0)
    a = a - mu
    b = b - mu
    d2 = (
        jnp.sum(a * a, axis=1)[:, None]
        + jnp.sum(b * b, axis=1)[None, :]
        - 2.0 * jnp.dot(a, b.T, precision=lax.Precision.HIGHEST)
    )
    return jnp.maximum(d2, 0.0)


def ceil_log2(n: int) -> int:
    """Number of bits needed to store values 0..n-1 (0 for n <= 1)."""
    return max(int(n) - 1, 0).bit_length()


__all__ = [
    "DIST_UNROLL",
    "HASH_UNROLL",
    "ceil_log2",
    "count_collisions",
    "cumsum_int",
    "entropy_of_labels",
    "entropy_of_sorted",
    "first_index_of_group",
    "fmix32",
    "hash_rows",
    "is_concrete",
    "nonfinite_rows",
    "ordered_key",
    "pack_rows",
    "pairwise_sqdist",
    "run_starts",
    "xlogx",
]

