"""Matplotlib figures of a results table: the information plane and information curves.

Results in, `matplotlib.figure.Figure` out. Nothing here computes information: the figures
draw the values of the table (and, with several seeds, their mean and a confidence band), the
ceilings recorded in the run's ``config.json``, and the DPI check of `infoplane.checks`.

Functions (every one returns the matplotlib objects it made, so they can be restyled):

- `information_plane`: I(X;T) on x, I(T;Y) on y, one trajectory per layer, points coloured by
  epoch, one colour bar, the ceilings H(X) and H(Y), DPI violations marked.
- `estimator_panel`: one information plane per estimator of a run, one shared colour bar.
- `information_curves`: I(X;T) and/or I(T;Y) against the epoch, one line per layer.
- `render_png` / `save`: PNG bytes, or a file whose format follows its suffix.

``results`` is a `infoplane.results.Results` table or a run directory (``runs/<name>/``) or the
path of its ``results.csv``; from a run directory the ceilings are read from ``config.json``
(``probes[split]["h_x_bits"]`` and ``["h_y_bits"]``; older runs without them get no ceilings).

Selection: a figure shows one run, one split, one estimator and one parameter set. When an
argument is None and the table holds exactly one value, that value is used (split: "train"
when present); otherwise a `ValueError` lists the values and the argument to pass.

Epoch colours (`epoch_norm`): when the recorded epochs span more than two decades
(``max / max(min, 1) > 100``) the colour scale is logarithmic, a `LogNorm` when the first epoch
is >= 1 and a `SymLogNorm` (linear below epoch 1, so epoch 0 gets the first colour) when it is
0; otherwise it is linear (`Normalize`). Its vmin and vmax are the first and last epoch.

Seeds: with several seeds a trajectory is the mean over seeds at the epochs that every seed
recorded, and each point carries error bars in both coordinates of ``1.96`` standard errors
(``std(ddof=1) / sqrt(n)``), an approximate 95 % confidence interval of the mean; the title
says "mean of n seeds".

Figures are made with `matplotlib.figure.Figure`, not pyplot: no global state, safe in loops
and threads, whatever the backend. In a notebook, evaluate ``fig`` to show it, or pass
``ax=`` from ``plt.subplots()`` to draw into a pyplot figure.

Example::

    from infoplane import plot
    fig, ax = plot.information_plane("runs/tishby-tanh-20250101-120000", estimator="binning")
    plot.save(fig, "plane.pdf")
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib as mpl
import matplotlib.colors as mcolors
import numpy as np
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from infoplane.checks import dpi_violations, i_xt_ceiling, is_shannon
from infoplane.results import Results, load_results

__all__ = [
    "Ceilings",
    "axis_label",
    "epoch_norm",
    "estimator_panel",
    "information_curves",
    "information_plane",
    "load_ceilings",
    "render_png",
    "save",
]

ResultsLike = Results | str | os.PathLike
#: Markers of the layers' points, in layer order (cycled).
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p")
#: Formats that `save` writes, by suffix.
SAVE_FORMATS = ("png", "pdf", "svg")
_Z95 = 1.96
_LN2 = math.log(2.0)


# --------------------------------------------------------------------------------------------
# labels, norms, ceilings
# --------------------------------------------------------------------------------------------


def axis_label(estimator: str, quantity: str, units: str, params: Mapping | str | None = None
               ) -> str:
    """The axis label of ``quantity`` ("i_xt" or "i_ty") estimated by ``estimator``, in
    ``units``: e.g. ``"binned I(X;T) [bits]"``, ``"KDE upper-bound I(X;T) [nats]"``,
    ``"DSMI(T;Y) [bits]"``. ``params`` (a mapping or its JSON): KDE's ``bound``."""
    if quantity not in ("i_xt", "i_ty"):
        raise ValueError(f"quantity must be 'i_xt' or 'i_ty', got {quantity!r}")
    if isinstance(params, str):
        try:
            params = json.loads(params)
        except ValueError:
            params = None
    params = params if isinstance(params, Mapping) else {}
    mi = "I(X;T)" if quantity == "i_xt" else "I(T;Y)"
    if estimator == "binning":
        text = f"binned {mi}"
    elif estimator == "adaptive_binning":
        text = f"adaptive-binned {mi}"
    elif estimator == "kde":
        bound = params.get("bound", "upper")
        # I(X;T) is a bound; I(T;Y) is a difference of two bounds (an estimate, not a bound)
        text = f"KDE {bound}-bound {mi}" if quantity == "i_xt" else f"KDE ({bound}) {mi}"
    elif estimator == "compressed":
        text = f"compressed {mi}"
    elif estimator == "dsmi":
        text = "DSMI(X;T)" if quantity == "i_xt" else "DSMI(T;Y)"
    else:
        text = f"{estimator} {mi}"
    return f"{text} [{units}]"


