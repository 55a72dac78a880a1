"""The information plane: `information_plane` (one estimator; one run, or several overlaid)
and `estimator_panel` (one plane per estimator, one shared colour bar). See `infoplane.plot`
for the conventions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.colors as mcolors
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from infoplane.report.checks import dpi_violations, is_shannon
from infoplane.report.figures.ceilings import draw_ceilings
from infoplane.report.figures.selection import (
    ResultsLike,
    check_nonempty,
    choose,
    fmt_values,
    layer_series,
    selection_title,
)
from infoplane.report.figures.style import (
    MARKERS,
    RUN_LINESTYLES,
    axis_label,
    epoch_colorbar,
    epoch_norm,
    keep_min_span,
    layer_colors,
    new_figure,
    nonfinite_note,
    panel_grid,
    place_legend,
    pretty_estimator,
    shared_epoch_colorbar,
)
from infoplane.report.figures.traces import (
    Trace,
    draw_rank,
    gather,
    layer_label,
    merged_widths,
    sources_of,
    unique_ceilings,
)

__all__ = ["estimator_panel", "information_plane"]


def draw_plane(
    ax: Axes,
    traces: Sequence[Trace],
    *,
    norm: mcolors.Normalize,
    cmap: Any,
    show_dpi: bool,
    dpi_tolerance: float,
    title: str | None,
    color_by: str = "epoch",
) -> tuple[int, list, list]:
    """Draw one information plane of one or more runs (``traces``) on ``ax``; returns the
    number of DPI violations shown, the legend handles (layers, runs, DPI marks, error bars)
    and the epoch-coloured point collections.

    Layers: a marker each; stacked widest first (`draw_rank`: underneath, larger markers,
    thicker line), points slightly translucent, so a narrower layer on the same points stays
    visible on top. Runs: a line style each (`RUN_LINESTYLES`), named in the legend.
    ``color_by``: "epoch" (points on the epoch scale ``norm``) or "layer" (a colour per
    layer). Rows with confidence intervals (`INTERVALS`) get thin light bars from lo to hi
    in both coordinates where they are finite. For a non-Shannon estimator (DSMI,
    matrix_renyi) no DPI marks are drawn: the DPI does not apply to it. Each trace's null
    baseline is a faint dotted trajectory per layer at (I(X;T), null I(T;Y))."""
    first = traces[0].sel
    shannon = is_shannon(first.estimator)
    show_dpi = show_dpi and shannon
    overlay = len(traces) > 1
    layers = list(dict.fromkeys(layer for t in traces for layer in t.sel.layers))
    widths = merged_widths(traces)
    colors = dict(zip(layers, layer_colors(len(layers)), strict=True))
    markers = {layer: MARKERS[i % len(MARKERS)] for i, layer in enumerate(layers)}
    rank = draw_rank(layers, widths)
    top = max(len(layers) - 1, 1)
    points: list = []
    n_nonfinite = n_violations = 0
    has_interval = has_null = False
    for r, trace in enumerate(traces):
        style = RUN_LINESTYLES[r % len(RUN_LINESTYLES)]
        positions: dict[tuple[str, int], tuple[float, float]] = {}
        for layer in trace.sel.layers:
            s = layer_series(trace.sel, layer)
            ok = np.isfinite(s.i_xt) & np.isfinite(s.i_ty)
            n_nonfinite += int(np.sum(~ok))
            x, y, e = s.i_xt[ok], s.i_ty[ok], s.epochs[ok]
            k = rank[layer] / top  # 0: the widest, drawn first .. 1: the narrowest, on top
            tag = f"{layer}@{trace.name}" if overlay else layer
            line_color = colors[layer] if color_by == "layer" else "0.45"
            ax.plot(x, y, color=line_color, linewidth=1.5 - 0.7 * k, linestyle=style,
                    zorder=1 + 0.01 * rank[layer], label=layer, gid=f"trajectory:{tag}")
            if s.half_xt is not None:
                ax.errorbar(x, y, xerr=s.half_xt[ok], yerr=s.half_ty[ok], fmt="none",
                            ecolor="0.55", elinewidth=0.7, alpha=0.6, capsize=0, zorder=1.5,
                            label=f"_{layer} ±1.96 SE")
            if s.interval is not None:
                has_interval |= draw_intervals(ax, s, ok, tag)
            paint = (dict(c=e, cmap=cmap, norm=norm) if color_by == "epoch"
                     else dict(color=colors[layer]))
            sc = ax.scatter(x, y, marker=markers[layer], s=70 - 45 * k, alpha=0.85,
                            edgecolors="0.15", linewidths=0.5, zorder=3 + 0.01 * rank[layer],
                            label=layer, gid=f"points:{tag}", **paint)
            if color_by == "epoch":
                points.append(sc)
            for ep, xv, yv in zip(e.tolist(), x.tolist(), y.tolist(), strict=True):
                positions[(layer, ep)] = (xv, yv)
        has_null |= draw_nulls(ax, trace, positions, style, overlay)
        if show_dpi:
            n_violations += draw_dpi(ax, trace, positions, dpi_tolerance, overlay)
    handles = [Line2D([], [], color=colors[layer] if color_by == "layer" else "0.45",
                      linewidth=0.9, marker=markers[layer], markersize=6,
                      markerfacecolor=colors[layer] if color_by == "layer" else "0.8",
                      markeredgecolor="0.15", label=layer_label(layer, widths))
               for layer in layers]
    if overlay:
        handles += [Line2D([], [], color="0.3", linewidth=1.2, linestyle=RUN_LINESTYLES[
            r % len(RUN_LINESTYLES)], label=t.name) for r, t in enumerate(traces)]
    if n_violations:
        handles.append(Line2D([], [], linestyle="none", marker="o", markersize=10,
                              markerfacecolor="none", markeredgecolor="red",
                              markeredgewidth=1.3, label=f"DPI violation ({n_violations}; > "
                              f"{dpi_tolerance:g} {first.units})"))
    n_seeds = len(first.seeds)
    if n_seeds > 1:
        handles.append(Line2D([], [], color="0.55", linewidth=0.7, marker="+", markersize=8,
                              label=f"±1.96 SE ({n_seeds} seeds)"))
    if has_interval:
        handles.append(Line2D([], [], color=INTERVAL_COLOR, linewidth=0.8,
                              label="confidence interval (per seed, mean)"))
    if has_null:
        handles.append(Line2D([], [], color="0.45", linewidth=0.9, linestyle=":",
                              label="null: I(T;Y) of permuted labels"))
    if n_nonfinite:  # never dropped silently: a note in the corner and in the legend
        note = nonfinite_note(n_nonfinite)
        ax.text(0.99, 0.01, note, transform=ax.transAxes, ha="right", va="bottom", fontsize=7,
                color="darkred", gid="nonfinite-note")
        handles.append(Line2D([], [], linestyle="none", marker="x", color="darkred",
                              label=note))
    for ceil in unique_ceilings(traces):
        draw_ceilings(ax, ceil)
    ax.set_xlabel(axis_label(first.estimator, "i_xt", first.units, first.params))
    ax.set_ylabel(axis_label(first.estimator, "i_ty", first.units, first.params))
    if title is None:
        extra = (f"{n_violations} DPI violation(s)" if show_dpi
                 else "" if shannon else "not Shannon: no DPI check")
        title = selection_title(first, n_seeds, extra)
        if overlay:
            title = " vs ".join(t.name for t in traces) + title[len(first.run):]
    ax.set_title(title, fontsize=10)
    ax.grid(True, linewidth=0.4, alpha=0.4)
    keep_min_span(ax, "x", first.units)
    keep_min_span(ax, "y", first.units)
    return n_violations, handles, points


#: The colour of the rows' confidence-interval bars and bands.
INTERVAL_COLOR = "0.6"


def draw_intervals(ax: Axes, s, ok: np.ndarray, tag: str) -> bool:
    """Thin light bars lo..hi of I(X;T) (horizontal) and I(T;Y) (vertical) at the finite
    points ``ok`` whose interval ends are finite (gid "interval:<tag>"); whether any was
    drawn."""
    iv = s.interval
    drawn = False
    for lo, hi, vertical in ((iv["i_xt_lo"], iv["i_xt_hi"], False),
                             (iv["i_ty_lo"], iv["i_ty_hi"], True)):
        fin = ok & np.isfinite(lo) & np.isfinite(hi)
        if not fin.any():
            continue
        draw = ax.vlines if vertical else ax.hlines
        at = s.i_xt[fin] if vertical else s.i_ty[fin]
        draw(at, lo[fin], hi[fin], colors=INTERVAL_COLOR, linewidths=0.7, alpha=0.7,
             zorder=1.4, label=f"_{tag} interval", gid=f"interval:{tag}")
        drawn = True
    return drawn


def draw_nulls(ax: Axes, trace: Trace, positions: dict, style: str, overlay: bool) -> bool:
    """The trace's null baseline: a faint dotted line per layer at (I(X;T), null I(T;Y))."""
    drawn = False
    for layer, (epochs, values) in trace.nulls.items():
        pts = [(positions[(layer, int(ep))][0], v) for ep, v in zip(epochs, values, strict=True)
               if (layer, int(ep)) in positions]
        if pts:
            tag = f"{layer}@{trace.name}" if overlay else layer
            ax.plot(*zip(*pts, strict=True), color="0.45", linewidth=0.9,
                    linestyle=":" if style == "-" else style, alpha=0.7, zorder=0.8,
                    label=f"_{layer} null", gid=f"null:{tag}")
            drawn = True
    return drawn


