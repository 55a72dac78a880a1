"""Facts about a probe set and a layer that are not estimates: the information-plane ceilings
and activation-saturation statistics.

- `ceilings(x, y)`: the largest values I(X;T) and I(T;Y) can take on a probe set, H(X) and
  H(Y) of its empirical distribution. For a deterministic network I(X;T) ≤ H(X) = log2 N when
  the N inputs are distinct, and I(T;Y) ≤ H(Y). The figures and the dashboard draw them.
- `activation_stats(ts)`: per recorded epoch, how saturated a layer is. Saxe et al. (2018)
  trace the "compression phase" of tanh networks under binning to units saturating at ±1; a
  ReLU layer instead shows zeros and dead units. The `Recorder` writes these per layer to
  ``diagnostics.csv`` and TensorBoard next to every estimate.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["SATURATION_THRESHOLD", "STAT_NAMES", "activation_stats", "ceilings"]

#: |t| at or above this counts as saturated (tanh's asymptotes are ±1; softmax outputs near 1).
SATURATION_THRESHOLD = 0.99
#: The statistics of `activation_stats`, in order.
STAT_NAMES = ("saturated", "zero", "dead_units", "mean_abs")


def _entropy_bits(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum())


def ceilings(x, y, *, units: str = "bits") -> dict[str, float]:
    """The ceilings of the information plane on the probe set (x, y).

    Args:
      x: (N, ...) probe inputs (any dtype; rows compared exactly).
      y: (N,) integer labels.
      units: "bits" or "nats".

    Returns:
      {"i_xt": H(X), "i_ty": H(Y)} of the empirical distributions, in ``units``:
      H(X) = -Σ_x p(x) log p(x) over the distinct input rows (= log N when all differ) and
      H(Y) = -Σ_y p(y) log p(y).
    """
    if units not in ("bits", "nats"):
        raise ValueError(f"units must be 'bits' or 'nats', got {units!r}.")
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim < 1 or y.ndim != 1 or x.shape[0] != y.shape[0] or y.shape[0] == 0:
        raise ValueError(
            f"ceilings() needs x of shape (N, ...) and y of shape (N,) with N > 0, got "
            f"{x.shape} and {y.shape}."
        )
    rows = np.ascontiguousarray(x.reshape(x.shape[0], -1))
    _, x_counts = np.unique(rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1])))
                            if rows.shape[1] else np.zeros(len(rows)), return_counts=True)
    _, y_counts = np.unique(y, return_counts=True)
    scale = 1.0 if units == "bits" else math.log(2.0)
    return {"i_xt": _entropy_bits(x_counts) * scale, "i_ty": _entropy_bits(y_counts) * scale}


@functools.partial(jax.jit, static_argnames=("threshold",))
def activation_stats(ts: jax.Array, threshold: float = SATURATION_THRESHOLD) -> dict:
    """Saturation statistics of one layer over recorded epochs.

    Args:
      ts: (E, N, d) activations of E recorded epochs on N probe samples.
      threshold: |t| at or above which an activation counts as saturated.

    Returns:
      dict of (E,) float32 arrays, fractions in [0, 1] except ``mean_abs``:
      ``saturated``: fraction of activations with |t| ≥ threshold (tanh units at ±1);
      ``zero``: fraction of activations exactly 0 (inactive ReLU units);
      ``dead_units``: fraction of units that are 0 on every probe sample (dead ReLUs);
      ``mean_abs``: mean |t| (activation scale).
    """
    a = jnp.abs(ts)
    is_zero = ts == 0
    return {
        "saturated": jnp.mean(a >= threshold, axis=(1, 2)),
        "zero": jnp.mean(is_zero, axis=(1, 2)),
        "dead_units": jnp.mean(jnp.all(is_zero, axis=1), axis=1),
        "mean_abs": jnp.mean(a, axis=(1, 2)),
    }