def _pretty_estimator(estimator: str) -> str:
    return {
        "binning": "binning",
        "adaptive_binning": "adaptive binning",
        "kde": "KDE",
        "compressed": "compressed",
        "dsmi": "DSMI",
    }.get(estimator, estimator)


def epoch_norm(epochs: Sequence[int] | np.ndarray) -> mcolors.Normalize:
    """The colour norm of ``epochs`` (see the module docstring for the rule): `LogNorm` when
    they span more than two decades and start at >= 1, `SymLogNorm` (``linthresh=1``) when
    they span more than two decades and start at 0, `Normalize` otherwise. ``vmin``/``vmax``
    are the smallest and largest epoch (a single epoch ``e`` gets ``e - 0.5 .. e + 0.5``)."""
    e = np.asarray(epochs, dtype=np.float64).ravel()
    if not e.size:
        raise ValueError("epoch_norm() needs at least one epoch")
    lo, hi = float(e.min()), float(e.max())
    if lo == hi:
        return mcolors.Normalize(vmin=lo - 0.5, vmax=hi + 0.5)
    if hi / max(lo, 1.0) > 100.0:
        if lo >= 1:
            return mcolors.LogNorm(vmin=lo, vmax=hi)
        if lo >= 0:
            return mcolors.SymLogNorm(linthresh=1.0, linscale=0.5, vmin=lo, vmax=hi, base=10)
    return mcolors.Normalize(vmin=lo, vmax=hi)


def _epoch_scale(epochs: np.ndarray) -> tuple[str, dict]:
    """The x scale of an information curve: as `epoch_norm`."""
    if not len(epochs):
        return "linear", {}
    lo, hi = float(np.min(epochs)), float(np.max(epochs))
    if hi > lo and hi / max(lo, 1.0) > 100.0:
        if lo >= 1:
            return "log", {}
        if lo >= 0:
            return "symlog", {"linthresh": 1.0, "linscale": 0.5}
    return "linear", {}


def _colorbar_ticks(norm: mcolors.Normalize) -> list[float] | None:
    """Decade ticks (and 0) for a log / symlog epoch norm; None: matplotlib's default."""
    if not isinstance(norm, mcolors.LogNorm | mcolors.SymLogNorm):
        return None
    lo, hi = float(norm.vmin), float(norm.vmax)
    ticks = [0.0] if lo <= 0 else []
    first = max(lo, 1.0)
    ticks += [10.0**k for k in range(math.ceil(math.log10(first)), math.floor(math.log10(hi)) + 1)]
    if lo > 0 and (not ticks or ticks[0] / lo > 2):
        ticks.insert(0, lo)
    if not ticks or hi / ticks[-1] > 2:
        ticks.append(hi)
    return ticks


def _epoch_colorbar(fig: Figure, norm, cmap, ax):
    """One colour bar labelled "epoch" for ``ax`` (an Axes or a list of them)."""
    mappable = ScalarMappable(norm=norm, cmap=cmap)
    cbar = fig.colorbar(mappable, ax=ax, label="epoch", pad=0.02)
    ticks = _colorbar_ticks(norm)
    if ticks is not None:
        cbar.set_ticks(ticks)
        cbar.set_ticklabels([f"{t:g}" for t in ticks])
        cbar.minorticks_off()
    return cbar


@dataclasses.dataclass(frozen=True)
class Ceilings:
    """The largest possible values of the information plane: I(X;T) <= H(X) and
    I(T;Y) <= H(Y) (entropies of the probe's inputs and labels), in ``units``.

    ``h_x``/``h_y``: None when unknown (then that ceiling is not drawn).
    """

    h_x: float | None = None
    h_y: float | None = None
    units: str = "bits"

    def __post_init__(self):
        if self.units not in ("bits", "nats"):
            raise ValueError(f"Ceilings.units must be 'bits' or 'nats', got {self.units!r}")
        for name in ("h_x", "h_y"):
            v = getattr(self, name)
            if v is not None:
                if not isinstance(v, int | float | np.number) or not math.isfinite(v) or v < 0:
                    raise ValueError(f"Ceilings.{name} must be a finite number >= 0, got {v!r}")
                object.__setattr__(self, name, float(v))

    def to(self, units: str) -> Ceilings:
        """The same ceilings in ``units`` ("bits" or "nats")."""
        if units == self.units:
            return self
        if units not in ("bits", "nats"):
            raise ValueError(f"units must be 'bits' or 'nats', got {units!r}")
        f = _LN2 if units == "nats" else 1.0 / _LN2
        return Ceilings(
            None if self.h_x is None else self.h_x * f,
            None if self.h_y is None else self.h_y * f,
            units,
        )


