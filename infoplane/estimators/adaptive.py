"""Adaptive binning (Chelombiev, Houghton & O'Donnell, ICLR 2019).

Entropy-based adaptive binning (EBAB): the bin edges are recomputed for every layer at every
call from the layer's own activations, pooling all its neurons, so that each bin holds about
the same number of *distinct* activation levels. With u the sorted distinct values of the
layer (|u| = U) and B bins, two conventions (``convention=``):

* ``"floor"`` (default): interior edges ``e_k = u[floor(k * U / B)]``, k = 1 .. B-1, in exact
  integer arithmetic; a value's bin is the number of interior edges <= it (bin 0 starts at
  min u), B states per neuron, the maximum in the top bin.
* ``"chelombiev"``: the authors' code's states. Edges ``u[int(k * (U / B))]`` for k = 0..B-1,
  the positions computed in float64 as Python does, plus the layer maximum appended as a last
  edge; state ``np.digitize(t, edges)``: the maximum is a state of its own (B + 1 states).
  The float64 positions differ from ``(k * U) // B`` (one lower) for 1 088 values of U between
  30 and 50 000 (B = 30) -- only where k * U / B is an integer -- and `chelombiev_positions`
  reproduces them exactly in int32 under jit. On saturated layers, where the maximum (1.0 of
  a float32 tanh) holds many samples, the two conventions differ by up to ~0.6 bits of
  I(X;T) (0.86 measured with the authors' code).

The default stays "floor": its B bins are the paper's description (edges at floor(k U / B)),
and a state holding only the maximum makes I(X;T) depend on how many samples reach exactly
the top value -- in float32 tanh layers, on rounding to 1.0 rather than on the network.

``lower``: if set (e.g. 0 for ReLU layers, -1 for tanh layers), every value <= ``lower`` shares
bin 0 by itself (all exact ReLU zeros, or all saturated -1s, form one state), and the other
B - 1 bins split the distinct values above ``lower`` by the convention's rule (with
"chelombiev": B - 1 bins plus the maximum's state, so B + 1 states in all again).

``per_neuron=True`` is the equal-mass variant (default convention only): per neuron, edges at
the sample quantiles ``sorted_j[floor(k * N / B)]`` so each bin holds about N / B samples of
that neuron (duplicates counted). The discrete MI is then as for fixed binning
(estimators.md §1–2).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp
from jax import lax

from infoplane.estimators._base import Estimate, Probe, check_units, dataclass_params
from infoplane.estimators._discrete import binned_information
from infoplane.estimators._numerics import ceil_log2, ordered_key, run_starts
from infoplane.estimators.binning import MAX_BINS, _discrete_estimate
from infoplane.estimators.validate import check_flag, check_int, check_real, check_seed

CONVENTIONS = ("floor", "chelombiev")


def select_flagged(s, flags, targets, block: int = 256):
    """Elements of ``s`` at given ranks among the flagged positions, without a full prefix sum.

    s: (M,) values; flags: (M,) bool; targets: (T,) int32 0-based ranks, each < flags.sum().
    Returns ``s[pos]`` where pos[k] is the position of the targets[k]-th flagged element.
    Two levels: per-block flag counts (a reduction), a cumsum
    over the M / block block counts, then a cumsum inside the T selected blocks only -- on
    XLA:CPU several times cheaper than ``cumsum`` over all M elements.
    """
    m = s.shape[0]
    pad = (-m) % block
    f = flags.astype(jnp.int32)
    if pad:
        f = jnp.concatenate([f, jnp.zeros((pad,), jnp.int32)])
    f = f.reshape(-1, block)  # (nb, block)
    per_block = jnp.sum(f, axis=1)  # (nb,)
    upto = jnp.cumsum(per_block)  # (nb,) flagged elements up to the end of each block
    blk = jnp.searchsorted(upto, targets, side="right")  # block holding each target
    blk = jnp.clip(blk, 0, f.shape[0] - 1)
    local = targets - (upto[blk] - per_block[blk])  # rank inside that block
    within = jnp.cumsum(f[blk], axis=1)  # (T, block)
    idx = jnp.sum(within <= local[:, None], axis=1)  # first position where within == local + 1
    pos = jnp.clip(blk * block + idx, 0, m - 1)
    return s[pos]


def chelombiev_positions(u, n_bins: int):
    """``int(k * (u / n_bins))`` for k = 0..n_bins-1, as Python computes it in float64, exactly.

    u: int32 scalar (traced) >= 0, the number of distinct values; n_bins static, 1..1024.
    Returns (n_bins,) int32. Derivation (float64 is off by default in JAX): the exact value is
    m = floor(k u / B); float64 can only land below an integer m = k u / B, giving m - 1. With
    q = fl(u / B): if u / B rounds down (by rho / B units of its last place, rho =
    (u 2^(52-e)) mod B, e = floor(log2(u / B)), rounding down when 2 rho < B; no ties for
    B <= 1024), k q = m - k rho 2^(e-52) / B, which rounds below m exactly when that gap
    exceeds half the spacing 2^(F-52) of the floats just below m, F = floor(log2(m - 1)):
    2 k rho 2^e > B 2^F. Every intermediate fits int32 for any u < 2^31 (and the float64 error
    cannot cross a non-integer k u / B below u ~ 2^52 / B^2). Checked against Python for every
    u <= 2^22 with B = 30 and for samples with other B (tests/estimators/test_conventions.py).
    """
    b = int(n_bins)
    u = jnp.asarray(u, jnp.int32)
    k = jnp.arange(b, dtype=jnp.int32)
    ur = u % b
    m = k * (u // b) + (k * ur) // b  # floor(k u / b) without overflow
    exact_int = (k * ur) % b == 0  # k u / b is an integer
    bitlen = lambda x: 32 - lax.clz(x)  # noqa: E731
    e0 = bitlen(u) - b.bit_length()  # e is e0 or e0 - 1
    scaled = jnp.where(e0 >= 0, u >> jnp.maximum(e0, 0), u << jnp.clip(-e0, 0, 31))
    e = jnp.where(scaled >= b, e0, e0 - 1)
    pow2_mod = jnp.asarray([pow(2, p, b) for p in range(128)], jnp.int32)
    rho = (ur * pow2_mod[jnp.clip(52 - e, 0, 127)]) % b
    f = bitlen(jnp.maximum(m - 1, 0)) - 1
    sh = f - e
    two = 2 * k * rho
    below = jnp.where(sh >= 0, two > (b << jnp.clip(sh, 0, 31)), (two << jnp.clip(-sh, 0, 31)) > b)
    c = exact_int & (k > 0) & (rho > 0) & (2 * rho < b) & below
    return m - c.astype(jnp.int32)


def distinct_level_edges(keys, n_bins: int, lower_key=None, convention: str = "floor"):
    """Edges (as ordered uint32 keys) splitting distinct values into equal counts.

    keys: (M,) uint32 ordered keys of all the layer's values; lower_key: optional uint32 key of
    ``lower``. Returns sorted uint32 edges; the bin of a key is the number of edges <= it:
    (n_bins - 1,) edges for "floor" (states 0..n_bins-1), (n_bins,) for "chelombiev" (states
    0..n_bins, the last the maximum's).
    """
    s = jnp.sort(keys)
    first = run_starts(s)  # first occurrence of each distinct value
    if lower_key is None:
        b = n_bins
    else:
        b = n_bins - 1
        first = first & (s > lower_key)
    u = jnp.sum(first, dtype=jnp.int32)  # number of distinct (eligible) values
    start = 0 if lower_key is not None else 1  # without lower, edge 0 (the minimum) is moot
    if convention == "chelombiev":
        target = chelombiev_positions(u, b)[start:]
    else:
        k = jnp.arange(start, b, dtype=jnp.int32)
        target = (k * u) // b  # 0-based rank of each edge among the distinct values
    edges = select_flagged(s, first, target)
    if convention == "chelombiev":
        edges = jnp.concatenate([edges, s[-1:]])  # the maximum: a state of its own
    if lower_key is not None:
        # edge 0 (rank 0) is the smallest distinct value above `lower`: values <= lower -> bin 0;
        # nothing above lower at all: every value in bin 0
        edges = jnp.where(u > 0, edges, jnp.uint32(0xFFFFFFFF))
    return edges


def count_le(keys, edges):
    """Number of edges <= each key. keys: (...) uint32; edges: (E,) uint32 -> (...) int32."""
    return jnp.sum(keys[..., None] >= edges, axis=-1).astype(jnp.int32)


@dataclasses.dataclass(frozen=True)
class AdaptiveBinning:
    """Entropy-based adaptive binning estimator (Chelombiev et al. 2019).

    Cost: time O(N d log(N d) + N d B) (one sort of all N d values -- per neuron: d sorts of
    N -- then B - 1 edge comparisons per value and the row hash and sort of `Binning`),
    memory O(N d), compile time independent of d.

    Args:
      n_bins: number of bins B (default 30).
      lower: values <= lower share the first bin (0 for ReLU, -1 for tanh); None: no such bin.
      per_neuron: False (default) = EBAB, edges per layer over the pooled distinct values;
        True = equal-mass bins per neuron (sample quantiles).
      convention: "floor" (default) -- B bins, edges at floor(k U / B); "chelombiev" -- the
        authors' code's states: float64 positions int(k * (U / B)) and the layer maximum a
        state of its own (B + 1 states). Not with per_neuron. See the module docstring.
      hash_seed: row-hash seed for layers whose bins do not fit one 32-bit key (collisions are
        detected exactly and retried, so it never changes the result).
      units: "bits" (default) or "nats".

    ``estimate_layer(probe, t)``: t (N, d) -> `Estimate` (aux as `Binning`). Edges depend on the
    data of each call, so this estimator is invariant to any strictly increasing map applied to
    a layer's values (EBAB) or to each neuron (per-neuron).

    To reproduce Chelombiev et al.'s numbers use ``AdaptiveBinning(convention="chelombiev")``
    (spec ``adaptive_binning(convention=chelombiev)``).
    """

    n_bins: int = 30
    lower: float | None = None
    per_neuron: bool = False
    convention: str = "floor"
    hash_seed: int = 0
    units: str = "bits"

    name: ClassVar[str] = "adaptive_binning"
    epoch_batching: ClassVar[str] = "vmap"

    def __post_init__(self):
        check_units(self.units)
        check_int(self.n_bins, "n_bins", owner="AdaptiveBinning",
                  hint="Chelombiev et al. use 30 bins.")
        if not 2 <= self.n_bins <= MAX_BINS:
            raise ValueError(
                f"AdaptiveBinning needs n_bins >= 2 (and <= {MAX_BINS}), got {self.n_bins!r}. "
                "Chelombiev et al. use 30 bins."
            )
        check_flag(self.per_neuron, "per_neuron", owner="AdaptiveBinning")
        check_seed(self.hash_seed, "hash_seed", owner="AdaptiveBinning")
        if not isinstance(self.convention, str) or self.convention not in CONVENTIONS:
            raise ValueError(
                f"AdaptiveBinning convention must be one of {', '.join(map(repr, CONVENTIONS))}"
                f", got {self.convention!r}. Use 'floor' (default) or 'chelombiev' to reproduce "
                "the states of Chelombiev et al.'s code."
            )
        if self.convention == "chelombiev":
            if self.per_neuron:
                raise ValueError(
                    "convention='chelombiev' reproduces the authors' per-layer (pooled) binning; "
                    "per-neuron quantile bins are not part of it. Use per_neuron=False with "
                    "convention='chelombiev', or the default convention with per_neuron=True."
                )
            if self.n_bins > 1024:
                raise ValueError(
                    f"convention='chelombiev' supports n_bins <= 1024 (exact int32 positions), "
                    f"got {self.n_bins}. The authors use 30."
                )
        if self.lower is not None:
            check_real(self.lower, "lower", owner="AdaptiveBinning",
                       hint="Use None, 0 for ReLU layers or -1 for tanh layers.")
            if self.per_neuron:
                raise ValueError(
                    "lower applies to the pooled (per-layer) binning only; use "
                    "per_neuron=False with lower, or lower=None with per_neuron=True."
                )
            if self.n_bins < 3:
                raise ValueError("With lower set, n_bins must be >= 3 (bin 0 is the lower bin).")

    def params(self) -> tuple:
        return dataclass_params(self)

    def prepare(self, probe: Probe) -> Probe:
        return probe

    def bin_indices(self, t):
        """Bin (state) index of every activation. t: (N, d) float -> (N, d) int32 in
        0..n_bins-1 ("floor") or 0..n_bins ("chelombiev": n_bins is the maximum's state)."""
        keys = ordered_key(t.astype(jnp.float32))  # (N, d) uint32, same order as the floats
        if self.per_neuron:
            n = t.shape[0]
            s = jnp.sort(keys, axis=0)  # (N, d), per-neuron order statistics
            k = jnp.arange(1, self.n_bins, dtype=jnp.int32)
            edges = s[(k * n) // self.n_bins]  # (B-1, d)
            return jax.vmap(count_le, in_axes=(1, 1), out_axes=1)(keys, edges)
        lower_key = None
        if self.lower is not None:
            lower_key = ordered_key(jnp.float32(self.lower))
        edges = distinct_level_edges(keys.reshape(-1), self.n_bins, lower_key, self.convention)
        return count_le(keys, edges)

    @property
    def n_states(self) -> int:
        """Possible states per neuron: n_bins, or n_bins + 1 with "chelombiev"."""
        return self.n_bins + (self.convention == "chelombiev")

    def estimate_layer(self, probe: Probe, t) -> Estimate:
        b = self.bin_indices(t)
        r = binned_information(b, probe, bits=ceil_log2(self.n_states), seed=self.hash_seed)
        return _discrete_estimate(self, r)
