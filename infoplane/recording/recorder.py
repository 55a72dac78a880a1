"""`Recorder`: attach information-plane recording to any flax training loop.

    rec = infoplane.Recorder(x_probe, y_probe, estimators=["binning", "kde"], logdir="runs")
    for epoch in range(n_epochs):
        train_one_epoch(model)
        rec.record(epoch, model)             # flax nnx
        # rec.record(epoch, module, params)  # flax linen
    rec.close()
    table = infoplane.load_results(rec.run_dir)

Design
------
- **Capture** (`infoplane.recording.capture`, `infoplane.recording.forward`): one
  ``jax.jit``-compiled forward pass per probe set returns every selected layer, flattened to
  (N, d), on device; compiled once per model structure (nnx ``graphdef`` or linen module), so
  new weights never recompile.
- **Buffering**: recorded epochs wait in a buffer (``buffer`` entries, or ``flush_seconds``
  after the oldest one). A flush stacks each layer's buffered epochs into (E, N, d) and runs
  `infoplane.estimate_epochs` once per (probe set, layer, estimator): epochs are batched with
  ``vmap``/``lax.map``, in chunks of ``buffer`` epochs and then single epochs, so each layer
  width compiles at most twice, never once per epoch. Every computation is dispatched before
  any is waited for; with several local devices whole layers are spread over them (or, with
  fewer layers than devices, the epochs axis is sharded): `infoplane.recording.estimation`,
  `infoplane.recording.placement`, `infoplane.recording.buffer`.
- **Files** (the only side effects, all through `infoplane.recording.outputs` and the
  formats of `infoplane.store`): ``config.json``,
  ``results.csv`` (appended and fsync'd at every flush), ``metrics.csv``
  (`Recorder.log_metrics`), ``pending/`` (the write-ahead log, below) and, opt-in
  (``store_activations=True``), the recorded activations in ``activations/`` so
  ``infoplane estimate`` can re-estimate the run later.
- **Write-ahead** (``write_ahead``, on by default with a run directory and ``buffer > 1``):
  before `Recorder.record` returns, the epoch's activations are written atomically to
  ``pending/<split>/seed<seed>/epoch<epoch>.npz`` (the ``activations/`` format); a flush
  deletes them once its rows are fsync'd. So a killed process (even by SIGKILL) loses at most
  the epoch in flight, not the buffered ones (`infoplane.recording.write_ahead`).
- **Resume**: ``Recorder(..., resume=True)`` on an existing run directory appends to it and
  skips (seed, split, epoch) entries already in ``results.csv``, so a restarted loop produces
  no duplicated and no missing epochs. It first estimates the epochs a killed process left in
  ``pending/`` (rows written as by a flush, TensorBoard and callbacks included; listed in
  `Recorder.recovered`), which then count as already recorded: `Recorder.record` skips them
  too. Pending files of epochs already in ``results.csv`` (a kill between a flush and its
  clean-up) are just deleted; an unreadable one is warned about (`ResultsFileWarning`) and
  kept. This happens in the constructor, so opening and closing a resumed recorder is enough.
- **One writer**: a recorder with a run directory holds its lock (`infoplane.store.lock`,
  ``<run_dir>/.lock``) from creation to `close`; a second writer (another Recorder, ``infoplane
  run --resume``, ``infoplane estimate``) is refused with `RunDirectoryLocked` naming this
  process's pid. A killed process's lock never blocks (the OS releases it).
- **Checked inputs**: a probe of fewer than 2 samples, non-numeric (complex, string, object)
  or non-finite arrays, a ``buffer`` that is not an integer >= 1, a ``name`` with a path
  separator or ``..`` and a logdir that is a file are clear errors; a probe whose width the
  model does not take is a ValueError naming both shapes (at the first forward pass). A
  non-finite estimate is warned about once per estimator and quantity
  (`infoplane.recording.estimation.NonFiniteEstimateWarning`).
- **Diagnostics** (`infoplane.report.diagnostics`): with every estimate, each layer's saturation
  statistics (saturated and zero fractions, dead units, mean |t|) go to ``diagnostics.csv``.
- **TensorBoard** (`infoplane.report.tensorboard`, on by default with a run directory): scalars
  I(X;T), I(T;Y) per estimator and layer, metrics, diagnostics, information-plane images
  every ``image_every`` recorded epochs, hparams, and the dashboard's tensors, in the run
  directory: ``tensorboard --logdir runs`` shows them.
- **Auxiliary values**: every scalar an estimate reports besides I(X;T) and I(T;Y)
  (`Estimate.aux`: the other KDE bound, H(T), state counts, DSE, the autoencoder's error, ...)
  goes to ``aux.csv``, keyed like ``results.csv`` (`infoplane.load_aux`).
- ``on_results(rows)`` / ``on_metrics(rows)`` / ``on_diagnostics(rows)`` / ``on_aux(rows)``
  callbacks receive every new batch of rows.
"""

