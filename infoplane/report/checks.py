"""Sanity checks on a results table: the data-processing inequality (DPI).

For a deterministic feed-forward chain ``X -> T1 -> T2 -> ...`` every layer is a function of
the previous one, so the information about the input and about the label can only shrink with
depth::

    I(X;T2) <= I(X;T1)        I(T2;Y) <= I(T1;Y)

An estimate that grows with depth by more than its own error is a sign of estimator bias
(too few samples, a bin width or kernel width that suits one layer and not another, a
subsample that differs between layers, ...), not of the network. `dpi_violations` lists every
such pair of consecutive layers; `format_violations` summarises them for a terminal.

The inequality holds for Shannon mutual information; `infoplane.report.bounds` says which
estimators are not Shannon quantities (`NOT_SHANNON`: Liao et al.'s DSMI, ``dsmi``, and the
matrix-based Rényi MI, ``matrix_renyi``) and why. `dpi_violations` checks whatever table it is
given; `check_report`, the figures, ``infoplane plot`` and the dashboard leave those
estimators out of the DPI check.

An estimate must also lie in its range: 0 <= I(X;T) <= H(X) and 0 <= I(T;Y) <= H(Y) on the
probe set for a Shannon estimator (log2 n of I(X;T) on a subsample of n), 0 <= I <= log2 n for
``matrix_renyi`` (and <= H(X), H(Y) for alpha >= 1), no known range for ``dsmi``
(`infoplane.report.bounds.ceilings_of`). `range_violations` lists the estimates outside it by
more than a tolerance (negative values from kNN bias, values above the ceiling from
noise-dominated layers, ...): they show where an estimator's number cannot be read as
information. `check_report` runs both checks for a terminal (``infoplane run`` and
``infoplane plot`` print it), names the estimators each check leaves out and why, and lists
every NaN or +-inf estimate (`infoplane.report.nonfinite`: withheld on purpose, or an
estimator failure); both checks leave those out. Last, the layers whose I(X;T) sits at its
ceiling at every recorded epoch (`infoplane.report.ceiling_layers`: the estimator saw only
distinct states).

This module only reads values from the table (pure NumPy); it estimates nothing.

Example::

    from infoplane import load_results
    from infoplane.report.checks import dpi_violations, format_violations

    res = load_results("runs/tishby-tanh-20250101-120000")
    print(format_violations(dpi_violations(res, tolerance=0.05)))
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence

import numpy as np

from infoplane.report.bounds import (
    NO_CEILING,
    NOT_SHANNON,
    NOT_SHANNON_WHY,
    RENYI,
    i_xt_ceiling,
    is_shannon,
    row_ceilings,
)
from infoplane.report.ceiling_layers import format_layers_at_ceiling, layers_at_ceiling
from infoplane.report.nonfinite import format_nonfinite, nonfinite_estimates
from infoplane.store.results import Results

__all__ = ["NOT_SHANNON", "QUANTITIES", "DPIViolation", "RangeViolation", "check_report",
           "dpi_violations", "format_range_violations", "format_violations", "i_xt_ceiling",
           "is_shannon", "range_violations"]

#: The quantities of a results row that the DPI constrains, with their printed names.
QUANTITIES = {"i_xt": "I(X;T)", "i_ty": "I(T;Y)"}
#: Slack for float rounding: an excess counts only above ``allowed + _ROUNDING * max(1, |v|)``,
#: so that e.g. 1.05 vs 1.0 at ``tolerance=0.05`` is not flagged because 1.05 - 1.0 > 0.05.
_ROUNDING = 1e-9


@dataclasses.dataclass(frozen=True)
class _Point:
    """Where a check failed: one recorded epoch of one curve of a results table."""

    run: str
    seed: int
    split: str
    estimator: str
    params: str
    epoch: int


@dataclasses.dataclass(frozen=True)
class DPIViolation(_Point):
    """A deeper layer whose estimate exceeds the previous layer's by more than the tolerance.

    Attributes:
      run, seed, split, estimator, params: the curve (``params`` is the table's JSON string).
      epoch: the recorded epoch.
      quantity: "i_xt" or "i_ty".
      shallower, deeper: the two layer names, consecutive in layer order (NaN values are left
        out of the chain, so ``shallower`` is the nearest shallower layer with a value).
      shallower_value, deeper_value: their estimates, in ``units``.
      excess: ``deeper_value - shallower_value`` (> the allowed tolerance), in ``units``.
      units: "bits" or "nats", as in the table.
    """

    quantity: str
    shallower: str
    deeper: str
    shallower_value: float
    deeper_value: float
    excess: float
    units: str = "bits"

    def describe(self) -> str:
        """One line, e.g. ``binning I(X;T), run demo, seed 0, split train, epoch 12:
        output 5.310 > layers.4 4.200 bits (+1.110)``."""
        return (
            f"{self.estimator} {QUANTITIES.get(self.quantity, self.quantity)}, run {self.run}, "
            f"seed {self.seed}, split {self.split}, epoch {self.epoch}: {self.deeper} "
            f"{self.deeper_value:.3f} > {self.shallower} {self.shallower_value:.3f} "
            f"{self.units} (+{self.excess:.3f})"
        )


def _check_tolerance(name: str, value: float) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, got {value!r}") from None
    if not value >= 0 or math.isinf(value):
        raise ValueError(
            f"{name} must be a finite number >= 0, got {value!r}; e.g. tolerance=0.05 allows "
            "a deeper layer to exceed the shallower one by 0.05 (in the table's units)"
        )
    return value


def _check_quantities(quantities: str | Sequence[str]) -> tuple[str, ...]:
    if isinstance(quantities, str):
        quantities = (quantities,)
    quantities = tuple(quantities)
    bad = [q for q in quantities if q not in QUANTITIES]
    if bad or not quantities:
        raise ValueError(
            f"quantities must be a non-empty subset of {tuple(QUANTITIES)}, got {quantities!r}"
        )
    return quantities


def dpi_violations(
    results: Results,
    *,
    tolerance: float = 0.05,
    relative: float = 0.0,
    quantities: str | Sequence[str] = ("i_xt", "i_ty"),
) -> list[DPIViolation]:
    """Every pair of consecutive layers where the deeper layer's estimate exceeds the
    shallower layer's by more than the tolerance.

    Args:
      results: the table (`infoplane.store.results.Results`); values in its own units.
      tolerance: allowed absolute excess, in the table's units (bits or nats).
      relative: allowed excess as a fraction of the shallower value; the allowed excess is
        ``tolerance + relative * |shallower_value|`` (so ``tolerance=0, relative=0.01``
        allows 1 %). A pair is flagged when ``deeper - shallower`` is strictly larger (up to a
        1e-9 float-rounding slack).
      quantities: which of "i_xt" and "i_ty" to check.

    Rows are grouped by (run, seed, split, estimator, params, epoch); within a group the layers
    are taken in table order (the order of first appearance of each layer name in ``results``,
    which is network order for tables written by the recorder). NaN values are skipped: a layer
    with a NaN is left out of the chain of that quantity, so the next layer is compared with
    the nearest shallower layer that has a value (the DPI holds along the whole chain). A key
    that appears twice keeps its last row, as `infoplane.load_results` does.

    Returns:
      `DPIViolation`s ordered by group (first appearance), epoch, quantity and depth; an empty
      list when the table obeys the DPI.
    """
    if not isinstance(results, Results):
        raise TypeError(
            f"dpi_violations() needs a Results table, got {type(results).__name__}; load one "
            "with infoplane.load_results(run_dir)"
        )
    tolerance = _check_tolerance("tolerance", tolerance)
    relative = _check_tolerance("relative", relative)
    quantities = _check_quantities(quantities)
    if not len(results):
        return []

    layer_rank = {name: i for i, name in enumerate(results.unique("layer"))}
    cols = {c: results[c].tolist() for c in ("run", "seed", "split", "estimator", "params")}
    epochs = results["epoch"].tolist()
    layers = results["layer"].tolist()
    units = results["units"].tolist()
    values = {q: np.asarray(results[q], dtype=np.float64) for q in quantities}

    # group key -> {layer: row index}; dicts keep first-appearance order of the groups
    groups: dict[tuple, dict[str, int]] = {}
    for i in range(len(results)):
        key = (
            cols["run"][i],
            cols["seed"][i],
            cols["split"][i],
            cols["estimator"][i],
            cols["params"][i],
            epochs[i],
        )
        groups.setdefault(key, {})[layers[i]] = i

    # epochs ascending within each curve, curves in first-appearance order
    curve_rank: dict[tuple, int] = {}
    for key in groups:
        curve_rank.setdefault(key[:5], len(curve_rank))
    ordered = sorted(groups, key=lambda k: (curve_rank[k[:5]], k[5]))

    found: list[DPIViolation] = []
    for key in ordered:
        chain = sorted(groups[key].items(), key=lambda item: layer_rank[item[0]])
        run, seed, split, estimator, params, epoch = key
        for q in quantities:
            prev_name, prev_value = None, None
            for name, row in chain:
                v = float(values[q][row])
                if not math.isfinite(v):  # reported by nonfinite_estimates
                    continue
                if prev_name is not None:
                    excess = v - prev_value
                    allowed = tolerance + relative * abs(prev_value)
                    slack = _ROUNDING * max(1.0, abs(prev_value))
                    if excess > allowed + slack:
                        found.append(
                            DPIViolation(
                                run=run,
                                seed=int(seed),
                                split=split,
                                estimator=estimator,
                                params=params,
                                epoch=int(epoch),
                                quantity=q,
                                shallower=prev_name,
                                deeper=name,
                                shallower_value=prev_value,
                                deeper_value=v,
                                excess=float(excess),
                                units=units[row],
                            )
                        )
                prev_name, prev_value = name, v
    return found


def format_violations(
    violations: Iterable[DPIViolation],
    *,
    max_lines: int = 10,
    tolerance: float | None = None,
) -> str:
    """A human-readable summary of `dpi_violations` for a terminal (multi-line, no trailing
    newline): the total, the counts per estimator and quantity, and the ``max_lines`` worst
    violations (largest excess first).

    ``tolerance``: if given, it is named in the first line (it is not stored in the
    violations). ``max_lines=0`` prints the counts only.
    """
    violations = list(violations)
    if max_lines < 0:
        raise ValueError(f"max_lines must be >= 0, got {max_lines}")
    tol = "" if tolerance is None else f" (tolerance {tolerance:g})"
    if not violations:
        return f"DPI check: no violations{tol}."
    bad = [v for v in violations if not isinstance(v, DPIViolation)]
    if bad:
        raise TypeError(
            f"format_violations() takes the DPIViolation list of dpi_violations(), got a "
            f"{type(bad[0]).__name__}"
        )
    lines = [
        f"DPI check: {len(violations)} violation(s){tol}: a deeper layer above the layer "
        "before it (I(X;T) and I(T;Y) cannot grow with depth in a deterministic network)."
    ]
    counts: dict[str, dict[str, int]] = {}
    for v in violations:
        per = counts.setdefault(v.estimator, {q: 0 for q in QUANTITIES})
        per[v.quantity] = per.get(v.quantity, 0) + 1
    width = max(len(e) for e in counts)
    for estimator, per in counts.items():
        parts = "  ".join(f"{QUANTITIES.get(q, q)}: {n}" for q, n in per.items())
        lines.append(f"  {estimator:<{width}}  {parts}")
    if max_lines:
        worst = sorted(violations, key=lambda v: -v.excess)[:max_lines]
        lines.append(f"worst {len(worst)}:")
        lines.extend(f"  {v.describe()}" for v in worst)
        if len(violations) > len(worst):
            lines.append(f"  ... and {len(violations) - len(worst)} more")
    return "\n".join(lines)


@dataclasses.dataclass(frozen=True)
class RangeViolation(_Point):
    """An estimate outside [0, ceiling] by more than the tolerance.

    Attributes: run, seed, split, estimator, params, epoch, layer: the point; quantity:
    "i_xt" or "i_ty"; value: the estimate; bound: the bound it crosses (0, or the ceiling,
    `infoplane.report.bounds.ceilings_of`); units: as in the table; bound_name: the
    ceiling's name ("H(X)", "H(Y)", "log2 <n>"; "" for 0).
    """

    layer: str
    quantity: str
    value: float
    bound: float
    units: str = "bits"
    bound_name: str = ""

    @property
    def excess(self) -> float:
        """How far outside the range (> 0), in ``units``."""
        return abs(self.value - self.bound)

    def describe(self) -> str:
        """One line, e.g. ``compressed I(X;T), run demo, seed 0, split all, epoch 847, layer
        output: -2.520 bits < 0``."""
        rel = "<" if self.value < self.bound else ">"
        bound = "0" if self.bound == 0 else f"ceiling {self.bound:.3f}"
        if self.bound_name and self.bound != 0:
            bound += f" ({self.bound_name})"
        return (
            f"{self.estimator} {QUANTITIES.get(self.quantity, self.quantity)}, run {self.run}, "
            f"seed {self.seed}, split {self.split}, epoch {self.epoch}, layer {self.layer}: "
            f"{self.value:.3f} {self.units} {rel} {bound}"
        )


def range_violations(
    results: Results,
    ceilings: dict | None = None,
    *,
    tolerance: float = 0.05,
) -> list[RangeViolation]:
    """Every estimate below 0 or above its ceiling by more than ``tolerance``.

    Args:
      results: the table; values in its own units. Estimators with no known range
        (`infoplane.report.bounds.NO_CEILING`: dsmi) are left out.
      ceilings: split -> {"i_xt": H(X), "i_ty": H(Y)} in bits (`infoplane.ceilings` of that
        split's probe set; a Recorder's ``ceilings``), optionally with ``"n"``, the probe's
        sample count; None, or a split missing from it, checks the lower bound 0 only (and
        log2 of a subsample for matrix_renyi). Each estimator's ceilings follow
        `infoplane.report.bounds.ceilings_of` (log2 n for a subsample of n; for
        matrix_renyi log2 n, and H(X), H(Y) only when alpha >= 1).
      tolerance: allowed excess in the table's units.

    NaN and +-inf values are not range violations: `infoplane.report.nonfinite.
    nonfinite_estimates` lists them, and `check_report` prints both.

    Returns the violations in table order.
    """
    if not isinstance(results, Results):
        raise TypeError(
            f"range_violations() needs a Results table, got {type(results).__name__}; load "
            "one with infoplane.load_results(run_dir)"
        )
    tolerance = _check_tolerance("tolerance", tolerance)
    ceilings = ceilings or {}
    found: list[RangeViolation] = []
    cols = {c: results[c].tolist() for c in ("run", "seed", "split", "estimator", "params",
                                              "epoch", "layer", "units", "i_xt", "i_ty")}
    cache: dict = {}
    for i in range(len(results)):
        estimator = cols["estimator"][i]
        if estimator in NO_CEILING:
            continue
        units = cols["units"][i]
        top = row_ceilings(ceilings.get(cols["split"][i]) or {}, estimator, cols["params"][i],
                            units, cache)
        for q in QUANTITIES:
            v = float(cols[q][i])
            if not math.isfinite(v):  # NaN / +-inf: reported by nonfinite_estimates
                continue
            bound = None
            slack = tolerance + _ROUNDING * max(1.0, abs(v))
            if v < -slack:
                bound, name = 0.0, ""
            elif q in top and v > top[q][0] + slack:
                bound, name = top[q]
            if bound is not None:
                found.append(RangeViolation(
                    run=cols["run"][i], seed=int(cols["seed"][i]), split=cols["split"][i],
                    estimator=estimator, params=cols["params"][i], epoch=int(cols["epoch"][i]),
                    layer=cols["layer"][i], quantity=q, value=v, bound=float(bound),
                    units=units, bound_name=name))
    return found


def format_range_violations(violations: Iterable[RangeViolation], *, total: int | None = None,
                            max_lines: int = 5, estimators: Sequence[str] | None = None
                            ) -> str:
    """A summary of `range_violations` for a terminal: counts per estimator (of ``total``
    points if given) and the ``max_lines`` largest excesses. ``estimators``: the estimators
    checked (named when one of them is not a Shannon estimator)."""
    violations = list(violations)
    mixed = estimators is not None and not all(is_shannon(e) for e in estimators)
    if not violations:
        if not mixed:  # the estimators checked named: no "every" beside a "not checked" line
            which = f" of {', '.join(estimators)}" if estimators else ""
            return (f"range check: every estimate{which} lies in [0, H(X)] / [0, H(Y)] "
                    "(log2 n on a subsample of n).")
        which = (["Shannon: H(X), H(Y)"] if any(is_shannon(e) for e in estimators) else []) + [
            f"{e}: log2 n, and H(X), H(Y) for alpha >= 1" for e in estimators if e in RENYI]
        return (f"range check: every estimate of {', '.join(estimators)} lies in [0, its "
                f"ceiling] ({'; '.join(which)}).")
    counts: dict[str, int] = {}
    for v in violations:
        counts[v.estimator] = counts.get(v.estimator, 0) + 1
    of = f" of {total} points" if total else ""
    where = ("[0, ceiling] (H(X), H(Y) or log2 n)" if mixed or any(
        not is_shannon(v.estimator) for v in violations) else "[0, H(X)] / [0, H(Y)]")
    lines = [f"range check: {len(violations)} estimate(s){of} outside {where} "
             "-- an estimator bias there, not information:"]
    width = max(len(e) for e in counts)
    lines.extend(f"  {e:<{width}}  {n}" for e, n in counts.items())
    worst = sorted(violations, key=lambda v: -v.excess)[:max_lines]
    if worst:
        lines.append(f"worst {len(worst)}:")
        lines.extend(f"  {v.describe()}" for v in worst)
    return "\n".join(lines)


def check_report(results: Results, ceilings: dict | None = None, *,
                 dpi_tolerance: float = 0.05, range_tolerance: float = 0.05,
                 aux: Iterable[dict] | None = None) -> str:
    """Both checks of a table, for a terminal: the DPI of the Shannon estimates
    (`dpi_violations`, `format_violations` with its 3 worst) and the range of every estimate
    with a known range (`range_violations`); the estimators a check leaves out are named with
    the reason (`infoplane.report.bounds.NOT_SHANNON_WHY`), and a check with nothing to
    check prints no line. Then every NaN or +-inf estimate, of any estimator
    (`infoplane.report.nonfinite`): those that are not withheld on purpose are listed as
    "non-finite" with estimator, layer, epoch and quantity; those flagged unstable by their
    estimator (e.g. `Compressed`'s ``flag_stderr``, NaN) are counted on a last "withheld"
    line. Both are left out of the DPI and range checks. ``ceilings``: as in
    `range_violations`. ``aux``: the run's aux rows (`infoplane.load_aux`), which tell
    withheld estimates exactly (else a NaN of `Compressed` counts as withheld)."""
    names = results.unique("estimator") if len(results) else []
    shannon = [e for e in names if is_shannon(e)]
    ranged = [e for e in names if e not in NO_CEILING]
    lines = [f"not checked: {e} ({NOT_SHANNON_WHY[e]}: no DPI, no ceiling)"
             for e in names if e in NO_CEILING and e in NOT_SHANNON]
    lines += [f"DPI not checked: {e} ({NOT_SHANNON_WHY[e]}); its range is checked below"
              for e in names if not is_shannon(e) and e not in NO_CEILING]
    if shannon:
        table = results if len(shannon) == len(names) else results.where(estimator=shannon)
        dpi = dpi_violations(table, tolerance=dpi_tolerance)
        which = "" if len(shannon) == len(names) else f" ({', '.join(shannon)})"
        lines.append(format_violations(dpi, tolerance=dpi_tolerance, max_lines=3) if dpi else
                     f"DPI check{which}: no deeper layer exceeds a shallower one by more than "
                     f"{dpi_tolerance:g}.")
    if ranged:
        table = results if len(ranged) == len(names) else results.where(estimator=ranged)
        lines.append(format_range_violations(
            range_violations(table, ceilings, tolerance=range_tolerance), total=2 * len(table),
            max_lines=3, estimators=ranged))
    totals: dict[str, int] = {}
    for e in results["estimator"].tolist() if len(results) else ():
        totals[e] = totals.get(e, 0) + len(QUANTITIES)
    at_ceiling = format_layers_at_ceiling(layers_at_ceiling(results, ceilings))
    if at_ceiling:
        lines.append(at_ceiling)
    nonfinite = format_nonfinite(nonfinite_estimates(results, aux), totals=totals)
    if nonfinite:
        lines.append(nonfinite)
    return "\n".join(lines)