def draw_dpi(ax: Axes, trace: Trace, positions: dict, tolerance: float, overlay: bool) -> int:
    """Red open circles at the trace's DPI violations (gid "dpi-violations"); their count."""
    sel = trace.sel
    found = [v for v in dpi_violations(sel.table, tolerance=tolerance) if v.deeper in sel.layers]
    marked = list(dict.fromkeys((v.deeper, v.epoch) for v in found))
    pts = [positions[k] for k in marked if k in positions]
    if found:
        label = f"DPI violation ({len(found)}; > {tolerance:g} {sel.units})"
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=150, facecolors="none",
                   edgecolors="red", linewidths=1.3, zorder=4, label=label,
                   gid="dpi-violations" + (f"@{trace.name}" if overlay else ""))
    return len(found)


def information_plane(
    results: ResultsLike | Sequence[ResultsLike],
    *,
    estimator: str | None = None,
    split: str | None = None,
    run: str | Sequence[str] | None = None,
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
    colorbar: bool | str = "auto",
    norm: mcolors.Normalize | None = None,
    null: Any = "auto",
    labels: Sequence[str] | None = None,
    widths: Any = "auto",
    color_by: str = "epoch",
    figsize: tuple[float, float] | None = None,
) -> tuple[Figure, Axes]:
    """The information plane: I(X;T) on x, I(T;Y) on y, one trajectory per layer.

    Each layer is a thin line through its recorded epochs, with points coloured by epoch
    (`epoch_norm`, one colour bar labelled "epoch") and a marker of its own (legend,
    "layers.2 (5)" with the layer's width where known). Layers are stacked widest first
    (underneath, larger markers), so layers on the same points stay visible. With several
    seeds the points are the seed means at the epochs every seed recorded, with ±1.96
    standard-error bars in both coordinates; rows with confidence intervals
    (``i_xt_lo``..``i_ty_hi``, `infoplane.Intervals`) get thin light bars lo..hi where
    finite. NaN values are left out. An axis whose data span less than 0.05 bits is padded
    to 0.05 bits about its centre (noise is not drawn as a trajectory).

    Args:
      results: a `Results` table, or a run directory / ``results.csv`` path; or a list of
        them: an overlay of runs in one plane, a line style each, named in the legend.
      estimator, split, run, params: which curve; None takes the only value in the table
        (split: "train" when present) and raises `ValueError` listing the values otherwise.
        ``params`` may name only the keys that differ (e.g. ``{"bound": "lower"}``).
        ``run``: a list of run names overlays those runs of one table.
      seeds: the seeds to average (default: all).
      layers: the layers to draw, in this order (default: all, in table order).
      epoch_range: ``(first, last)`` epochs to draw, inclusive; None for an open end.
      ax: draw on this Axes (default: a new Figure of ``figsize`` inches, default 6.4 x 5.4).
      ceilings: dashed lines at I(X;T) = H(X) and I(T;Y) = H(Y), in the table's units.
        "auto": from the run directory's ``config.json`` when ``results`` is a path (none for
        a table); None: none; a run directory; a `Ceilings`; or a mapping with keys
        ``h_x_bits``/``h_y_bits`` (bits) or ``h_x``/``h_y`` (the table's units). With several
        runs: also a list, one per run. Labels sit above the markers on a white box.
      cmap: the epoch colour map.
      dpi_tolerance, show_dpi: mark points where a layer exceeds the previous layer by more
        than ``dpi_tolerance`` (table units; `infoplane.dpi_violations`, every seed
        checked separately) with a red open circle (label "DPI violation (n; ...)"), counted
        in the legend and the title.
      legend: draw the legend (layer markers, runs, DPI marks, error bars).
      title: the Axes title (default: run(s), split, estimator, seeds and the DPI count).
      colorbar: "auto": one epoch colour bar per figure (on a figure made here, its bar;
        planes drawn into the Axes of one figure share one bar spanning them, all recoloured
        on the epoch scale of all); True: a bar for this Axes; False: none (pass the same
        ``norm`` to each panel and draw one bar yourself, or use `estimator_panel`).
      norm: the epoch colour scale (default: `epoch_norm` of the drawn epochs).
      null: the label-permutation null of I(T;Y) (`infoplane.NullLabels`, aux
        ``i_ty_null``), a faint dotted trajectory per layer at (I(X;T), null): "auto" (the
        run directory's aux.csv when ``results`` is a directory), aux rows, None, or with
        several runs a list (one per run) of those.
      labels: the runs' names in the legend of an overlay (default: the run directory's name,
        else the table's run).
      widths: the layers' widths in the legend: "auto" (the run directory's stored
        activations or MLP preset, `infoplane.report.figures.traces.layer_widths`), a run
        directory, a mapping {layer: units}, None (bare names); a list with several runs.
      color_by: "epoch" (the default: points on the epoch colour scale) or "layer" (a colour
        per layer, no colour bar).

    Returns:
      ``(fig, ax)``. The colour bar is ``fig.axes[-1]`` when the figure was made here.
    """
    who = "information_plane()"
    check_color_by(color_by, who)
    traces = gather(sources_of(results, who), run=run, labels=labels, ceilings=ceilings,
                    null=null, widths=widths, who=who, estimator=estimator, split=split,
                    params=params, seeds=seeds, layers=layers, epoch_range=epoch_range)
    epochs = np.concatenate([t.sel.table["epoch"] for t in traces])
    given_norm = norm
    norm = epoch_norm(epochs) if norm is None else norm
    own = ax is None
    if own:
        fig, axes = new_figure(figsize or (6.4, 5.4))
        ax = axes[0, 0]
    else:
        fig = ax.figure
    _n, handles, points = draw_plane(ax, traces, norm=norm, cmap=cmap, show_dpi=show_dpi,
                                     dpi_tolerance=dpi_tolerance, title=title,
                                     color_by=color_by)
    if color_by == "epoch" and colorbar:
        if own or colorbar is True:
            epoch_colorbar(fig, norm, cmap, ax)
        else:
            shared_epoch_colorbar(fig, ax, epochs, cmap, points, given_norm)
    if legend:
        place_legend(fig, ax, handles, own)
    return fig, ax