from __future__ import annotations

import datetime
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import jax
import numpy as np

from infoplane.recording import plan as _plan
from infoplane.recording import progress as _progress
from infoplane.recording import write_ahead as _wal
from infoplane.recording.buffer import Buffer, Entry
from infoplane.recording.estimation import Estimation
from infoplane.recording.forward import CaptureFunctions, batched_forward, probe_batch_size
from infoplane.recording.inputs import (
    DEFAULT_ESTIMATORS,
    SETTINGS,
    channel_counts,
    channels_last,
    check_int,
    check_options,
    check_settings,
    default_hparams,
    describe,
    flat_activations,
    load_channels,
    probe_sets,
    resolve_estimators,
    save_channels,
)
from infoplane.recording.outputs import Callback, Outputs, RowTables, RunFiles
from infoplane.recording.placement import placement
from infoplane.recording.schedule import Schedule, as_schedule
from infoplane.report.diagnostics import ceilings as _ceilings
from infoplane.store.activations import ActivationStore
from infoplane.store.results import Results

__all__ = ["Recorder"]


def learn_channels(estimation: Estimation, per_channel, run_dir: str | None,
                   shapes: Mapping[str, Sequence[int]]) -> None:
    """Give ``estimation`` the layers' per-sample ``shapes`` (for estimators taking a layer's
    channel count) and, for a ``per_channel`` recorder, the conv layers' channel counts from
    the first epoch's shapes (written to the run directory for a resume)."""
    estimation.learn_shapes(shapes)
    if per_channel and not estimation.channels:
        estimation.channels = save_channels(run_dir, channel_counts(shapes,
                                                                    estimation.channels_last))


