"""`NullLabels`: the label-permutation null baseline of I(T;Y), next to every estimate.

An estimator of I(T;Y) on N probe samples is biased upwards: binning gives the plug-in
information of N samples, KDE's bounds and the kNN estimators have finite-sample offsets,
and the spectral and matrix-based families depend on their kernel widths. The value an
estimator reports for labels that carry *no* information about the layer is its bias floor,
the level below which an I(T;Y) cannot be read as information. `NullLabels` measures it at
every layer-epoch: with ``Y_π`` the probe's labels under a fixed random permutation π of the
N rows (the layer and the inputs unchanged),

    i_ty_null = (1/P) Σ_{k<P} Î(T; Y_{π_k}),

the mean over ``permutations`` = P fixed permutations (``numpy.random.default_rng(seed + k)``,
drawn once per probe set in `prepare`, the same at every epoch so the null is a trajectory).
A permutation keeps the class counts, so H(Y) and everything the estimator computes from the
labels alone is unchanged; only the pairing of rows and labels is destroyed, which makes
I(T;Y_π) = 0 in the population for every T. The estimate itself (``i_xt``, ``i_ty`` and the
wrapped estimator's aux) is untouched: the same numbers and the same ``params`` as the
wrapped estimator, so rows with and without the null are one curve.

aux (in addition to the wrapped estimator's): ``i_ty_null`` (in the estimate's units),
``i_ty_null_sd`` (the standard deviation over permutations, ddof = 1; NaN for P = 1),
``null_permutations`` (P) and ``null_seed``.

Inside `Subsample`, put it innermost (``Subsample(NullLabels(est), n)``; `with_null` does
that): the labels are then permuted within the same subset of rows as the estimate's.

Cost: (1 + P) times the wrapped estimator's (its I(X;T) is computed again for each
permutation and discarded: the estimator protocol has no I(T;Y)-only entry point), and P + 1
prepared contexts.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from infoplane.estimators._base import Estimate, Estimator, Probe
from infoplane.estimators._wrapper import Wrapper
from infoplane.estimators.validate import check_seed

__all__ = ["NullLabels", "permuted_probe", "with_null"]


def permuted_probe(probe: Probe, seed: int) -> Probe:
    """``probe`` with its labels permuted over the rows by ``numpy.random.default_rng(seed)``
    (inputs, input ids and class coding unchanged)."""
    perm = np.random.default_rng(seed).permutation(probe.n)
    labels = jnp.asarray(np.asarray(probe.labels)[perm])
    return dataclasses.replace(probe, labels=labels)


@dataclasses.dataclass(frozen=True)
class NullLabels(Wrapper):
    """Wrap ``estimator`` to report its label-permutation null ``i_ty_null`` in aux (module
    docstring).

    Args:
      estimator: any estimator instance, e.g. ``Binning()``.
      permutations: P >= 1 fixed label permutations (default 1).
      seed: the first permutation's seed (permutation k uses ``seed + k``).

    Shapes: ``estimate_layer(ctx, t)`` takes the (N, d) layer; the result is the wrapped
    estimator's with four more aux values. ``params`` are the wrapped estimator's.
    """

    estimator: Any
    permutations: int = 1
    seed: int = 0

    def __post_init__(self):
        if isinstance(self.estimator, type) or not isinstance(self.estimator, Estimator):
            raise TypeError(
                "NullLabels wraps an estimator instance, e.g. NullLabels(Binning(), "
                f"permutations=1); got {self.estimator!r}."
            )
        p = self.permutations
        if isinstance(p, bool) or not isinstance(p, int) or not 1 <= p <= 1000:
            raise ValueError(
                f"NullLabels permutations must be an integer from 1 to 1000, got {p!r} "
                "(each permutation costs one more estimate per layer-epoch)."
            )
        check_seed(self.seed, owner="NullLabels")

    def params(self) -> tuple:
        return self.estimator.params()

    def prepare(self, probe: Probe) -> tuple[Any, tuple]:
        nulls = tuple(self.estimator.prepare(permuted_probe(probe, self.seed + k))
                      for k in range(self.permutations))
        return self.estimator.prepare(probe), nulls

    def estimate_layer(self, ctx, t: jax.Array) -> Estimate:
        own, nulls = ctx
        r = self.estimator.estimate_layer(own, t)
        null = jnp.stack([self.estimator.estimate_layer(c, t).i_ty for c in nulls])
        p = self.permutations
        sd = jnp.std(null, ddof=1) if p > 1 else jnp.full((), jnp.nan, null.dtype)
        aux = {**r.aux, "i_ty_null": jnp.mean(null), "i_ty_null_sd": sd,
               "null_permutations": jnp.full((), p, jnp.float32),
               "null_seed": jnp.full((), self.seed, jnp.float32)}
        return dataclasses.replace(r, aux=aux)


def with_null(estimator, permutations: int, seed: int = 0):
    """``estimator`` with the label-permutation null (`NullLabels`), innermost under any
    `Subsample` (so the permuted labels are those of the same rows); unchanged when it already
    has one, or when ``permutations`` is 0."""
    from infoplane.estimators._wrapper import chain

    if permutations == 0 or any(isinstance(e, NullLabels) for e in chain(estimator)):
        return estimator
    inner = getattr(estimator, "estimator", None)
    if inner is not None and type(estimator).__name__ == "Subsample":
        return dataclasses.replace(estimator, estimator=with_null(inner, permutations, seed))
    return NullLabels(estimator, permutations, seed)