def load_ceilings(run_dir: str | os.PathLike, split: str, units: str = "bits") -> Ceilings:
    """The ceilings of ``split`` from a run's ``config.json`` (``run_dir`` is the run directory
    or the JSON file itself): ``probes[split]["h_x_bits"]`` and ``["h_y_bits"]``, converted to
    ``units``. Missing entries (older runs) give None, i.e. no ceiling."""
    path = os.fspath(run_dir)
    if os.path.isdir(path):
        path = os.path.join(path, "config.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"no config.json at {path!r}: the ceilings H(X), H(Y) are read from a run "
            "directory's config.json (written by `infoplane run`); pass ceilings=None to draw "
            "none, or ceilings={'h_x_bits': ..., 'h_y_bits': ...}"
        )
    with open(path, encoding="utf-8") as f:
        config = json.load(f)
    probe = (config.get("probes") or {}).get(split) if isinstance(config, dict) else None
    if not isinstance(probe, Mapping):
        return Ceilings(units=units)
    return Ceilings(probe.get("h_x_bits"), probe.get("h_y_bits"), "bits").to(units)


_CEILING_KEYS = {"h_x_bits": ("h_x", "bits"), "h_y_bits": ("h_y", "bits"),
                 "h_x": ("h_x", None), "h_y": ("h_y", None)}


def _resolve_ceilings(ceilings: Any, run_dir: str | None, split: str, units: str) -> Ceilings:
    if ceilings is None or ceilings is False:
        return Ceilings(units=units)
    if isinstance(ceilings, str) and ceilings == "auto":
        if run_dir is None or not os.path.isfile(os.path.join(run_dir, "config.json")):
            return Ceilings(units=units)
        return load_ceilings(run_dir, split, units)
    if isinstance(ceilings, Ceilings):
        return ceilings.to(units)
    if isinstance(ceilings, str | os.PathLike):
        return load_ceilings(ceilings, split, units)
    if isinstance(ceilings, Mapping):
        if split in ceilings and isinstance(ceilings[split], Mapping):
            ceilings = ceilings[split]
        unknown = [k for k in ceilings if k not in _CEILING_KEYS]
        if unknown:
            raise ValueError(
                f"ceilings: unknown key(s) {unknown}; use 'h_x_bits'/'h_y_bits' (bits) or "
                f"'h_x'/'h_y' (in the table's units, {units}), or {{split: {{...}}}}"
            )
        values: dict[str, float | None] = {"h_x": None, "h_y": None}
        for key, value in ceilings.items():
            name, given_units = _CEILING_KEYS[key]
            c = Ceilings(units=given_units or units, **{name: value}).to(units)
            values[name] = getattr(c, name)
        return Ceilings(values["h_x"], values["h_y"], units)
    raise TypeError(
        f"ceilings must be None, 'auto', a run directory, a Ceilings or a mapping, got "
        f"{type(ceilings).__name__}"
    )


def _subsample_cap(ceil: Ceilings, sel) -> Ceilings:
    """The selected estimator's own ceilings: I(X;T) at most log n for a subsample of n
    (`i_xt_ceiling`), and none at all for a non-Shannon estimator (DSMI, `is_shannon`)."""
    if not is_shannon(sel.estimator):
        return Ceilings(units=ceil.units)
    if ceil.h_x is None:
        return ceil
    return Ceilings(i_xt_ceiling(ceil.h_x, sel.params, ceil.units), ceil.h_y, ceil.units)


# --------------------------------------------------------------------------------------------
# selection and seed means
# --------------------------------------------------------------------------------------------


def _load(results: ResultsLike) -> tuple[Results, str | None]:
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


def _fmt(values: Sequence) -> str:
    return ", ".join(repr(v) for v in values)


def _choose(sel: Results, column: str, value: Any, who: str, hint: str = "") -> Results:
    """Narrow ``sel`` to one value of ``column`` (``value``, or the only one, or an error)."""
    available = sel.unique(column)
    if value is None:
        if len(available) == 1:
            return sel
        if column == "split" and "train" in available:
            return sel.where(split="train")
        raise ValueError(
            f"{who}: the table holds {len(available)} {column} values ({_fmt(available)}); "
            f"pass {column}=... to choose one{hint}"
        )
    narrowed = sel.where(**{column: value})
    if not len(narrowed):
        raise ValueError(
            f"{who}: no results with {column}={value!r}; available: {_fmt(available)}"
        )
    return narrowed


def _params_subset(decoded: Any, want: Mapping) -> bool:
    return isinstance(decoded, Mapping) and all(
        k in decoded and decoded[k] == v for k, v in want.items()
    )


def _choose_params(sel: Results, params: Any, who: str) -> Results:
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
    matches = [p for p in available if _params_subset(json.loads(p), params)]
    if len(matches) != 1:
        what = "no parameter set" if not matches else f"{len(matches)} parameter sets"
        raise ValueError(
            f"{who}: {what} of this estimator match(es) params={dict(params)!r}; available: "
            f"{'; '.join(matches or available)}"
        )
    return sel.where(params=matches[0])