def check_color_by(color_by: str, who: str) -> None:
    if color_by not in ("epoch", "layer"):
        raise ValueError(f"{who}: color_by must be 'epoch' (points coloured by epoch, one "
                         f"colour bar) or 'layer' (a colour per layer), got {color_by!r}")


def estimator_panel(
    results: ResultsLike | Sequence[ResultsLike],
    *,
    estimators: Sequence[str] | None = None,
    split: str | None = None,
    run: str | Sequence[str] | None = None,
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
    labels: Sequence[str] | None = None,
    widths: Any = "auto",
    color_by: str = "epoch",
    figsize: tuple[float, float] | None = None,
) -> tuple[Figure, np.ndarray]:
    """One information plane (`information_plane`) per estimator, side by side, all
    coloured on one epoch scale with one shared colour bar.

    ``estimators``: the panels, in order (default: every estimator of the (first) run and
    split, in table order). Each estimator must have one parameter set in the selection
    (else select rows first, e.g. ``results.where(params=...)``). ``ncols``: panels per row
    (default: up to 3 in one row; beyond, 3 or 2 columns, whichever leaves fewer empty
    cells). No cell stays empty: the legend fills the first unused cell (the others are
    removed); with none unused it goes below. ``figsize``: inches (default: 4.6 per column
    + 0.8 by 4.0 per row). The other arguments are those of `information_plane` (several
    runs: overlaid in each panel).

    Returns:
      ``(fig, axes)``: ``axes`` a 1-D object array of the panels' Axes, in ``estimators``
      order; the colour bar is ``fig.axes[-1]`` (color_by="epoch").
    """
    who = "estimator_panel()"
    check_color_by(color_by, who)
    sources = sources_of(results, who)
    res = sources[0][0]
    check_nonempty(res, who)
    available = res.unique("estimator")
    if estimators is None:
        first_run = run[0] if isinstance(run, list | tuple) and run else run
        base = choose(choose(res, "run", first_run, who), "split", split, who)
        estimators = base.unique("estimator")
    else:
        estimators = [estimators] if isinstance(estimators, str) else list(estimators)
        unknown = [e for e in estimators if e not in available]
        if unknown or not estimators:
            raise ValueError(
                f"{who}: unknown estimator(s) {unknown or estimators}: no results of them in "
                f"the table; available estimators: {fmt_values(available)}"
            )
    panels = [
        gather(sources, run=run, labels=labels, ceilings=ceilings, null=None, widths=widths,
               who=f"{who} (estimator {e!r})", estimator=e, split=split, params=None,
               seeds=seeds, layers=layers, epoch_range=epoch_range, panel_hint=False)
        for e in estimators
    ]
    n = len(panels)
    if ncols is not None and ncols < 1:
        raise ValueError(f"{who}: ncols must be >= 1, got {ncols}")
    nrows, ncols = panel_grid(n, ncols)
    norm = epoch_norm(np.concatenate([t.sel.table["epoch"] for p in panels for t in p]))
    fig, grid = new_figure(figsize or (4.6 * ncols + 0.8, 4.0 * nrows), nrows, ncols)
    flat = list(grid.ravel())
    spare = flat[n:]
    legend_cell = spare[0] if legend and spare else None
    for extra in spare:
        if extra is not legend_cell:
            fig.delaxes(extra)
    axes = np.empty(n, dtype=object)
    legend_handles: dict[str, Any] = {}
    for i, (traces, ax) in enumerate(zip(panels, flat, strict=False)):
        sel = traces[0].sel
        n_dpi, handles, _points = draw_plane(
            ax, traces, norm=norm, cmap=cmap, show_dpi=show_dpi, dpi_tolerance=dpi_tolerance,
            title=pretty_estimator(sel.estimator), color_by=color_by,
        )
        for h in handles:  # one entry per label over all panels (DPI counts are per panel)
            key = "DPI violation" if h.get_label().startswith("DPI violation") else h.get_label()
            legend_handles.setdefault(key, h)
        if show_dpi:
            dpi = (f"{n_dpi} DPI violation(s)" if is_shannon(sel.estimator)
                   else "not Shannon: no DPI check")
            ax.set_title(f"{pretty_estimator(sel.estimator)} · {dpi}", fontsize=10)
        axes[i] = ax
    first = panels[0]
    if title is None:
        sel = first[0].sel
        seeds_text = (f"mean of {len(sel.seeds)} seeds (±1.96 SE)" if len(sel.seeds) > 1
                      else f"seed {sel.seeds[0]}")
        runs = " vs ".join(t.name for t in first) if len(first) > 1 else sel.run
        title = f"{runs} · {sel.split} · {seeds_text}"
    fig.suptitle(title, fontsize=11)
    if color_by == "epoch":
        epoch_colorbar(fig, norm, cmap, list(axes))
    if legend:
        handles = list(legend_handles.values())
        if "DPI violation" in legend_handles:
            dpi = Line2D([], [], linestyle="none", marker="o", markersize=10,
                         markerfacecolor="none", markeredgecolor="red", markeredgewidth=1.3,
                         label=f"DPI violation (> {dpi_tolerance:g} {first[0].sel.units})")
            handles[list(legend_handles).index("DPI violation")] = dpi
        if legend_cell is not None:  # the grid's spare cell holds the legend
            legend_cell.set_axis_off()
            legend_cell.legend(handles=handles, loc="center", fontsize=8, frameon=False)
        else:
            fig.legend(handles=handles, loc="outside lower center", fontsize=8, frameon=False,
                       ncols=min(len(handles), 8))
    return fig, axes
