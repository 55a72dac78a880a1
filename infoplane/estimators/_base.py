"""The estimator protocol and the `Estimate` result type.

This module imports nothing else from `infoplane`: it is the interface every estimator
implements and every consumer (recorder, results files, plots) relies on.

The protocol
------------
An estimator is a **frozen, hashable dataclass of its parameters**. It is used in two steps:

1. ``ctx = estimator.prepare(probe)`` -- once per probe set, on the host. ``probe`` is a
   :class:`Probe` (labels re-coded to ``0..C-1``, ids of distinct inputs). The estimator may
   return the probe itself or a richer pytree (e.g. compressed inputs).
2. ``estimator.estimate_layer(ctx, t)`` -- a **pure, jit-able** function from one layer's
   activations ``t`` of shape ``(N, d)`` to an :class:`Estimate`. Because the estimator is
   hashable it is a static argument of ``jax.jit``; the function compiles once per shape and is
   ``vmap``-able over a leading epochs axis.

Public entry points (`infoplane.estimate`, `infoplane.estimate_epochs`) validate inputs, build
the probe, and run this under ``jit`` / ``vmap`` / ``lax.map``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

import jax
import jax.numpy as jnp
import numpy as np

Units = Literal["bits", "nats"]
LN2 = math.log(2.0)


def nats_to(units: str, value):
    """Convert a value in nats to ``units`` ("bits" divides by ln 2, "nats" is the identity)."""
    if units == "bits":
        return value / LN2
    if units == "nats":
        return value
    raise ValueError(f"units must be 'bits' or 'nats', got {units!r}.")


def check_units(units: str) -> None:
    """``units`` must be the string "bits" or "nats" (anything else, arrays included, is a
    ValueError naming it)."""
    if not isinstance(units, str) or units not in ("bits", "nats"):
        raise ValueError(
            f"units must be 'bits' or 'nats', got {units!r}. Use units='bits' (the default) "
            "for log base 2 or units='nats' for the natural logarithm."
        )


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Probe:
    """The probe set as every estimator sees it, built once on the host by `make_probe`.

    Array fields (pytree leaves):
      labels:  int32 (N,)  class ids re-coded to ``0..n_classes-1``.
      x_ids:   int32 (N,)  id of each row's distinct input in ``0..n_inputs-1`` (equal rows of X
               share an id), so H(T|X) can be computed when inputs repeat.
      x:       float32 (N, D) the inputs flattened to rows (for estimators that need them).
    Static fields (part of the jit cache key):
      n_classes:   number of distinct labels C.
      n_inputs:    number of distinct input rows.
      class_values: the original label values, in id order (for reporting).
    """

    labels: jax.Array
    x_ids: jax.Array
    x: jax.Array
    n_classes: int = dataclasses.field(metadata=dict(static=True))
    n_inputs: int = dataclasses.field(metadata=dict(static=True))
    class_values: tuple = dataclasses.field(default=(), metadata=dict(static=True))

    @property
    def n(self) -> int:
        return int(self.labels.shape[0])

    @property
    def inputs_unique(self) -> bool:
        """True when every row of X is distinct (then H(T|X) = 0 for a deterministic layer)."""
        return self.n_inputs == self.n


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Estimate:
    """One information-plane point (or a stack of them along leading axes).

    Fields:
      i_xt:  array ``(...)`` -- the estimate of I(X;T) in ``units``.
      i_ty:  array ``(...)`` -- the estimate of I(T;Y) in ``units``.
      aux:   mapping name -> array ``(...)`` of auxiliary values (entropies, bounds, diagnostics),
             information quantities in ``units``.
      units: "bits" or "nats" (static).
      estimator: the estimator's name, e.g. "binning" (static).
      params: the estimator's parameters as a tuple of ``(name, value)`` pairs (static, hashable);
             `Estimate.metadata` gives them as a dict.

    Leading axes come from batching: `infoplane.estimate_epochs` returns ``i_xt`` of shape (E,).
    """

    i_xt: jax.Array
    i_ty: jax.Array
    aux: Mapping[str, jax.Array]
    units: str = dataclasses.field(metadata=dict(static=True))
    estimator: str = dataclasses.field(metadata=dict(static=True))
    params: tuple = dataclasses.field(metadata=dict(static=True))

    def metadata(self) -> dict[str, Any]:
        """Estimator name, units and every parameter, as a plain dict (JSON-serialisable)."""
        return {"estimator": self.estimator, "units": self.units, **dict(self.params)}

    def in_units(self, units: Units) -> Estimate:
        """The same estimate expressed in other units ("bits" or "nats")."""
        check_units(units)
        if units == self.units:
            return self
        factor = LN2 if self.units == "bits" else 1.0 / LN2  # to nats, or to bits

        def conv(name, v):
            return v * factor if name not in _UNITLESS_AUX else v

        return Estimate(
            i_xt=self.i_xt * factor,
            i_ty=self.i_ty * factor,
            aux={k: conv(k, v) for k, v in self.aux.items()},
            units=units,
            estimator=self.estimator,
            params=tuple((k, units if k == "units" else v) for k, v in self.params),
        )

    def __getitem__(self, index) -> Estimate:
        """Index the leading (e.g. epochs) axis: ``est[3]`` is the fourth epoch's estimate."""
        return jax.tree_util.tree_map(lambda a: a[index], self)


# Auxiliary values that are counts or flags rather than information, so unit conversion
# leaves them alone.
_UNITLESS_AUX = frozenset(
    {"hash_collisions", "n_states", "sigma2", "n_bins", "saturation", "pca_lost",
     "ae_recon_error", "n_clusters", "unstable", "n_channels", "sigma_t", "sigma_x",
     "n_coincident", "null_permutations", "null_seed",
     "resamples", "clipped"}
)


@runtime_checkable
class Estimator(Protocol):
    """What every estimator implements (see the module docstring)."""

    name: ClassVar[str]
    #: "vmap" or "map": how `estimate_epochs` batches over epochs. Estimators with O(N^2)
    #: temporaries use "map" so memory does not grow with the number of epochs.
    epoch_batching: ClassVar[str]
    units: str

    def prepare(self, probe: Probe) -> Any: ...

    def estimate_layer(self, ctx: Any, t: jax.Array) -> Estimate: ...

    def params(self) -> tuple: ...


def dataclass_params(obj) -> tuple:
    """Every dataclass field of an estimator as a hashable ``((name, value), ...)`` tuple."""
    out = []
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        if isinstance(v, list):
            v = tuple(v)
        out.append((f.name, v))
    return tuple(out)


def make_probe(x, y) -> Probe:
    """Validate-free construction of a `Probe` from host arrays (checks:
    `infoplane.estimators.validate`).

    ``x``: (N, ...) inputs (any trailing shape; rows are compared exactly to find repeats).
    ``y``: (N,) integer labels (any integer values; re-coded to 0..C-1 in sorted order).
    """
    x = np.asarray(x)
    y = np.asarray(y)
    n = y.shape[0]
    x_rows = np.ascontiguousarray(x.reshape(n, -1))
    _, x_ids = np.unique(x_rows, axis=0, return_inverse=True)
    class_values, labels = np.unique(y, return_inverse=True)
    return Probe(
        labels=jnp.asarray(labels.reshape(-1), dtype=jnp.int32),
        x_ids=jnp.asarray(x_ids.reshape(-1), dtype=jnp.int32),
        x=jnp.asarray(x_rows, dtype=jnp.float32),
        n_classes=int(class_values.shape[0]),
        n_inputs=int(x_ids.max()) + 1 if n else 0,
        class_values=tuple(v.item() for v in class_values),
    )
