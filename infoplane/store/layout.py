"""The layout of a run directory: the names of its files, and the contract they keep.

A run directory ``runs/<name>/`` is a stable contract::

    runs/<name>/
      config.json             every option of the run (written by the `Recorder` and
                              ``infoplane run``; `infoplane.store.config`)
      metrics.csv             run, seed, epoch, name, value (accuracy, loss, ...)
      diagnostics.csv         run, seed, split, epoch, layer, name, value (saturation, ...)
      aux.csv                 run, seed, split, epoch, layer, estimator, params, name, value:
                              every scalar an estimate reports besides i_xt and i_ty (the
                              other KDE bound, H(T), state counts, DSE, autoencoder error, ...)
      failures.csv            run, seed, split, epoch, layer, estimator, params, error: each
                              estimate that failed and was skipped (a resume counts it done)
      events.out.tfevents.*   TensorBoard event files (`infoplane.tensorboard`), also in tb/
      checkpoints/            orbax checkpoints of the training state (`infoplane run --resume`)
      figures/                written by ``infoplane plot``
      results.csv             one row per (seed, split, epoch, layer, estimator): see below
      activations/            optional (`ActivationStore`): recorded layers, for re-estimation
        probe-<split>.npz           x (float32, shape as given), y (int64, (N,))
        <split>/seed<seed>/epoch<epoch:07d>.npz    one array per layer, see below
      pending/                while a `Recorder` buffers epochs (write-ahead): each buffered
        <split>/seed<seed>/epoch<epoch:07d>.npz    epoch's layers, as in activations/; deleted
                              once its rows are written, estimated on resume after a kill
      .lock                   the writer's lock (`infoplane.store.lock`): pid, host, command
                              and start time of the process writing the directory
      <table>.damaged-<UTC>   a damaged table that ``--resume`` kept aside (never overwritten)
      checkpoints-damaged-<UTC>/  unreadable checkpoints a resume moved aside

``results.csv``: UTF-8 CSV (RFC 4180 quoting, ``\\n`` line ends), header `RESULT_COLUMNS`::

    run,seed,split,epoch,layer,estimator,i_xt,i_ty,units,params

``seed`` and ``epoch`` are integers; ``i_xt`` and ``i_ty`` are written with ``repr(float)``, so
they read back bit for bit (``nan``/``inf`` included); ``params`` is the JSON string of the
estimator's parameters (`Estimate.metadata`, keys sorted). `ResultsWriter` appends rows and
fsyncs after every batch, so a killed process loses nothing it has written. A process
killed in the middle of a write can leave a partial last line (no trailing newline): readers
drop it with a `ResultsFileWarning`, `truncate_results` drops it, and a new `ResultsWriter`
cuts it off before appending. The key of a row is (run, seed, split, epoch, layer, estimator,
params); when a key appears twice, `load_results` keeps the last row and warns.
``metrics.csv``, ``diagnostics.csv``, ``aux.csv`` and ``failures.csv`` follow the same rules
with their own columns (`infoplane.store.tables`).

Activation files (``.npz``, uncompressed unless ``ActivationStore(compress=True)``):

- ``__layers__``: 1-D unicode array of the layer names, in layer order (any characters,
  ``.`` and ``#`` included);
- ``layer_0``, ``layer_1``, ...: the arrays of those layers, as given: (N, d) or (N, H, W, C);
- ``__meta__``: 0-d unicode array, a JSON object {"format": 1, "seed", "split", "epoch"}.

Every activation file (and ``config.json``) is written to a temporary file in the same
directory and moved into place with ``os.replace``, so a killed run never leaves a
half-written file under a final name (`infoplane.store.atomic`).
"""

from __future__ import annotations

__all__ = [
    "ACTIVATIONS_DIR",
    "AUX_FILE",
    "CHECKPOINTS_DIR",
    "CONFIG_FILE",
    "DIAGNOSTICS_FILE",
    "FAILURES_FILE",
    "FIGURES_DIR",
    "METRICS_FILE",
    "PENDING_DIR",
    "RESULTS_FILE",
    "RUN_DIR_HELP",
    "TABLE_FILES",
]

RESULTS_FILE = "results.csv"
METRICS_FILE = "metrics.csv"
DIAGNOSTICS_FILE = "diagnostics.csv"
AUX_FILE = "aux.csv"
FAILURES_FILE = "failures.csv"
CONFIG_FILE = "config.json"
#: Every CSV table of a run directory (what a resume truncates to its last checkpoint).
TABLE_FILES = (RESULTS_FILE, METRICS_FILE, DIAGNOSTICS_FILE, AUX_FILE, FAILURES_FILE)
ACTIVATIONS_DIR = "activations"
#: The `Recorder`'s write-ahead log: buffered epochs' activations, deleted once estimated.
PENDING_DIR = "pending"
CHECKPOINTS_DIR = "checkpoints"
FIGURES_DIR = "figures"
#: What a run directory holds, for error messages that name one that is not.
RUN_DIR_HELP = (
    "a run directory (runs/<name>/, written by `infoplane run`) holds config.json, "
    "results.csv, metrics.csv, checkpoints/ and optionally activations/"
)
