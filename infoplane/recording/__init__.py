"""Recording a training run's layers and estimating them as it goes (``recording/``).

- `capture`: every layer of an unmodified flax nnx / linen model on a probe batch;
- `forward`: the jitted capture function of each model structure;
- `schedule`: which epochs are recorded;
- `inputs`: the checked inputs of a `Recorder` (estimators, probe sets, activations);
- `buffer`: recorded epochs waiting to be estimated;
- `placement`: which device estimates which layer; each layer's epochs stacked there;
- `estimation`: dispatch every (probe set, layer, estimator) before waiting, collect rows;
- `write_ahead`: the ``pending/`` log that makes a killed run lose at most one epoch;
- `outputs`: where rows go (memory, the run directory's files, TensorBoard, callbacks);
- `recorder`: the `Recorder` itself, the loop that ties them together.

May import: `infoplane.estimators`, `infoplane.store` and `infoplane.report` (diagnostics,
the TensorBoard logger); never `infoplane.experiments` or `infoplane.cli`. Importing this
package imports none of its modules.
"""
