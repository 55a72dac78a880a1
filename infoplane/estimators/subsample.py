"""`Subsample`: run any estimator on a fixed, class-stratified subset of the probe set.

The costlier estimators (`Compressed`: kNN searches, O(N^2 d); `DiffusionSpectral`: an N x N
eigenproblem, O(N^3)) dominate a run's time at N = 4096. ``Subsample(Compressed(), n=1024)``
draws ``n`` probe rows once, in `prepare` (stratified: every class keeps its share of the
probe, rounded by largest remainder; the draw is ``numpy.random.default_rng(seed)``), and
estimates every epoch on those same rows, so trajectories stay comparable across epochs. The
subset size and seed are recorded in the parameters next to every result
(``subsample``, ``subsample_seed``), so a reader knows which N an estimate used: estimates of
the kNN and spectral families depend on N (e.g. DSE is at most log2 N).

With ``n`` at least the probe size the subset is the whole probe (in its original order).
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


def stratified_indices(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Sorted indices of ``n`` rows drawn without replacement, each class keeping its share.

    labels: int (N,) class ids. Class c with N_c rows gets floor(n N_c / N) rows plus one for
    the classes with the largest remainders, so the counts sum to ``n`` exactly; every class
    present keeps at least one row when ``n`` is at least the number of classes.
    """
    labels = np.asarray(labels)
    total = labels.shape[0]
    if n >= total:
        return np.arange(total)
    classes, counts = np.unique(labels, return_counts=True)
    quota = n * counts / total
    take = np.floor(quota).astype(np.int64)
    if n >= len(classes):
        take = np.maximum(take, 1)
    short = n - int(take.sum())
    if short > 0:  # largest remainders first (ties: lower class id)
        order = np.argsort(-(quota - np.floor(quota)), kind="stable")
        take[order[:short]] += 1
    while int(take.sum()) > n:  # the minimum of one row per class overshot: trim the largest
        take[np.argmax(take)] -= 1
    rng = np.random.default_rng(seed)
    picked = [rng.choice(np.flatnonzero(labels == c), size=k, replace=False)
              for c, k in zip(classes, take, strict=True) if k > 0]
    return np.sort(np.concatenate(picked))


def _recode(ids: np.ndarray) -> tuple[np.ndarray, int]:
    uniq, inverse = np.unique(ids, return_inverse=True)
    return inverse.reshape(-1).astype(np.int32), int(uniq.shape[0])


def subset_probe(probe: Probe, idx: np.ndarray) -> Probe:
    """The `Probe` restricted to rows ``idx`` (labels and input ids re-coded densely)."""
    labels = np.asarray(probe.labels)[idx]
    x_ids = np.asarray(probe.x_ids)[idx]
    new_labels, n_classes = _recode(labels)
    new_ids, n_inputs = _recode(x_ids)
    present = np.unique(labels)
    values = tuple(probe.class_values[i] for i in present) if probe.class_values else ()
    return Probe(
        labels=jnp.asarray(new_labels),
        x_ids=jnp.asarray(new_ids),
        x=jnp.asarray(np.asarray(probe.x)[idx]),
        n_classes=n_classes,
        n_inputs=n_inputs,
        class_values=values,
    )


@dataclasses.dataclass(frozen=True)
class Subsample(Wrapper):
    """Wrap ``estimator`` so it sees ``n`` stratified probe rows (see the module docstring).

    Args:
      estimator: any estimator instance, e.g. ``Compressed()``.
      n: subset size (rows of the probe set); the whole probe when it has at most ``n`` rows.
      seed: seed of the draw.

    The wrapped estimator's name, units (`Wrapper`) and parameters are reported, plus
    ``subsample`` and ``subsample_seed``. Shapes: ``estimate_layer(ctx, t)`` takes the full
    (N, d) layer.

    Cost: the wrapped estimator's at N = n, plus a gather of n rows, O(n d).
    """

    estimator: Any
    n: int = 1024
    seed: int = 0

    def __post_init__(self):
        if isinstance(self.estimator, type) or not isinstance(self.estimator, Estimator):
            raise TypeError(
                "Subsample wraps an estimator instance, e.g. Subsample(Compressed(), n=1024); "
                f"got {self.estimator!r}."
            )
        if isinstance(self.n, bool) or not isinstance(self.n, int) or self.n < 2:
            raise ValueError(f"Subsample n must be an integer >= 2, got {self.n!r}.")
        check_seed(self.seed, owner="Subsample")

    def params(self) -> tuple:
        return (*self.estimator.params(), ("subsample", self.n), ("subsample_seed", self.seed))

    def prepare(self, probe: Probe) -> tuple[jax.Array, Any]:
        idx = stratified_indices(np.asarray(probe.labels), self.n, self.seed)
        return jnp.asarray(idx, dtype=jnp.int32), self.estimator.prepare(subset_probe(probe, idx))

    def estimate_layer(self, ctx, t: jax.Array) -> Estimate:
        idx, inner_ctx = ctx
        r = self.estimator.estimate_layer(inner_ctx, t[idx])
        return dataclasses.replace(r, params=self.params())