@dataclasses.dataclass(frozen=True)
class _Selection:
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


def _check_nonempty(res: Results, who: str) -> None:
    if not len(res):
        raise ValueError(
            f"{who}: no results to plot: the table is empty (no rows). Record a run first "
            "(infoplane run / infoplane.Recorder) or check the run directory"
        )


def _select(
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
) -> _Selection:
    _check_nonempty(res, who)
    estimators = res.unique("estimator")
    if estimator is None:
        if len(estimators) != 1:
            more = " (or use estimator_panel() for one panel per estimator)" if panel_hint else ""
            raise ValueError(
                f"{who}: the table holds {len(estimators)} estimators ({_fmt(estimators)}); "
                f"pass estimator=... to choose one{more}"
            )
        estimator = estimators[0]
    elif estimator not in estimators:
        raise ValueError(
            f"{who}: unknown estimator {estimator!r}: no results of it in the table; "
            f"available estimators: {_fmt(estimators)}"
        )
    sel = res.where(estimator=estimator)
    sel = _choose(sel, "run", run, who)
    sel = _choose(sel, "split", split, who)
    sel = _choose_params(sel, params, who)
    if seeds is not None:
        wanted = [seeds] if isinstance(seeds, int | np.integer) else list(seeds)
        missing = [s for s in wanted if s not in sel.unique("seed")]
        if missing or not wanted:
            raise ValueError(
                f"{who}: seed(s) {missing or wanted} not in the table; available seeds: "
                f"{_fmt(sel.unique('seed'))}"
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
            f"{who}: the selection mixes units {_fmt(units)}; select rows of one unit with "
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
                f"{_fmt(all_layers)}"
            )
    return _Selection(
        table=sel,
        run=sel.unique("run")[0],
        split=sel.unique("split")[0],
        estimator=estimator,
        params=sel.unique("params")[0],
        units=units[0],
        seeds=tuple(sorted(sel.unique("seed"))),
        layers=shown,
    )


@dataclasses.dataclass(frozen=True)
class _Series:
    """One layer's trajectory: the mean over seeds at the epochs every seed recorded (E,) and
    the half-widths ``1.96 * SE`` (E,) (None with one seed)."""

    epochs: np.ndarray
    i_xt: np.ndarray
    i_ty: np.ndarray
    half_xt: np.ndarray | None
    half_ty: np.ndarray | None
    n_seeds: int


def _layer_series(sel: _Selection, layer: str) -> _Series:
    t = sel.table.where(layer=layer)
    per_seed = []
    for seed in sel.seeds:
        s = t.where(seed=seed)
        # a repeated epoch keeps its last row (as load_results does)
        per_seed.append({int(e): (x, y) for e, x, y in zip(
            s["epoch"].tolist(), s["i_xt"].tolist(), s["i_ty"].tolist(), strict=True)})
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
        half_xt = _Z95 * np.std(xt, axis=0, ddof=1) / math.sqrt(n)
        half_ty = _Z95 * np.std(ty, axis=0, ddof=1) / math.sqrt(n)
    return _Series(epochs, np.mean(xt, axis=0), np.mean(ty, axis=0), half_xt, half_ty, n)


# --------------------------------------------------------------------------------------------
# the information plane
# --------------------------------------------------------------------------------------------


def _draw_ceilings(ax: Axes, ceilings: Ceilings, *, vertical_x: bool = True) -> list[Line2D]:
    """Dashed ceiling lines H(X) (vertical) and H(Y) (horizontal) with text labels."""
    lines = []
    style = dict(color="0.35", linestyle="--", linewidth=1.0, zorder=0.5)
    if ceilings.h_x is not None and vertical_x:
        label = f"H(X) = {ceilings.h_x:.2f} {ceilings.units}"
        line = ax.axvline(ceilings.h_x, label=label, gid="ceiling:H(X)", **style)
        ax.text(ceilings.h_x, 0.03, label + " ", transform=ax.get_xaxis_transform(),
                rotation=90, ha="right", va="bottom", fontsize=8, color="0.3")
        lines.append(line)
    if ceilings.h_y is not None:
        label = f"H(Y) = {ceilings.h_y:.2f} {ceilings.units}"
        line = ax.axhline(ceilings.h_y, label=label, gid="ceiling:H(Y)", **style)
        ax.text(0.02, ceilings.h_y, label, transform=ax.get_yaxis_transform(),
                ha="left", va="bottom", fontsize=8, color="0.3")
        lines.append(line)
    return lines


def _title(sel: _Selection, n_seeds: int, extra: str = "") -> str:
    head = f"{sel.run} · {sel.split} · {_pretty_estimator(sel.estimator)}"
    tail = [f"mean of {n_seeds} seeds (±1.96 SE)" if n_seeds > 1 else f"seed {sel.seeds[0]}"]
    if extra:
        tail.append(extra)
    return head + "\n" + ", ".join(tail)


