"""Information curves: I(X;T) and/or I(T;Y) against the epoch, one line per layer, one line
style per run of an overlay (`information_curves`). See `infoplane.plot` for the conventions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from infoplane.report.figures.ceilings import LABEL_STYLE, draw_ceilings
from infoplane.report.figures.selection import ResultsLike, layer_series, selection_title
from infoplane.report.figures.style import (
    RUN_LINESTYLES,
    axis_label,
    epoch_scale,
    keep_min_span,
    layer_colors,
    new_figure,
    nonfinite_note,
)
from infoplane.report.figures.traces import (
    draw_rank,
    gather,
    layer_label,
    merged_widths,
    sources_of,
    unique_ceilings,
)

__all__ = ["information_curves"]


def information_curves(
    results: ResultsLike | Sequence[ResultsLike],
    *,
    estimator: str | None = None,
    split: str | None = None,
    run: str | Sequence[str] | None = None,
    params: Mapping | str | None = None,
    seeds: Sequence[int] | int | None = None,
    layers: Sequence[str] | None = None,
    epoch_range: tuple[int | None, int | None] | None = None,
    quantity: str = "both",
    axes: Axes | Sequence[Axes] | None = None,
    ceilings: Any = "auto",
    legend: bool = True,
    title: str | None = None,
    null: Any = "auto",
    labels: Sequence[str] | None = None,
    widths: Any = "auto",
    figsize: tuple[float, float] | None = None,
) -> tuple[Figure, np.ndarray]:
    """I(X;T) and/or I(T;Y) against the epoch, one line per layer (a colour each).

    The epoch axis is logarithmic when the epochs span more than two decades (symlog, linear
    below 1, when they start at 0), as `epoch_norm`. With several seeds a line is the seed
    mean and a translucent band spans ±1.96 standard errors; rows with confidence intervals
    (``i_xt_lo``..``i_ty_hi``, `infoplane.Intervals`) get a lighter band lo..hi
    where finite (gid "interval:<layer>"). NaN values are marked at the axis edge. Ceilings
    (H(X) on the I(X;T) axes, H(Y) on the I(T;Y) axes) are dashed lines. A value axis whose
    data span less than 0.05 bits is padded to 0.05 bits about its centre.

    Args:
      results: a table or run directory, or a list of them: the runs overlaid, a line style
        each, named in the legend (``labels``; default: the directory's name).
      quantity: "both" (two panels side by side), "i_xt" or "i_ty".
      axes: draw on these Axes (one per panel; default: a new Figure of ``figsize`` inches,
        default 5.2 per panel + 1.2 by 3.9).
      null: the label-permutation null of I(T;Y) (`infoplane.NullLabels`, aux ``i_ty_null``),
        drawn on the I(T;Y) panel as a faint dotted line per layer (seed mean): "auto" (the
        run directory's aux.csv when ``results`` is a directory), aux rows
        (`infoplane.load_aux`), or None (not drawn). Nothing is drawn where there is none.
      widths: the layers' widths in the legend ("layers.2 (5)"), as `information_plane`.
      The others: as `information_plane`.

    Returns:
      ``(fig, axes)``: a 1-D object array of the Axes (I(X;T) first with "both").
    """
    who = "information_curves()"
    quantities = {"both": ("i_xt", "i_ty"), "i_xt": ("i_xt",), "i_ty": ("i_ty",)}
    if quantity not in quantities:
        raise ValueError(f"{who}: quantity must be 'both', 'i_xt' or 'i_ty', got {quantity!r}")
    qs = quantities[quantity]
    traces = gather(sources_of(results, who), run=run, labels=labels, ceilings=ceilings,
                    null=null if "i_ty" in qs else None, widths=widths, who=who,
                    estimator=estimator, split=split, params=params, seeds=seeds,
                    layers=layers, epoch_range=epoch_range)
    first = traces[0].sel
    overlay = len(traces) > 1
    if axes is None:
        fig, grid = new_figure(figsize or (5.2 * len(qs) + 1.2, 3.9), 1, len(qs))
        ax_list = list(grid.ravel())
    else:
        ax_list = [axes] if isinstance(axes, Axes) else list(axes)
        if len(ax_list) != len(qs):
            raise ValueError(
                f"{who}: quantity={quantity!r} needs {len(qs)} Axes, got {len(ax_list)}"
            )
        fig = ax_list[0].figure
    layer_names = list(dict.fromkeys(layer for t in traces for layer in t.sel.layers))
    colors = dict(zip(layer_names, layer_colors(len(layer_names)), strict=True))
    rank = draw_rank(layer_names, merged_widths(traces))  # widest first: thick, underneath
    top = max(len(layer_names) - 1, 1)
    all_epochs = np.concatenate([t.sel.table["epoch"] for t in traces])
    scale, scale_kw = epoch_scale(all_epochs)
    n_nonfinite = 0
    has_interval = has_null = False
    for r, trace in enumerate(traces):
        style = RUN_LINESTYLES[r % len(RUN_LINESTYLES)]
        series = {layer: layer_series(trace.sel, layer) for layer in trace.sel.layers}
        for q, ax in zip(qs, ax_list, strict=True):
            for layer, s in series.items():
                tag = f"{layer}@{trace.name}" if overlay else layer
                n_nonfinite += _draw_curve(ax, q, s, colors[layer], style, layer, tag,
                                           rank[layer] / top)
                if s.interval is not None:
                    has_interval |= _draw_interval_band(ax, q, s, colors[layer], tag)
                if q == "i_ty" and layer in trace.nulls:
                    ax.plot(*trace.nulls[layer], color=colors[layer], linewidth=1.0,
                            linestyle=":" if style == "-" else style, alpha=0.7,
                            label=f"_{layer} null", gid=f"null:{tag}")
                    has_null = True
    for q, ax in zip(qs, ax_list, strict=True):
        for ceil in unique_ceilings(traces):
            _draw_curve_ceiling(ax, q, ceil)
        ax.set_xscale(scale, **scale_kw)
        if scale != "linear":
            lo, hi = float(all_epochs.min()), float(all_epochs.max())
            ax.set_xlim(lo / 1.2 if lo > 0 else lo, hi * 1.2)
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        ax.set_xlabel("epoch")
        ax.set_ylabel(axis_label(first.estimator, q, first.units, first.params))
        ax.grid(True, linewidth=0.4, alpha=0.4)
        keep_min_span(ax, "y", first.units)
    if legend:
        widths = merged_widths(traces)
        handles = [Line2D([], [], color=colors[layer], linewidth=1.4, marker=".",
                          label=layer_label(layer, widths)) for layer in layer_names]
        if overlay:
            handles += [Line2D([], [], color="0.3", linewidth=1.4, linestyle=RUN_LINESTYLES[
                r % len(RUN_LINESTYLES)], label=t.name) for r, t in enumerate(traces)]
        if len(first.seeds) > 1:
            handles.append(Patch(color="0.5", alpha=0.3,
                                 label=f"±1.96 SE ({len(first.seeds)} seeds)"))
        if has_interval:
            handles.append(Patch(color="0.5", alpha=0.15,
                                 label="confidence interval (per seed, mean)"))
        if has_null:
            handles.append(Line2D([], [], color="0.3", linewidth=1.0, linestyle=":",
                                  label="null: I(T;Y) of permuted labels"))
        if n_nonfinite:
            handles.append(Line2D([], [], linestyle="none", marker="x", color="0.2",
                                  label=nonfinite_note(n_nonfinite).replace(
                                      "not drawn", "marked x at the axis edge")))
        if axes is None:
            fig.legend(handles=handles, loc="outside right upper", fontsize=8, frameon=False)
        else:
            ax_list[-1].legend(handles=handles, fontsize=8, loc="best", framealpha=0.9)
    if title is None:
        title = selection_title(first, len(first.seeds)).replace("\n", " · ")
        if overlay:
            title = " vs ".join(t.name for t in traces) + title[len(first.run):]
    if axes is None:
        fig.suptitle(title, fontsize=11)
    else:
        ax_list[0].set_title(title, fontsize=10)
    out = np.empty(len(ax_list), dtype=object)
    out[:] = ax_list
    return fig, out


def _draw_curve(ax: Axes, q: str, s, color, style: str, layer: str, tag: str,
                k: float = 0.0) -> int:
    """One layer's line of quantity ``q`` (its ±1.96 SE band with several seeds, x marks
    at the axis edge for non-finite values: top for +inf, bottom for NaN / -inf); the number
    of non-finite values. ``k``: its place in the stack, 0 (widest: thickest, underneath)
    to 1 (on top, thinnest)."""
    values = s.i_xt if q == "i_xt" else s.i_ty
    half = s.half_xt if q == "i_xt" else s.half_ty
    ok = np.isfinite(values)
    ax.plot(s.epochs[ok], values[ok], color=color, linewidth=2.6 - 1.4 * k, linestyle=style,
            marker=".", markersize=6 - 2 * k, zorder=2 + 0.01 * k, label=layer,
            gid=f"curve:{tag}")
    if not ok.all():
        edge = np.where(values[~ok] > 0, 1.0, 0.0)
        ax.scatter(s.epochs[~ok], edge, marker="x", color=color, s=30, clip_on=False,
                   transform=ax.get_xaxis_transform(), zorder=5, gid=f"nonfinite:{tag}")
    if half is not None:
        fin = ok & np.isfinite(half)
        ax.fill_between(s.epochs[fin], values[fin] - half[fin], values[fin] + half[fin],
                        color=color, alpha=0.2, linewidth=0, label=f"_{layer} band",
                        gid=f"band:{tag}")
    return int(np.sum(~ok))


def _draw_interval_band(ax: Axes, q: str, s, color, tag: str) -> bool:
    """The rows' confidence interval lo..hi of ``q`` as a light band where finite."""
    lo, hi = s.interval[f"{q}_lo"], s.interval[f"{q}_hi"]
    fin = np.isfinite(lo) & np.isfinite(hi)
    if not fin.any():
        return False
    ax.fill_between(s.epochs, np.where(fin, lo, np.nan), np.where(fin, hi, np.nan),
                    color=color, alpha=0.12, linewidth=0.5, edgecolor=color,
                    label=f"_{tag} interval", gid=f"interval:{tag}")
    return True


def _draw_curve_ceiling(ax: Axes, q: str, ceil) -> None:
    """H(X) on the I(X;T) axes, H(Y) on the I(T;Y) axes: dashed horizontal lines."""
    only = dataclasses.replace(ceil, h_x=ceil.h_x if q == "i_xt" else None,
                               h_y=ceil.h_y if q == "i_ty" else None)
    if q == "i_xt" and only.h_x is not None:
        label = f"{only.x_name} = {only.h_x:.2f} {only.units}"
        ax.axhline(only.h_x, color="0.35", linestyle="--", linewidth=1.0, zorder=0.5,
                   label=label, gid="ceiling:H(X)")
        ax.text(0.02, only.h_x, label, transform=ax.get_yaxis_transform(), ha="left",
                va="bottom", gid="ceiling-label:H(X)", **LABEL_STYLE)
    else:
        draw_ceilings(ax, only)
