"""Re-estimating a run's stored activations (``activations/``, written with
``--store-activations`` or by any other framework in the layout of `infoplane.store.layout`)
with other estimators, appending to its ``results.csv``, ``aux.csv``, ``failures.csv`` (each
created when absent: a directory holding only ``activations/`` is enough) and TensorBoard
files when it has some (`Reestimation`; ``infoplane estimate`` is its front end, `reestimate`
the Python one). The whole store is checked first (`infoplane.store.scan`): files that break
the layout are one ValueError listing each file and what is wrong, and nothing is estimated;
entries that are no part of the layout are skipped (``ignored``). It resumes:
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
from typing import Any

from infoplane.estimators import Estimator, to_spec
from infoplane.experiments.presets import default_estimators
from infoplane.recording.estimation import params_json, row_estimator
from infoplane.recording.inputs import channel_counts, channels_last, check_per_channel
from infoplane.recording.recorder import Recorder
from infoplane.report.diagnostics import ceilings
from infoplane.store import layout
from infoplane.store.activations import LAYOUT_HINT, ActivationStore
from infoplane.store.lock import acquire as acquire_lock
from infoplane.store.results import Results, load_results
from infoplane.store.tables import (
    AuxWriter,
    FailuresWriter,
    ResultsFileWarning,
    ResultsWriter,
    load_aux,
    load_failures,
)

__all__ = ["MAX_SHOWN", "ActivationLayoutWarning", "Reestimation", "reestimate"]

#: At most this many layout problems are listed in the error (all are counted).
MAX_SHOWN = 12


class Reestimation:
    """The re-estimation of ``run_dir`` with the estimators ``specs`` (names or specs; the
    costly ones subsampled as in ``infoplane run``, ``subsample`` rows; with ``intervals`` =
    B > 0 each with the confidence intervals of B subsets, `infoplane.Intervals`, and with
    None those of ``infoplane run``'s default, B = 20 for binning and KDE: another
    parameter set, so rows of its own beside those without). ``per_channel``: conv maps
    (stored layers of more than one axis per sample) estimated channel by channel, as
    `infoplane.Recorder`'s (True / "last": (N, H, W, C); "first": PyTorch's (N, C, H, W);
    False: flattened): rows of their own (``per_channel: "mean"`` in params), each channel in
    aux.csv.

    Creating it takes the run directory's writer lock (`infoplane.store.lock`; a second
    writer gets `RunDirectoryLocked`), checks the store (FileNotFoundError: no stored
    activations or no epochs; ValueError: files that break the layout, all listed, up to
    `MAX_SHOWN`; a probe the recorder refuses, naming its file) and finds, per estimator,
    the stored (split, seed, epoch) entries whose rows are not all in results.csv yet: a
    killed ``infoplane estimate`` resumes where it stopped, and an estimator already complete
    is a no-op (``notes`` says so). `run` estimates the missing ``entries``, one in-memory
    `Recorder` per split and group of estimators (any split names, e.g. train / val / test);
    rows already in results.csv are never written twice. ``ignored``: one line per entry
    under activations/ that is no part of the layout (skipped). ``progress``: the recorders'
    (`infoplane.Recorder`'s ``progress``; a `ProgressDisplay` shows every flush's stages).
    """

    def __init__(self, run_dir: str, specs: Sequence[str], subsample: int | None = None,
                 *, intervals: int | None = 0, per_channel: bool | str = False,
                 progress: Any = None):
        if not os.path.isdir(os.path.join(run_dir, layout.ACTIVATIONS_DIR)):
            raise FileNotFoundError(
                f"{run_dir!r} has no stored activations (activations/); record them with "
                "`infoplane run --store-activations` (or Recorder(store_activations=True)), or "
                f"write them from another framework ({LAYOUT_HINT})"
            )
        check_per_channel(per_channel)
        self._progress = progress  # each Recorder's (`infoplane.recording.progress.attach`)
        self.per_channel = per_channel
        self.lock = acquire_lock(run_dir)
        try:
            self._open(run_dir, specs, subsample, intervals)
        except BaseException:
            self.lock.release()
            raise

    def _open(self, run_dir: str, specs: Sequence[str], subsample: int | None,
              intervals: int | None) -> None:
        store = ActivationStore(run_dir)
        found = store.scan()
        #: Entries under activations/ that are no part of the layout (skipped), one line each.
        self.ignored = list(found.ignored)
        if found.errors:
            shown = "\n  ".join(found.errors[:MAX_SHOWN])
            more = len(found.errors) - MAX_SHOWN
            raise ValueError(
                f"{store.root} does not follow the activation layout; nothing was estimated. "
                f"{len(found.errors)} problem(s):\n  {shown}"
                + (f"\n  ... and {more} more" if more > 0 else "")
                + f"\n({LAYOUT_HINT})")
        if not found.entries:
            raise FileNotFoundError(f"{store.root} holds no recorded epochs ({LAYOUT_HINT})")
        splits = list(found.layers)
        probes = {sp: store.read_probe(sp) for sp in splits}
        ests = default_estimators(specs, found.n[splits[0]], subsample, intervals)
        self.results_path = os.path.join(run_dir, layout.RESULTS_FILE)
        run_name = os.path.basename(os.path.normpath(run_dir))
        stored = list(found.entries)
        #: Each split's layers, in order (those of its first epoch file).
        self.layers = dict(found.layers)
        last = channels_last(self.per_channel)
        channels = {sp: channel_counts({k: v[1:] for k, v in found.shapes[sp].items()}, last)
                    if self.per_channel else {} for sp in splits}
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
        n_rows = sum(len(self.layers[sp]) for sp, _seed, _e in stored)
        for est in ests:
            pj = params_json(est)  # its rows' params on each layer (per channel: PerChannel's)
            lpj = {sp: {la: params_json(row_estimator(est, channels[sp].get(la), last))
                        for la in self.layers[sp]} for sp in splits}
            n_failed = sum(1 for k in failed if k[4] == est.name
                           and k[5] == lpj.get(k[1], {}).get(k[3], pj))
            if n_failed:
                self.notes.append(
                    f"{n_failed} rows of {est.name} failed earlier (failures.csv) and are not "
                    "retried; delete those rows from failures.csv to retry them")
            todo = tuple(k for k in stored if any(
                (k[1], k[0], k[2], layer, est.name, lpj[k[0]][layer]) not in done
                for layer in self.layers[k[0]]))
            if todo:
                groups.setdefault(todo, []).append(est)
            else:
                self.notes.append(f"all {n_rows} rows of {est.name} already "
                                  f"estimated; nothing to do ({len(stored)} stored epochs, "
                                  f"{n_rows} (epoch, layer) rows in {self.results_path})")
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
        #: (recorder, entries): one recorder per group of estimators and split.
        self.jobs = []
        for todo, group in groups.items():
            for sp in splits:
                if mine := [k for k in todo if k[0] == sp]:
                    self.jobs.append((self._recorder(store, sp, probes[sp], group, run_name),
                                      mine))
        self.recorder = self.jobs[0][0] if self.jobs else None

    def _recorder(self, store, split, probe, group, run_name) -> Recorder:
        """An in-memory recorder of one split (its rows go to `_hold` / `_write`); a probe
        the recorder refuses (too small, NaN inputs) is a ValueError naming its file."""
        try:
            return Recorder(*probe, group, None, name=run_name, split=split,
                            on_results=self._hold, on_aux=self._write,
                            per_channel=self.per_channel, progress=self._progress)
        except (ValueError, TypeError) as err:
            raise ValueError(f"{store.probe_path(split)}: {err}") from None

    def _read(self, split: str, seed: int, epoch: int) -> dict:
        return _as_layers(self.store.read(seed, split, epoch), self.layers[split])

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
                    recorder.add(e, self._read(sp, seed, e), split=sp, seed=seed)
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


def reestimate(run_dir: str | os.PathLike, estimators: Sequence[Any], *,
               subsample: int | None = None, intervals: int = 0,
               per_channel: bool | str = False) -> Results:
    """``infoplane estimate`` from Python: estimate every stored (split, seed, epoch, layer)
    of ``run_dir/activations/`` (written by infoplane or by any framework in the layout of
    `infoplane.store.layout`) with ``estimators`` (names, specs such as ``"kde(sigma2=0.01)"``
    or estimator instances), appending the missing rows to results.csv, aux.csv and
    failures.csv (created when absent). Returns the whole results table of ``run_dir``.

    ``subsample``, ``intervals`` and ``per_channel`` as in `Reestimation` (the costly
    estimators on a probe subset, 0: all; B > 0 subsets for confidence intervals, 0: none;
    conv maps channel by channel: True / "last" (N, H, W, C), "first" (N, C, H, W)).
    Entries under activations/ that are no part of the layout are skipped with an
    `ActivationLayoutWarning` each; files that break it are a ValueError listing them (nothing
    estimated); estimates that fail (NaN layers) go to failures.csv, as in ``infoplane run``.
    """
    specs = [e if isinstance(e, str) else to_spec(e) for e in
             ([estimators] if isinstance(estimators, str | Estimator) else estimators)]
    job = Reestimation(os.fspath(run_dir), specs, subsample, intervals=intervals,
                       per_channel=per_channel)
    for line in job.ignored:
        warnings.warn(f"ignored {line}", ActivationLayoutWarning, stacklevel=2)
    job.run()
    return load_results(job.results_path)


class ActivationLayoutWarning(UserWarning):
    """An entry under activations/ that is no part of the layout was skipped."""


def _as_layers(acts: dict, layers: Sequence[str]) -> dict:
    """One stored epoch's arrays in the split's layer order; an (N,) layer is one unit,
    (N, 1). (Conv maps (N, C, H, W) or (N, H, W, C) the recorder flattens to (N, C*H*W).)"""
    return {k: acts[k].reshape(-1, 1) if acts[k].ndim == 1 else acts[k] for k in layers}


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