def _draw_plane(
    ax: Axes,
    sel: _Selection,
    *,
    norm: mcolors.Normalize,
    cmap: Any,
    ceilings: Ceilings,
    show_dpi: bool,
    dpi_tolerance: float,
    title: str | None,
) -> tuple[int, list]:
    """Draw one information plane on ``ax``; returns the number of DPI violations shown and
    the legend handles (layers, DPI marks, error bars). For a non-Shannon estimator (DSMI) no
    DPI marks and no ceilings are drawn: neither applies to it."""
    shannon = is_shannon(sel.estimator)
    if not shannon:  # the ceilings were dropped by `_subsample_cap`
        show_dpi = False
    line_color = "0.45"
    handles = []
    positions: dict[tuple[str, int], tuple[float, float]] = {}
    n_seeds = len(sel.seeds)
    for i, layer in enumerate(sel.layers):
        s = _layer_series(sel, layer)
        ok = np.isfinite(s.i_xt) & np.isfinite(s.i_ty)
        x, y, e = s.i_xt[ok], s.i_ty[ok], s.epochs[ok]
        marker = MARKERS[i % len(MARKERS)]
        ax.plot(x, y, color=line_color, linewidth=0.9, zorder=1, label=layer,
                gid=f"trajectory:{layer}")
        if s.half_xt is not None:
            ax.errorbar(x, y, xerr=s.half_xt[ok], yerr=s.half_ty[ok], fmt="none",
                        ecolor="0.55", elinewidth=0.7, alpha=0.6, capsize=0, zorder=1.5,
                        label=f"_{layer} ±1.96 SE")
        ax.scatter(x, y, c=e, cmap=cmap, norm=norm, marker=marker, s=34, edgecolors="0.15",
                   linewidths=0.5, zorder=3, label=layer, gid=f"points:{layer}")
        for ep, xv, yv in zip(e.tolist(), x.tolist(), y.tolist(), strict=True):
            positions[(layer, ep)] = (xv, yv)
        handles.append(Line2D([], [], color=line_color, linewidth=0.9, marker=marker,
                              markersize=6, markerfacecolor="0.8", markeredgecolor="0.15",
                              label=layer))
    n_violations = 0
    if show_dpi:
        found = [v for v in dpi_violations(sel.table, tolerance=dpi_tolerance)
                 if v.deeper in sel.layers]
        n_violations = len(found)
        marked = list(dict.fromkeys((v.deeper, v.epoch) for v in found))
        pts = [positions[k] for k in marked if k in positions]
        if found:
            label = f"DPI violation ({n_violations}; > {dpi_tolerance:g} {sel.units})"
            sc = ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=150,
                            facecolors="none", edgecolors="red", linewidths=1.3, zorder=4,
                            label=label, gid="dpi-violations")
            handles.append(sc)
    if n_seeds > 1:
        handles.append(Line2D([], [], color="0.55", linewidth=0.7, marker="+", markersize=8,
                              label=f"±1.96 SE ({n_seeds} seeds)"))
    _draw_ceilings(ax, ceilings)
    ax.set_xlabel(axis_label(sel.estimator, "i_xt", sel.units, sel.params))
    ax.set_ylabel(axis_label(sel.estimator, "i_ty", sel.units, sel.params))
    if title is None:
        extra = (f"{n_violations} DPI violation(s)" if show_dpi
                 else "" if shannon else "not Shannon: no DPI check")
        title = _title(sel, n_seeds, extra)
    ax.set_title(title, fontsize=10)
    ax.grid(True, linewidth=0.4, alpha=0.4)
    return n_violations, handles


def _legend(fig: Figure, ax: Axes | None, handles: list, own_figure: bool) -> None:
    """Below the plot (outside) on a figure made here; inside ``ax`` ("best") otherwise."""
    if not handles:
        return
    if own_figure:
        fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 4),
                   fontsize=8, frameon=False)
    else:
        ax.legend(handles=handles, fontsize=8, loc="best", framealpha=0.9)


