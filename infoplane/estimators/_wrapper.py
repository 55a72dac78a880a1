"""What the estimator wrappers (`Subsample`, `PerChannel`) share: `Wrapper`, a mixin for a
frozen dataclass whose first field ``estimator`` is the wrapped estimator instance, and the
walk down a chain of wrappers (`chain`, `innermost`).

A wrapper reports its wrapped estimator's ``name``, ``epoch_batching`` and ``units`` and, when
that one is hashed (the binning estimators), its ``hash_seed``; `Wrapper.with_hash_seed` is
the same wrapper around the estimator re-seeded (through any wrappers in between).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

__all__ = ["Wrapper", "chain", "innermost"]


class Wrapper:
    """Mixin of the estimator wrappers: delegates ``name``, ``epoch_batching``, ``units`` and
    ``hash_seed`` to the dataclass field ``estimator`` (module docstring)."""

    estimator: Any

    @property
    def name(self) -> str:
        return self.estimator.name

    @property
    def epoch_batching(self) -> str:
        return self.estimator.epoch_batching

    @property
    def units(self) -> str:
        return self.estimator.units

    @property
    def hash_seed(self) -> int:
        """The wrapped estimator's row-hash seed (binning estimators; for collision retries).
        AttributeError when it has none, so ``hasattr(wrapper, "hash_seed")`` tells."""
        return self.estimator.hash_seed

    def with_hash_seed(self, hash_seed: int):
        """The same wrapper around the wrapped estimator with another ``hash_seed``."""
        inner = self.estimator
        inner = (inner.with_hash_seed(hash_seed) if hasattr(inner, "with_hash_seed")
                 else dataclasses.replace(inner, hash_seed=hash_seed))
        return dataclasses.replace(self, estimator=inner)


def chain(est) -> Iterator[Any]:
    """``est``, then each estimator it wraps (following ``.estimator``), the innermost last."""
    yield est
    while hasattr(est, "estimator"):
        est = est.estimator
        yield est


def innermost(est):
    """The estimator at the end of ``est``'s chain of wrappers (``est`` itself if none)."""
    *_, last = chain(est)
    return last
