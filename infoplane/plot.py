"""Matplotlib figures of a results table: the information plane and information curves.

This is the public import path of the figures; the code is in `infoplane.report.figures`.

Results in, `matplotlib.figure.Figure` out. Nothing here computes information: the figures
draw the values of the table (and, with several seeds, their mean and a confidence band), the
ceilings recorded in the run's ``config.json``, and the DPI check of `infoplane.report.checks`.

Functions (every one returns the matplotlib objects it made, so they can be restyled):

- `information_plane`: I(X;T) on x, I(T;Y) on y, one trajectory per layer, points coloured by
  epoch (or ``color_by="layer"``), one colour bar, the ceilings H(X) and H(Y), DPI violations
  marked; a list of results overlays runs (a line style each, named in the legend).
- `estimator_panel`: one information plane per estimator of a run, one shared colour bar; the
  legend fills a spare grid cell.
- `information_curves`: I(X;T) and/or I(T;Y) against the epoch, one line per layer.
- `render_png` / `save`: PNG bytes, or a file whose format follows its suffix (300 dpi).

For papers: ``title=``, ``figsize=(W, H)`` (inches), ``layers=[...]``, ``labels=`` (the runs'
names), ``widths=`` (legend "layers.2 (5)"; read from the run directory by default) and
``save(fig, path, dpi=..., tight=False)`` for a file of exactly the figure's size. Planes
drawn into the Axes of one figure share one epoch colour bar. An axis whose data span less
than 0.05 bits is padded to 0.05 bits (noise is not drawn as a trajectory), without an
offset label. Rows with confidence intervals (``i_xt_lo``, ``i_xt_hi``, ``i_ty_lo``,
``i_ty_hi``, `infoplane.Intervals`) get thin bars in the plane and bands in the curves.

``results`` is a `infoplane.Results` table or a run directory (``runs/<name>/``) or the
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

from infoplane.report.figures.ceilings import Ceilings, load_ceilings
from infoplane.report.figures.curves import information_curves
from infoplane.report.figures.output import SAVE_FORMATS, render_png, save  # noqa: F401
from infoplane.report.figures.plane import estimator_panel, information_plane
from infoplane.report.figures.selection import ResultsLike  # noqa: F401
from infoplane.report.figures.style import MARKERS, axis_label, epoch_norm  # noqa: F401

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
