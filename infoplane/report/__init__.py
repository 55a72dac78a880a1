"""What a run's numbers mean and how they look (``report/``): checks, diagnostics, figures and
TensorBoard.

- `checks`: the data-processing inequality and the range 0 <= I <= H across a results table;
- `compression`: the compression verdict of I(X;T) per estimator instance and layer (peak,
  final, drop and its interval; `infoplane.compression_summary`, ``infoplane summary``);
- `diagnostics`: facts about a probe set and a layer that are not estimates (the ceilings
  H(X), H(Y); activation-saturation statistics);
- `figures/`: matplotlib figures of a results table (public as `infoplane.plot`); plotting
  never computes information;
- `tensorboard/`: the only writer of TensorBoard event files (public as
  `infoplane.tensorboard`).

May import: `infoplane.store` (the results table, config.json), and its own modules; never
`infoplane.estimators`, `infoplane.recording`, `infoplane.experiments` or `infoplane.cli`.
Importing this package imports none of its modules (no matplotlib, TensorBoard or JAX).
"""
