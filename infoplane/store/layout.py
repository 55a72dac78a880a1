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
      activations/            optional (`ActivationStore`): recorded layers, for re-estimation;
                              any framework can write it (below), and it is all that
                              ``infoplane estimate`` needs
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

Activation files (``.npz``, uncompressed unless ``ActivationStore(compress=True)``), as
infoplane writes them:

- ``__layers__``: 1-D unicode array of the layer names, in layer order (any characters,
  ``.`` and ``#`` included);
- ``layer_0``, ``layer_1``, ...: the arrays of those layers, as given: (N, d) or (N, H, W, C);
- ``__meta__``: 0-d unicode array, a JSON object {"format": 1, "seed", "split", "epoch"}.

Activations from other frameworks (PyTorch hooks, TensorFlow, NumPy), the minimal layout::

    <dir>/activations/
      probe-<split>.npz                     np.savez(path, x=x, y=y)
      <split>/seed<seed>/epoch<epoch>.npz   np.savez(path, **{layer_name: array, ...})

- ``<split>``: a plain name (train, val, test, ...; no ``/``, not starting with ``.``); every
  split with epoch files needs its ``probe-<split>.npz``. ``<seed>``: an integer without
  leading zeros (``seed0``, ``seed12``, ``seed-1``). ``<epoch>``: an integer >= 0, padded or
  not (``epoch3.npz`` and ``epoch0000003.npz`` are both epoch 3; both at once is an error).
- probe file: ``x`` (N, ...) the probe inputs, any real dtype (estimators that use X see it
  flattened, as float32; repeated rows count as one input), ``y`` (N,) integer class labels
  (integer-valued floats are accepted).
- epoch file without ``__layers__``: every array is a layer, named by its key, in the file's
  order (``np.savez`` keeps keyword order); keys starting with ``__`` are reserved. Each
  layer is real numbers (bool, int or float of any width; estimated as float32) of shape
  (N, ...) with N = len(y) and its rows in the probe's order; (N,) is one unit, and
  anything else is flattened per sample in C order, so conv maps (N, C, H, W) and
  (N, H, W, C) both become (N, C*H*W): the same units in another order, on which binning
  and KDE (distances, row states) give the same value (tested).
- Within a split, every epoch file (all seeds) holds the same layers (order: that of its
  first file, by seed and epoch) with the same per-sample shapes.
- ``__meta__`` (the format marker) is optional: a plain file needs none; one that has it
  must hold a JSON object whose ``format``, if given, is 1 (another is refused: written by a
  newer infoplane).
- Nothing else is needed: no ``config.json``; ``infoplane estimate`` creates results.csv,
  aux.csv and failures.csv. Before estimating, the whole store is checked from the .npy
  headers (`infoplane.store.scan`): a file that breaks these rules (wrong N, non-numeric or
  object dtype, missing probe or labels, changed layers or shapes, damaged) is an error
  naming it, and nothing is estimated; files and directories with other names are ignored
  with a warning; hidden ones (``.*``) silently. Non-finite values are no layout error: the
  estimates of that layer and epoch fail and are written to failures.csv.

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
