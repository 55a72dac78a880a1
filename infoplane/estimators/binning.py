"""Uniform binning (Shwartz-Ziv & Tishby 2017; Saxe et al. 2018).

Each activation is replaced by the index of its bin; the row of bin indices is the discrete
layer state T~, and I(X;T~), I(T~;Y) are plug-in estimates over the probe set
(`infoplane.estimators._discrete`). Three ways to choose the bins:

* ``Binning()`` -- the original: ``n_bins=29`` equal bins between the 30 edges
  ``linspace(-1, 1, 30)``, shared by every neuron and layer. Values outside ``range`` are
  **clipped** into the first/last bin. (The original code sends values below -1 to the top bin;
  we do not reproduce that bug.) The top edge is closed: t = 1.0 is in the last bin.
* ``Binning(range="data")`` -- the same number of equal bins between the layer's own minimum
  and maximum, recomputed per layer per call (suits ReLU layers).
* ``Binning(width=0.07)`` -- Saxe et al.: a fixed bin width with no range, bin index
  ``floor(t / width)`` (unbounded; suits ReLU layers).

Bin of a value: ``k = floor((t - lo) * n_bins / (hi - lo))`` clipped into ``0..n_bins-1``, so a
value on an interior edge belongs to the bin above it (like ``numpy.digitize``) and ``t = hi``
to the last bin.
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import jax.numpy as jnp
import numpy as np

from infoplane.estimators._base import (
    Estimate,
    Probe,
    check_units,
    dataclass_params,
    nats_to,
)
from infoplane.estimators._discrete import binned_information
from infoplane.estimators._numerics import ceil_log2


def uniform_bin_index(t, lo, hi, n_bins: int):
    """Index of the equal-width bin of every value, clipped into 0..n_bins-1.

    k = clip(floor((t - lo) * s), 0, n_bins - 1) with s = float32(n_bins) / (hi - lo), all in
    float32. One subtraction, one multiplication and a floor: no operation XLA may contract or
    re-associate, so the NumPy reference in ``tests/`` reproduces every index bit for bit,
    values on bin edges included. The edges are lo + k / s.
    t: (...) float32 -> (...) int32.
    """
    lo = jnp.asarray(lo, jnp.float32)
    s = jnp.float32(n_bins) / (jnp.asarray(hi, jnp.float32) - lo)
    # clip(floor(v), 0, n-1) == trunc(clip(v, 0, n-1)) for every v (truncation is floor for
    # v >= 0); the second form avoids a floor and an integer clip (~2x faster on XLA:CPU).
    v = jnp.clip((t - lo) * s, 0.0, jnp.float32(n_bins - 1))
    return v.astype(jnp.int32)


@dataclasses.dataclass(frozen=True)
class Binning:
    """Uniform-binning estimator of I(X;T) and I(T;Y) (Shwartz-Ziv & Tishby 2017).

    Args:
      n_bins: number of equal bins (default 29, i.e. the original 30 edges over [-1, 1]).
      range: ``(lo, hi)`` fixed range, or ``"data"`` for the layer's own [min, max] per call.
        Values outside a fixed range are clipped to it.
      width: if set, fixed-width bins ``floor(t / width)`` with no range (Saxe et al. use
        0.07); ``n_bins`` and ``range`` are then ignored.
      hash_seed: seed of the row hash used when a layer's bins do not fit a 32-bit key;
        collisions are detected exactly and retried with the next seed, so it never changes
        the result (it is recorded so that every number can be recomputed bit for bit).
      units: "bits" (default) or "nats".

    ``estimate_layer(probe, t)``: t (N, d) float -> `Estimate` with ``i_xt`` = I(X;T~),
    ``i_ty`` = I(T~;Y) and aux ``h_t``, ``h_t_given_x``, ``h_t_given_y``, ``n_states``,
    ``hash_collisions``. Bounds: 0 <= I(X;T~) <= log2 N, 0 <= I(T~;Y) <= H(Y).

    Example::

        est = infoplane.estimate(Binning(), x, t, y)   # est.i_xt, est.i_ty in bits
    """

    n_bins: int = 29
    range: tuple[float, float] | str = (-1.0, 1.0)
    width: float | None = None
    hash_seed: int = 0
    units: str = "bits"

    name: ClassVar[str] = "binning"
    epoch_batching: ClassVar[str] = "vmap"

    def __post_init__(self):
        check_units(self.units)
        if self.width is not None:
            if not (isinstance(self.width, (int, float)) and math.isfinite(self.width)
                    and self.width > 0):
                raise ValueError(
                    f"Binning width must be a positive finite number, got {self.width!r}. "
                    "Saxe et al. use width=0.07."
                )
            return
        if not isinstance(self.n_bins, (int, np.integer)) or self.n_bins < 2:
            raise ValueError(
                f"Binning needs n_bins >= 2, got {self.n_bins!r}: one bin puts every sample "
                "in the same state (I = 0). The original uses n_bins=29 (30 edges)."
            )
        if isinstance(self.range, str):
            if self.range != "data":
                raise ValueError(
                    f"Binning range must be (lo, hi) or 'data', got {self.range!r}."
                )
        else:
            if isinstance(self.range, list):
                object.__setattr__(self, "range", tuple(self.range))
            lo, hi = self.range
            if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
                raise ValueError(
                    f"Binning range must satisfy lo < hi (finite), got {self.range!r}. "
                    "Use range=(-1, 1) for tanh layers or range='data' for ReLU layers."
                )

    def params(self) -> tuple:
        return dataclass_params(self)

    def prepare(self, probe: Probe) -> Probe:
        return probe

    def bin_indices(self, t):
        """Bin index of every activation. t: (N, d) float -> (N, d) int32."""
        t = t.astype(jnp.float32)
        if self.width is not None:
            return jnp.floor(t / jnp.float32(self.width)).astype(jnp.int32)
        if self.range == "data":
            lo, hi = jnp.min(t), jnp.max(t)
            hi = jnp.where(hi > lo, hi, lo + 1.0)  # a constant layer: one state
        else:
            lo, hi = self.range
        return uniform_bin_index(t, lo, hi, self.n_bins)

    def estimate_layer(self, probe: Probe, t) -> Estimate:
        b = self.bin_indices(t)
        bits = None if self.width is not None else ceil_log2(self.n_bins)
        r = binned_information(b, probe, bits=bits, seed=self.hash_seed)
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
