"""`TensorBoardLogger`: a run's results, metrics, diagnostics and auxiliary values as
TensorBoard events (the recorder's sink). The layout, tags and formats are documented in
`infoplane.report.tensorboard.format`; the pieces it writes are in `events` (event files),
`dashboard` (the Information plane tab's tensors), `layout` (custom scalars), `hparams` and
`images`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from tensorboard.compat.proto import summary_pb2
from tensorboard.plugins.custom_scalar import layout_pb2

from infoplane.report.tensorboard.dashboard import DashboardTensors
from infoplane.report.tensorboard.events import EventDirs
from infoplane.report.tensorboard.format import (
    AUX_KEYS,
    DIAGNOSTIC_KEYS,
    METRIC_KEYS,
    RESULT_KEYS,
    EstimatorLabels,
    check_rows,
)
from infoplane.report.tensorboard.hparams import clean_hparams, write_hparams
from infoplane.report.tensorboard.images import Renderer, default_renderer, write_images
from infoplane.report.tensorboard.layout import custom_scalars_layout, layout_summary

__all__ = ["TensorBoardLogger", "known_instances"]


def known_instances(run_dir: str) -> list[list[dict]]:
    """The estimator instances of the rows already in ``run_dir``'s ``results.csv``, as
    `EstimatorLabels.assign` first saw them: those of the first (seed, split, epoch) together
    (a recorder's first call), then each later one alone, in file order ([] without the file
    or with an unreadable one)."""
    from infoplane.store.layout import RESULTS_FILE
    from infoplane.store.tables import read_records

    try:
        records, _problems, _ = read_records(os.path.join(run_dir, RESULTS_FILE))
    except (OSError, ValueError):
        return []
    rows = [row for _fields, row in records]
    if not rows:
        return []
    first = (rows[0]["seed"], rows[0]["split"], rows[0]["epoch"])
    head = {(r["estimator"], r["params"]): None for r in rows
            if (r["seed"], r["split"], r["epoch"]) == first}
    later = {(r["estimator"], r["params"]): None for r in rows}
    return [[{"estimator": e, "params": p} for e, p in head]] + [
        [{"estimator": e, "params": p}] for e, p in later if (e, p) not in head]


class TensorBoardLogger:
    """Writes a run's results, metrics and diagnostics as TensorBoard events (the recorder's
    sink): see `infoplane.report.tensorboard.format` for the layout, tags and formats.

    Args:
      run_dir: the run directory (``runs/<name>``); event files go in it and in ``tb/``.
      run: the run's name (the hparams session group; default: the directory's name).
      ceilings: {split: {"i_xt": H(X), "i_ty": H(Y)}} in bits, for the dashboard's metadata
        and the images (`infoplane.ceilings`).
      hparams: the run's hyper-parameters for TensorBoard's HPARAMS tab: bool/int/float/str
        values as is, other values as JSON text, None dropped.
      image_every: render the information-plane images after this many new distinct epochs
        (over all seeds); 0: only at `close`.
      image_budget: the largest share of the logger's wall time the images may take (each
        redraw costs more as rows accumulate: ~0.4 s for 5 seeds x 274 epochs x 6 layers on
        this CPU). An image that is due while the renders so far took more than this share
        of the time since the logger opened waits for a later step; the last one, at `close`,
        is always drawn. 1: never postpone.
      images: write information-plane images at all.
      resume_epoch: the first epoch of a resumed run: every event file starts with a
        ``SessionLog(START)`` at this step, so TensorBoard drops the killed run's steps >= it.
        The estimator labels of the rows already in the run's ``results.csv`` are given again
        first (`known_instances`), so a resumed run keeps its labels and a parameter set added
        later (``infoplane estimate`` of ``matrix_renyi(label_kernel=linear)`` after
        ``matrix_renyi``) gets a label of its own instead of writing into the earlier one's
        tags.
      render: ``render(table, *, estimator, split, params) -> PNG bytes`` with ``table`` an
        `infoplane.Results` of the rows of that estimator instance and split (all
        seeds); default: `infoplane.plot.information_plane` at 80 dpi.
    """

    def __init__(
        self,
        run_dir: str | os.PathLike,
        *,
        run: str | None = None,
        ceilings: Mapping[str, Mapping[str, float]] | None = None,
        hparams: Mapping[str, Any] | None = None,
        image_every: int = 10,
        image_budget: float = 0.02,
        images: bool = True,
        resume_epoch: int | None = None,
        render: Renderer | None = None,
    ):
        if isinstance(image_every, bool) or not isinstance(image_every, int | np.integer) \
                or image_every < 0:
            raise ValueError(f"image_every must be a non-negative integer, got {image_every!r}.")
        if isinstance(image_budget, bool) or not isinstance(image_budget, int | float) \
                or not 0 < image_budget <= 1:
            raise ValueError(f"image_budget must be a share of the wall time in (0, 1], got "
                             f"{image_budget!r}.")
        if resume_epoch is not None and (isinstance(resume_epoch, bool) or not isinstance(
                resume_epoch, int | np.integer) or resume_epoch < 0):
            raise ValueError(
                f"resume_epoch must be None or a non-negative integer, got {resume_epoch!r}.")
        self.run_dir = os.fspath(run_dir)
        self.run = run if run is not None else os.path.basename(os.path.normpath(self.run_dir))
        self.ceilings = {str(k): dict(v) for k, v in (ceilings or {}).items()}
        self.image_every = int(image_every)
        self.image_budget = float(image_budget)
        self._opened = time.perf_counter()
        self._image_seconds = 0.0
        self.images = bool(images)
        self.resume_epoch = None if resume_epoch is None else int(resume_epoch)
        self._render = render if render is not None else default_renderer(self.ceilings)
        self._dirs = EventDirs(self.run_dir, self.resume_epoch, self._closed_message)
        self._rows: list[dict] = []
        self._labels = EstimatorLabels()
        if self.resume_epoch is not None:
            for group in known_instances(self.run_dir):
                self._labels.assign(group)
        self._dashboard = DashboardTensors(self.ceilings)
        self._layers: dict[str, None] = {}  # layer name -> None, in order of first appearance
        self._splits: dict[str, None] = {}
        self._stats: dict[str, None] = {}
        self._layout_key: tuple | None = None
        self._new_epochs: set[int] = set()
        self._max_epoch = 0
        self._image_warned = False
        self.hparams = clean_hparams(hparams) if hparams is not None else None
        if self.hparams is not None:
            write_hparams(self._dirs.get(""), self.run, self.hparams)
            self.flush()

    def _closed_message(self) -> str:
        return (f"TensorBoardLogger({self.run_dir!r}) is closed; open a new logger "
                "(resume_epoch=...) to write more.")

    def _check_open(self) -> None:
        if self._dirs.closed:
            raise RuntimeError(self._closed_message())

    # ---- results --------------------------------------------------------------------------------

    def on_results(self, rows: Sequence[Mapping]) -> None:
        """Log result rows (keys `RESULT_KEYS`; i_xt, i_ty in ``units``, "bits" or "nats").

        Writes ``<label>/I_XT/<split>`` and ``<label>/I_TY/<split>`` (float32, step = epoch) in
        ``tb/seed<k>/<layer>/``, one dashboard tensor per (label, split, seed, epoch) in the run
        level, the custom-scalars layout when new labels or splits appear, and images every
        ``image_every`` new epochs; flushes every writer at the end.
        """
        self._check_open()
        rows = check_rows(rows, RESULT_KEYS, "on_results",
                          text=("split", "layer", "estimator", "units", "params"),
                          numbers=("i_xt", "i_ty"))
        for i, r in enumerate(rows):
            if r["units"] not in ("bits", "nats"):
                raise ValueError(f"on_results: row {i} has units={r['units']!r}; expected "
                                 f"'bits' or 'nats'. Row: {dict(r)!r}")
        if not rows:
            return
        self._labels.assign(rows)
        for r in rows:
            self._layers.setdefault(r["layer"], None)
            self._splits.setdefault(r["split"], None)
        # per layer writer: one event per (seed, layer, epoch) holding every label and split
        per_event: dict[tuple[int, str, int], list[tuple[str, float]]] = {}
        for r in rows:
            label = self._labels[(r["estimator"], r["params"])]
            per_event.setdefault((int(r["seed"]), r["layer"], int(r["epoch"])), []).extend(
                ((f"{label}/I_XT/{r['split']}", float(r["i_xt"])),
                 (f"{label}/I_TY/{r['split']}", float(r["i_ty"]))))
            self._new_epochs.add(int(r["epoch"]))
            self._max_epoch = max(self._max_epoch, int(r["epoch"]))
        # run level: one dashboard tensor per (label, split, seed, epoch)
        tensors = self._dashboard.collect(rows, self._labels, list(self._layers))
        now = time.time()
        self._write_layer_scalars(per_event, now)
        self._write_layout()
        self._dashboard.write(self._dirs.get(""), tensors, now)
        self._rows.extend(dict(r) for r in rows)
        if self.images and self.image_every and len(self._new_epochs) >= self.image_every \
                and self._image_seconds <= self.image_budget * (time.perf_counter() - self._opened):
            self._write_images()
        self.flush()

    # ---- metrics, diagnostics and auxiliary values ----------------------------------------------

    def on_metrics(self, rows: Sequence[Mapping]) -> None:
        """Log metric rows (keys `METRIC_KEYS`) as ``metrics/<name>`` in ``tb/seed<k>/``."""
        self._check_open()
        rows = check_rows(rows, METRIC_KEYS, "on_metrics", text=("name",), numbers=("value",))
        now = time.time()
        per_event: dict[tuple[int, int], list[tuple[str, float]]] = {}
        for r in rows:
            per_event.setdefault((int(r["seed"]), int(r["epoch"])), []).append(
                (f"metrics/{r['name']}", float(r["value"])))
        for (seed, epoch), values in per_event.items():
            w = self._dirs.get(f"tb/seed{seed}")
            w.add_summary(summary_pb2.Summary(value=[w.scalar_value(t, v) for t, v in values]),
                          epoch, now)
        self.flush()

    def on_diagnostics(self, rows: Sequence[Mapping]) -> None:
        """Log diagnostic rows (keys `DIAGNOSTIC_KEYS`) as ``saturation/<name>/<split>`` in
        ``tb/seed<k>/<layer>/``."""
        self._check_open()
        rows = check_rows(rows, DIAGNOSTIC_KEYS, "on_diagnostics",
                          text=("split", "layer", "name"), numbers=("value",))
        now = time.time()
        per_event: dict[tuple[int, str, int], list[tuple[str, float]]] = {}
        for r in rows:
            self._layers.setdefault(r["layer"], None)
            self._splits.setdefault(r["split"], None)
            self._stats.setdefault(r["name"], None)
            per_event.setdefault((int(r["seed"]), r["layer"], int(r["epoch"])), []).append(
                (f"saturation/{r['name']}/{r['split']}", float(r["value"])))
        self._write_layer_scalars(per_event, now)
        self.flush()

    def on_aux(self, rows: Sequence[Mapping]) -> None:
        """Log auxiliary-value rows (keys `AUX_KEYS`) as ``<label>/aux/<name>/<split>`` in
        ``tb/seed<k>/<layer>/``, next to the estimator's I_XT and I_TY, and those named in
        `DASHBOARD_AUX` (e.g. ``i_ty_null``) as dashboard aux tensors. Rows of an estimator
        not yet seen by `on_results` get their label assigned here."""
        self._check_open()
        rows = check_rows(rows, AUX_KEYS, "on_aux",
                          text=("split", "layer", "estimator", "params", "name"),
                          numbers=("value",))
        if not rows:
            return
        self._labels.assign(rows)
        now = time.time()
        per_event: dict[tuple[int, str, int], list[tuple[str, float]]] = {}
        for r in rows:
            label = self._labels[(r["estimator"], r["params"])]
            per_event.setdefault((int(r["seed"]), r["layer"], int(r["epoch"])), []).append(
                (f"{label}/aux/{r['name']}/{r['split']}", float(r["value"])))
        self._write_layer_scalars(per_event, now)
        # the values the Information plane tab draws (the null i_ty_null), in their own tags
        aux = self._dashboard.collect_aux(rows, self._labels, list(self._layers))
        self._dashboard.write(self._dirs.get(""), aux, now)
        self.flush()

    def _write_layer_scalars(self, per_event: Mapping[tuple[int, str, int], list], now: float
                             ) -> None:
        """One event per (seed, layer, epoch) holding its ``[(tag, value)]`` scalars, in the
        layer's writer ``tb/seed<k>/<layer>/`` (not flushed: the caller flushes)."""
        for (seed, layer, epoch), values in per_event.items():
            w = self._dirs.get(f"tb/seed{seed}/{self._dirs.layer_dir(layer)}")
            w.add_summary(summary_pb2.Summary(value=[w.scalar_value(t, v) for t, v in values]),
                          epoch, now)

    # ---- custom scalars layout and images -------------------------------------------------------

    def layout(self) -> layout_pb2.Layout:
        """The custom-scalars layout for the labels, splits and statistics seen so far."""
        return custom_scalars_layout(self._labels.values(), self._splits, self._stats)

    def _write_layout(self) -> None:
        key = (tuple(self._labels.values()), tuple(self._splits), tuple(self._stats))
        if key == self._layout_key:
            return
        self._layout_key = key
        # At the session's first step: a restart's START (at a later step) never purges it, and
        # TensorBoard shows the last layout written at a step.
        self._dirs.get("").add_summary(layout_summary(self.layout()), self.resume_epoch or 0)

    def _write_images(self) -> None:
        """Render and write one image per (label, split) from every row so far."""
        self._new_epochs.clear()
        t0 = time.perf_counter()
        self._image_warned = write_images(self._dirs.get(""), self._rows, self._labels,
                                          self._render, self._max_epoch, self._image_warned)
        self._image_seconds += time.perf_counter() - t0

    # ---- lifecycle ------------------------------------------------------------------------------

    def flush(self) -> None:
        """Make everything logged so far visible in the event files."""
        self._dirs.flush()

    def close(self) -> None:
        """Write a final image if results arrived since the last one, flush, close
        (idempotent)."""
        if self._dirs.closed:
            return
        try:
            if self.images and self._new_epochs:
                self._write_images()
        finally:
            self._dirs.close()

    @property
    def closed(self) -> bool:
        return self._dirs.closed

    def rows(self) -> list[dict]:
        """Every result row logged so far (copies)."""
        return [dict(r) for r in self._rows]

    def __enter__(self) -> TensorBoardLogger:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{len(self._rows)} rows"
        return f"TensorBoardLogger({self.run_dir!r}, {state})"
