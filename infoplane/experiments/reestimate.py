"""Re-estimating a finished run's stored activations (``activations/``, written with
``--store-activations``) with other estimators, appending to its ``results.csv``, ``aux.csv``
and TensorBoard files (`Reestimation`; ``infoplane estimate`` is its front end). It resumes:
only the (seed, split, epoch, layer) rows missing from results.csv are estimated, and no row
of results.csv or aux.csv is written twice. Each flush writes its aux rows (fsync'd) before
its result rows, so an estimate on disk always has its aux rows: a kill between the two
leaves aux rows without their result, which the rerun re-estimates and does not duplicate.
An estimate that fails (e.g. non-finite activations of a diverged layer) is appended to
``failures.csv`` before that flush's other rows and is not retried by a rerun (``notes`` says
how many; delete its rows from failures.csv to retry).
"""

from __future__ import annotations

import glob
import os
import warnings
from collections.abc import Callable, Sequence

from infoplane.experiments.presets import default_estimators
from infoplane.recording.estimation import params_json
from infoplane.recording.recorder import Recorder
from infoplane.report.diagnostics import ceilings
from infoplane.store import layout
from infoplane.store.activations import ActivationStore
from infoplane.store.lock import acquire as acquire_lock
from infoplane.store.results import load_results
from infoplane.store.tables import (
    AuxWriter,
    FailuresWriter,
    ResultsFileWarning,
    ResultsWriter,
    load_aux,
    load_failures,
)

__all__ = ["Reestimation"]


