"""Non-finite estimates of a results table: withheld on purpose, or wrong.

An estimate that is NaN or +-inf is never silently left out of a report. There are two kinds:

* **withheld**: `Compressed` writes NaN for an estimate it flags as unstable (its standard
  error exceeds ``flag_stderr``, its raw value is not finite, or samples share a noisy code,
  ``aux["n_coincident"]`` > 0, e.g. dead ReLU units under relative noise) and sets the bit of
  that quantity in ``aux["unstable"]`` (1: I(X;T), 2: I(T;Y)); the raw number is in aux.csv.
* **non-finite**: every other NaN, and every +-inf -- an estimator failure (e.g. a kNN
  entropy of coinciding samples, a kernel that underflowed) that must be looked at.

With the run's aux rows (`infoplane.load_aux`) the unstable bits decide exactly; without
them, a NaN from an estimator in `WITHHOLDING` counts as withheld (`Compressed` writes NaN
only when it flags) and any other NaN or +-inf as non-finite.

This module only reads values (pure Python and NumPy); it estimates nothing.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable

from infoplane.store.results import Results

__all__ = ["WITHHOLDING", "NonFinite", "format_nonfinite", "nonfinite_estimates"]

#: Estimators that write NaN on purpose for an estimate they withhold (flag as unstable).
WITHHOLDING = frozenset({"compressed"})
#: The bit of each quantity in ``aux["unstable"]``.
_BITS = {"i_xt": 1, "i_ty": 2}
_NAMES = {"i_xt": "I(X;T)", "i_ty": "I(T;Y)"}
_KEY = ("run", "seed", "split", "epoch", "layer", "estimator", "params")


@dataclasses.dataclass(frozen=True)
class NonFinite:
    """One NaN or +-inf estimate of a results table.

    Attributes: run, seed, split, estimator, params, epoch, layer: the point; quantity:
    "i_xt" or "i_ty"; value: the value (nan, inf or -inf); withheld: True when the estimator
    flagged it as unstable on purpose (see the module docstring).
    """

    run: str
    seed: int
    split: str
    estimator: str
    params: str
    epoch: int
    layer: str
    quantity: str
    value: float
    withheld: bool

    def describe(self) -> str:
        """One line, e.g. ``kde I(X;T), run demo, seed 0, split all, epoch 12, layer
        dense_1: -inf``."""
        return (f"{self.estimator} {_NAMES.get(self.quantity, self.quantity)}, run {self.run}, "
                f"seed {self.seed}, split {self.split}, epoch {self.epoch}, layer "
                f"{self.layer}: {self.value}")


def _unstable_bits(aux: Iterable[dict]) -> dict[tuple, int]:
    out = {}
    for row in aux:
        if row.get("name") != "unstable":
            continue
        try:
            bits = int(float(row["value"]))
        except (KeyError, TypeError, ValueError, OverflowError):
            continue
        out[tuple(row.get(c) for c in _KEY)] = bits
    return out


def nonfinite_estimates(results: Results, aux: Iterable[dict] | None = None
                        ) -> list[NonFinite]:
    """Every NaN or +-inf I(X;T) / I(T;Y) of ``results``, in table order, each marked
    ``withheld`` or not (module docstring). ``aux``: the run's aux rows (`load_aux`), to
    tell withheld estimates exactly; None uses `WITHHOLDING`."""
    if not isinstance(results, Results):
        raise TypeError(
            f"nonfinite_estimates() needs a Results table, got {type(results).__name__}; load "
            "one with infoplane.load_results(run_dir)"
        )
    if not len(results):
        return []
    bits = None if aux is None else _unstable_bits(aux)
    cols = {c: results[c].tolist() for c in (*_KEY, *_BITS)}
    found = []
    for i in range(len(results)):
        for q, bit in _BITS.items():
            v = float(cols[q][i])
            if math.isfinite(v):
                continue
            key = tuple(cols[c][i] for c in _KEY)
            if bits is None:
                withheld = math.isnan(v) and cols["estimator"][i] in WITHHOLDING
            else:
                withheld = math.isnan(v) and bool(bits.get(key, 0) & bit)
            found.append(NonFinite(
                run=cols["run"][i], seed=int(cols["seed"][i]), split=cols["split"][i],
                estimator=cols["estimator"][i], params=cols["params"][i],
                epoch=int(cols["epoch"][i]), layer=cols["layer"][i], quantity=q, value=v,
                withheld=withheld))
    return found


def format_nonfinite(found: Iterable[NonFinite], *, totals: dict[str, int] | None = None,
                     max_lines: int = 3) -> str | None:
    """The lines `infoplane.check_report` prints for non-finite estimates (None if there
    are none): the non-finite ones (counts per estimator and quantity, then the first
    ``max_lines``), and one "withheld" line for those flagged unstable on purpose.
    ``totals``: estimator -> number of its estimates, named as "n of total"."""
    found = list(found)
    if not found:
        return None
    totals = totals or {}
    total = sum(totals.values())
    of = f" of {total}" if total else ""
    lines = []
    bad = [f for f in found if not f.withheld]
    if bad:
        counts: dict[str, dict[str, int]] = {}
        for f in bad:
            per = counts.setdefault(f.estimator, {})
            per[f.quantity] = per.get(f.quantity, 0) + 1
        lines.append(f"non-finite: {len(bad)} estimate(s){of} are NaN or +-inf -- an "
                     "estimator failure, not information (left out of the checks above and "
                     "of the figures):")
        width = max(len(e) for e in counts)
        for e, per in counts.items():
            parts = "  ".join(f"{_NAMES.get(q, q)}: {n}" for q, n in per.items())
            lines.append(f"  {e:<{width}}  {parts}")
        lines.append(f"first {min(len(bad), max_lines)}:")
        lines.extend(f"  {f.describe()}" for f in bad[:max_lines])
        if len(bad) > max_lines:
            lines.append(f"  ... and {len(bad) - max_lines} more")
    held = [f for f in found if f.withheld]
    if held:
        per_est: dict[str, int] = {}
        for f in held:
            per_est[f.estimator] = per_est.get(f.estimator, 0) + 1
        parts = ", ".join(f"{e} {n}" + (f" of {totals[e]}" if e in totals else "")
                          for e, n in per_est.items())
        lines.append(f"withheld: {parts} estimates are NaN, flagged unstable by the "
                     "estimator (a standard error too large, or coincident noisy codes, "
                     "aux n_coincident > 0, which make the number meaningless; values and "
                     "standard errors in aux.csv); the checks above leave them out.")
    return "\n".join(lines)
