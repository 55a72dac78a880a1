"""Matplotlib figures of a results table (``report/figures/``; public as `infoplane.plot`).

- `style`: axis labels, epoch colour scales and bars, markers, legends;
- `ceilings`: H(X), H(Y) read from config.json or given, drawn as dashed lines;
- `selection`: which rows a figure draws (one run, split, estimator, parameter set) and the
  seed means with their 95 % intervals;
- `traces`: the runs of a figure (one or several overlaid), the layers' widths and labels
  ("layers.2 (5)") and their draw order;
- `plane`: `information_plane` and `estimator_panel`;
- `curves`: `information_curves`;
- `output`: `render_png` and `save`.

Results in, `matplotlib.figure.Figure` out: nothing here computes information.
"""