class Recorder(RowTables):
    """Record every layer of a flax model on probe sets and estimate its information plane.

    Args:
      x, y: the probe set, (N, ...) inputs in the model's input format and (N,) integer labels.
        Recorded as the series ``split`` (default "train").
      estimators: names (``infoplane.estimators.NAMES``) or estimator instances, e.g.
        ``["binning", infoplane.KDE(sigma2=0.01), infoplane.Subsample(infoplane.Compressed())]``.
      logdir: directory holding run directories; the run is written to ``logdir/name``.
        ``None`` keeps results in memory only (`Recorder.results`).
      name: run directory name (default: ``run-YYYYmmdd-HHMMSS``), a plain name (no path
        separator, not ``..``). An existing directory is never overwritten: pass
        ``resume=True`` to continue it. While the recorder is open it holds the directory's
        writer lock (a second writer gets `infoplane.store.lock.RunDirectoryLocked`).
      test: optional second probe set ``(x_test, y_test)``, recorded as the series "test".
      layers: None (every layer), a list of layer names, or a predicate name -> bool
        (`infoplane.recording.capture` explains the names; `Recorder.layer_names` lists them).
      source: "inputs" (post-activation representations: the inputs of the linear/conv layers)
        or "outputs" (every submodule's output). output: "softmax", "logits" or None (the
        model's output as a layer).
      schedule: None (every epoch), `Schedule.log_spaced(n_epochs, n_points)`, or a list of
        epochs. `record` ignores other epochs.
      buffer: recorded epochs (per probe set) estimated together in one batched call (an
        integer >= 1).
      flush_seconds: also estimate when the oldest buffered epoch is this old.
      store_activations: also save the activations (opt-in; ``activations/`` in the run
        directory) for ``infoplane estimate``.
      apply_kwargs: extra keyword arguments of a linen ``module.apply`` (e.g. ``{"train":
        False}``).
      config: extra JSON-serialisable entries for ``config.json``.
      on_results, on_metrics, on_diagnostics, on_aux: callbacks receiving each new list of
        result / metric / diagnostic / auxiliary-value rows.
      tensorboard: write TensorBoard event files into the run directory (needs ``logdir``).
      image_every: render the information-plane image into TensorBoard after this many new
        recorded epochs (0: only at `close`).
      hparams: scalar hyper-parameters shown in TensorBoard's HPARAMS tab (default: the
        scalar entries of ``config``).
      resume: continue an existing run directory (see the module docstring); epochs left in
        its ``pending/`` write-ahead log by a killed process are estimated first.
      write_ahead: before `record` (or `add`) returns, write the epoch's activations (every
        probe set and selected layer, float32 (N, d), as in ``activations/``) to
        ``pending/`` in the run directory; a flush deletes them once their rows are written,
        and ``resume=True`` estimates those a killed process left. So a killed run loses at
        most the epoch in flight, whatever ``buffer``. None (default): on exactly when there
        is a ``logdir`` and ``buffer > 1``, and off (with a warning) above 64 MB per epoch;
        True always writes (an error without a ``logdir``). Cost and details:
        `infoplane.recording.write_ahead`.
      shard: None (default): with several local devices, spread the layers over them (or,
        with fewer layers than devices, shard each call's epochs axis); True/False: as
        `infoplane.estimate_epochs` (shard the epochs axis / one device).
      probe_batch: probe rows per forward pass of `record` (an integer >= 1). None
        (default): the whole probe set in one call up to 8192 rows, else 2048 rows at a time
        (`infoplane.recording.forward.batched_forward`): the forward pass's intermediate maps
        of a 10 000-image probe need not fit on the device at once.
      per_channel: estimate every layer with more than two axes (conv maps (N, H, W, C),
        channels last: True or "last"; (N, C, H, W), PyTorch's: "first") channel by channel
        (`infoplane.PerChannel`): the result row is the mean over channels (``per_channel:
        "mean"`` in its params), each channel's value is in ``aux.csv``. False (default):
        conv maps are estimated flattened (N, H·W·C).
      null: P > 0 adds the label-permutation null baseline of I(T;Y) to every estimator
        (`infoplane.NullLabels`: ``i_ty_null``, the mean of I(T;Y_π) over P fixed
        permutations π of the labels, in ``aux.csv`` at every layer-epoch; costs P more
        estimates each). 0 (default): off. Recorded in ``config.json`` through the specs
        (``null_labels(...)``), so a resume keeps it.
      progress: show the estimation's progress on stderr (`infoplane.recording.progress`: the
        estimator and layer running, each compilation announced): None (default) on in a
        Jupyter kernel, off otherwise; True / False force it; a `ProgressDisplay` shares its
        bars (``infoplane run``'s training bar).
      intervals: B > 0 adds a 95 % confidence interval to every estimate (`infoplane.Intervals`:
        B subsets of half the probe drawn without replacement, the delete-d jackknife
        interval; the columns ``i_xt_lo``, ``i_xt_hi``, ``i_ty_lo``, ``i_ty_hi`` of
        results.csv, empty when off). Costs about B/2 (binning) to B/4 (KDE) more estimates
        each. 0 (default): off. Kept by a resume through the specs (``intervals(...)``).
    """

    def __init__(
        self, x, y, estimators: Iterable[Any] = DEFAULT_ESTIMATORS,
        logdir: str | os.PathLike | None = "runs", *, name: str | None = None,
        split: str = "train", test: tuple[Any, Any] | None = None,
        layers: Sequence[str] | Callable[[str], bool] | None = None, source: str = "inputs",
        output: str | None = "softmax", schedule: Schedule | Sequence[int] | None = None,
        buffer: int = 16, flush_seconds: float = 10.0, store_activations: bool = False,
        apply_kwargs: Mapping[str, Any] | None = None, config: Mapping[str, Any] | None = None,
        on_results: Callback = None, on_metrics: Callback = None,
        on_diagnostics: Callback = None, on_aux: Callback = None, resume: bool = False,
        shard: bool | None = None, tensorboard: bool = True, image_every: int = 10,
        hparams: Mapping[str, Any] | None = None, write_ahead: bool | None = None,
        probe_batch: int | None = None, per_channel: bool | str = False, null: int = 0,
        intervals: int = 0, progress: Any = None,
    ):
        check_options(source, output, buffer, name)
        check_settings(**{k: v for k, v in locals().items() if k in SETTINGS})  # by name
        self._write_ahead_auto = write_ahead is None
        write_ahead = _wal.check_write_ahead(write_ahead, logdir, buffer)
        self.estimators = resolve_estimators(estimators, store_activations, null, intervals)
        self.schedule = as_schedule(schedule)
        self.probes: dict[str, tuple[np.ndarray, np.ndarray]] = probe_sets(x, y, split, test)
        self.layers = tuple(layers) if isinstance(layers, list | tuple) else layers
        self.source, self.output, self.buffer = source, output, int(buffer)
        self.flush_seconds = float(flush_seconds)
        self.apply_kwargs = dict(apply_kwargs or {})
        self.shard, self.probe_batch, self.per_channel = shard, probe_batch, per_channel
        self.on_results, self.on_metrics = on_results, on_metrics
        self.on_diagnostics, self.on_aux = on_diagnostics, on_aux
        self.ceilings = {split: _ceilings(px, py) for split, (px, py) in self.probes.items()}
        self.layer_names: tuple[str, ...] | None = None
        self.seconds = {"capture": 0.0, "estimate": 0.0}
        #: (seed, split, epoch) estimated on resume from the write-ahead log (``pending/``).
        self.recovered: list[tuple[int, str, int]] = []
        self.name = name or f"run-{datetime.datetime.now():%Y%m%d-%H%M%S}"
        self.run_dir = None
        self._buffer = Buffer(self.buffer * len(self.probes))
        self._capture = CaptureFunctions(self.layers, source, output, self.apply_kwargs)
        self._estimation = Estimation(self.probes, self.estimators, self.buffer, shard, self.name)
        self._estimation.channels_last = channels_last(per_channel)
        self._progress = _progress.attach(progress, self._estimation)  # Recorder(progress=)
        #: One message per (estimator, layer, probe set) that failed and was skipped.
        self.errors: list[str] = self._estimation.errors
        self._done: set[tuple[int, str, int]] = set()  # recorded by this recorder
        self._resumed: set[tuple[int, str, int]] = set()  # already in results.csv on resume
        self._widths: dict[str, int] = {}
        self._closed = False
        self._store: ActivationStore | None = None  # activations/ (store_activations)
        self._wal: ActivationStore | None = None  # the write-ahead log, pending/
        if logdir is None:
            if store_activations:
                raise ValueError("store_activations needs a logdir to write to.")
            self._out = Outputs(None)
            return
        self.run_dir = os.path.join(os.fspath(logdir), self.name)
        files = RunFiles(
            self.run_dir, resume=resume, config=lambda: {**self.describe(), **dict(config or {})},
            store_probes=self.probes if store_activations else None)
        self._out = Outputs(files)
        self._store, self._resumed = files.store, files.resumed
        try:  # a failure here releases the files and the run directory's lock
            if per_channel and resume:
                self._estimation.channels = load_channels(self.run_dir) or {}
            if tensorboard:
                if hparams is None:  # the recorder's settings, then the scalars of config
                    hparams = default_hparams(self.estimators, source, output, config)
                files.open_tensorboard(run=self.name, resume=resume, ceilings=self.ceilings,
                                       image_every=image_every, hparams=hparams)
            if write_ahead:
                self._wal = _wal.pending_store(self.run_dir)
            if resume:
                self.recovered = self._recover_pending()
        except BaseException:
            files.close()
            raise

    def describe(self) -> dict:
        """The recorder's settings as JSON-serialisable data (written to ``config.json``)."""
        return {**describe(self.name, self.estimators, self.probes, self.ceilings, self.layers,
                           self.source, self.output, self.schedule, self.buffer),
                "probe_batch": self.probe_batch, "per_channel": self.per_channel}

    def _recover_pending(self) -> list[tuple[int, str, int]]:
        """Estimate the epochs a killed process left in ``pending/`` (the write-ahead log) and
        write their rows like a flush does (`infoplane.recording.write_ahead.recover`)."""
        recovered = []
        store = self._store
        for key, path, acts in _wal.recover(self.run_dir, list(self.probes), self._resumed,
                                            self._checked):
            if store is not None and not os.path.exists(store.path(*key)):
                _wal.link_or_copy(path, store.path(*key))
            self._buffer.entries.append(Entry(*key, acts, pending=path))
            recovered.append(key)
        self.flush()
        self._resumed.update(recovered)
        _wal.remove_empty_dirs(_wal.pending_store(self.run_dir).root)
        return recovered

    # ---- capture and recording ---------------------------------------------------------------

    def capture(self, model, params=None) -> dict[str, dict[str, jax.Array]]:
        """Every probe set's layers: ``{split: {layer: (N, d) float32}}`` (on device)."""
        fn, state = self._capture(model, params)
        return {split: batched_forward(fn, state, px, probe_batch_size(self.probe_batch, len(px)))
                for split, (px, _) in self.probes.items()}

    def plan(self, model, params=None, *, epochs: int | None = None, rate: float | None = None):
        """A `RecordingPlan` of recording ``model``: print it (`recorder_plan`)."""
        return _plan.recorder_plan(self, model, params, epochs=epochs, rate=rate)

    def record(self, epoch: int, model, params=None, *, seed: int = 0) -> bool:
        """Record ``model`` after ``epoch`` on every probe set, if the schedule includes it.
        nnx: ``record(epoch, model)``; linen: ``record(epoch, module, params)`` (params: the
        variables dict or the params tree). ``seed`` labels the series of one of several
        training runs sharing this recorder. True when recorded; False when the schedule skips
        it or (resume) it is in ``results.csv`` or was recovered from ``pending/``. With
        ``write_ahead`` its activations are on disk on return. Recording a (seed, epoch) twice
        is an error."""
        if self._closed:
            raise RuntimeError("this Recorder is closed; create a new one (or resume=True).")
        epoch, seed = check_int(epoch, "epoch"), check_int(seed, "seed")
        if epoch not in self.schedule:
            return False
        keys = [(seed, split, epoch) for split in self.probes]
        if all(k in self._resumed for k in keys):
            return False
        if any(k in self._done for k in keys):
            raise ValueError(
                f"epoch {epoch} of seed {seed} was already recorded; each (seed, epoch) is "
                "recorded once (pass seed=... to record several training runs)."
            )
        if (self.per_channel or self._estimation.needs_shapes) and self.layer_names is None:
            learn_channels(self._estimation, self.per_channel, self.run_dir,
                           self._capture.shapes(model, params, self.probes[keys[0][1]][0]))
        t0 = time.perf_counter()
        captured = self.capture(model, params)
        self.seconds["capture"] += time.perf_counter() - t0
        for split, acts in captured.items():
            if (seed, split, epoch) not in self._resumed:  # e.g. recovered from pending/
                self.add(epoch, acts, split=split, seed=seed)
        return True

    def add(self, epoch: int, activations: Mapping[str, Any], *, split: str | None = None,
            seed: int = 0) -> None:
        """Buffer already computed activations ``{layer: (N, ...)}`` of one probe set: for
        custom capture (e.g. several seeds trained together with vmap) and for re-estimating
        stored activations. ``split`` defaults to the first probe set. With ``write_ahead``
        they are written to ``pending/`` before this returns."""
        split = next(iter(self.probes)) if split is None else split
        acts = self._checked(split, activations)
        key = (int(seed), split, int(epoch))
        if key in self._done:
            raise ValueError(f"epoch {epoch} of seed {seed} ({split}) was already recorded.")
        if (self._wal is not None and self._store is None and self._write_ahead_auto
                and _wal.too_large(acts, self.buffer)):
            self._wal = None
        pending = _wal.write_epoch(key, acts, self._store, self._wal)
        self._done.add(key)
        if self._buffer.add(Entry(*key, acts, pending=pending), self.flush_seconds):
            self.flush()

    def _checked(self, split: str, activations: Mapping[str, Any]) -> dict[str, jax.Array]:
        """``{layer: (N, d) float32}`` of one probe set's activations; the first call fixes the
        layer names and widths, later ones must have the same layers."""
        if split not in self.probes:
            raise ValueError(f"unknown split {split!r}; this recorder has {list(self.probes)}.")
        acts = flat_activations(activations, self.probes[split][1].shape[0])
        names = tuple(acts)
        if self.layer_names is None:
            shapes = {k: tuple(getattr(v, "shape", (0,)))[1:] for k, v in activations.items()}
            learn_channels(self._estimation, self.per_channel, self.run_dir, shapes)
            self.layer_names = names
            self._widths = {k: int(v.shape[1]) for k, v in acts.items()}
        elif names != self.layer_names:
            raise ValueError(
                f"the recorded layers changed from {list(self.layer_names)} to {list(names)}; "
                "one Recorder records one model structure."
            )
        return acts

    def log_metrics(self, epoch: int, metrics: Mapping[str, float], *, seed: int = 0) -> None:
        """Record scalar metrics (e.g. ``{"train_acc": 0.98, "loss": 0.05}``) of an epoch.

        Written to ``metrics.csv`` (columns run, seed, epoch, name, value) immediately.
        """
        self._out.metric_rows([{"run": self.name, "seed": int(seed), "epoch": int(epoch),
                                "name": str(k), "value": float(v)} for k, v in metrics.items()],
                              self.on_metrics)

    @property
    def pending(self) -> int:
        """Number of buffered (recorded, not yet estimated) epoch-probe entries."""
        return len(self._buffer)

    # ---- estimation --------------------------------------------------------------------------

    def _placement(self) -> dict[str, Any]:
        """Device of each layer's estimation (`infoplane.recording.placement.placement`)."""
        return placement(self.layer_names or (), self._widths, self.shard)

    def flush(self) -> list[dict]:
        """Estimate every buffered epoch now; write and return the new rows. Every (probe set,
        layer, estimator) computation is dispatched first, so they overlap on the devices; then
        the results are collected in order (`infoplane.recording.estimation`)."""
        entries = self._buffer.take()
        if not entries:
            return []
        t0 = time.perf_counter()
        rows, diag, aux, failed = self._estimation.run_rows(entries, self.layer_names,
                                                            self._placement())
        self.seconds["estimate"] += time.perf_counter() - t0
        self._out.estimates(rows, diag, aux, failed, entries, self.on_results,
                            self.on_diagnostics, self.on_aux)
        return rows

    # ---- results -----------------------------------------------------------------------------

    def results(self) -> Results:
        """The rows estimated so far by this recorder (call `flush` first for buffered ones)."""
        return Results.from_rows(self._out.results)

    def close(self) -> None:
        """Estimate what is buffered and close the files (idempotent)."""
        if self._closed:
            return
        try:
            self.flush()
            if self.run_dir is not None:
                _wal.remove_empty_dirs(_wal.pending_store(self.run_dir).root)
        finally:
            self._closed = True
            self._progress.close()
            self._out.close()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        where = self.run_dir or "memory"
        return (f"Recorder({where!r}, estimators={[e.name for e in self.estimators]}, "
                f"probes={list(self.probes)}, rows={len(self._out.results)}, "
                f"pending={self.pending})")
