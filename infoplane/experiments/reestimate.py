"""Re-estimating a finished run's stored activations (``activations/``, written with
``--store-activations``) with other estimators, appending to its ``results.csv``, ``aux.csv``
and TensorBoard files (`Reestimation`; ``infoplane estimate`` is its front end).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Sequence

from infoplane.experiments.presets import default_estimators
from infoplane.recording.estimation import params_json
from infoplane.recording.recorder import Recorder
from infoplane.report.diagnostics import ceilings
from infoplane.store import layout
from infoplane.store.activations import ActivationStore
from infoplane.store.results import load_results
from infoplane.store.tables import AuxWriter, ResultsWriter

__all__ = ["Reestimation"]


class Reestimation:
    """The re-estimation of ``run_dir`` with the estimators ``specs`` (names or specs; the
    costly ones subsampled as in ``infoplane run``, ``subsample`` rows). Creating it checks
    the run (FileNotFoundError: no stored activations; ValueError: an estimator with the same
    parameters is already in results.csv) and opens its files; `run` estimates every stored
    (split, seed, epoch) in ``entries``."""

    def __init__(self, run_dir: str, specs: Sequence[str], subsample: int | None = None):
        if not os.path.isdir(os.path.join(run_dir, layout.ACTIVATIONS_DIR)):
            raise FileNotFoundError(
                f"{run_dir!r} has no stored activations (activations/); record them with "
                "`infoplane run --store-activations` (or Recorder(store_activations=True))"
            )
        store = ActivationStore(run_dir)
        splits = store.splits()
        probes = {sp: store.read_probe(sp) for sp in splits}
        n_probe = len(probes[splits[0]][1])
        ests = default_estimators(specs, n_probe, subsample)
        self.results_path = os.path.join(run_dir, layout.RESULTS_FILE)
        run_name = os.path.basename(os.path.normpath(run_dir))
        if os.path.exists(self.results_path):
            done = load_results(self.results_path)
            run_name = str(done["run"][0]) if len(done) else run_name
            have = {(e, p) for e, p in zip(done["estimator"], done["params"], strict=True)}
            for est in ests:
                if (est.name, params_json(est)) in have:
                    raise ValueError(
                        f"{est.name} with these parameters is already in {self.results_path}; "
                        "nothing to do (re-estimating would duplicate rows)"
                    )
        self.store = store
        self.entries = [(sp, seed, e) for sp in splits for seed in store.seeds(sp)
                        for e in store.epochs(sp, seed)]
        self._writer = ResultsWriter(self.results_path)
        self._aux_writer = AuxWriter(os.path.join(run_dir, layout.AUX_FILE))
        self._board = _board(run_dir, run_name, probes, self.entries)
        board = self._board
        sinks = [self._writer.write] + ([board.on_results] if board is not None else [])
        aux_sinks = [self._aux_writer.write] + ([board.on_aux] if board is not None else [])
        test = probes.get("test") if len(splits) > 1 else None
        main_split = next(sp for sp in splits if sp != "test") if test is not None else splits[0]
        self.recorder = Recorder(*probes[main_split], ests, None, name=run_name,
                                 split=main_split, test=test,
                                 on_results=lambda rows: [f(rows) for f in sinks],
                                 on_aux=lambda rows: [f(rows) for f in aux_sinks])

    def run(self, progress: Callable[[int], None] | None = None) -> Recorder:
        """Estimate every stored epoch (``progress(done)`` after each) and close the files;
        returns the recorder, whose `results` are the new rows."""
        try:
            for i, (sp, seed, e) in enumerate(self.entries):
                self.recorder.add(e, self.store.read(seed, sp, e), split=sp, seed=seed)
                if progress is not None:
                    progress(i + 1)
            self.recorder.close()
        finally:
            self._writer.close()
            self._aux_writer.close()
            if self._board is not None:
                self._board.close()
        return self.recorder


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
