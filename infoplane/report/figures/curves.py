"""Information curves: I(X;T) and/or I(T;Y) against the epoch, one line per layer
(`information_curves`). See `infoplane.plot` for the conventions.
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

from infoplane.report.figures.ceilings import (
    draw_ceilings,
    resolve_ceilings,
    subsample_cap,
)
from infoplane.report.figures.selection import (
    ResultsLike,
    aux_of,
    layer_series,
    load_table,
    null_series,
    select,
    selection_title,
)
from infoplane.report.figures.style import (
    axis_label,
    epoch_scale,
    layer_colors,
    new_figure,
    nonfinite_note,
)

__all__ = ["information_curves"]



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
    null: Any = "auto",
) -> tuple[Figure, np.ndarray]:
    """I(X;T) and/or I(T;Y) against the epoch, one line per layer.

    The epoch axis is logarithmic when the epochs span more than two decades (symlog, linear
    below 1, when they start at 0), as `epoch_norm`. With several seeds a line is the seed
    mean and a translucent band spans ±1.96 standard errors. NaN values are left out.
    Ceilings (H(X) on the I(X;T) axes, H(Y) on the I(T;Y) axes) are dashed lines.

    Args:
      quantity: "both" (two panels side by side), "i_xt" or "i_ty".
      axes: draw on these Axes (one per panel; default: a new Figure).
      null: the label-permutation null of I(T;Y) (`infoplane.NullLabels`, aux ``i_ty_null``),
        drawn on the I(T;Y) panel as a faint dotted line per layer (seed mean): "auto" (the
        run directory's aux.csv when ``results`` is a directory), aux rows
        (`infoplane.load_aux`), or None (not drawn). Nothing is drawn where there is none.
      The others: as `information_plane`.

    Returns:
      ``(fig, axes)``: a 1-D object array of the Axes (I(X;T) first with "both").
    """
    who = "information_curves()"
    quantities = {"both": ("i_xt", "i_ty"), "i_xt": ("i_xt",), "i_ty": ("i_ty",)}
    if quantity not in quantities:
        raise ValueError(f"{who}: quantity must be 'both', 'i_xt' or 'i_ty', got {quantity!r}")
    qs = quantities[quantity]
    res, run_dir = load_table(results)
    sel = select(res, estimator=estimator, split=split, run=run, params=params, seeds=seeds,
                  layers=layers, epoch_range=epoch_range, who=who)
    ceil = subsample_cap(resolve_ceilings(ceilings, run_dir, sel.split, sel.units), sel)
    if axes is None:
        fig, grid = new_figure((5.2 * len(qs) + 1.2, 3.9), 1, len(qs))
        ax_list = list(grid.ravel())
    else:
        ax_list = [axes] if isinstance(axes, Axes) else list(axes)
        if len(ax_list) != len(qs):
            raise ValueError(
                f"{who}: quantity={quantity!r} needs {len(qs)} Axes, got {len(ax_list)}"
            )
        fig = ax_list[0].figure
    colors = layer_colors(len(sel.layers))
    series = {layer: layer_series(sel, layer) for layer in sel.layers}
    scale, scale_kw = epoch_scale(sel.table["epoch"])
    n_nonfinite: dict[str, int] = {}
    nulls = null_series(aux_of(null, run_dir), sel) if "i_ty" in qs else {}
    for q, ax in zip(qs, ax_list, strict=True):
        for color, (layer, s) in zip(colors, series.items(), strict=True):
            values = s.i_xt if q == "i_xt" else s.i_ty
            half = s.half_xt if q == "i_xt" else s.half_ty
            ok = np.isfinite(values)
            ax.plot(s.epochs[ok], values[ok], color=color, linewidth=1.4, marker=".",
                    markersize=4, label=layer, gid=f"curve:{layer}")
            if not ok.all():  # marked at the axis edge: top for +inf, bottom for NaN / -inf
                edge = np.where(values[~ok] > 0, 1.0, 0.0)
                ax.scatter(s.epochs[~ok], edge, marker="x", color=color, s=30, clip_on=False,
                           transform=ax.get_xaxis_transform(), zorder=5,
                           gid=f"nonfinite:{layer}")
                n_nonfinite[q] = n_nonfinite.get(q, 0) + int(np.sum(~ok))
            if q == "i_ty" and layer in nulls:
                ax.plot(*nulls[layer], color=color, linewidth=1.0, linestyle=":", alpha=0.7,
                        label=f"_{layer} null", gid=f"null:{layer}")
            if half is not None:
                ok &= np.isfinite(half)
                ax.fill_between(s.epochs[ok], values[ok] - half[ok], values[ok] + half[ok],
                                color=color, alpha=0.2, linewidth=0, label=f"_{layer} band",
                                gid=f"band:{layer}")
        only = dataclasses.replace(ceil, h_x=ceil.h_x if q == "i_xt" else None,
                                   h_y=ceil.h_y if q == "i_ty" else None)
        if q == "i_xt" and only.h_x is not None:
            label = f"{only.x_name} = {only.h_x:.2f} {only.units}"
            ax.axhline(only.h_x, color="0.35", linestyle="--", linewidth=1.0, zorder=0.5,
                       label=label, gid="ceiling:H(X)")
            ax.text(0.02, only.h_x, label, transform=ax.get_yaxis_transform(), ha="left",
                    va="bottom", fontsize=8, color="0.3")
        else:
            draw_ceilings(ax, only)
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
        if nulls:
            handles.append(Line2D([], [], color="0.3", linewidth=1.0, linestyle=":",
                                  label="null: I(T;Y) of permuted labels"))
        if n_nonfinite:
            handles.append(Line2D([], [], linestyle="none", marker="x", color="0.2",
                                  label=nonfinite_note(sum(n_nonfinite.values())).replace(
                                      "not drawn", "marked x at the axis edge")))
        if axes is None:
            fig.legend(handles=handles, loc="outside right upper", fontsize=8, frameon=False)
        else:
            ax_list[-1].legend(handles=handles, fontsize=8, loc="best", framealpha=0.9)
    if title is None:
        title = selection_title(sel, len(sel.seeds)).replace("\n", " · ")
    if axes is None:
        fig.suptitle(title, fontsize=11)
    else:
        ax_list[0].set_title(title, fontsize=10)
    out = np.empty(len(ax_list), dtype=object)
    out[:] = ax_list
    return fig, out