class Reestimation:
    """The re-estimation of ``run_dir`` with the estimators ``specs`` (names or specs; the
    costly ones subsampled as in ``infoplane run``, ``subsample`` rows).

    Creating it takes the run directory's writer lock (`infoplane.store.lock`; a second
    writer gets `RunDirectoryLocked`), checks the run (FileNotFoundError: no stored
    activations) and finds, per estimator, the stored (split, seed, epoch) entries whose rows
    are not all in results.csv yet: a killed ``infoplane estimate`` resumes where it stopped,
    and an estimator already complete is a no-op (``notes`` says so). `run` estimates the
    missing ``entries``; rows already in results.csv are never written twice.
    """

    def __init__(self, run_dir: str, specs: Sequence[str], subsample: int | None = None):
        if not os.path.isdir(os.path.join(run_dir, layout.ACTIVATIONS_DIR)):
            raise FileNotFoundError(
                f"{run_dir!r} has no stored activations (activations/); record them with "
                "`infoplane run --store-activations` (or Recorder(store_activations=True))"
            )
        self.lock = acquire_lock(run_dir)
        try:
            self._open(run_dir, specs, subsample)
        except BaseException:
            self.lock.release()
            raise

    def _open(self, run_dir: str, specs: Sequence[str], subsample: int | None) -> None:
        store = ActivationStore(run_dir)
        splits = store.splits()
        probes = {sp: store.read_probe(sp) for sp in splits}
        n_probe = len(probes[splits[0]][1])
        ests = default_estimators(specs, n_probe, subsample)
        self.results_path = os.path.join(run_dir, layout.RESULTS_FILE)
        run_name = os.path.basename(os.path.normpath(run_dir))
        stored = [(sp, seed, e) for sp in splits for seed in store.seeds(sp)
                  for e in store.epochs(sp, seed)]
        layers = store.layers(stored[0][0], stored[0][1]) if stored else []
        done: set[tuple] = set()  # (seed, split, epoch, layer, estimator, params) on disk
        if os.path.exists(self.results_path):
            with warnings.catch_warnings():  # a killed estimate's torn last line: expected
                warnings.simplefilter("ignore", ResultsFileWarning)
                table = load_results(self.results_path)
            run_name = str(table["run"][0]) if len(table) else run_name
            done = {_key(r) for r in table.rows()}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResultsFileWarning)
            failed = {_key(r) for r in load_failures(run_dir)}
        done = done | failed  # failed earlier: recorded, not retried
        self._done = done
        self._done_aux: set[tuple] = set()  # (seed, split, epoch, layer, estimator, params, name)
        if os.path.exists(os.path.join(run_dir, layout.AUX_FILE)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ResultsFileWarning)
                self._done_aux = {_aux_key(r) for r in load_aux(run_dir)}
        self._held: list[dict] = []  # a flush's new result rows, written after its aux rows
        #: One line per estimator that was already complete ("nothing to do").
        self.notes: list[str] = []
        groups: dict[tuple, list] = {}  # the missing entries -> the estimators missing them
        for est in ests:
            pj = params_json(est)
            n_failed = sum(1 for k in failed if k[4:] == (est.name, pj))
            if n_failed:
                self.notes.append(
                    f"{n_failed} rows of {est.name} failed earlier (failures.csv) and are not "
                    "retried; delete those rows from failures.csv to retry them")
            todo = tuple(k for k in stored if any(
                (k[1], k[0], k[2], layer, est.name, pj) not in done for layer in layers))
            if todo:
                groups.setdefault(todo, []).append(est)
            else:
                self.notes.append(f"all {len(stored) * len(layers)} rows of {est.name} already "
                                  f"estimated; nothing to do ({len(stored)} stored epochs x "
                                  f"{len(layers)} layers in {self.results_path})")
        self.store = store
        #: (split, seed, epoch) entries to estimate, per group of estimators.
        self.entries = [k for todo in groups for k in todo]
        self._writer = ResultsWriter(self.results_path)
        self._aux_writer = AuxWriter(os.path.join(run_dir, layout.AUX_FILE))
        self._failures_writer = FailuresWriter(os.path.join(run_dir, layout.FAILURES_FILE))
        self._current: Recorder | None = None  # the recorder running (`run`)
        self._failures_written = 0  # rows of its failures() on disk
        self._board = _board(run_dir, run_name, probes, stored) if groups else None
        board = self._board
        self._sinks = [self._writer.write] + ([board.on_results] if board is not None else [])
        self._aux_sinks = [self._aux_writer.write] + ([board.on_aux] if board is not None else [])
        test = probes.get("test") if len(splits) > 1 else None
        main_split = next(sp for sp in splits if sp != "test") if test is not None else splits[0]
        self.jobs = [(Recorder(*probes[main_split], group, None, name=run_name,
                               split=main_split, test=test,
                               on_results=self._hold, on_aux=self._write),
                      list(todo)) for todo, group in groups.items()]
        self.recorder = self.jobs[0][0] if self.jobs else None

    @property
    def rows_written(self) -> int:
        """Result rows appended to results.csv so far."""
        return self._writer.rows_written

    def _new(self, rows: list[dict]) -> list[dict]:
        """The rows not in results.csv yet (a resumed estimate re-estimates whole epochs)."""
        return [r for r in rows if _key(r) not in self._done]

    def _hold(self, rows: list[dict]) -> None:
        """A flush's result rows: kept until its aux rows are on disk (`_write`)."""
        self._held.extend(self._new(rows))

    def _write(self, aux: list[dict]) -> None:
        """A flush's aux rows not on disk yet, then its held result rows (the Recorder calls
        ``on_results`` and then ``on_aux`` for every flush, also with empty lists); the
        flush's failed estimates first."""
        failed = self._current.failures()[self._failures_written:]
        self._failures_written += len(failed)
        self._failures_writer.write([r for r in failed if _key(r) not in self._done])
        aux = [a for a in aux if _aux_key(a) not in self._done_aux]
        for f in self._aux_sinks:
            f(aux)
        rows, self._held = self._held, []
        for f in self._sinks:
            f(rows)

    def run(self, progress: Callable[[int], None] | None = None) -> list[Recorder]:
        """Estimate every missing entry (``progress(done)`` after each), close the files and
        release the lock; returns the recorders (one per group of estimators missing the
        same entries), whose `results` are the new rows."""
        try:
            i = 0
            for recorder, todo in self.jobs:
                self._current, self._failures_written = recorder, 0
                for sp, seed, e in todo:
                    recorder.add(e, self.store.read(seed, sp, e), split=sp, seed=seed)
                    i += 1
                    if progress is not None:
                        progress(i)
                recorder.close()
        finally:
            self._writer.close()
            self._aux_writer.close()
            self._failures_writer.close()
            if self._board is not None:
                self._board.close()
            self.lock.release()
        return [recorder for recorder, _todo in self.jobs]


def _key(r: dict) -> tuple:
    return (r["seed"], r["split"], r["epoch"], r["layer"], r["estimator"], r["params"])


def _aux_key(a: dict) -> tuple:
    return (a["seed"], a["split"], a["epoch"], a["layer"], a["estimator"], a["params"],
            a["name"])


def _board(run_dir, run_name, probes, entries):
    """A TensorBoard logger that adds re-estimated rows to the run's event files, or None
    when the run was recorded without TensorBoard. Its restart marker lies after the last
    stored epoch, so nothing already in the event files is dropped."""
    from infoplane.report.tensorboard.logger import TensorBoardLogger

    if not glob.glob(os.path.join(run_dir, "events.out.tfevents.*")):
        return None
    last = max(e for _sp, _seed, e in entries)
    return TensorBoardLogger(run_dir, run=run_name, image_every=0, resume_epoch=last + 1,
                             ceilings={sp: ceilings(x, y) for sp, (x, y) in probes.items()})
