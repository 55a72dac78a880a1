"""The information plane: `information_plane` (one run, one estimator) and `estimator_panel`
(one plane per estimator, one shared colour bar). See `infoplane.plot` for the conventions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.colors as mcolors
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from infoplane.report.checks import dpi_violations, is_shannon
from infoplane.report.figures.ceilings import (
    Ceilings,
    draw_ceilings,
    resolve_ceilings,
    subsample_cap,
)
from infoplane.report.figures.selection import (
    ResultsLike,
    Selection,
    aux_of,
    check_nonempty,
    choose,
    fmt_values,
    layer_series,
    load_table,
    null_series,
    select,
    selection_title,
)
from infoplane.report.figures.style import (
    MARKERS,
    axis_label,
    epoch_colorbar,
    epoch_norm,
    new_figure,
    nonfinite_note,
    place_legend,
    pretty_estimator,
)

__all__ = ["estimator_panel", "information_plane"]


def draw_plane(
    ax: Axes,
    sel: Selection,
    *,
    norm: mcolors.Normalize,
    cmap: Any,
    ceilings: Ceilings,
    show_dpi: bool,
    dpi_tolerance: float,
    title: str | None,
    nulls: dict | None = None,
) -> tuple[int, list]:
    """Draw one information plane on ``ax``; returns the number of DPI violations shown and
    the legend handles (layers, DPI marks, error bars). For a non-Shannon estimator (DSMI,
    matrix_renyi) no DPI marks are drawn: the DPI does not apply to it (its ceilings, if any,
    are `subsample_cap`'s: none for DSMI, log2 n and for alpha >= 1 H(X), H(Y) for
    matrix_renyi). ``nulls``: `null_series` of the selection, drawn as a faint dotted
    trajectory per layer at (I(X;T), null I(T;Y))."""
    shannon = is_shannon(sel.estimator)
    if not shannon:
        show_dpi = False
    line_color = "0.45"
    handles = []
    positions: dict[tuple[str, int], tuple[float, float]] = {}
    n_seeds = len(sel.seeds)
    n_nonfinite = 0
    for i, layer in enumerate(sel.layers):
        s = layer_series(sel, layer)
        ok = np.isfinite(s.i_xt) & np.isfinite(s.i_ty)
        n_nonfinite += int(np.sum(~ok))
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
    drawn = False
    for layer, (epochs, values) in (nulls or {}).items():
        pts = [(positions[(layer, int(ep))][0], v) for ep, v in zip(epochs, values, strict=True)
               if (layer, int(ep)) in positions]
        if pts:
            ax.plot(*zip(*pts, strict=True), color=line_color, linewidth=0.9, linestyle=":",
                    alpha=0.7, zorder=0.8, label=f"_{layer} null", gid=f"null:{layer}")
            drawn = True
    if drawn:
        handles.append(Line2D([], [], color=line_color, linewidth=0.9, linestyle=":",
                              label="null: I(T;Y) of permuted labels"))
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
    if n_nonfinite:  # never dropped silently: a note in the corner and in the legend
        note = nonfinite_note(n_nonfinite)
        ax.text(0.99, 0.01, note, transform=ax.transAxes, ha="right", va="bottom", fontsize=7,
                color="darkred", gid="nonfinite-note")
        handles.append(Line2D([], [], linestyle="none", marker="x", color="darkred",
                              label=note))
    draw_ceilings(ax, ceilings)
    ax.set_xlabel(axis_label(sel.estimator, "i_xt", sel.units, sel.params))
    ax.set_ylabel(axis_label(sel.estimator, "i_ty", sel.units, sel.params))
    if title is None:
        extra = (f"{n_violations} DPI violation(s)" if show_dpi
                 else "" if shannon else "not Shannon: no DPI check")
        title = selection_title(sel, n_seeds, extra)
    ax.set_title(title, fontsize=10)
    ax.grid(True, linewidth=0.4, alpha=0.4)
    return n_violations, handles


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
    null: Any = "auto",
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
        than ``dpi_tolerance`` (table units; `infoplane.dpi_violations`, every seed
        checked separately) with a red open circle (label "DPI violation (n; ...)"), counted
        in the legend and the title.
      legend: draw the legend (layer markers, DPI marks, error bars).
      title: the Axes title (default: run, split, estimator, seeds and the DPI count).
      colorbar: draw the epoch colour bar (False for the panels of a grid that share one:
        pass the same ``norm`` to each and draw one bar yourself, or use `estimator_panel`).
      norm: the epoch colour scale (default: `epoch_norm` of the drawn epochs).
      null: the label-permutation null of I(T;Y) (`infoplane.NullLabels`, aux
        ``i_ty_null``), a faint dotted trajectory per layer at (I(X;T), null): "auto" (the
        run directory's aux.csv when ``results`` is a directory), aux rows, or None.

    Returns:
      ``(fig, ax)``. The colour bar is ``fig.axes[-1]`` when the figure was made here.
    """
    who = "information_plane()"
    res, run_dir = load_table(results)
    sel = select(res, estimator=estimator, split=split, run=run, params=params, seeds=seeds,
                  layers=layers, epoch_range=epoch_range, who=who)
    ceil = subsample_cap(resolve_ceilings(ceilings, run_dir, sel.split, sel.units), sel)
    norm = epoch_norm(sel.table["epoch"]) if norm is None else norm
    own = ax is None
    if own:
        fig, axes = new_figure((6.4, 5.4))
        ax = axes[0, 0]
    else:
        fig = ax.figure
    _n, handles = draw_plane(ax, sel, norm=norm, cmap=cmap, ceilings=ceil, show_dpi=show_dpi,
                              dpi_tolerance=dpi_tolerance, title=title,
                              nulls=null_series(aux_of(null, run_dir), sel))
    if colorbar:
        epoch_colorbar(fig, norm, cmap, ax)
    if legend:
        place_legend(fig, ax, handles, own)
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
    res, run_dir = load_table(results)
    check_nonempty(res, who)
    available = res.unique("estimator")
    if estimators is None:
        base = choose(choose(res, "run", run, who), "split", split, who)
        estimators = base.unique("estimator")
    else:
        estimators = [estimators] if isinstance(estimators, str) else list(estimators)
        unknown = [e for e in estimators if e not in available]
        if unknown or not estimators:
            raise ValueError(
                f"{who}: unknown estimator(s) {unknown or estimators}: no results of them in "
                f"the table; available estimators: {fmt_values(available)}"
            )
    sels = [
        select(res, estimator=e, split=split, run=run, params=None, seeds=seeds, layers=layers,
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
    fig, grid = new_figure((4.6 * ncols + 0.8, 4.0 * nrows), nrows, ncols)
    flat = list(grid.ravel())
    for extra in flat[n:]:
        fig.delaxes(extra)
    axes = np.empty(n, dtype=object)
    legend_handles: dict[str, Any] = {}
    for i, (sel, ax) in enumerate(zip(sels, flat, strict=False)):
        ceil = subsample_cap(resolve_ceilings(ceilings, run_dir, sel.split, sel.units), sel)
        n_dpi, handles = draw_plane(
            ax, sel, norm=norm, cmap=cmap, ceilings=ceil, show_dpi=show_dpi,
            dpi_tolerance=dpi_tolerance, title=pretty_estimator(sel.estimator),
        )
        for h in handles:  # one entry per label over all panels (DPI counts are per panel)
            key = "DPI violation" if h.get_label().startswith("DPI violation") else h.get_label()
            legend_handles.setdefault(key, h)
        if show_dpi:
            dpi = (f"{n_dpi} DPI violation(s)" if is_shannon(sel.estimator)
                   else "not Shannon: no DPI check")
            ax.set_title(f"{pretty_estimator(sel.estimator)} · {dpi}", fontsize=10)
        axes[i] = ax
    first = sels[0]
    if title is None:
        seeds_text = (f"mean of {len(first.seeds)} seeds (±1.96 SE)" if len(first.seeds) > 1
                      else f"seed {first.seeds[0]}")
        title = f"{first.run} · {first.split} · {seeds_text}"
    fig.suptitle(title, fontsize=11)
    epoch_colorbar(fig, norm, cmap, list(axes))
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