def _new_figure(figsize: tuple[float, float], nrows: int = 1, ncols: int = 1):
    fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def information_plane(
    results: ResultsLike,
    *,
    estimator: str | None = None,
    split: str | None = None,
    run: str | None = None,
    params: Mapping | str | None = None,
    seeds: Sequence[int] | int | None = None,
    layers: Sequence[str] | None = None,
    epoch_range: tuple[int | None, int | None] | None = None,
    ax: Axes | None = None,
    ceilings: Any = "auto",
    cmap: str | mcolors.Colormap = "viridis",
    dpi_tolerance: float = 0.05,
    show_dpi: bool = True,
    legend: bool = True,
    title: str | None = None,
    colorbar: bool = True,
    norm: mcolors.Normalize | None = None,
) -> tuple[Figure, Axes]:
    """The information plane of one run: I(X;T) on x, I(T;Y) on y, one trajectory per layer.

    Each layer is a thin grey line through its recorded epochs, with points coloured by epoch
    (`epoch_norm`, one colour bar labelled "epoch") and a marker of its own (legend). With
    several seeds the points are the seed means at the epochs every seed recorded, with
    ±1.96 standard-error bars in both coordinates. NaN values are left out.

    Args:
      results: a `Results` table, or a run directory / ``results.csv`` path.
      estimator, split, run, params: which curve; None takes the only value in the table
        (split: "train" when present) and raises `ValueError` listing the values otherwise.
        ``params`` may name only the keys that differ (e.g. ``{"bound": "lower"}``).
      seeds: the seeds to average (default: all).
      layers: the layers to draw, in this order (default: all, in table order).
      epoch_range: ``(first, last)`` epochs to draw, inclusive; None for an open end.
      ax: draw on this Axes (default: a new Figure).
      ceilings: dashed lines at I(X;T) = H(X) and I(T;Y) = H(Y), in the table's units.
        "auto": from the run directory's ``config.json`` when ``results`` is a path (none for
        a table); None: none; a run directory; a `Ceilings`; or a mapping with keys
        ``h_x_bits``/``h_y_bits`` (bits) or ``h_x``/``h_y`` (the table's units).
      cmap: the epoch colour map.
      dpi_tolerance, show_dpi: mark points where a layer exceeds the previous layer by more
        than ``dpi_tolerance`` (table units; `infoplane.checks.dpi_violations`, every seed
        checked separately) with a red open circle (label "DPI violation (n; ...)"), counted
        in the legend and the title.
      legend: draw the legend (layer markers, DPI marks, error bars).
      title: the Axes title (default: run, split, estimator, seeds and the DPI count).
      colorbar: draw the epoch colour bar (False for the panels of a grid that share one:
        pass the same ``norm`` to each and draw one bar yourself, or use `estimator_panel`).
      norm: the epoch colour scale (default: `epoch_norm` of the drawn epochs).

    Returns:
      ``(fig, ax)``. The colour bar is ``fig.axes[-1]`` when the figure was made here.
    """
    who = "information_plane()"
    res, run_dir = _load(results)
    sel = _select(res, estimator=estimator, split=split, run=run, params=params, seeds=seeds,
                  layers=layers, epoch_range=epoch_range, who=who)
    ceil = _subsample_cap(_resolve_ceilings(ceilings, run_dir, sel.split, sel.units), sel)
    norm = epoch_norm(sel.table["epoch"]) if norm is None else norm
    own = ax is None
    if own:
        fig, axes = _new_figure((6.4, 5.4))
        ax = axes[0, 0]
    else:
        fig = ax.figure
    _n, handles = _draw_plane(ax, sel, norm=norm, cmap=cmap, ceilings=ceil, show_dpi=show_dpi,
                              dpi_tolerance=dpi_tolerance, title=title)
    if colorbar:
        _epoch_colorbar(fig, norm, cmap, ax)
    if legend:
        _legend(fig, ax, handles, own)
    return fig, ax


