"""Layers at their ceiling at every recorded epoch: the estimator saw only distinct states.

When a layer's I(X;T) equals its ceiling (H(X) = log2 N for N distinct probe inputs, log2 n on
a subsample of n) at every recorded epoch, the estimator put every probe input in a state of
its own at all times (binning with bins finer than the layer's spread, a KDE bandwidth below
the distances between points): the layer's points sit on the ceiling and say nothing about
fitting or compression there. `layers_at_ceiling` finds them in a results table,
`format_layers_at_ceiling` prints them (`infoplane.report.checks.check_report` does, after
the range check). Reads values only; estimates nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from infoplane.report.bounds import NO_CEILING, row_ceilings
from infoplane.store.results import Results

__all__ = ["format_layers_at_ceiling", "layers_at_ceiling"]


def layers_at_ceiling(results: Results, ceilings: dict | None = None, *,
                      tolerance: float = 1e-3) -> list[tuple[str, str, str, str, float]]:
    """The (estimator, params, split, layer, ceiling) whose I(X;T) lies within ``tolerance``
    of its ceiling (H(X) = log2 N for distinct inputs, `range_violations`' ceilings) at every
    recorded epoch, two or more, of every seed: the estimator saw only distinct states (every
    probe input its own bin or kernel), so the layer's points say nothing about compression
    there. Estimators without a known ceiling and NaN points are left out."""
    ceilings = ceilings or {}
    cache: dict = {}
    groups: dict[tuple, list[bool]] = {}
    cols = {c: results[c].tolist() for c in ("split", "estimator", "params", "layer", "units",
                                              "i_xt")}
    for i in range(len(results)):
        estimator, v = cols["estimator"][i], float(cols["i_xt"][i])
        if estimator in NO_CEILING or not math.isfinite(v):
            continue
        top = row_ceilings(ceilings.get(cols["split"][i]) or {}, estimator, cols["params"][i],
                            cols["units"][i], cache)
        if "i_xt" not in top:
            continue
        key = (estimator, cols["params"][i], cols["split"][i], cols["layer"][i],
               float(top["i_xt"][0]))
        groups.setdefault(key, []).append(v >= top["i_xt"][0] - tolerance)
    return [key for key, at in groups.items() if len(at) >= 2 and all(at)]


def format_layers_at_ceiling(found: Sequence[tuple]) -> str:
    """One line per estimator of `layers_at_ceiling` ("" when none)."""
    by_est: dict[str, list[str]] = {}
    for estimator, _params, split, layer, top in found:
        by_est.setdefault(f"{estimator} ({split}, I(X;T) = {top:.3g})", []).append(layer)
    return "\n".join(
        f"at the ceiling at every epoch: {e}: {', '.join(layers)} -- every probe input a "
        "state of its own; these points say nothing about compression"
        for e, layers in by_est.items())
