"""Uniform binning (Shwartz-Ziv & Tishby 2017; Saxe et al. 2018).

Each activation is replaced by the index of its bin; the row of bin indices is the discrete
layer state T~, and I(X;T~), I(T~;Y) are plug-in estimates over the probe set
(`infoplane.estimators._discrete`). Three ways to choose the bins:

* ``Binning()`` -- ``n_bins=29`` equal bins between the 30 edges of ``range=(-1, 1)``,
  shared by every neuron and layer. The edges are the original code's
  ``e = np.linspace(lo, hi, n_bins + 1).astype(np.float32)`` and the bin of a value is
  ``np.digitize(t, e) - 1`` exactly (``e[i] <= t < e[i+1]`` -> bin i, so a value lying on an
  interior edge belongs to the bin above it), clipped into ``0..n_bins-1``: values below ``lo``
  go to the first bin, values ``>= hi`` (t = 1.0 included) to the last (``convention="clip"``).
* ``Binning(range="data")`` -- the same number of equal bins between the layer's own minimum
  and maximum, recomputed per layer per call (suits ReLU layers); edges below.
* ``Binning(width=0.07)`` -- Saxe et al.: a fixed bin width with no range, bin index
  ``floor(t / width)`` (unbounded; suits ReLU layers).

Conventions for the range modes (``convention=``):

* ``"clip"`` (default): as above, ``n_bins`` states per neuron.
* ``"idnns"``: the states of the original Shwartz-Ziv & Tishby code, which replaces every value
  by ``e[np.digitize(t, e) - 1]``: the same bins, plus ``t >= hi`` as a state of its own
  (``n_bins + 1`` states; in a float32 tanh layer that state holds exactly the values that
  rounded to 1.0). With ``wrap_below=True`` values below ``lo`` join that top state too, as
  in the original (digitize gives 0, and index -1 wraps to the last edge); by default they go to
  the first bin. ``Binning(convention="idnns", wrap_below=True)`` reproduces the original's
  states exactly; for tanh layers (never below -1) ``wrap_below`` makes no difference.

Why ``"clip"`` is the default: the extra top state of ``"idnns"`` is made by float32 rounding,
not by the network -- tanh(x) rounds to exactly 1.0 in float32 for x above ~9.01 (in float64
only above ~19.1), so whether a saturated unit has a state of its own depends on the float
precision. On saturated float32 tanh layers the two differ by up to ~1.5 bits of I(X;T) (1.71
measured with the authors' code); see ``Binning`` for how to reproduce published numbers.

How the fixed-range index is computed (exact, cheapest of three plans, chosen on the host
once per range by `_index_plan`): the approximate index ``k0 = floor((t - lo) * s)``,
``s = float32(n_bins) / (hi - lo)`` (one subtraction, one multiplication: nothing XLA may
contract into an FMA, so the host reproduces it bit for bit), is monotone in t, so it equals the
number of its own thresholds ``a_j = min{float32 t : floor((t - lo) * s) >= j}`` that are <= t.
The thresholds are found by bisection over the float32 values. Wherever ``a_j`` differs from the
linspace edge ``e_j`` one pair of comparisons ``[t >= e_j] - [t >= a_j]`` corrects the count
("pairs"); when that is more work than counting the edges <= t directly ("count", 28
comparisons for the default range, where 19 of the 28 thresholds differ from their edge by 1
to 12 ulps) the count is used; for many bins, a +-1 correction against the two gathered edges of
the bin ("gather"), used only when provably enough. All three equal ``np.digitize`` for every
float32 value (the floor formula alone puts values lying exactly on 3 of the 28 default interior
edges one bin too low, and values 1 to 12 ulps below 16 other edges one bin too high).

``range="data"``: lo = min t, hi = max t (hi = lo + 1 for a constant layer) and the bin is
``clip(floor((t - lo) * s), 0, n_bins - 1)``, i.e. ``np.digitize`` on the edges ``e_0 = lo``,
``e_j = a_j`` (j = 1..n_bins-1, the thresholds above: each within a few float32 ulps of
max(|lo|, |hi|) of ``lo + j (hi - lo) / n_bins``), ``e_n = hi``. This rule, rather than
explicit edges ``lo + j * w``, because XLA contracts ``lo + j * w`` into an FMA and rewrites a
division by a constant into a multiplication by its reciprocal, so explicit float32 edges
computed under jit do not reproduce bit for bit on the host (measured on XLA:CPU: 23% of random
values differ); the thresholds of the index formula do, by definition (`data_range_edges`
computes them on the host). With "idnns" the layer maximum is the top state.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import ClassVar

import jax.numpy as jnp
import numpy as np
from jax import lax

from infoplane.estimators._base import (
    Estimate,
    Probe,
    check_units,
    dataclass_params,
    nats_to,
)
from infoplane.estimators._discrete import binned_information
from infoplane.estimators._numerics import ceil_log2
from infoplane.estimators.validate import check_flag, check_int, check_real, check_seed

CONVENTIONS = ("clip", "idnns")


def uniform_bin_index(t, lo, hi, n_bins: int):
    """The approximate (floor-formula) index of every value, clipped into 0..n_bins-1.

    k = clip(floor((t - lo) * s), 0, n_bins - 1) with s = float32(n_bins) / (hi - lo), all in
    float32. One subtraction, one multiplication and a floor: no operation XLA may contract or
    re-associate, so the host reproduces every index bit for bit. It is monotone in t; its
    thresholds are the ``range="data"`` edges (`data_range_edges`).
    t: (...) float32 -> (...) int32.
    """
    lo = jnp.asarray(lo, jnp.float32)
    s = jnp.float32(n_bins) / (jnp.asarray(hi, jnp.float32) - lo)
    # clip(floor(v), 0, n-1) == trunc(clip(v, 0, n-1)) for every v (truncation is floor for
    # v >= 0); the second form avoids a floor and an integer clip (~2x faster on XLA:CPU).
    v = jnp.clip((t - lo) * s, 0.0, jnp.float32(n_bins - 1))
    return v.astype(jnp.int32)


# ---- host side: edges and thresholds (NumPy, float32) ----------------------------------------


def _order_key(i):
    """Signed int32 key of float32 bits with the float order: ``i ^ ((i >> 31) & 0x7FFFFFFF)``.

    Integer comparisons of keys are exact for every finite float32, subnormals included (XLA
    may flush subnormals to zero in float comparisons); -0.0 gets key -1, just below +0.0's 0.
    The map is its own inverse. i: int32 bits (NumPy or JAX) -> int32 keys.
    """
    return i ^ ((i >> 31) & 0x7FFFFFFF)


def _key(x) -> np.ndarray:
    """Host: float32 values -> int32 order keys."""
    return _order_key(np.asarray(x, np.float32).view(np.int32))


def _unkey(k) -> np.ndarray:
    """Host: int32 order keys -> float32 values."""
    return _order_key(np.asarray(k, np.int32)).view(np.float32)


def _ge_key(e) -> int:
    """The key threshold K with ``t >= e`` <=> ``key(t) >= K`` (e = +-0.0 admits -0.0 too)."""
    return int(_key(np.float32(-0.0))) if e == 0 else int(_key(np.float32(e)))


def _device_key(t):
    """Device: float32 values -> int32 order keys (a bitcast and two integer ops)."""
    return _order_key(lax.bitcast_convert_type(t, jnp.int32))


def floor_thresholds(lo: float, hi: float, n_bins: int) -> np.ndarray:
    """Thresholds of the floor formula: a_j = min{float32 t : floor((t - lo) * s) >= j}.

    j = 1..n_bins-1, lo and hi as float32, s = float32(n_bins) / (hi - lo) in float32.
    Found by bisection over the ordered float32 values (exact). -> (n_bins - 1,) float32.
    """
    lo32, hi32 = np.float32(lo), np.float32(hi)
    s = np.float32(n_bins) / (hi32 - lo32)
    j = np.arange(1, n_bins, dtype=np.float32)

    def reached(k):  # floor((t - lo) * s) >= j at t = _unkey(k)
        with np.errstate(over="ignore", invalid="ignore"):
            return np.floor((_unkey(k) - lo32) * s) >= j

    big = np.finfo(np.float32).max
    a = np.full(j.shape, int(_key(np.float32(-big))), np.int64)  # not reached
    b = np.full(j.shape, int(_key(np.float32(big))), np.int64)  # reached
    while np.any(b - a > 1):
        mid = (a + b) // 2
        ok = reached(mid.astype(np.int32))
        b = np.where(ok, mid, b)
        a = np.where(ok, a, mid)
    return _unkey(b.astype(np.int32))


def data_range_edges(lo: float, hi: float, n_bins: int) -> np.ndarray:
    """The ``range="data"`` edges for a layer with min ``lo`` and max ``hi`` (host, float32):
    ``[lo, a_1, ..., a_{n-1}, hi]`` with a_j the `floor_thresholds`. -> (n_bins + 1,) float32."""
    lo32, hi32 = np.float32(lo), np.float32(hi)
    if not hi32 > lo32:
        hi32 = lo32 + np.float32(1.0)
    return np.concatenate([[lo32], floor_thresholds(lo32, hi32, n_bins), [hi32]]).astype(
        np.float32)


#: Cost of the gather-based correction in units of one elementwise comparison (measured on
#: XLA:CPU: two gathers of 3M values ~23 ms, one fused comparison ~0.1-0.2 ms).
_GATHER_COST = 128


@functools.lru_cache(maxsize=64)
def _index_plan(lo: float, hi: float, n_bins: int) -> tuple:
    """How `linspace_bin_index` computes a fixed range's exact index (host, cached).

    Returns ``(method, data)``: ``("pairs", ((e_j, a_j), ...))`` -- the floor formula plus one
    pair of comparisons per interior edge e_j that differs from its threshold a_j;
    ``("count", (e_1, ..., e_{n-1}))`` -- one comparison per interior edge; or
    ``("gather", (e_1, ..., e_{n-1}))`` -- the floor formula corrected by +-1 against the
    gathered edges of its bin, used only when the formula is provably never off by more than
    one bin (the intervals between each e_j and a_j are disjoint). The cheapest applicable.
    """
    e = np.linspace(lo, hi, n_bins + 1).astype(np.float32)[1:-1]
    a = floor_thresholds(lo, hi, n_bins)
    differ = e != a
    pairs = tuple((float(ej), float(aj)) for ej, aj in zip(e[differ], a[differ], strict=True))
    lo_iv, hi_iv = np.minimum(e, a)[differ], np.maximum(e, a)[differ]
    disjoint = bool(np.all(hi_iv[:-1] <= lo_iv[1:]))
    costs = {"pairs": 2 * len(pairs), "count": n_bins - 1}
    if disjoint:
        costs["gather"] = _GATHER_COST
    method = min(costs, key=costs.get)
    return method, (pairs if method == "pairs" else tuple(float(v) for v in e))


def linspace_bin_index(t, lo: float, hi: float, n_bins: int):
    """``clip(np.digitize(t, e) - 1, 0, n_bins - 1)`` exactly, for the float32 linspace edges
    ``e = np.linspace(lo, hi, n_bins + 1).astype(np.float32)`` of a fixed range.

    The floor-formula index corrected where its thresholds and the linspace edges differ, or
    a plain count of the interior edges <= t, whichever is cheaper (`_index_plan`; module
    docstring). Comparisons are made on integer order keys, exact for every float32.
    t: (...) float32 -> (...) int32.
    """
    method, data = _index_plan(float(lo), float(hi), n_bins)
    kt = _device_key(t)

    def ge(e):  # [t >= e] as int32
        return (kt >= jnp.int32(_ge_key(e))).astype(jnp.int32)

    if method == "count":
        k = jnp.zeros(t.shape, jnp.int32)
        for e_j in data:  # unrolled and fused: one comparison and one add per edge
            k = k + ge(e_j)
        return k
    k = uniform_bin_index(t, lo, hi, n_bins)
    if method == "pairs":
        for e_j, a_j in data:
            k = k + ge(e_j) - ge(a_j)
        return k
    lowest, highest = np.iinfo(np.int32).min, np.iinfo(np.int32).max
    keys = jnp.asarray([lowest] + [_ge_key(e) for e in data] + [highest], jnp.int32)
    # bin k spans keys[k] <= key < keys[k + 1]; the floor formula is off by at most one here
    return k - (kt < keys[k]).astype(jnp.int32) + (kt >= keys[k + 1]).astype(jnp.int32)


def width_bin_index(t, width: float):
    """Fixed-width bin ids: one distinct int32 per distinct ``v = floor(t / width)`` (float32).

    ``v`` itself where ``|v| < 2**30``; beyond (where an int32 cast would overflow, e.g.
    |t| > 7.5e7 at width 0.07), ``sign(v) * bits(|v|)``, the float32 bit pattern of ``|v|``
    as an int32, which is >= 2**30 in magnitude for such ``v``, so the two ranges never
    meet and distinct bins stay distinct (the ids are only grouped, never ordered). Values
    whose quotient overflows float32 share the bin of +-inf. t: (...) float32 -> (...) int32.
    """
    v = jnp.floor(t / jnp.float32(width))
    small = jnp.abs(v) < jnp.float32(2.0**30)
    bits = lax.bitcast_convert_type(jnp.abs(v), jnp.int32)
    big = jnp.where(v < 0, -bits, bits)
    return jnp.where(small, jnp.where(small, v, 0.0).astype(jnp.int32), big)


#: Largest ``n_bins`` of `Binning` (the host computes one threshold per edge).
MAX_BINS = 65536


def _check_range(rng, wrap_below) -> tuple[float, float] | str:
    """`Binning`'s ``range``: ``"data"`` or a pair ``(lo, hi)`` (tuple or list) of finite
    real numbers with lo < hi also in float32. Returns it normalised (a tuple of floats)."""
    if isinstance(rng, str):
        if rng != "data":
            raise ValueError(
                f"Binning range must be (lo, hi) or 'data', got {rng!r}. Use range=(-1, 1) "
                "for tanh layers or range='data' for ReLU layers."
            )
        if wrap_below:
            raise ValueError(
                "wrap_below=True has no effect with range='data' (no value lies below the "
                "layer's minimum); drop wrap_below or use a fixed range such as (-1, 1)."
            )
        return rng
    if not isinstance(rng, (tuple, list)):
        raise TypeError(
            f"Binning range must be a pair (lo, hi) or 'data', got {rng!r} "
            f"({type(rng).__name__}). Use range=(-1, 1) for tanh layers."
        )
    if len(rng) != 2:
        raise ValueError(
            f"Binning range must be a pair (lo, hi) of two numbers, got {len(rng)} values: "
            f"{tuple(rng)!r}. Use range=(-1, 1) for tanh layers."
        )
    lo, hi = (check_real(v, f"range[{i}]", owner="Binning") for i, v in enumerate(rng))
    big = float(np.finfo(np.float32).max)
    if not (lo < hi and -big <= lo and hi <= big and np.float32(lo) < np.float32(hi)):
        raise ValueError(
            f"Binning range must satisfy lo < hi (finite, distinct in float32), got "
            f"{tuple(rng)!r}. Use range=(-1, 1) for tanh layers or range='data' for "
            "ReLU layers."
        )
    return (lo, hi)


@dataclasses.dataclass(frozen=True)
class Binning:
    """Uniform-binning estimator of I(X;T) and I(T;Y) (Shwartz-Ziv & Tishby 2017).

    Cost: time O(N d c + N log N) (bin, hash each row, sort; c the comparisons per value: for
    a fixed range those `_index_plan` picks, n_bins - 1 = 28 at the defaults and at most ~128
    where its gather correction applies; 1 for ``range="data"`` and ``width``), memory O(N d)
    (the bin indices), compile time independent of d (rows wider than 16 units are hashed in
    one fused reduction; the c comparisons are unrolled, so it grows with them, not with d).

    Args:
      n_bins: number of equal bins, an integer in 2..65536 (default 29, i.e. the original 30
        edges over [-1, 1]; 30.0 is rejected: write 30).
      range: ``(lo, hi)`` fixed range (a tuple or list of two finite numbers, lo < hi in
        float32), or ``"data"`` for the layer's own [min, max] per call.
      width: if set, fixed-width bins ``floor(t / width)`` with no range (Saxe et al. use
        0.07); ``n_bins`` (still checked), ``range`` (may be None) and ``convention`` are then
        unused. Any magnitude of t / width is binned exactly (`width_bin_index`: no int32
        overflow beyond |t| ~ 1.5e8 at 0.07); quotients beyond float32 share one bin.
      convention: ``"clip"`` (default) -- values outside the range clipped into the first /
        last bin, ``n_bins`` states per neuron; ``"idnns"`` -- the original code's states,
        ``t >= hi`` a state of its own (``n_bins + 1`` states). See the module docstring for
        the exact edges and why "clip" is the default.
      wrap_below: only with ``convention="idnns"`` and a fixed range: values below ``lo`` join
        the top state, as the original code's index -1 does (off by default: they go to the
        first bin).
      hash_seed: seed of the row hash used when a layer's bins do not fit a 32-bit key;
        collisions are detected exactly and retried with the next seed, so it never changes
        the result (it is recorded so that every number can be recomputed bit for bit).
      units: "bits" (default) or "nats".

    ``estimate_layer(probe, t)``: t (N, d) float -> `Estimate` with ``i_xt`` = I(X;T~),
    ``i_ty`` = I(T~;Y) and aux ``h_t``, ``h_t_given_x``, ``h_t_given_y``, ``n_states``,
    ``hash_collisions``, and with a fixed ``range`` ``clipped``: the fraction of the layer's
    values outside [lo, hi], put in the edge bins (the `Recorder` warns when it is above 1 %:
    a ReLU layer on (-1, 1) clips most of its values). Bounds: 0 <= I(X;T~) <= log2 N,
    0 <= I(T~;Y) <= H(Y).

    To reproduce Shwartz-Ziv & Tishby's numbers use ``Binning(convention="idnns")`` (spec
    ``binning(convention=idnns)``), adding ``wrap_below=True`` for layers that go below -1.

    Example::

        est = infoplane.estimate(Binning(), x, t, y)   # est.i_xt, est.i_ty in bits
    """

    n_bins: int = 29
    range: tuple[float, float] | str = (-1.0, 1.0)
    width: float | None = None
    convention: str = "clip"
    wrap_below: bool = False
    hash_seed: int = 0
    units: str = "bits"

    name: ClassVar[str] = "binning"
    epoch_batching: ClassVar[str] = "vmap"

    def __post_init__(self):
        check_units(self.units)
        check_seed(self.hash_seed, "hash_seed", owner="Binning")
        check_int(self.n_bins, "n_bins", owner="Binning", hint="The original uses n_bins=29.")
        if not 2 <= self.n_bins <= MAX_BINS:
            why = ("fewer than 2 bins put every sample in the same state (I = 0)"
                   if self.n_bins < 2 else "the host computes one threshold per edge")
            raise ValueError(
                f"Binning needs n_bins >= 2 (and <= {MAX_BINS}), got {self.n_bins!r}: {why}. "
                "The original uses n_bins=29 (30 edges)."
            )
        self._check_convention()
        if self.width is not None:
            w = check_real(self.width, "width", lo=0.0, lo_open=True, owner="Binning",
                           hint="Saxe et al. use width=0.07.")
            if not np.finfo(np.float32).tiny <= w <= np.finfo(np.float32).max:
                raise ValueError(
                    f"Binning width must be a normal float32 number (between 1.2e-38 and "
                    f"3.4e38), got {self.width!r}. Saxe et al. use width=0.07."
                )
        if not (self.width is not None and self.range is None):  # None: unused with width
            object.__setattr__(self, "range", _check_range(self.range, self.wrap_below))

    def _check_convention(self):
        if not isinstance(self.convention, str) or self.convention not in CONVENTIONS:
            raise ValueError(
                f"Binning convention must be one of {', '.join(map(repr, CONVENTIONS))}, got "
                f"{self.convention!r}. Use 'clip' (default) or 'idnns' to reproduce the "
                "original Shwartz-Ziv & Tishby states."
            )
        check_flag(self.wrap_below, "wrap_below", owner="Binning")
        if self.wrap_below and self.convention != "idnns":
            raise ValueError(
                "wrap_below=True reproduces the original code's wrap of values below lo to "
                "the top state, which exists only with convention='idnns'; use "
                "Binning(convention='idnns', wrap_below=True), or drop wrap_below."
            )
        if self.width is not None and self.convention != "clip":
            raise ValueError(
                f"convention={self.convention!r} applies to range binning; width="
                f"{self.width!r} is Saxe et al.'s fixed-width binning floor(t / width), which "
                "has no range. Drop convention, or drop width to bin a range."
            )

    @property
    def n_states(self) -> int | None:
        """Possible states per neuron (``n_bins``, or ``n_bins + 1`` with "idnns"); None for
        fixed-width bins (unbounded)."""
        if self.width is not None:
            return None
        return self.n_bins + (self.convention == "idnns")

    def edges(self) -> np.ndarray | None:
        """The float32 edges of a fixed range, ``np.linspace(lo, hi, n_bins + 1)`` as float32:
        (n_bins + 1,); None for ``range="data"`` (see `data_range_edges`) and fixed widths."""
        if self.width is not None or self.range == "data":
            return None
        return np.linspace(*self.range, self.n_bins + 1).astype(np.float32)

    def params(self) -> tuple:
        return dataclass_params(self)

    def prepare(self, probe: Probe) -> Probe:
        return probe

    def bin_indices(self, t):
        """Bin (state) index of every activation. t: (N, d) float -> (N, d) int32.

        In 0..n_bins-1 ("clip"), 0..n_bins ("idnns": n_bins is the state ``t >= hi``), or
        unbounded ``floor(t / width)``.
        """
        t = t.astype(jnp.float32)
        if self.width is not None:
            return width_bin_index(t, self.width)
        if self.range == "data":
            lo, hi = jnp.min(t), jnp.max(t)
            k = uniform_bin_index(t, lo, jnp.where(hi > lo, hi, lo + 1.0), self.n_bins)
            if self.convention == "idnns":  # the maximum is a state of its own
                kt = _device_key(t)
                kt = jnp.where(kt == -1, 0, kt)  # -0.0 counts as 0.0, as in t >= max(t)
                top = (kt >= jnp.max(kt)) & (hi > lo)  # a constant layer: one state
                k = jnp.where(top, jnp.int32(self.n_bins), k)
            return k
        lo, hi = self.range
        k = linspace_bin_index(t, lo, hi, self.n_bins)
        if self.convention == "idnns":
            kt = _device_key(t)
            top = kt >= _ge_key(hi)  # t >= hi: a state of its own
            if self.wrap_below:
                top = top | (kt < _ge_key(lo))  # t < lo wraps to it, as in the original
            k = jnp.where(top, jnp.int32(self.n_bins), k)
        return k

    def estimate_layer(self, probe: Probe, t) -> Estimate:
        b = self.bin_indices(t)
        bits = None if self.width is not None else ceil_log2(self.n_states)
        r = binned_information(b, probe, bits=bits, seed=self.hash_seed)
        if self.width is None and self.range != "data":  # aux "clipped": outside the range
            lo, hi = self.range
            t = t.astype(jnp.float32)
            r = {**r, "clipped": jnp.mean(((t < lo) | (t > hi)).astype(jnp.float32))}
        return _discrete_estimate(self, r)


def _discrete_estimate(est, r: dict) -> Estimate:
    """Wrap the nats dict of `binned_information` as an `Estimate` in the estimator's units."""
    info = ("i_xt", "i_ty", "h_t", "h_t_given_x", "h_t_given_y")
    aux = {k: (nats_to(est.units, v) if k in info else v) for k, v in r.items()}
    return Estimate(
        i_xt=aux.pop("i_xt"),
        i_ty=aux.pop("i_ty"),
        aux=aux,
        units=est.units,
        estimator=est.name,
        params=est.params(),
    )