def estimator_panel(
    results: ResultsLike,
    *,
    estimators: Sequence[str] | None = None,
    split: str | None = None,
    run: str | None = None,
    seeds: Sequence[int] | int | None = None,
    layers: Sequence[str] | None = None,
    epoch_range: tuple[int | None, int | None] | None = None,
    ceilings: Any = "auto",
    cmap: str | mcolors.Colormap = "viridis",
    dpi_tolerance: float = 0.05,
    show_dpi: bool = True,
    ncols: int | None = None,
    legend: bool = True,
    title: str | None = None,
) -> tuple[Figure, np.ndarray]:
    """One information plane (`information_plane`) per estimator of one run, side by side,
    all coloured on one epoch scale with one shared colour bar.

    ``estimators``: the panels, in order (default: every estimator of the run and split, in
    table order). Each estimator must have one parameter set in the selection (else select
    rows first, e.g. ``results.where(params=...)``). ``ncols``: panels per row (default: up to
    3). The other arguments are those of `information_plane`.

    Returns:
      ``(fig, axes)``: ``axes`` a 1-D object array of the panels' Axes, in ``estimators``
      order (unused grid cells are removed); the colour bar is ``fig.axes[-1]``.
    """
    who = "estimator_panel()"
    res, run_dir = _load(results)
    _check_nonempty(res, who)
    available = res.unique("estimator")
    if estimators is None:
        base = _choose(_choose(res, "run", run, who), "split", split, who)
        estimators = base.unique("estimator")
    else:
        estimators = [estimators] if isinstance(estimators, str) else list(estimators)
        unknown = [e for e in estimators if e not in available]
        if unknown or not estimators:
            raise ValueError(
                f"{who}: unknown estimator(s) {unknown or estimators}: no results of them in "
                f"the table; available estimators: {_fmt(available)}"
            )
    sels = [
        _select(res, estimator=e, split=split, run=run, params=None, seeds=seeds, layers=layers,
                epoch_range=epoch_range, who=f"{who} (estimator {e!r})", panel_hint=False)
        for e in estimators
    ]
    n = len(sels)
    if ncols is None:
        ncols = min(n, 3)
    if ncols < 1:
        raise ValueError(f"{who}: ncols must be >= 1, got {ncols}")
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    norm = epoch_norm(np.concatenate([s.table["epoch"] for s in sels]))
    fig, grid = _new_figure((4.6 * ncols + 0.8, 4.0 * nrows), nrows, ncols)
    flat = list(grid.ravel())
    for extra in flat[n:]:
        fig.delaxes(extra)
    axes = np.empty(n, dtype=object)
    legend_handles: dict[str, Any] = {}
    for i, (sel, ax) in enumerate(zip(sels, flat, strict=False)):
        ceil = _subsample_cap(_resolve_ceilings(ceilings, run_dir, sel.split, sel.units), sel)
        n_dpi, handles = _draw_plane(
            ax, sel, norm=norm, cmap=cmap, ceilings=ceil, show_dpi=show_dpi,
            dpi_tolerance=dpi_tolerance, title=_pretty_estimator(sel.estimator),
        )
        for h in handles:  # one entry per label over all panels (DPI counts are per panel)
            key = "DPI violation" if h.get_label().startswith("DPI violation") else h.get_label()
            legend_handles.setdefault(key, h)
        if show_dpi:
            dpi = (f"{n_dpi} DPI violation(s)" if is_shannon(sel.estimator)
                   else "not Shannon: no DPI check")
            ax.set_title(f"{_pretty_estimator(sel.estimator)} · {dpi}", fontsize=10)
        axes[i] = ax
    first = sels[0]
    if title is None:
        seeds_text = (f"mean of {len(first.seeds)} seeds (±1.96 SE)" if len(first.seeds) > 1
                      else f"seed {first.seeds[0]}")
        title = f"{first.run} · {first.split} · {seeds_text}"
    fig.suptitle(title, fontsize=11)
    _epoch_colorbar(fig, norm, cmap, list(axes))
    if legend:
        handles = list(legend_handles.values())
        if "DPI violation" in legend_handles:
            dpi = Line2D([], [], linestyle="none", marker="o", markersize=10,
                         markerfacecolor="none", markeredgecolor="red", markeredgewidth=1.3,
                         label=f"DPI violation (> {dpi_tolerance:g} {sels[0].units})")
            handles[list(legend_handles).index("DPI violation")] = dpi
        fig.legend(handles=handles, loc="outside lower center", fontsize=8, frameon=False,
                   ncols=min(len(handles), 8))
    return fig, axes


# --------------------------------------------------------------------------------------------
# information curves
# --------------------------------------------------------------------------------------------


def _layer_colors(n: int) -> list:
    if n <= 10:
        return [mpl.colormaps["tab10"](i) for i in range(n)]
    return [mpl.colormaps["viridis"](v) for v in np.linspace(0.0, 0.95, n)]


