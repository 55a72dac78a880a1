"""Shared look of the figures: axis labels, estimator names, epoch colour scales and colour
bars, layer markers and colours, new figures and legends. Nothing here reads a table.

Epoch colours (`epoch_norm`): when the recorded epochs span more than two decades
(``max / max(min, 1) > 100``) the colour scale is logarithmic, a `LogNorm` when the first epoch
is >= 1 and a `SymLogNorm` (linear below epoch 1, so epoch 0 gets the first colour) when it is
0; otherwise it is linear (`Normalize`). Its vmin and vmax are the first and last epoch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib as mpl
import matplotlib.colors as mcolors
import numpy as np
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.figure import Figure

from infoplane.report.tensorboard.format import pretty_estimator, quantity_label

__all__ = ["MARKERS", "axis_label", "colorbar_ticks", "epoch_colorbar", "epoch_norm",
           "epoch_scale", "layer_colors", "new_figure", "place_legend", "pretty_estimator"]

#: Markers of the layers' points, in layer order (cycled).
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p")


def axis_label(estimator: str, quantity: str, units: str, params: Mapping | str | None = None
               ) -> str:
    """The axis label of ``quantity`` ("i_xt" or "i_ty") estimated by ``estimator``, in
    ``units``: e.g. ``"binned I(X;T) [bits]"``, ``"KDE upper-bound I(X;T) [nats]"``,
    ``"DSMI(T;Y) [bits]"``, ``"matrix-Rényi I_α(X;T), α=1.01 [bits]"``. ``params`` (a
    mapping or its JSON): KDE's ``bound``, matrix_renyi's ``alpha``
    (`infoplane.report.tensorboard.format.quantity_label`, the names the dashboard and the
    console tables use too)."""
    return f"{quantity_label(estimator, quantity, params)} [{units}]"


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


def epoch_scale(epochs: np.ndarray) -> tuple[str, dict]:
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


def colorbar_ticks(norm: mcolors.Normalize) -> list[float] | None:
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


def epoch_colorbar(fig: Figure, norm, cmap, ax):
    """One colour bar labelled "epoch" for ``ax`` (an Axes or a list of them)."""
    mappable = ScalarMappable(norm=norm, cmap=cmap)
    cbar = fig.colorbar(mappable, ax=ax, label="epoch", pad=0.02)
    ticks = colorbar_ticks(norm)
    if ticks is not None:
        cbar.set_ticks(ticks)
        cbar.set_ticklabels([f"{t:g}" for t in ticks])
        cbar.minorticks_off()
    return cbar


def layer_colors(n: int) -> list:
    if n <= 10:
        return [mpl.colormaps["tab10"](i) for i in range(n)]
    return [mpl.colormaps["viridis"](v) for v in np.linspace(0.0, 0.95, n)]


def place_legend(fig: Figure, ax: Axes | None, handles: list, own_figure: bool) -> None:
    """Below the plot (outside) on a figure made here; inside ``ax`` ("best") otherwise."""
    if not handles:
        return
    if own_figure:
        fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 4),
                   fontsize=8, frameon=False)
    else:
        ax.legend(handles=handles, fontsize=8, loc="best", framealpha=0.9)


def new_figure(figsize: tuple[float, float], nrows: int = 1, ncols: int = 1):
    fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def nonfinite_note(n: int) -> str:
    """The legend / corner note of a figure with ``n`` NaN or +-inf points, which cannot be
    placed on an axis (a withheld estimate, or an estimator failure: ``check_report`` names
    each one)."""
    return f"{n} non-finite point(s) (NaN / ±inf) not drawn"
