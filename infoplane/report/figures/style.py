"""Shared look of the figures: axis labels, estimator names, epoch colour scales and colour
bars, layer markers and colours, new figures and legends. Nothing here reads a table.

Epoch colours (`epoch_norm`): when the recorded epochs span more than two decades
(``max / max(min, 1) > 100``) the colour scale is logarithmic, a `LogNorm` when the first epoch
is >= 1 and a `SymLogNorm` (linear below epoch 1, so epoch 0 gets the first colour) when it is
0; otherwise it is linear (`Normalize`). Its vmin and vmax are the first and last epoch.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Mapping, Sequence

import matplotlib as mpl
import matplotlib.colors as mcolors
import numpy as np
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.figure import Figure
from matplotlib.ticker import ScalarFormatter

from infoplane.report.tensorboard.format import pretty_estimator, quantity_label

__all__ = ["MARKERS", "MIN_SPAN_BITS", "RUN_LINESTYLES", "axis_label", "colorbar_ticks",
           "epoch_colorbar", "epoch_norm", "epoch_scale", "keep_min_span", "layer_colors",
           "min_span", "new_figure", "padded_limits", "panel_grid", "place_legend",
           "pretty_estimator", "shared_epoch_colorbar"]

#: Markers of the layers' points, in layer order (cycled).
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p")
#: Line styles of the runs of an overlay, in the order given (cycled).
RUN_LINESTYLES = ("-", "--", ":", "-.")
#: The smallest span an information axis shows, in bits: a smaller data range is noise of
#: the estimate, not a trajectory, and is drawn padded (`padded_limits`).
MIN_SPAN_BITS = 0.05


def padded_limits(lo: float, hi: float, span: float) -> tuple[float, float]:
    """Axis limits ``(lo, hi)`` widened symmetrically about their centre to at least
    ``span`` (same units); unchanged when they already span that much or are not finite."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi - lo >= span:
        return lo, hi
    centre = (lo + hi) / 2.0
    return centre - span / 2.0, centre + span / 2.0


def min_span(units: str) -> float:
    """`MIN_SPAN_BITS` in ``units`` ("bits" or "nats")."""
    return MIN_SPAN_BITS * (math.log(2.0) if units == "nats" else 1.0)


def keep_min_span(ax: Axes, axis: str, units: str) -> None:
    """Never zoom ``ax``'s ``axis`` ("x" or "y", linear) into noise: limits spanning less
    than `min_span` are padded (`padded_limits`), and the offset label is off (ticks read
    as the values themselves, not "+1.2e1" plus differences)."""
    get, set_ = (ax.get_xlim, ax.set_xlim) if axis == "x" else (ax.get_ylim, ax.set_ylim)
    lo, hi = get()
    new = padded_limits(float(lo), float(hi), min_span(units))
    if new != (lo, hi):
        set_(*new)
    fmt = (ax.xaxis if axis == "x" else ax.yaxis).get_major_formatter()
    if isinstance(fmt, ScalarFormatter):
        fmt.set_useOffset(False)


def panel_grid(n: int, ncols: int | None) -> tuple[int, int]:
    """(rows, columns) of a grid of ``n`` panels: ``ncols`` when given (at most ``n``),
    else ``n`` in one row up to 3, and beyond that 3 or 2 columns, whichever leaves fewer
    empty cells (ties: 3), so at most one cell is left, for the legend."""
    if ncols is None:
        ncols = n if n <= 3 else min((3, 2), key=lambda c: (-n % c, -c))
    ncols = max(1, min(ncols, n))
    return math.ceil(n / ncols), ncols


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


def shared_epoch_colorbar(fig: Figure, ax: Axes, epochs, cmap, points: list,
                          norm: mcolors.Normalize | None = None) -> mcolors.Normalize:
    """One epoch colour bar per figure for planes drawn into given Axes: the first plane of
    ``fig`` makes it; each later one recolours the planes drawn before on the epoch scale of
    all of them (``norm``, when given, is used as is), and replaces the bar by one spanning
    every plane's Axes. ``points``: this plane's epoch-coloured collections. Returns the
    norm of the shared scale."""
    state = _SHARED.setdefault(fig, {"axes": [], "epochs": [], "points": [], "cbar": None})
    if ax not in state["axes"]:
        state["axes"].append(ax)
    state["epochs"].append(np.asarray(epochs, dtype=np.float64).ravel())
    state["points"].extend(points)
    shared = norm if norm is not None else epoch_norm(np.concatenate(state["epochs"]))
    for p in state["points"]:
        p.set_norm(shared)
        p.set_cmap(cmap)
    if state["cbar"] is not None:
        state["cbar"].remove()
    state["cbar"] = epoch_colorbar(fig, shared, cmap, list(state["axes"]))
    return shared


_SHARED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


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
    """A constrained-layout Figure (``figsize`` in inches) and its (nrows, ncols) Axes."""
    fig = Figure(figsize=tuple(figsize), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def nonfinite_note(n: int) -> str:
    """The legend / corner note of a figure with ``n`` NaN or +-inf points, which cannot be
    placed on an axis (a withheld estimate, or an estimator failure: ``check_report`` names
    each one)."""
    return f"{n} non-finite point(s) (NaN / ±inf) not drawn"
