"""Where a `Recorder`'s rows go (its side effects, at one boundary): `Outputs` keeps them in
memory, appends them to the run directory's files (`RunFiles`), logs them to TensorBoard and
passes them to the user's callbacks.

`RunFiles` are ``config.json``, the tables ``results.csv`` / ``metrics.csv`` /
``diagnostics.csv`` / ``aux.csv`` / ``failures.csv`` (appended and fsync'd at every flush),
the opt-in activation store and the TensorBoard event files. The formats are
`infoplane.store`'s; the event files `infoplane.report.tensorboard`'s.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from infoplane.recording.buffer import Entry
from infoplane.recording.write_ahead import discard_pending
from infoplane.store import layout
from infoplane.store.activations import ActivationStore
from infoplane.store.config import write_config
from infoplane.store.lock import LOCK_FILE
from infoplane.store.lock import acquire as acquire_lock
from infoplane.store.results import load_results
from infoplane.store.tables import (
    AuxWriter,
    DiagnosticsWriter,
    FailuresWriter,
    MetricsWriter,
    ResultsWriter,
    load_diagnostics,
    load_failures,
    load_metrics,
)

__all__ = ["Outputs", "RowTables", "RunFiles"]


class RunFiles:
    """The open files of one run directory ``run_dir``.

    Creating it makes the directory (an existing non-empty one only with ``resume``: never
    overwritten; a logdir that is a file is a ValueError), takes its writer lock
    (`infoplane.store.lock`, released by `close`), writes ``config.json`` when there is
    none (``config()`` gives its content),
    opens the five tables for appending and, with ``store_probes`` ({split: (x, y)}), the
    activation store with the probe sets in it. ``resumed``: the (seed, split, epoch) keys
    already in ``results.csv`` or ``failures.csv`` (empty unless ``resume``).
    """

    def __init__(self, run_dir: str, *, resume: bool, config: Callable[[], Mapping[str, Any]],
                 store_probes: Mapping[str, tuple[np.ndarray, np.ndarray]] | None):
        self.run_dir = run_dir
        if os.path.exists(run_dir) and not os.path.isdir(run_dir):
            raise ValueError(f"{run_dir!r} is a file, not a run directory; choose another name "
                             "or logdir.")
        try:
            os.makedirs(run_dir, exist_ok=True)
        except (NotADirectoryError, FileExistsError):
            raise ValueError(
                f"cannot create the run directory {run_dir!r}: its logdir "
                f"{os.path.dirname(run_dir)!r} is a file, not a directory; pass the directory "
                "that holds run directories (e.g. logdir='runs')."
            ) from None
        # one writer per run directory, from here until close (infoplane.store.lock)
        self.lock = acquire_lock(run_dir)
        try:
            self._open(resume, config, store_probes)
        except BaseException:
            self.close()
            raise

    def _open(self, resume, config, store_probes) -> None:
        run_dir = self.run_dir
        results_path = os.path.join(run_dir, layout.RESULTS_FILE)
        self.results = self.metrics = self.diagnostics = self.aux = self.tensorboard = None
        self.failures = None
        if not resume and set(os.listdir(run_dir)) - {LOCK_FILE}:
            raise FileExistsError(
                f"run directory {run_dir!r} already exists and is never overwritten; "
                "choose another name, or pass resume=True to continue it."
            )
        self.resumed: set[tuple[int, str, int]] = set()
        if resume and os.path.exists(results_path):
            done = load_results(results_path)
            for s, sp, e in zip(done["seed"], done["split"], done["epoch"], strict=True):
                self.resumed.add((int(s), str(sp), int(e)))
        if resume:
            self.resumed.update((r["seed"], r["split"], r["epoch"]) for r in load_failures(run_dir))
        if not os.path.exists(os.path.join(run_dir, layout.CONFIG_FILE)):
            write_config(run_dir, config())
        self.results = ResultsWriter(results_path)
        self.metrics = MetricsWriter(os.path.join(run_dir, layout.METRICS_FILE))
        self.diagnostics = DiagnosticsWriter(os.path.join(run_dir, layout.DIAGNOSTICS_FILE))
        self.aux = AuxWriter(os.path.join(run_dir, layout.AUX_FILE))
        self.failures = FailuresWriter(os.path.join(run_dir, layout.FAILURES_FILE))
        self.store: ActivationStore | None = None
        if store_probes is not None:
            self.store = ActivationStore(run_dir)
            for split, (px, py) in store_probes.items():
                self.store.write_probe(split, px, py)

    def open_tensorboard(self, *, run: str, resume: bool, ceilings: Mapping, image_every: int,
                         hparams: Mapping[str, Any]) -> None:
        """Start logging to TensorBoard event files in the run directory. On resume, every
        event file starts at the first epoch after the newest one in the tables (TensorBoard
        then drops the killed process's later steps)."""
        from infoplane.report.tensorboard.logger import TensorBoardLogger

        resume_epoch = None
        if resume:
            seen = [e for _s, _sp, e in self.resumed]
            for fname, loader in ((layout.METRICS_FILE, load_metrics),
                                  (layout.DIAGNOSTICS_FILE, load_diagnostics)):
                if os.path.exists(os.path.join(self.run_dir, fname)):
                    seen.extend(int(r["epoch"]) for r in loader(self.run_dir))
            resume_epoch = max(seen) + 1 if seen else 0
        self.tensorboard = TensorBoardLogger(self.run_dir, run=run, ceilings=ceilings,
                                             hparams=hparams, image_every=image_every,
                                             resume_epoch=resume_epoch)

    def write_rows(self, rows: list[dict], diag: list[dict], aux: list[dict],
                   failed: list[dict]) -> None:
        """Append a flush's rows to the tables (each fsync'd); the failures last, so an entry
        with failures on disk has all its other rows there too (a resume counts it done)."""
        self.results.write(rows)
        self.diagnostics.write(diag)
        self.aux.write(aux)
        self.failures.write(failed)

    def log_rows(self, rows: list[dict], diag: list[dict], aux: list[dict]) -> None:
        """Log a flush's rows to TensorBoard (when it is on)."""
        if self.tensorboard is not None:
            self.tensorboard.on_diagnostics(diag)
            self.tensorboard.on_results(rows)
            self.tensorboard.on_aux(aux)

    def write_metrics(self, rows: list[dict]) -> None:
        """Append metric rows to ``metrics.csv`` and TensorBoard."""
        self.metrics.write(rows)
        if self.tensorboard is not None:
            self.tensorboard.on_metrics(rows)

    def close(self) -> None:
        """Close every file and release the run directory's lock (idempotent)."""
        try:
            for f in (self.results, self.metrics, self.diagnostics, self.aux, self.failures,
                      self.tensorboard):
                if f is not None:
                    f.close()
        finally:
            self.lock.release()


Callback = Callable[[list[dict]], None] | None


class Outputs:
    """A recorder's rows: kept in memory (``results``, ``metrics``, ``diagnostics``, ``aux``,
    ``failures``),
    written to ``files`` (a `RunFiles`, or None in memory only) and passed to the callbacks
    given with each batch (each may be None)."""

    def __init__(self, files: RunFiles | None):
        self.files = files
        self.results: list[dict] = []
        self.metrics: list[dict] = []
        self.diagnostics: list[dict] = []
        self.aux: list[dict] = []
        self.failures: list[dict] = []

    def estimates(self, rows: list[dict], diag: list[dict], aux: list[dict],
                  failed: list[dict], entries: Iterable[Entry], on_results: Callback = None,
                  on_diagnostics: Callback = None, on_aux: Callback = None) -> None:
        """One flush's rows (``failed``: its `FAILURE_COLUMNS` rows): to memory, to the tables
        (fsync'd), then the write-ahead files of ``entries`` are deleted (their rows are on
        disk), then TensorBoard and the callbacks."""
        self.results.extend(rows)
        self.diagnostics.extend(diag)
        self.aux.extend(aux)
        self.failures.extend(failed)
        if self.files is not None:
            self.files.write_rows(rows, diag, aux, failed)
        discard_pending(entries)  # their rows are on disk (fsync'd)
        if self.files is not None:
            self.files.log_rows(rows, diag, aux)
        for callback, new in ((on_results, rows), (on_diagnostics, diag), (on_aux, aux)):
            if callback is not None:
                callback(new)

    def metric_rows(self, rows: list[dict], on_metrics: Callback = None) -> None:
        """Metric rows: to memory, ``metrics.csv``, TensorBoard and ``on_metrics``."""
        self.metrics.extend(rows)
        if self.files is not None:
            self.files.write_metrics(rows)
        if on_metrics is not None:
            on_metrics(rows)

    def close(self) -> None:
        if self.files is not None:
            self.files.close()


class RowTables:
    """The row tables of an object that keeps its rows in ``self._out`` (an `Outputs`): the
    `Recorder`'s ``metrics()``, ``aux()``, ``diagnostics()`` and ``failures()``."""

    _out: Outputs

    def metrics(self) -> list[dict]:
        """The metric rows logged so far (`log_metrics`)."""
        return list(self._out.metrics)

    def aux(self) -> list[dict]:
        """The auxiliary-value rows so far (``aux.csv``; see `infoplane.load_aux`)."""
        return list(self._out.aux)

    def diagnostics(self) -> list[dict]:
        """The activation-diagnostic rows so far (`infoplane.activation_stats`)."""
        return list(self._out.diagnostics)

    def failures(self) -> list[dict]:
        """The estimates that failed and were skipped so far, one row per (seed, split, epoch,
        layer, estimator) with its error (``failures.csv``; `infoplane.load_failures`)."""
        return list(self._out.failures)
