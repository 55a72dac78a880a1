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
- **Capture** (`infoplane.capture`): one ``jax.jit``-compiled forward pass per probe set returns
  every selected layer, flattened to (N, d), on device; compiled once per model structure
  (nnx ``graphdef`` or linen module), so new weights never recompile.
- **Buffering**: recorded epochs wait in a buffer (``buffer`` entries, or ``flush_seconds``
  after the oldest one). A flush stacks each layer's buffered epochs into (E, N, d) and runs
  `infoplane.estimate_epochs` once per (probe set, layer, estimator): epochs are batched with
  ``vmap``/``lax.map``, in chunks of ``buffer`` epochs and then single epochs, so each layer
  width compiles at most twice, never once per epoch. Every computation is dispatched before
  any is waited for; with several local devices whole layers are spread over them (or, with
  fewer layers than devices, the epochs axis is sharded), see `Recorder._placement`.
- **Files** (the only side effects, all through `infoplane.results`): ``config.json``,
  ``results.csv`` (appended and fsync'd at every flush), ``metrics.csv``
  (`Recorder.log_metrics`), ``pending/`` (the write-ahead log, below) and, opt-in
  (``store_activations=True``), the recorded activations in ``activations/`` so
  ``infoplane estimate`` can re-estimate the run later.
- **Write-ahead** (``write_ahead``, on by default with a run directory and ``buffer > 1``):
  before `Recorder.record` returns, the epoch's activations are written atomically to
  ``pending/<split>/seed<seed>/epoch<epoch>.npz`` (the ``activations/`` format); a flush
  deletes them once its rows are fsync'd. So a killed process (even by SIGKILL) loses at most
  the epoch in flight, not the buffered ones.
- **Resume**: ``Recorder(..., resume=True)`` on an existing run directory appends to it and
  skips (seed, split, epoch) entries already in ``results.csv``, so a restarted loop produces
  no duplicated and no missing epochs. It first estimates the epochs a killed process left in
  ``pending/`` (rows written as by a flush, TensorBoard and callbacks included; listed in
  `Recorder.recovered`), which then count as already recorded: `Recorder.record` skips them
  too. Pending files of epochs already in ``results.csv`` (a kill between a flush and its
  clean-up) are just deleted; an unreadable one is warned about (`ResultsFileWarning`) and
  kept. This happens in the constructor, so opening and closing a resumed recorder is enough.
- **Diagnostics** (`infoplane.diagnostics`): with every estimate, each layer's saturation
  statistics (saturated and zero fractions, dead units, mean |t|) go to ``diagnostics.csv``.
- **TensorBoard** (`infoplane.tensorboard`, on by default with a run directory): scalars
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

import dataclasses
import datetime
import json
import math
import os
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from infoplane import capture as _capture
from infoplane import diagnostics as _diagnostics
from infoplane import results as _results
from infoplane._api import dispatch_prepared, finish_prepared, prepare
from infoplane._validate import check_activations, check_inputs, check_labels
from infoplane.estimators import from_spec
from infoplane.estimators._base import Estimator

__all__ = [
    "DEFAULT_ESTIMATORS",
    "Recorder",
    "Schedule",
    "log_spaced_epochs",
    "params_json",
    "resolve_estimators",
]

#: Estimators a `Recorder` uses when none are given.
DEFAULT_ESTIMATORS = ("binning", "adaptive_binning", "kde")


def log_spaced_epochs(n_epochs: int, n_points: int) -> np.ndarray:
    """At most ``n_points`` log-spaced epoch indices in ``[0, n_epochs - 1]``, sorted, unique.

    ``unique(round(logspace(0, log10(n_epochs), n_points))) - 1``, the schedule of the original
    experiment (which used base 2): dense early in training, sparse late. Always includes
    0 and ``n_epochs - 1``; fewer than ``n_points`` values when rounding merges early ones.
    """
    if n_epochs < 1:
        raise ValueError(f"n_epochs must be at least 1, got {n_epochs}.")
    if n_points < 1:
        raise ValueError(f"n_points must be at least 1, got {n_points}.")
    if n_points == 1:
        return np.array([n_epochs - 1])
    pts = np.logspace(0.0, math.log10(n_epochs), n_points)
    return np.unique(np.rint(pts).astype(np.int64)) - 1


@dataclasses.dataclass(frozen=True)
class Schedule:
    """Which epochs are recorded: every ``every``-th epoch (default: every epoch), or exactly
    the epochs in ``epochs``. Build with `Schedule.log_spaced` or `Schedule.explicit`.

    ``epoch in schedule`` tells whether an epoch is recorded.
    """

    every: int = 1
    epochs: tuple[int, ...] | None = None
    kind: str = "every"

    @classmethod
    def log_spaced(cls, n_epochs: int, n_points: int) -> Schedule:
        """Log-spaced epochs in [0, n_epochs] (see `log_spaced_epochs`): 0 and n_epochs included."""
        pts = log_spaced_epochs(n_epochs + 1, n_points)
        return cls(epochs=tuple(int(e) for e in pts), kind="log")

    @classmethod
    def explicit(cls, epochs: Iterable[int]) -> Schedule:
        eps = sorted({int(e) for e in epochs})
        if not eps or eps[0] < 0:
            raise ValueError(f"a schedule needs epochs >= 0, got {list(epochs)!r}.")
        return cls(epochs=tuple(eps), kind="explicit")

    def __post_init__(self):
        if self.every < 1:
            raise ValueError(f"Schedule every must be >= 1, got {self.every}.")

    def __contains__(self, epoch: int) -> bool:
        if self.epochs is not None:
            return int(epoch) in self.epochs
        return int(epoch) % self.every == 0

    def describe(self) -> dict:
        if self.epochs is not None:
            return {"kind": self.kind, "epochs": list(self.epochs)}
        return {"kind": "every", "every": self.every}


def _as_schedule(schedule) -> Schedule:
    if schedule is None:
        return Schedule()
    if isinstance(schedule, Schedule):
        return schedule
    if isinstance(schedule, str):
        raise ValueError(
            f"schedule {schedule!r} is not understood: pass None (every epoch), "
            "Schedule.log_spaced(n_epochs, n_points), or a list of epochs."
        )
    return Schedule.explicit(np.asarray(schedule).reshape(-1).tolist())


def resolve_estimators(estimators: Iterable[Any], *, allow_empty: bool = False
                       ) -> list[Estimator]:
    """Names (``infoplane.estimators.NAMES``), specs such as ``"dsmi(sigma=1.0)"``
    (`infoplane.estimators.from_spec`) or estimator instances -> instances.

    Two estimators with the same name and parameters would write identical rows: an error.
    An empty list is an error unless ``allow_empty``.
    """
    if isinstance(estimators, str | Estimator):
        estimators = [estimators]
    out = []
    for e in estimators:
        est = from_spec(e) if isinstance(e, str) else e
        if isinstance(est, type) or not isinstance(est, Estimator):
            raise TypeError(
                f"estimators must be names or estimator instances such as Binning(), got {e!r}."
            )
        out.append(est)
    keys = [(e.name, e.params()) for e in out]
    if len(set(keys)) != len(keys):
        raise ValueError("the same estimator (name and parameters) is listed twice.")
    if not out and not allow_empty:
        raise ValueError(
            "no estimator given: pass e.g. estimators=['binning'] (an empty list is allowed "
            "with store_activations=True, to estimate later with `infoplane estimate`)."
        )
    return out


def params_json(est: Estimator) -> str:
    """The ``params`` column of an estimator's result rows: `Estimate.metadata` (name, units,
    every parameter) as JSON with sorted keys."""
    meta = {"estimator": est.name, "units": est.units, **dict(est.params())}
    return json.dumps(meta, sort_keys=True, default=str)


@dataclasses.dataclass
class _Entry:
    seed: int
    split: str
    epoch: int
    acts: dict[str, jax.Array]
    pending: str | None = None  # its write-ahead file, deleted once its rows are written


class Recorder:
    """Record every layer of a flax model on probe sets and estimate its information plane.

    Args:
      x, y: the probe set, (N, ...) inputs in the model's input format and (N,) integer labels.
        Recorded as the series ``split`` (default "train").
      estimators: names (``infoplane.estimators.NAMES``) or estimator instances, e.g.
        ``["binning", infoplane.KDE(sigma2=0.01), infoplane.Subsample(infoplane.Compressed())]``.
      logdir: directory holding run directories; the run is written to ``logdir/name``.
        ``None`` keeps results in memory only (`Recorder.results`).
      name: run directory name (default: ``run-YYYYmmdd-HHMMSS``). An existing directory is
        never overwritten: pass ``resume=True`` to continue it.
      test: optional second probe set ``(x_test, y_test)``, recorded as the series "test".
      layers: None (every layer), a list of layer names, or a predicate name -> bool
        (`infoplane.capture` explains the names; `Recorder.layer_names` lists them).
      source: "inputs" (post-activation representations: the inputs of the linear/conv layers)
        or "outputs" (every submodule's output). output: "softmax", "logits" or None (the
        model's output as a layer).
      schedule: None (every epoch), `Schedule.log_spaced(n_epochs, n_points)`, or a list of
        epochs. `record` ignores other epochs.
      buffer: recorded epochs (per probe set) estimated together in one batched call.
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
        is a ``logdir`` and ``buffer > 1``; True without a ``logdir`` is an error. Cost: one
        atomic ``.npz`` write (temporary file + ``os.replace``, no fsync: a killed process
        keeps it, a power loss may not) of N x sum(widths) x 4 bytes per recorded epoch and
        probe set, and `record` waits for the capture to finish instead of returning before
        the device does. Measured for 4096 samples and layers of widths 10, 7, 5, 4, 3, 2
        (0.51 MB): 1.7 ms per write, +2.4 ms per `record` (2.1 -> 4.5 ms, CPU). With
        ``store_activations=True`` the pending file is a hard link to the stored one (a copy
        where the file system has no hard links): the arrays are written once. The default
        (None) turns itself off with a warning when one epoch of a probe set exceeds
        `WRITE_AHEAD_MAX_MB` (64 MB, e.g. conv feature maps of a large probe); True always
        writes.
      shard: None (default): with several local devices, spread the layers over them (or,
        with fewer layers than devices, shard each call's epochs axis); True/False: as
        `infoplane.estimate_epochs` (shard the epochs axis / one device).
    """

    def __init__(
        self,
        x,
        y,
        estimators: Iterable[Any] = DEFAULT_ESTIMATORS,
        logdir: str | os.PathLike | None = "runs",
        *,
        name: str | None = None,
        split: str = "train",
        test: tuple[Any, Any] | None = None,
        layers: Sequence[str] | Callable[[str], bool] | None = None,
        source: str = "inputs",
        output: str | None = "softmax",
        schedule: Schedule | Sequence[int] | None = None,
        buffer: int = 16,
        flush_seconds: float = 10.0,
        store_activations: bool = False,
        apply_kwargs: Mapping[str, Any] | None = None,
        config: Mapping[str, Any] | None = None,
        on_results: Callable[[list[dict]], None] | None = None,
        on_metrics: Callable[[list[dict]], None] | None = None,
        on_diagnostics: Callable[[list[dict]], None] | None = None,
        on_aux: Callable[[list[dict]], None] | None = None,
        resume: bool = False,
        shard: bool | None = None,
        tensorboard: bool = True,
        image_every: int = 10,
        hparams: Mapping[str, Any] | None = None,
        write_ahead: bool | None = None,
    ):
        if source not in ("inputs", "outputs"):
            raise ValueError(f"source must be 'inputs' or 'outputs', got {source!r}.")
        if output not in ("softmax", "logits", None):
            raise ValueError(f"output must be 'softmax', 'logits' or None, got {output!r}.")
        if buffer < 1:
            raise ValueError(f"buffer must be at least 1, got {buffer}.")
        self._write_ahead_auto = write_ahead is None
        write_ahead = _check_write_ahead(write_ahead, logdir, buffer)
        self.estimators = resolve_estimators(estimators, allow_empty=store_activations)
        self.schedule = _as_schedule(schedule)
        self.probes: dict[str, tuple[np.ndarray, np.ndarray]] = {split: _check_probe(x, y, split)}
        if test is not None:
            if split == "test":
                raise ValueError("split='test' clashes with the test probe set; rename split.")
            if not isinstance(test, tuple | list) or len(test) != 2:
                raise TypeError("test must be a pair (x_test, y_test).")
            self.probes["test"] = _check_probe(test[0], test[1], "test")
        self.layers = tuple(layers) if isinstance(layers, list | tuple) else layers
        self.source = source
        self.output = output
        self.buffer = int(buffer)
        self.flush_seconds = float(flush_seconds)
        self.apply_kwargs = dict(apply_kwargs or {})
        self.shard = shard
        self.on_results = on_results
        self.on_metrics = on_metrics
        self.on_diagnostics = on_diagnostics
        self.on_aux = on_aux
        self.ceilings = {split: _diagnostics.ceilings(px, py) for split, (px, py)
                         in self.probes.items()}
        self.layer_names: tuple[str, ...] | None = None
        self.errors: list[str] = []
        self._buffer: list[_Entry] = []
        self._buffer_t0: float | None = None
        self._rows: list[dict] = []
        self._metric_rows: list[dict] = []
        self._diag_rows: list[dict] = []
        self._aux_rows: list[dict] = []
        self._done: set[tuple[int, str, int]] = set()  # recorded by this recorder
        self._resumed: set[tuple[int, str, int]] = set()  # already in results.csv on resume
        self._contexts: dict[tuple[str, int, Any], Any] = {}
        self._widths: dict[str, int] = {}
        self._capture_fns: dict[Any, Callable] = {}
        self._closed = False
        self.seconds = {"capture": 0.0, "estimate": 0.0}
        #: (seed, split, epoch) estimated on resume from the write-ahead log (``pending/``).
        self.recovered: list[tuple[int, str, int]] = []

        self.run_dir = None
        self.name = name or f"run-{datetime.datetime.now():%Y%m%d-%H%M%S}"
        self._writer = self._metrics = self._diag = self._aux = self._store = self._tb = None
        self._wal: _results.ActivationStore | None = None  # the write-ahead log, pending/
        if logdir is not None:
            self.run_dir = os.path.join(os.fspath(logdir), self.name)
            self._open_run_dir(resume, config, store_activations)
            if tensorboard:
                self._open_tensorboard(resume, image_every, hparams, config)
            if write_ahead:
                self._wal = _pending_store(self.run_dir)
            if resume:
                self.recovered = self._recover_pending()
        elif store_activations:
            raise ValueError("store_activations needs a logdir to write to.")

    # ---- files -------------------------------------------------------------------------------

    def _open_run_dir(self, resume: bool, config, store_activations: bool) -> None:
        results_path = os.path.join(self.run_dir, "results.csv")
        if os.path.exists(self.run_dir) and os.listdir(self.run_dir) and not resume:
            raise FileExistsError(
                f"run directory {self.run_dir!r} already exists and is never overwritten; "
                "choose another name, or pass resume=True to continue it."
            )
        os.makedirs(self.run_dir, exist_ok=True)
        if resume and os.path.exists(results_path):
            done = _results.load_results(results_path)
            for s, sp, e in zip(done["seed"], done["split"], done["epoch"], strict=True):
                self._resumed.add((int(s), str(sp), int(e)))
        config_path = os.path.join(self.run_dir, "config.json")
        if not os.path.exists(config_path):
            _results.write_json(config_path, {**self.describe(), **dict(config or {})})
        self._writer = _results.ResultsWriter(results_path)
        self._metrics = _results.MetricsWriter(os.path.join(self.run_dir, "metrics.csv"))
        self._diag = _results.DiagnosticsWriter(os.path.join(self.run_dir, "diagnostics.csv"))
        self._aux = _results.AuxWriter(os.path.join(self.run_dir, "aux.csv"))
        if store_activations:
            self._store = _results.ActivationStore(self.run_dir)
            for split, (px, py) in self.probes.items():
                self._store.write_probe(split, px, py)

    def _recover_pending(self) -> list[tuple[int, str, int]]:
        """Estimate the epochs a killed process left in ``pending/`` (the write-ahead log) and
        write their rows like a flush does; delete the files of epochs already in results.csv.
        Unreadable files are warned about and kept. Returns the recovered (seed, split, epoch).
        """
        wal = _pending_store(self.run_dir)
        if not os.path.isdir(wal.root):
            return []
        _remove_temp_files(wal.root)
        recovered = []
        for seed, split, epoch in _pending_keys(wal, list(self.probes)):
            path = wal.path(seed, split, epoch)
            if (seed, split, epoch) in self._resumed:  # its rows were written before the kill
                os.remove(path)
                continue
            try:
                acts = self._checked(split, wal.read(seed, split, epoch))
            except Exception as err:  # a truncated file, another model's layers, ...
                warnings.warn(
                    f"cannot recover the buffered epoch in {path!r} ({type(err).__name__}: "
                    f"{err}); skipped and kept. Its epoch {epoch} ({split}, seed {seed}) is "
                    "not in results.csv: record it again, or delete the file if it is not "
                    "needed.", _results.ResultsFileWarning, stacklevel=3)
                continue
            if self._store is not None and not os.path.exists(self._store.path(seed, split,
                                                                               epoch)):
                _link_or_copy(path, self._store.path(seed, split, epoch))
            self._buffer.append(_Entry(seed, split, epoch, acts, pending=path))
            recovered.append((seed, split, epoch))
        self.flush()
        self._resumed.update(recovered)
        _remove_empty_dirs(wal.root)
        return recovered

    def _open_tensorboard(self, resume: bool, image_every: int, hparams, config) -> None:
        from infoplane.tensorboard import TensorBoardLogger

        resume_epoch = None
        if resume:
            seen = [e for _s, _sp, e in self._resumed]
            for fname, loader in (("metrics.csv", _results.load_metrics),
                                  ("diagnostics.csv", _results.load_diagnostics)):
                if os.path.exists(os.path.join(self.run_dir, fname)):
                    seen.extend(int(r["epoch"]) for r in loader(self.run_dir))
            resume_epoch = max(seen) + 1 if seen else 0
        if hparams is None:
            hparams = {k: v for k, v in {**self._hparams(), **dict(config or {})}.items()
                       if isinstance(v, bool | int | float | str)}
        self._tb = TensorBoardLogger(self.run_dir, run=self.name, ceilings=self.ceilings,
                                     hparams=hparams, image_every=image_every,
                                     resume_epoch=resume_epoch)

    def _hparams(self) -> dict:
        return {"estimators": ",".join(e.name for e in self.estimators),
                "source": self.source, "output": str(self.output)}

    def describe(self) -> dict:
        """The recorder's settings as JSON-serialisable data (written to ``config.json``)."""
        return {
            "run": self.name,
            "estimators": [e.name for e in self.estimators],
            "estimator_params": [dict(e.params()) for e in self.estimators],
            "probes": {k: {"n": int(v[1].shape[0]), "x_shape": list(v[0].shape[1:]),
                           "h_x_bits": self.ceilings[k]["i_xt"],
                           "h_y_bits": self.ceilings[k]["i_ty"]}
                       for k, v in self.probes.items()},
            "layers": list(self.layers) if isinstance(self.layers, tuple) else
            (None if self.layers is None else getattr(self.layers, "__name__", "filter")),
            "source": self.source,
            "output": self.output,
            "schedule": self.schedule.describe(),
            "buffer": self.buffer,
            "units": sorted({e.units for e in self.estimators}),
        }

    # ---- capture -----------------------------------------------------------------------------

    def _capture_fn(self, model, params):
        """A jitted ``f(state, x) -> {layer: (N, d)}`` for this model structure (cached)."""
        from flax import linen as nn
        from flax import nnx

        opts = dict(layers=self.layers, source=self.source, output=self.output)
        if isinstance(model, nnx.Module):
            if params is not None:
                raise TypeError(
                    "record(epoch, model) takes no params for a flax nnx model (its weights "
                    "live in the model); params are for linen: record(epoch, module, params)."
                )
            graphdef, state = nnx.split(model)
            fn = self._capture_fns.get(graphdef)
            if fn is None:
                fn = jax.jit(lambda s, xb: _capture.capture_nnx(nnx.merge(graphdef, s), xb, **opts))
                self._capture_fns[graphdef] = fn
            return fn, state
        if isinstance(model, nn.Module):
            if params is None:
                raise TypeError(
                    "a flax linen module needs its variables: record(epoch, module, params)."
                )
            fn = self._capture_fns.get(model)
            if fn is None:
                kw = self.apply_kwargs

                def f(v, xb):
                    return _capture.capture_linen(model, v, xb, apply_kwargs=kw, **opts)

                fn = jax.jit(f)
                self._capture_fns[model] = fn
            return fn, params
        raise TypeError(
            f"record() expects a flax nnx.Module, or a linen Module plus its params; got "
            f"{type(model).__name__}."
        )

    def capture(self, model, params=None) -> dict[str, dict[str, jax.Array]]:
        """Every probe set's layers: ``{split: {layer: (N, d) float32}}`` (on device)."""
        fn, state = self._capture_fn(model, params)
        return {split: fn(state, px) for split, (px, _) in self.probes.items()}

    # ---- recording ---------------------------------------------------------------------------

    def record(self, epoch: int, model, params=None, *, seed: int = 0) -> bool:
        """Record ``model`` after ``epoch`` on every probe set, if the schedule includes it.

        nnx: ``record(epoch, model)``; linen: ``record(epoch, module, params)`` (params: the
        variables dict or the params tree). ``seed`` labels the series of one of several
        training runs sharing this recorder. Returns True when the epoch was recorded; False
        when the schedule skips it or (on resume) it is already in ``results.csv`` or was
        recovered from ``pending/``. With ``write_ahead`` the epoch's activations are on disk
        when this returns.
        Recording the same (seed, epoch) twice is an error.
        """
        if self._closed:
            raise RuntimeError("this Recorder is closed; create a new one (or resume=True).")
        epoch, seed = _check_int(epoch, "epoch"), _check_int(seed, "seed")
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
        t0 = time.perf_counter()
        captured = self.capture(model, params)
        self.seconds["capture"] += time.perf_counter() - t0
        for split, acts in captured.items():
            if (seed, split, epoch) not in self._resumed:  # e.g. recovered from pending/
                self.add(epoch, acts, split=split, seed=seed)
        return True

    def add(self, epoch: int, activations: Mapping[str, Any], *, split: str | None = None,
            seed: int = 0) -> None:
        """Buffer already computed activations ``{layer: (N, ...)}`` of one probe set.

        For custom capture (e.g. several seeds trained together with vmap) and for re-estimating
        stored activations. ``split`` defaults to the first probe set. With ``write_ahead``
        they are written to ``pending/`` before this returns.
        """
        split = next(iter(self.probes)) if split is None else split
        acts = self._checked(split, activations)
        key = (int(seed), split, int(epoch))
        if key in self._done:
            raise ValueError(f"epoch {epoch} of seed {seed} ({split}) was already recorded.")
        stored = pending = None
        if self._wal is not None and self._store is None and self._write_ahead_auto:
            self._limit_write_ahead(acts)
        if self._store is not None or self._wal is not None:
            host = {k: np.asarray(v) for k, v in acts.items()}  # waits for the capture
            if self._store is not None:
                stored = self._store.write(*key, host)
            if self._wal is not None:  # on disk before record() returns: a kill loses nothing
                pending = self._wal.path(*key)
                if stored is None:
                    self._wal.write(*key, host)
                else:
                    _link_or_copy(stored, pending)
        self._done.add(key)
        self._buffer.append(_Entry(*key, acts, pending=pending))
        if self._buffer_t0 is None:
            self._buffer_t0 = time.perf_counter()
        full = len(self._buffer) >= self.buffer * len(self.probes)
        if full or time.perf_counter() - self._buffer_t0 >= self.flush_seconds:
            self.flush()

    def _limit_write_ahead(self, acts: Mapping[str, jax.Array]) -> None:
        """The default write-ahead (``write_ahead=None``) turns itself off, with a warning,
        when one epoch of one probe set exceeds `WRITE_AHEAD_MAX_MB`: writing that much per
        epoch (e.g. conv feature maps of a large probe) would cost more than it protects."""
        mb = sum(a.size * a.dtype.itemsize for a in acts.values()) / 2**20
        if mb > WRITE_AHEAD_MAX_MB:
            self._wal = None
            warnings.warn(
                f"one recorded epoch holds {mb:.0f} MB of activations, more than the "
                f"{WRITE_AHEAD_MAX_MB} MB the default write-ahead log writes per epoch: it is "
                f"off, so a killed process loses up to buffer={self.buffer} buffered epochs. "
                "Pass write_ahead=True to write them anyway, buffer=1 to write each epoch's "
                "results at once, or record fewer layers or a smaller probe.",
                stacklevel=4)

    def _checked(self, split: str, activations: Mapping[str, Any]) -> dict[str, jax.Array]:
        """``{layer: (N, d) float32}`` of one probe set's activations; the first call fixes the
        layer names and widths, later ones must have the same layers."""
        if split not in self.probes:
            raise ValueError(f"unknown split {split!r}; this recorder has {list(self.probes)}.")
        n = self.probes[split][1].shape[0]
        acts = {}
        for k, v in activations.items():
            v = jnp.asarray(v)
            if v.ndim < 2 or v.shape[0] != n:
                raise ValueError(
                    f"layer {k!r}: activations must have shape (N, ...) with N = {n} probe "
                    f"samples, got {tuple(v.shape)}."
                )
            if v.ndim != 2:  # conv maps etc.; (N, d) float32 arrays pass without a device op
                v = v.reshape(n, -1)
            acts[k] = v if v.dtype == jnp.float32 else v.astype(jnp.float32)
        names = tuple(acts)
        if self.layer_names is None:
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
        rows = [
            {"run": self.name, "seed": int(seed), "epoch": int(epoch), "name": str(k),
             "value": float(v)}
            for k, v in metrics.items()
        ]
        self._metric_rows.extend(rows)
        if self._metrics is not None:
            self._metrics.write(rows)
        if self._tb is not None:
            self._tb.on_metrics(rows)
        if self.on_metrics is not None:
            self.on_metrics(rows)

    @property
    def pending(self) -> int:
        """Number of buffered (recorded, not yet estimated) epoch-probe entries."""
        return len(self._buffer)

    # ---- estimation --------------------------------------------------------------------------

    def _context(self, split: str, i: int, device=None):
        key = (split, i, device)
        if key not in self._contexts:
            if device is None:
                px, py = self.probes[split]
                self._contexts[key] = prepare(self.estimators[i], px, py)[1]
            else:
                self._contexts[key] = jax.device_put(self._context(split, i), device)
        return self._contexts[key]

    def _placement(self) -> dict[str, Any]:
        """Device of each layer's estimation: ``{layer: device or None}``.

        With several local devices (GPUs, or CPU cores exposed as devices) and at least as many
        layers as devices, whole layers go to devices, largest first onto the least loaded one
        (cost ~ width), and the calls run at once (asynchronous dispatch): no padding, no
        collective. With fewer layers than devices, the epochs axis of each call is sharded
        instead (`infoplane.estimate_epochs`). Results are identical either way.
        """
        devices = jax.local_devices()
        names = self.layer_names or ()
        if self.shard is not None or len(devices) < 2 or len(names) < len(devices):
            return dict.fromkeys(names)
        load = [0] * len(devices)
        place = {}
        for name in sorted(names, key=lambda n: -self._widths.get(n, 1)):
            k = load.index(min(load))
            place[name] = devices[k]
            load[k] += self._widths.get(name, 1)
        return place

    def flush(self) -> list[dict]:
        """Estimate every buffered epoch now; write and return the new rows.

        Two phases: every (probe set, layer, estimator) computation is dispatched first, without
        waiting, so they overlap on the available devices; then the results are collected in
        order (hash collisions recomputed, failures reported per estimator and layer).
        """
        entries, self._buffer, self._buffer_t0 = self._buffer, [], None
        if not entries:
            return []
        t0 = time.perf_counter()
        place = self._placement()
        groups = {split: [e for e in entries if e.split == split] for split in self.probes}
        groups = {split: group for split, group in groups.items() if group}
        # every stack first: a stack queued on a device behind estimation work would hold up
        # the layers placed on the other devices
        stacks = {split: _stack_epochs(group, self.layer_names, place)
                  for split, group in groups.items()}
        jobs = []
        for split, group in groups.items():
            jobs.extend(self._dispatch_group(split, group, stacks[split], place))
        rows: list[dict] = []
        diag: list[dict] = []
        aux: list[dict] = []
        for job in jobs:
            rows.extend(self._collect(job, diag, aux))
        order = {name: i for i, name in enumerate(self.layer_names or ())}
        est_order = {e.name: i for i, e in enumerate(self.estimators)}
        rows.sort(key=lambda r: (r["seed"], r["epoch"], r["split"], order[r["layer"]],
                                 est_order[r["estimator"]]))
        self.seconds["estimate"] += time.perf_counter() - t0
        diag.sort(key=lambda r: (r["seed"], r["epoch"], r["split"], order[r["layer"]]))
        aux.sort(key=lambda r: (r["seed"], r["epoch"], r["split"], order[r["layer"]],
                                est_order[r["estimator"]]))
        self._rows.extend(rows)
        self._diag_rows.extend(diag)
        self._aux_rows.extend(aux)
        if self._writer is not None:
            self._writer.write(rows)
            self._diag.write(diag)
            self._aux.write(aux)
        _discard_pending(entries)  # their rows are on disk (fsync'd)
        if self._tb is not None:
            self._tb.on_diagnostics(diag)
            self._tb.on_results(rows)
            self._tb.on_aux(aux)
        if self.on_results is not None:
            self.on_results(rows)
        if self.on_diagnostics is not None:
            self.on_diagnostics(diag)
        if self.on_aux is not None:
            self.on_aux(aux)
        return rows

    def _dispatch_group(self, split: str, group: list[_Entry], stacks: dict[str, jax.Array],
                        place) -> list[dict]:
        """Start the diagnostics, the finiteness check and every estimator on each layer of
        one probe set's buffered epochs (``stacks``: (E, N, d) per layer, on its device);
        nothing here waits for a device."""
        jobs = []
        for layer in self.layer_names:
            stacked = stacks[layer]
            device = place.get(layer)
            stats, finite = _layer_summary(stacked)
            job = {"split": split, "group": group, "layer": layer, "stacked": stacked,
                   "stats": stats, "finite": finite, "estimates": []}
            for i, est in enumerate(self.estimators):
                try:
                    ctx = self._context(split, i, device)
                    parts = self._dispatch_stack(est, ctx, stacked, sharded=device is None)
                except Exception as err:  # e.g. a shape the estimator rejects at trace time
                    job["estimates"].append((est, None, None, err))
                    continue
                job["estimates"].append((est, ctx, parts, None))
            jobs.append(job)
        return jobs

    def _dispatch_stack(self, est, ctx, stacked, sharded: bool):
        """Dispatch `infoplane.estimate_epochs` over (E, N, d) in chunks of ``buffer`` epochs,
        then single epochs, so each layer shape compiles at most twice and nothing is padded.
        Estimators batched with ``lax.map`` (the costly ones) go one epoch at a time (one
        compile). Returns ``[(epochs slice, in-flight result)]``.
        """
        e = stacked.shape[0]
        sizes = [1] if est.epoch_batching == "map" else sorted({self.buffer, 1}, reverse=True)
        parts, start = [], 0
        for size in sizes:
            while e - start >= size:
                part = stacked[start:start + size]
                shard = False if (size == 1 or not sharded) else self.shard
                parts.append((part, dispatch_prepared(est, ctx, part, shard=shard)))
                start += size
        return parts

    def _collect(self, job: dict, diag: list[dict], aux: list[dict]) -> list[dict]:
        """Wait for one layer's dispatched work; its diagnostic rows go to ``diag``, the
        estimates' auxiliary scalars to ``aux``, its result rows are returned. A failing
        estimator is warned about once and skipped."""
        split, group, layer = job["split"], job["group"], job["layer"]
        stats = {k: np.asarray(v, dtype=np.float64) for k, v in job["stats"].items()}
        for k, e in enumerate(group):
            diag.extend({"run": self.name, "seed": e.seed, "split": split,
                         "epoch": e.epoch, "layer": layer, "name": name,
                         "value": float(stats[name][k])} for name in _diagnostics.STAT_NAMES)
        problem = None
        if not bool(job["finite"]):
            try:
                check_activations(np.asarray(job["stacked"]), batched=True)
            except ValueError as err:
                problem = err
        rows = []
        for est, ctx, parts, err in job["estimates"]:
            try:
                if problem is not None:
                    raise problem
                if err is not None:
                    raise err
                done = [finish_prepared(est, ctx, part, r) for part, r in parts]
                result = done[0] if len(done) == 1 else jax.tree_util.tree_map(
                    lambda *a: np.concatenate([np.asarray(v) for v in a]), *done)
            except Exception as failure:  # one failing estimator must not lose the others
                msg = (f"{est.name} on layer {layer!r} ({split}): "
                       f"{type(failure).__name__}: {failure}")
                if msg not in self.errors:
                    self.errors.append(msg)
                    warnings.warn(f"estimation failed, skipped: {msg}", RuntimeWarning,
                                  stacklevel=3)
                continue
            params = params_json(est)
            i_xt = np.asarray(result.i_xt, dtype=np.float64)
            i_ty = np.asarray(result.i_ty, dtype=np.float64)
            extra = aux_scalars(result, len(group))
            for k, e in enumerate(group):
                rows.append({
                    "run": self.name, "seed": e.seed, "split": split, "epoch": e.epoch,
                    "layer": layer, "estimator": result.estimator,
                    "i_xt": float(i_xt[k]), "i_ty": float(i_ty[k]),
                    "units": result.units, "params": params,
                })
                aux.extend({"run": self.name, "seed": e.seed, "split": split, "epoch": e.epoch,
                            "layer": layer, "estimator": result.estimator, "params": params,
                            "name": name, "value": float(v[k])} for name, v in extra.items())
        return rows

    # ---- results -----------------------------------------------------------------------------

    def results(self) -> _results.Results:
        """The rows estimated so far by this recorder (call `flush` first for buffered ones)."""
        return _results.Results.from_rows(self._rows)

    def metrics(self) -> list[dict]:
        """The metric rows logged so far (`log_metrics`)."""
        return list(self._metric_rows)

    def aux(self) -> list[dict]:
        """The auxiliary-value rows so far (``aux.csv``; see `infoplane.load_aux`)."""
        return list(self._aux_rows)

    def diagnostics(self) -> list[dict]:
        """The activation-diagnostic rows so far (`infoplane.diagnostics.activation_stats`)."""
        return list(self._diag_rows)

    def close(self) -> None:
        """Estimate what is buffered and close the files (idempotent)."""
        if self._closed:
            return
        try:
            self.flush()
            if self.run_dir is not None:
                _remove_empty_dirs(_pending_store(self.run_dir).root)
        finally:
            self._closed = True
            for f in (self._writer, self._metrics, self._diag, self._aux, self._tb):
                if f is not None:
                    f.close()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        where = self.run_dir or "memory"
        return (f"Recorder({where!r}, estimators={[e.name for e in self.estimators]}, "
                f"probes={list(self.probes)}, rows={len(self._rows)}, pending={self.pending})")


@jax.jit
def _layer_summary(ts):
    """Saturation statistics and finiteness of one layer's (E, N, d) epochs, in one call."""
    return _diagnostics.activation_stats(ts), jnp.isfinite(ts).all()


def _stack_epochs(group: list[_Entry], layers, place) -> dict[str, jax.Array]:
    """Each layer's buffered epochs as one (E, N, d) array on the device it is estimated on
    (``place[layer]``; None: the default device). Activations held in host memory (the CPU
    backend) are stacked by NumPy, which no device queue holds up; others on their device."""
    out = {}
    for layer in layers:
        arrs = [e.acts[layer] for e in group]
        stacked = (np.stack([np.asarray(a) for a in arrs])
                   if all(_in_host_memory(a) for a in arrs) else jnp.stack(arrs))
        out[layer] = jax.device_put(stacked, place.get(layer))  # None: leaves a jax array as is
    return out


def _in_host_memory(a) -> bool:
    return isinstance(a, np.ndarray) or all(d.platform == "cpu" for d in a.devices())


def aux_scalars(result, n_epochs: int) -> dict[str, np.ndarray]:
    """The auxiliary values of a batched `Estimate` that are one number per epoch:
    ``{name: (E,) float64}``, names sorted; other shapes (per-unit or per-class arrays) are
    left out."""
    out = {}
    for name in sorted(result.aux):
        a = np.asarray(result.aux[name])
        if a.shape == (n_epochs,) and (a.dtype.kind in "fiub"):
            out[name] = a.astype(np.float64)
    return out


#: Largest epoch (one probe set's activations, MB) the default write-ahead log writes.
WRITE_AHEAD_MAX_MB = 64


def _check_write_ahead(write_ahead, logdir, buffer: int) -> bool:
    """The effective ``write_ahead`` setting: None -> on exactly with a logdir and buffer > 1."""
    if write_ahead is None:
        return logdir is not None and buffer > 1
    if not isinstance(write_ahead, bool):
        raise TypeError(f"write_ahead must be None, True or False, got {write_ahead!r}.")
    if write_ahead and logdir is None:
        raise ValueError(
            "write_ahead=True needs a run directory to write buffered epochs to: pass a "
            "logdir, or leave write_ahead=None (on only with a logdir and buffer > 1)."
        )
    return write_ahead


def _pending_store(run_dir: str) -> _results.ActivationStore:
    """The write-ahead log of a run: ``<run_dir>/pending/``, in the `ActivationStore` format,
    written atomically without fsync (a killed process keeps what it wrote)."""
    return _results.ActivationStore(run_dir, subdir=_results.PENDING_DIR, durable=False)


def _pending_keys(wal: _results.ActivationStore, splits: list[str]) -> list[tuple[int, str, int]]:
    """Every (seed, split, epoch) in a write-ahead log, ordered by seed, epoch, then split
    (the recorder's probe sets first, in their order)."""
    found = wal.splits()
    rank = {s: i for i, s in enumerate(splits + [s for s in found if s not in splits])}
    keys = [(seed, split, epoch) for split in found for seed in wal.seeds(split)
            for epoch in wal.epochs(split, seed)]
    return sorted(keys, key=lambda k: (k[0], k[2], rank[k[1]]))


def _link_or_copy(src: str, dst: str) -> None:
    """Make ``dst`` a hard link to ``src`` (the same bytes, nothing written twice), replacing
    ``dst`` atomically; a copy where the file system has no hard links."""
    import shutil

    directory = os.path.dirname(dst)
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".{os.path.basename(dst)}.{os.getpid()}.tmp")
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def _discard_pending(entries: Iterable[_Entry]) -> None:
    """Delete the write-ahead files of estimated entries (their rows are written)."""
    for e in entries:
        if e.pending is not None:
            try:
                os.remove(e.pending)
            except FileNotFoundError:
                pass


def _remove_temp_files(root: str) -> None:
    """Delete the temporary files (``.*.tmp``) a killed writer left under ``root``."""
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            if f.startswith(".") and f.endswith(".tmp"):
                os.remove(os.path.join(dirpath, f))


def _remove_empty_dirs(root: str) -> None:
    """Remove ``root`` and the directories below it that hold no file (best effort)."""
    if not os.path.isdir(root):
        return
    for dirpath, _dirs, _files in os.walk(root, topdown=False):
        try:
            os.rmdir(dirpath)
        except OSError:  # not empty: a file is still pending
            pass


def _check_int(v, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 0:
        raise ValueError(f"{what} must be a non-negative integer, got {v!r}.")
    return int(v)


def _check_probe(x, y, split: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        y = check_labels(y)
        x = check_inputs(x, y.shape[0])
    except (ValueError, TypeError) as err:
        raise type(err)(f"probe set {split!r}: {err}") from None
    return np.asarray(x), np.asarray(y)
