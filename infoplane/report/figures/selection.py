"""Which rows a figure draws, and their seed means.

A figure shows one run, one split, one estimator and one parameter set. When an argument is
None and the table holds exactly one value, that value is used (split: "train" when present);
otherwise a `ValueError` lists the values and the argument to pass (`select`).

Seeds: with several seeds a trajectory is the mean over seeds at the epochs that every seed
recorded, with half-widths of ``1.96`` standard errors (``std(ddof=1) / sqrt(n)``), an
approximate 95 % confidence interval of the mean (`layer_series`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from infoplane.report.figures.style import pretty_estimator
from infoplane.store.results import Results, load_results

__all__ = ["INTERVALS", "Z95", "ResultsLike", "Selection", "Series", "check_nonempty", "choose",
           "choose_params", "fmt_values", "layer_series", "load_table", "select",
           "selection_title"]

ResultsLike = Results | str | os.PathLike
#: Half-width of an approximate 95 % interval, in standard errors.
Z95 = 1.96


def load_table(results: ResultsLike) -> tuple[Results, str | None]:
    """The table and, when it was read from disk, its run directory."""
    if isinstance(results, Results):
        return results, None
    if isinstance(results, str | os.PathLike):
        path = os.fspath(results)
        table = load_results(path)
        run_dir = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
        return table, run_dir
    raise TypeError(
        f"results must be a Results table or a run directory, got {type(results).__name__}"
    )


def fmt_values(values: Sequence) -> str:
    return ", ".join(repr(v) for v in values)


def choose(sel: Results, column: str, value: Any, who: str, hint: str = "") -> Results:
    """Narrow ``sel`` to one value of ``column`` (``value``, or the only one, or an error)."""
    available = sel.unique(column)
    if value is None:
        if len(available) == 1:
            return sel
        if column == "split" and "train" in available:
            return sel.where(split="train")
        raise ValueError(
            f"{who}: the table holds {len(available)} {column} values ({fmt_values(available)}); "
            f"pass {column}=... to choose one{hint}"
        )
    narrowed = sel.where(**{column: value})
    if not len(narrowed):
        raise ValueError(
            f"{who}: no results with {column}={value!r}; available: {fmt_values(available)}"
        )
    return narrowed


def params_subset(decoded: Any, want: Mapping) -> bool:
    return isinstance(decoded, Mapping) and all(
        k in decoded and decoded[k] == v for k, v in want.items()
    )


def choose_params(sel: Results, params: Any, who: str) -> Results:
    available = sel.unique("params")
    if params is None:
        if len(available) == 1:
            return sel
        raise ValueError(
            f"{who}: {len(available)} parameter sets of this estimator in the table: "
            f"{'; '.join(available)}. Pass params=... (a dict of the keys that differ, e.g. "
            "params={'bound': 'lower'}, or the JSON string)"
        )
    if isinstance(params, str):
        try:
            params = json.loads(params)
        except ValueError:
            raise ValueError(
                f"{who}: params must be a dict or a JSON string, got {params!r}"
            ) from None
    if not isinstance(params, Mapping):
        raise TypeError(f"{who}: params must be a dict or a JSON string, got {params!r}")
    matches = [p for p in available if params_subset(json.loads(p), params)]
    if len(matches) != 1:
        what = "no parameter set" if not matches else f"{len(matches)} parameter sets"
        raise ValueError(
            f"{who}: {what} of this estimator match(es) params={dict(params)!r}; available: "
            f"{'; '.join(matches or available)}"
        )
    return sel.where(params=matches[0])


@dataclasses.dataclass(frozen=True)
class Selection:
    """Rows of one run, split, estimator and parameter set (the chosen seeds and epochs, every
    layer), and the layers to draw."""

    table: Results
    run: str
    split: str
    estimator: str
    params: str
    units: str
    seeds: tuple[int, ...]
    layers: tuple[str, ...]


def check_nonempty(res: Results, who: str) -> None:
    if not len(res):
        raise ValueError(
            f"{who}: no results to plot: the table is empty (no rows). Record a run first "
            "(infoplane run / infoplane.Recorder) or check the run directory"
        )


def select(
    res: Results,
    *,
    estimator: str | None,
    split: str | None,
    run: str | None,
    params: Any,
    seeds: Sequence[int] | int | None,
    layers: Sequence[str] | None,
    epoch_range: tuple[int | None, int | None] | None,
    who: str,
    panel_hint: bool = True,
) -> Selection:
    check_nonempty(res, who)
    estimators = res.unique("estimator")
    if estimator is None:
        if len(estimators) != 1:
            more = " (or use estimator_panel() for one panel per estimator)" if panel_hint else ""
            raise ValueError(
                f"{who}: the table holds {len(estimators)} estimators ({fmt_values(estimators)}); "
                f"pass estimator=... to choose one{more}"
            )
        estimator = estimators[0]
    elif estimator not in estimators:
        raise ValueError(
            f"{who}: unknown estimator {estimator!r}: no results of it in the table; "
            f"available estimators: {fmt_values(estimators)}"
        )
    sel = res.where(estimator=estimator)
    sel = choose(sel, "run", run, who)
    sel = choose(sel, "split", split, who)
    sel = choose_params(sel, params, who)
    if seeds is not None:
        wanted = [seeds] if isinstance(seeds, int | np.integer) else list(seeds)
        missing = [s for s in wanted if s not in sel.unique("seed")]
        if missing or not wanted:
            raise ValueError(
                f"{who}: seed(s) {missing or wanted} not in the table; available seeds: "
                f"{fmt_values(sel.unique('seed'))}"
            )
        sel = sel.where(seed=[int(s) for s in wanted])
    if epoch_range is not None:
        lo, hi = epoch_range
        e = sel["epoch"]
        keep = np.ones(len(e), dtype=bool)
        if lo is not None:
            keep &= e >= lo
        if hi is not None:
            keep &= e <= hi
        if not keep.any():
            raise ValueError(
                f"{who}: no results to plot in epoch_range={epoch_range!r}; recorded epochs: "
                f"{int(e.min())}..{int(e.max())}"
            )
        sel = sel._take(np.flatnonzero(keep))
    units = sel.unique("units")
    if len(units) != 1:
        raise ValueError(
            f"{who}: the selection mixes units {fmt_values(units)}; select rows of one unit with "
            "results.where(units=...)"
        )
    all_layers = sel.unique("layer")
    if layers is None:
        shown = tuple(all_layers)
    else:
        shown = (layers,) if isinstance(layers, str) else tuple(layers)
        unknown = [name for name in shown if name not in all_layers]
        if unknown or not shown:
            raise ValueError(
                f"{who}: unknown layer(s) {unknown or list(shown)}; layers in the table: "
                f"{fmt_values(all_layers)}"
            )
    return Selection(
        table=sel,
        run=sel.unique("run")[0],
        split=sel.unique("split")[0],
        estimator=estimator,
        params=sel.unique("params")[0],
        units=units[0],
        seeds=tuple(sorted(sel.unique("seed"))),
        layers=shown,
    )


#: The per-row confidence-interval columns of a results table (`infoplane.Intervals`).
INTERVALS = ("i_xt_lo", "i_xt_hi", "i_ty_lo", "i_ty_hi")


@dataclasses.dataclass(frozen=True)
class Series:
    """One layer's trajectory: the mean over seeds at the epochs every seed recorded (E,),
    the half-widths ``1.96 * SE`` (E,) (None with one seed), and the seed means of the rows'
    own confidence intervals ``interval[column]`` (E,) for the columns of `INTERVALS`
    (None when the table has no interval columns or they are all NaN: intervals off)."""

    epochs: np.ndarray
    i_xt: np.ndarray
    i_ty: np.ndarray
    half_xt: np.ndarray | None
    half_ty: np.ndarray | None
    n_seeds: int
    interval: Mapping[str, np.ndarray] | None = None


def layer_series(sel: Selection, layer: str) -> Series:
    t = sel.table.where(layer=layer)
    cols = ["i_xt", "i_ty"] + [c for c in INTERVALS if c in t.columns]
    per_seed = []
    for seed in sel.seeds:
        s = t.where(seed=seed)
        # a repeated epoch keeps its last row (as load_results does)
        per_seed.append({int(e): v for e, *v in zip(
            s["epoch"].tolist(), *(s[c].tolist() for c in cols), strict=True)})
    common = set(per_seed[0])
    for d in per_seed[1:]:
        common &= set(d)
    epochs = np.array(sorted(common), dtype=np.int64)
    xt = np.array([[d[e][0] for e in epochs] for d in per_seed], dtype=np.float64).reshape(
        len(per_seed), len(epochs))
    ty = np.array([[d[e][1] for e in epochs] for d in per_seed], dtype=np.float64).reshape(
        len(per_seed), len(epochs))
    n = len(per_seed)
    half_xt = half_ty = None
    if n > 1:
        half_xt = Z95 * np.std(xt, axis=0, ddof=1) / math.sqrt(n)
        half_ty = Z95 * np.std(ty, axis=0, ddof=1) / math.sqrt(n)
    interval = None
    if len(cols) == 2 + len(INTERVALS):
        bounds = {c: np.array([[d[e][2 + j] for e in epochs] for d in per_seed],
                              dtype=np.float64).reshape(n, len(epochs)).mean(axis=0)
                  for j, c in enumerate(INTERVALS)}
        if any(np.isfinite(b).any() for b in bounds.values()):
            interval = bounds
    return Series(epochs, np.mean(xt, axis=0), np.mean(ty, axis=0), half_xt, half_ty, n,
                  interval)


def selection_title(sel: Selection, n_seeds: int, extra: str = "") -> str:
    head = f"{sel.run} · {sel.split} · {pretty_estimator(sel.estimator)}"
    tail = [f"mean of {n_seeds} seeds (±1.96 SE)" if n_seeds > 1 else f"seed {sel.seeds[0]}"]
    if extra:
        tail.append(extra)
    return head + "\n" + ", ".join(tail)


def null_series(aux, sel: Selection) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{layer: (epochs, seed-mean i_ty_null)}`` of the selection's run, split, estimator,
    parameter set and seeds from aux rows (`infoplane.load_aux`; None: {}), the finite values
    only (`infoplane.NullLabels`)."""
    if aux is None:
        return {}
    seeds = set(sel.seeds)
    acc: dict[str, dict[int, list[float]]] = {}
    for a in aux:
        if (a.get("name") != "i_ty_null" or a.get("estimator") != sel.estimator
                or a.get("split") != sel.split or a.get("params") != sel.params
                or a.get("run") != sel.run or a.get("seed") not in seeds
                or a.get("layer") not in sel.layers):
            continue
        v = float(a["value"])
        if np.isfinite(v):
            acc.setdefault(a["layer"], {}).setdefault(int(a["epoch"]), []).append(v)
    return {layer: (np.array(sorted(by)), np.array([np.mean(by[e]) for e in sorted(by)]))
            for layer, by in acc.items()}


def aux_of(null, run_dir: str | None):
    """The aux rows a figure's ``null`` option reads the null from: None; "auto" (the run
    directory's aux.csv, None without a directory or file); or the rows as given."""
    if null is None:
        return None
    if isinstance(null, str) and null == "auto":
        if run_dir is None:
            return None
        from infoplane.store.tables import load_aux

        try:
            return load_aux(run_dir)
        except (OSError, ValueError):
            return None
    return null