def information_curves(
    results: ResultsLike,
    *,
    estimator: str | None = None,
    split: str | None = None,
    run: str | None = None,
    params: Mapping | str | None = None,
    seeds: Sequence[int] | int | None = None,
    layers: Sequence[str] | None = None,
    epoch_range: tuple[int | None, int | None] | None = None,
    quantity: str = "both",
    axes: Axes | Sequence[Axes] | None = None,
    ceilings: Any = "auto",
    legend: bool = True,
    title: str | None = None,
) -> tuple[Figure, np.ndarray]:
    """I(X;T) and/or I(T;Y) against the epoch, one line per layer.

    The epoch axis is logarithmic when the epochs span more than two decades (symlog, linear
    below 1, when they start at 0), as `epoch_norm`. With several seeds a line is the seed
    mean and a translucent band spans ±1.96 standard errors. NaN values are left out.
    Ceilings (H(X) on the I(X;T) axes, H(Y) on the I(T;Y) axes) are dashed lines.

    Args:
      quantity: "both" (two panels side by side), "i_xt" or "i_ty".
      axes: draw on these Axes (one per panel; default: a new Figure).
      The others: as `information_plane`.

    Returns:
      ``(fig, axes)``: a 1-D object array of the Axes (I(X;T) first with "both").
    """
    who = "information_curves()"
    quantities = {"both": ("i_xt", "i_ty"), "i_xt": ("i_xt",), "i_ty": ("i_ty",)}
    if quantity not in quantities:
        raise ValueError(f"{who}: quantity must be 'both', 'i_xt' or 'i_ty', got {quantity!r}")
    qs = quantities[quantity]
    res, run_dir = _load(results)
    sel = _select(res, estimator=estimator, split=split, run=run, params=params, seeds=seeds,
                  layers=layers, epoch_range=epoch_range, who=who)
    ceil = _subsample_cap(_resolve_ceilings(ceilings, run_dir, sel.split, sel.units), sel)
    if axes is None:
        fig, grid = _new_figure((5.2 * len(qs) + 1.2, 3.9), 1, len(qs))
        ax_list = list(grid.ravel())
    else:
        ax_list = [axes] if isinstance(axes, Axes) else list(axes)
        if len(ax_list) != len(qs):
            raise ValueError(
                f"{who}: quantity={quantity!r} needs {len(qs)} Axes, got {len(ax_list)}"
            )
        fig = ax_list[0].figure
    colors = _layer_colors(len(sel.layers))
    series = {layer: _layer_series(sel, layer) for layer in sel.layers}
    scale, scale_kw = _epoch_scale(sel.table["epoch"])
    for q, ax in zip(qs, ax_list, strict=True):
        for color, (layer, s) in zip(colors, series.items(), strict=True):
            values = s.i_xt if q == "i_xt" else s.i_ty
            half = s.half_xt if q == "i_xt" else s.half_ty
            ok = np.isfinite(values)
            ax.plot(s.epochs[ok], values[ok], color=color, linewidth=1.4, marker=".",
                    markersize=4, label=layer, gid=f"curve:{layer}")
            if half is not None:
                ok &= np.isfinite(half)
                ax.fill_between(s.epochs[ok], values[ok] - half[ok], values[ok] + half[ok],
                                color=color, alpha=0.2, linewidth=0, label=f"_{layer} band",
                                gid=f"band:{layer}")
        only = Ceilings(ceil.h_x if q == "i_xt" else None, ceil.h_y if q == "i_ty" else None,
                        ceil.units)
        if q == "i_xt" and only.h_x is not None:
            label = f"H(X) = {only.h_x:.2f} {only.units}"
            ax.axhline(only.h_x, color="0.35", linestyle="--", linewidth=1.0, zorder=0.5,
                       label=label, gid="ceiling:H(X)")
            ax.text(0.02, only.h_x, label, transform=ax.get_yaxis_transform(), ha="left",
                    va="bottom", fontsize=8, color="0.3")
        else:
            _draw_ceilings(ax, only)
        ax.set_xscale(scale, **scale_kw)
        if scale != "linear":
            lo, hi = float(sel.table["epoch"].min()), float(sel.table["epoch"].max())
            ax.set_xlim(lo / 1.2 if lo > 0 else lo, hi * 1.2)
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        ax.set_xlabel("epoch")
        ax.set_ylabel(axis_label(sel.estimator, q, sel.units, sel.params))
        ax.grid(True, linewidth=0.4, alpha=0.4)
    if legend:
        handles = [Line2D([], [], color=c, linewidth=1.4, marker=".", label=layer)
                   for c, layer in zip(colors, sel.layers, strict=True)]
        if len(sel.seeds) > 1:
            handles.append(Patch(color="0.5", alpha=0.3,
                                             label=f"±1.96 SE ({len(sel.seeds)} seeds)"))
        if axes is None:
            fig.legend(handles=handles, loc="outside right upper", fontsize=8, frameon=False)
        else:
            ax_list[-1].legend(handles=handles, fontsize=8, loc="best", framealpha=0.9)
    if title is None:
        title = _title(sel, len(sel.seeds)).replace("\n", " · ")
    if axes is None:
        fig.suptitle(title, fontsize=11)
    else:
        ax_list[0].set_title(title, fontsize=10)
    out = np.empty(len(ax_list), dtype=object)
    out[:] = ax_list
    return fig, out


# --------------------------------------------------------------------------------------------
# output
# --------------------------------------------------------------------------------------------


def render_png(fig: Figure, dpi: int = 150) -> bytes:
    """The figure as PNG bytes (``dpi`` dots per inch, tight bounding box)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def save(fig: Figure, path: str | os.PathLike, *, dpi: int = 300) -> str:
    """Write the figure to ``path``; the format follows the suffix: ``.png`` (``dpi``),
    ``.pdf`` or ``.svg`` (vector). Returns the path written."""
    path = os.fspath(path)
    suffix = os.path.splitext(path)[1].lower().lstrip(".")
    if suffix not in SAVE_FORMATS:
        raise ValueError(
            f"save(): cannot infer a supported format from {path!r} (suffix "
            f"{('.' + suffix) if suffix else 'missing'}); use a path ending in "
            f"{', '.join('.' + f for f in SAVE_FORMATS)}"
        )
    fig.savefig(path, format=suffix, dpi=dpi, bbox_inches="tight")
    return path
