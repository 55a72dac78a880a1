"""TensorBoard event files of a run (format 1): the only module that writes them.

A `Recorder` with a run directory (and the harness, ``infoplane run``) writes event files next
to ``results.csv`` through `TensorBoardLogger`, so ``tensorboard --logdir runs`` (or
``infoplane board``) shows every run with no extra step. No TensorFlow, tensorboardX or torch
is needed: events are built from TensorBoard's own protos and written synchronously in its
record format (`EventWriter`), flushed at the end of every logger call (a killed process
loses nothing it has passed in; a crashed machine may lose what the OS had not written yet).

Layout
------
::

    runs/<name>/
      events.out.tfevents.*        run level: TB run "<name>"
                                     - information-plane images  information_plane/<label>/<split>
                                     - dashboard tensors         infoplane/<label>/<split>/seed<k>
                                     - hparams (session start info + experiment config)
                                     - custom-scalars layout     custom_scalars__config__
      tb/seed<k>/events.out.tfevents.*           TB run "<name>/tb/seed<k>": metrics
                                     - metrics/<metric name>     e.g. metrics/train_loss
      tb/seed<k>/<layer>/events.out.tfevents.*   TB run "<name>/tb/seed<k>/<layer>": per layer
                                     - <label>/I_XT/<split>      scalar, step = epoch
                                     - <label>/I_TY/<split>
                                     - saturation/<stat>/<split> activation diagnostics
                                     - <label>/aux/<name>/<split> an estimate's auxiliary
                                       scalars (e.g. kde/aux/i_xt_lower/train)

``<layer>`` is `layer_dir_name` of the layer name: every character outside ``[A-Za-z0-9._-]``
replaced by ``_`` (``"."`` and ``".."``, which would name no new directory, become ``"_"`` and
``"__"``; the empty name becomes ``"_"``). If two layers of one logger still map to the same
directory, the later one gets ``-<first 6 hex digits of sha1(layer name)>`` appended. Because
each layer is its own TensorBoard run, the scalar dashboard shows one chart per estimator,
quantity and split (e.g. ``binning/I_XT/train``) with one line per layer.

``<label>`` is `estimator_label`: the estimator's name (``binning``, ``adaptive_binning``,
``kde``, ``compressed``, ``dsmi``), or, when one logger sees two instances of the same
estimator with different parameters, ``<name>-<first 6 hex digits of sha1(params JSON)>``
(the ``params`` string of the result rows, UTF-8) for every instance of that name. Rows arrive
incrementally, so the decision is made when a name is first seen: every parameter set of that
name present in that first `TensorBoardLogger.on_results` call is counted. A parameter set of
an already-labelled name that only appears later gets the hashed label, and the earlier
set(s) keep theirs (a label never changes once written).

Steps are epochs; every event carries its wall time (seconds since the Unix epoch). Scalars
are float32 (TensorBoard's scalar format), the dashboard tensors float64.

Restarts. TensorBoard treats the first ``SessionLog(status=START)`` of a run as the start of
the run and every later one at step s as a restart: it drops the run's data at steps >= s (the
"orphaned" steps of a killed process). So the first event of every event file this module
writes is a START: at step 0 for a new run, and at ``resume_epoch`` (the first epoch recorded
after the resume) when a `Recorder(resume=True)` continues a run.

Dashboard tensors (read by the "Information plane" plugin)
------------------------------------------------------------
- tag ``infoplane/<label>/<split>/seed<k>``, step = epoch, in the run-level event file;
- tensor: float64, shape (L, 2): row i is layer i (in the order of ``layers`` below), columns
  I(X;T) and I(T;Y) in ``units``; NaN where the estimator failed on that layer (no row);
- ``SummaryMetadata``: ``plugin_data.plugin_name = "infoplane"``,
  ``data_class = DATA_CLASS_TENSOR``, ``plugin_data.content`` = UTF-8 JSON, constant per tag
  (fixed at the tag's first write)::

    {"version": 1, "estimator": "binning", "label": "binning", "split": "train", "seed": 0,
     "layers": ["layer1", "layer2"], "quantities": ["i_xt", "i_ty"], "units": "bits",
     "params": {"estimator": "binning", "n_bins": 30, "units": "bits", ...},
     "ceilings": {"i_xt": 12.0, "i_ty": 0.9999}}

  ``layers``: every layer the logger has seen (in result or diagnostic rows) up to the tag's
  first write, in order of first appearance; a layer first seen later is not in the tensor
  (a warning says so). ``params``: the rows' params JSON, parsed (non-finite numbers become
  null). ``ceilings``: H(X) and H(Y) of the probe set in ``units`` (the largest values I(X;T)
  and I(T;Y) can take; bits x ln 2 for nats), or null where unknown.

Other run-level records
-----------------------
- images: ``information_plane/<label>/<split>``, PNG, step = the latest epoch logged; rendered
  once at least ``image_every`` new distinct epochs (counted over all seeds) have arrived
  since the last image, and at `TensorBoardLogger.close` when anything arrived since;
- hparams (written at construction): the hparams plugin's experiment config (the hparams, and
  the metrics ``metrics/{train,test}_{acc,loss}`` of run ``<name>/tb/seed0``) and the session
  start info (group name = the run name), so runs compare in TensorBoard's HPARAMS tab;
- custom-scalars layout: a category per label with multiline charts ``I(X;T) <split>`` and
  ``I(T;Y) <split>`` (one line per layer), a "training" category (metrics) and a "saturation"
  category; rewritten when new labels, splits or statistics appear (TensorBoard uses the last).

Example::

    with TensorBoardLogger("runs/demo", run="demo", ceilings={"train": {"i_xt": 12.0,
                                                                        "i_ty": 1.0}}) as tb:
        tb.on_results(rows)   # result rows, see `RESULT_KEYS`
        tb.on_metrics([{"run": "demo", "seed": 0, "epoch": 0, "name": "train_acc",
                        "value": 0.5}])
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import re
import socket
import struct
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.custom_scalar import metadata as _cs_metadata
from tensorboard.plugins.image import metadata as _image_metadata
from tensorboard.plugins.scalar import metadata as _scalar_metadata
from tensorboard.util import tensor_util

from infoplane.checks import i_xt_ceiling, is_shannon

try:  # CRC32C in C: ~100x faster than TensorBoard's pure-Python fallback on a 300-byte event
    import google_crc32c as _crc32c

    def masked_crc32c(data: bytes) -> int:
        """TFRecord's masked CRC32C of ``data``: rotate right by 15, add 0xa282ead8."""
        c = _crc32c.value(data)
        return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF
except ImportError:  # pragma: no cover - a core dependency; same values, only slower
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c

__all__ = [
    "DATA_CLASS_TENSOR",
    "DIAGNOSTIC_KEYS",
    "FORMAT_VERSION",
    "HPARAM_METRICS",
    "METRIC_KEYS",
    "PLUGIN_NAME",
    "RESULT_KEYS",
    "EventWriter",
    "TensorBoardLogger",
    "dashboard_tag",
    "estimator_label",
    "json_safe",
    "layer_dir_name",
]

#: Version of the dashboard tensors' metadata content.
FORMAT_VERSION = 1
#: ``plugin_data.plugin_name`` of the dashboard tensors.
PLUGIN_NAME = "infoplane"
DATA_CLASS_TENSOR = summary_pb2.DATA_CLASS_TENSOR
#: Keys of a result row (`TensorBoardLogger.on_results`).
RESULT_KEYS = ("run", "seed", "split", "epoch", "layer", "estimator", "i_xt", "i_ty", "units",
               "params")
#: Keys of a metric row (`TensorBoardLogger.on_metrics`).
METRIC_KEYS = ("run", "seed", "epoch", "name", "value")
#: Keys of a diagnostic row (`TensorBoardLogger.on_diagnostics`).
DIAGNOSTIC_KEYS = ("run", "seed", "split", "epoch", "layer", "name", "value")
#: Keys of an auxiliary-value row (`TensorBoardLogger.on_aux`; ``aux.csv``).
AUX_KEYS = ("run", "seed", "split", "epoch", "layer", "estimator", "params", "name", "value")
#: Metric tags of the hparams experiment config, all in the group (run) ``tb/seed0``.
HPARAM_METRICS = ("metrics/train_acc", "metrics/test_acc", "metrics/train_loss",
                  "metrics/test_loss")
_HPARAM_GROUP = "tb/seed0"
#: Statistics of the saturation layout before any diagnostic row arrived.
_DEFAULT_STATS = ("saturated", "zero", "dead_units", "mean_abs")
_LN2 = math.log(2.0)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_SCALAR_METADATA = _scalar_metadata.create_summary_metadata(display_name="", description="")
_SCALAR_SHAPE = tensor_shape_pb2.TensorShapeProto()
_FILE_IDS = itertools.count()
_REGEX_SPECIAL = re.compile(r"([\\.^$*+?{}\[\]|()])")


# ---- pure helpers ------------------------------------------------------------------------------


def layer_dir_name(name: str) -> str:
    """The directory of a layer's event files: ``name`` with every character outside
    ``[A-Za-z0-9._-]`` replaced by ``_``; ``"."``/``".."``/``""`` become ``"_"``/``"__"``/``"_"``.

    >>> layer_dir_name("encoder/dense_0")
    'encoder_dense_0'
    """
    out = re.sub(r"[^A-Za-z0-9._-]", "_", str(name))
    if out in ("", ".", ".."):
        out = "_" * max(len(out), 1)
    return out


def _sha6(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:6]


def estimator_label(name: str, params: str | Mapping[str, Any], *, shared: bool) -> str:
    """The label of an estimator instance in tags: ``name``, or, when ``shared`` (several
    parameter sets of ``name`` in one run), ``<name>-<sha1(params JSON)[:6]>``.

    ``params`` is the rows' params JSON string, or a mapping (encoded with sorted keys, as the
    `Recorder` writes it).

    >>> estimator_label("binning", '{"n_bins": 30}', shared=False)
    'binning'
    """
    if not shared:
        return str(name)
    if not isinstance(params, str):
        params = json.dumps(dict(params), sort_keys=True, default=str)
    return f"{name}-{_sha6(params)}"


def dashboard_tag(label: str, split: str, seed: int) -> str:
    """The tag of a dashboard tensor: ``infoplane/<label>/<split>/seed<k>``."""
    return f"infoplane/{label}/{split}/seed{int(seed)}"


def _png_size(png: bytes) -> tuple[int, int]:
    """(width, height) in pixels from a PNG's IHDR chunk."""
    if len(png) < 24 or png[:8] != _PNG_SIGNATURE or png[12:16] != b"IHDR":
        raise ValueError(
            f"image() needs PNG bytes (starting with the PNG signature and an IHDR chunk), got "
            f"{len(png)} bytes starting {bytes(png[:16])!r}."
        )
    return struct.unpack(">II", png[16:24])


def json_safe(value: Any) -> Any:
    """``value`` with non-finite floats replaced by None, recursively through mappings, lists
    and tuples (strict JSON: the dashboard tensors' metadata and the dashboard's routes)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def _regex_literal(text: str) -> str:
    """``text`` as a regular-expression literal valid in Python and JavaScript."""
    return _REGEX_SPECIAL.sub(r"\\\1", text)


def _hparam_value(value: Any) -> bool | int | float | str | None:
    """An hparams-plugin value: bool/int/float/str as is (NumPy scalars unwrapped), None
    dropped (returned as None), anything else as its JSON text."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def _check_rows(rows: Any, keys: tuple[str, ...], what: str, text: tuple[str, ...] = (),
                numbers: tuple[str, ...] = ()) -> list[Mapping]:
    """Check rows of a logger call: every key present, seed a non-negative integer, epoch a
    finite non-negative integer (an integral float is accepted), ``text`` keys strings,
    ``numbers`` keys real numbers (NaN and inf allowed). Errors name the row."""
    if isinstance(rows, Mapping) or not isinstance(rows, Iterable):
        raise TypeError(f"{what} expects a list of row dicts, got {type(rows).__name__}.")
    rows = list(rows)
    for i, r in enumerate(rows):
        if not isinstance(r, Mapping):
            raise TypeError(f"{what}: row {i} is a {type(r).__name__}, expected a dict: {r!r}.")
        missing = [k for k in keys if k not in r]
        if missing:
            raise ValueError(
                f"{what}: row {i} lacks key(s) {missing}; every row needs {list(keys)}. "
                f"Row: {dict(r)!r}"
            )
        for k in ("seed", "epoch"):
            v = r[k]
            ok = isinstance(v, int | np.integer) and not isinstance(v, bool) and v >= 0
            if not ok and isinstance(v, float | np.floating):
                ok = math.isfinite(v) and float(v).is_integer() and v >= 0
            if not ok:
                raise ValueError(
                    f"{what}: row {i} has {k}={v!r}; {k} must be a finite non-negative integer. "
                    f"Row: {dict(r)!r}"
                )
        for k in text:
            if not isinstance(r[k], str):
                raise ValueError(
                    f"{what}: row {i} has {k}={r[k]!r}; {k} must be a string. Row: {dict(r)!r}"
                )
        for k in numbers:
            v = r[k]
            if isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating):
                raise ValueError(
                    f"{what}: row {i} has {k}={v!r}; {k} must be a real number (NaN allowed). "
                    f"Row: {dict(r)!r}"
                )
    return rows


# ---- one event directory -----------------------------------------------------------------------


class EventWriter:
    """A thin, synchronous writer of one event directory (one TensorBoard run).

    The directory and the event file (``events.out.tfevents.<time>.<host>.<pid>.<n>``, as
    TensorBoard's ``EventFileWriter`` names it, starting with the same ``brain.Event:2``
    version event) are created at the first write. Events are framed as TFRecords (length,
    masked CRC-32C of the length, data, masked CRC-32C of the data) by the calling thread: no
    writer thread per file (a run with many layers and seeds has many files), and `flush`
    makes everything written so far visible at once. Every event carries its wall time
    (seconds since the Unix epoch) and step. A tag's `SummaryMetadata` is attached to its
    first value in the file only (TensorBoard keeps the first one it reads), which keeps events
    small and fast to build.

    Args:
      logdir: the directory of the event file.
    """

    def __init__(self, logdir: str | os.PathLike):
        self.logdir = os.fspath(logdir)
        self.path: str | None = None
        self._fh = None
        self._tagged: set[str] = set()
        self._closed = False

    def _file(self):
        if self._closed:
            raise RuntimeError(
                f"EventWriter({self.logdir!r}) is closed; create a new writer to write more."
            )
        if self._fh is None:
            os.makedirs(self.logdir, exist_ok=True)
            while self._fh is None:
                name = (f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}."
                        f"{os.getpid()}.{next(_FILE_IDS)}")
                try:
                    self._fh = open(os.path.join(self.logdir, name), "xb")  # noqa: SIM115
                except FileExistsError:
                    continue
                self.path = os.path.join(self.logdir, name)
            self._write_record(event_pb2.Event(
                wall_time=time.time(), file_version="brain.Event:2",
                source_metadata=event_pb2.SourceMetadata(writer="infoplane.tensorboard"),
            ).SerializeToString())
        return self._fh

    def _write_record(self, data: bytes) -> None:
        header = struct.pack("<Q", len(data))
        self._fh.write(b"".join((header, struct.pack("<I", masked_crc32c(header)), data,
                                 struct.pack("<I", masked_crc32c(data)))))

    def _metadata(self, tag: str, make: Callable[[], summary_pb2.SummaryMetadata]):
        """The metadata to attach to ``tag``'s value: full at the tag's first write, else None."""
        if tag in self._tagged:
            return None
        self._tagged.add(tag)
        return make()

    def add_event(self, event: event_pb2.Event) -> None:
        """Write one `Event` proto as is."""
        self._file()
        self._write_record(event.SerializeToString())

    def add_summary(self, summary: summary_pb2.Summary, step: int,
                    wall_time: float | None = None) -> None:
        """Write a `Summary` proto at ``step`` (metadata as given)."""
        self.add_event(event_pb2.Event(
            wall_time=time.time() if wall_time is None else wall_time, step=int(step),
            summary=summary))

    def scalar_value(self, tag: str, value: float) -> summary_pb2.Summary.Value:
        """A float32 scalar `Summary.Value` for ``tag`` (metadata on the tag's first use)."""
        md = self._metadata(tag, lambda: _SCALAR_METADATA)
        tensor = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, tensor_shape=_SCALAR_SHAPE,
                                        float_val=(float(value),))
        if md is None:
            return summary_pb2.Summary.Value(tag=tag, tensor=tensor)
        return summary_pb2.Summary.Value(tag=tag, tensor=tensor, metadata=md)

    def scalar(self, tag: str, value: float, step: int) -> None:
        """Write a scalar (float32) at ``step``."""
        self.add_summary(summary_pb2.Summary(value=[self.scalar_value(tag, value)]), step)

    def image(self, tag: str, png: bytes, step: int) -> None:
        """Write a PNG image at ``step``; width and height (pixels) are read from the header."""
        width, height = _png_size(png)
        md = self._metadata(tag, lambda: _image_metadata.create_summary_metadata(
            display_name=tag, description="", converted_to_tensor=True))
        tensor = tensor_pb2.TensorProto(
            dtype=types_pb2.DT_STRING,
            tensor_shape=tensor_shape_pb2.TensorShapeProto(
                dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=3)]),
            string_val=[str(width).encode(), str(height).encode(), bytes(png)])
        value = summary_pb2.Summary.Value(tag=tag, tensor=tensor)
        if md is not None:
            value.metadata.CopyFrom(md)
        self.add_summary(summary_pb2.Summary(value=[value]), step)

    def tensor_value(self, tag: str, array, *, plugin_name: str, content: bytes,
                     data_class: int = DATA_CLASS_TENSOR) -> summary_pb2.Summary.Value:
        """A tensor `Summary.Value` (metadata with ``plugin_name``, ``content``, ``data_class``
        on the tag's first use)."""
        md = self._metadata(tag, lambda: summary_pb2.SummaryMetadata(
            plugin_data=summary_pb2.SummaryMetadata.PluginData(
                plugin_name=plugin_name, content=bytes(content)),
            data_class=data_class))
        value = summary_pb2.Summary.Value(tag=tag, tensor=tensor_util.make_tensor_proto(array))
        if md is not None:
            value.metadata.CopyFrom(md)
        return value

    def tensor(self, tag: str, array, step: int, *, plugin_name: str, content: bytes,
               data_class: int = DATA_CLASS_TENSOR) -> None:
        """Write a tensor (any NumPy dtype) at ``step`` for a plugin."""
        value = self.tensor_value(tag, array, plugin_name=plugin_name, content=content,
                                  data_class=data_class)
        self.add_summary(summary_pb2.Summary(value=[value]), step)

    def session_start(self, step: int) -> None:
        """Write ``SessionLog(status=START)`` at ``step``: after the run's first one,
        TensorBoard drops the run's data at steps >= ``step`` (orphaned by a restart)."""
        self.add_event(event_pb2.Event(
            wall_time=time.time(), step=int(step),
            session_log=event_pb2.SessionLog(status=event_pb2.SessionLog.START)))

    def flush(self) -> None:
        """Make everything written so far visible in the file (to the OS; no fsync)."""
        if self._fh is not None:
            self._fh.flush()

    def close(self) -> None:
        """Flush and close the file (idempotent); later writes raise RuntimeError."""
        if self._closed:
            return
        self._closed = True
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> EventWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"EventWriter({self.logdir!r}{', closed' if self._closed else ''})"


# ---- the recorder's sink -----------------------------------------------------------------------


Renderer = Callable[..., bytes]


def _default_renderer(ceilings: Mapping[str, Mapping[str, float | None]], dpi: int = 80
                      ) -> Renderer:
    """A renderer drawing `infoplane.plot.information_plane` (imported at the first image) at
    ``dpi``, with the ceilings {split: {"i_xt": H(X), "i_ty": H(Y)}} given in bits."""

    def render(table, *, estimator: str, split: str, params: str) -> bytes:
        import matplotlib.pyplot as plt  # the backend is the user's (Agg when headless)

        from infoplane import plot

        c = _ceilings_in(ceilings.get(split), "bits")
        if hasattr(plot, "Ceilings"):
            drawn = plot.Ceilings(c["i_xt"], c["i_ty"], "bits")
        else:  # {"i_xt", "i_ty"} in the table's units
            units = str(table["units"][0]) if len(table) else "bits"
            drawn = _ceilings_in(ceilings.get(split), units)
        fig, _ = plot.information_plane(table, estimator=estimator, split=split, params=params,
                                        ceilings=drawn)
        try:
            return plot.render_png(fig, dpi=dpi)
        finally:
            plt.close(fig)

    return render


def _ceilings_in(c: Mapping[str, float | None] | None, units: str) -> dict[str, float | None]:
    """Ceilings {"i_xt", "i_ty"} given in bits, in ``units`` (None where unknown)."""
    scale = _LN2 if units == "nats" else 1.0
    out: dict[str, float | None] = {}
    for q in ("i_xt", "i_ty"):
        v = None if c is None else c.get(q)
        out[q] = float(v) * scale if v is not None and math.isfinite(float(v)) else None
    return out


class TensorBoardLogger:
    """Writes a run's results, metrics and diagnostics as TensorBoard events (the recorder's
    sink): see the module docstring for the layout, tags and formats.

    Args:
      run_dir: the run directory (``runs/<name>``); event files go in it and in ``tb/``.
      run: the run's name (the hparams session group; default: the directory's name).
      ceilings: {split: {"i_xt": H(X), "i_ty": H(Y)}} in bits, for the dashboard's metadata
        and the images (`infoplane.diagnostics.ceilings`).
      hparams: the run's hyper-parameters for TensorBoard's HPARAMS tab: bool/int/float/str
        values as is, other values as JSON text, None dropped.
      image_every: render the information-plane images after this many new distinct epochs
        (over all seeds); 0: only at `close`.
      images: write information-plane images at all.
      resume_epoch: the first epoch of a resumed run: every event file starts with a
        ``SessionLog(START)`` at this step, so TensorBoard drops the killed run's steps >= it.
      render: ``render(table, *, estimator, split, params) -> PNG bytes`` with ``table`` an
        `infoplane.results.Results` of the rows of that estimator instance and split (all
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
        images: bool = True,
        resume_epoch: int | None = None,
        render: Renderer | None = None,
    ):
        if isinstance(image_every, bool) or not isinstance(image_every, int | np.integer) \
                or image_every < 0:
            raise ValueError(f"image_every must be a non-negative integer, got {image_every!r}.")
        if resume_epoch is not None and (isinstance(resume_epoch, bool) or not isinstance(
                resume_epoch, int | np.integer) or resume_epoch < 0):
            raise ValueError(
                f"resume_epoch must be None or a non-negative integer, got {resume_epoch!r}.")
        self.run_dir = os.fspath(run_dir)
        self.run = run if run is not None else os.path.basename(os.path.normpath(self.run_dir))
        self.ceilings = {str(k): dict(v) for k, v in (ceilings or {}).items()}
        self.image_every = int(image_every)
        self.images = bool(images)
        self.resume_epoch = None if resume_epoch is None else int(resume_epoch)
        self._render = render if render is not None else _default_renderer(self.ceilings)
        self._writers: dict[str, EventWriter] = {}
        self._rows: list[dict] = []
        self._labels: dict[tuple[str, str], str] = {}  # (estimator, params) -> label
        self._names_seen: set[str] = set()
        self._layers: dict[str, None] = {}  # layer name -> None, in order of first appearance
        self._layer_dirs: dict[str, str] = {}
        self._dashboard: dict[str, tuple[dict[str, int], int]] = {}  # tag -> (layer idx, L)
        self._dashboard_content: dict[str, bytes] = {}  # tag -> metadata content
        self._dropped_layers: set[tuple[str, str]] = set()
        self._layout_key: tuple | None = None
        self._splits: dict[str, None] = {}
        self._stats: dict[str, None] = {}
        self._new_epochs: set[int] = set()
        self._max_epoch = 0
        self._closed = False
        self._image_warned = False
        self.hparams = self._clean_hparams(hparams) if hparams is not None else None
        if self.hparams is not None:
            self._write_hparams()
            self.flush()

    # ---- writers --------------------------------------------------------------------------------

    def _writer(self, rel: str) -> EventWriter:
        """The writer of ``run_dir/rel`` ("" = run level); its first event is a START."""
        w = self._writers.get(rel)
        if w is None:
            if self._closed:
                raise RuntimeError(
                    f"TensorBoardLogger({self.run_dir!r}) is closed; open a new logger "
                    "(resume_epoch=...) to write more."
                )
            w = EventWriter(os.path.join(self.run_dir, rel) if rel else self.run_dir)
            w.session_start(self.resume_epoch or 0)
            self._writers[rel] = w
        return w

    def _layer_dir(self, layer: str) -> str:
        d = self._layer_dirs.get(layer)
        if d is None:
            d = layer_dir_name(layer)
            if d in self._layer_dirs.values():
                d = f"{d}-{_sha6(layer)}"
            self._layer_dirs[layer] = d
        return d

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(
                f"TensorBoardLogger({self.run_dir!r}) is closed; open a new logger "
                "(resume_epoch=...) to write more."
            )

    # ---- hparams --------------------------------------------------------------------------------

    @staticmethod
    def _clean_hparams(hparams: Mapping[str, Any]) -> dict[str, bool | int | float | str]:
        out = {}
        for k, v in dict(hparams).items():
            v = _hparam_value(v)
            if v is not None:
                out[str(k)] = v
        return out

    def _write_hparams(self) -> None:
        """The hparams plugin's experiment config and session start info, at step 0."""
        from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2
        from tensorboard.plugins.hparams import metadata as hp_metadata
        from tensorboard.plugins.hparams import summary_v2 as hp

        metrics = [hp.Metric(tag, group=_HPARAM_GROUP, dataset_type=(
            hp.Metric.TRAINING if "train" in tag else hp.Metric.VALIDATION))
            for tag in HPARAM_METRICS]
        now = time.time()
        config = hp.hparams_config_pb([hp.HParam(k) for k in sorted(self.hparams)], metrics,
                                      time_created_secs=now)
        # Declare each hparam's type (no domain: the HPARAMS tab reads one experiment config
        # for the whole logdir, and a domain taken from one run would hide the others' values).
        value = config.value[0]
        experiment = hp_metadata.parse_experiment_plugin_data(value.metadata.plugin_data.content)
        for info in experiment.hparam_infos:
            v = self.hparams[info.name]
            info.type = (api_pb2.DATA_TYPE_BOOL if isinstance(v, bool) else
                         api_pb2.DATA_TYPE_STRING if isinstance(v, str) else
                         api_pb2.DATA_TYPE_FLOAT64)
        value.metadata.CopyFrom(hp_metadata.create_summary_metadata(
            plugin_data_pb2.HParamsPluginData(experiment=experiment)))
        w = self._writer("")
        w.add_summary(config, 0)
        w.add_summary(hp.hparams_pb(self.hparams, trial_id=str(self.run), start_time_secs=now), 0)

    # ---- results --------------------------------------------------------------------------------

    def _assign_labels(self, rows: list[Mapping]) -> None:
        by_name: dict[str, dict[str, None]] = {}
        for r in rows:
            if (r["estimator"], r["params"]) not in self._labels:
                by_name.setdefault(r["estimator"], {})[r["params"]] = None
        for name, params in by_name.items():
            shared = name in self._names_seen or len(params) > 1
            for p in params:
                self._labels[(name, p)] = estimator_label(name, p, shared=shared)
            self._names_seen.add(name)

    def _content(self, row: Mapping, label: str, seed: int, layers: list[str]) -> bytes:
        try:
            params = json.loads(row["params"])
        except (TypeError, ValueError):
            params = row["params"]
        units = row["units"]
        # H(X), H(Y) bound Shannon information only (no ceilings for DSMI)
        shannon = is_shannon(row["estimator"])
        ceilings = _ceilings_in(self.ceilings.get(row["split"]) if shannon else None, units)
        if ceilings["i_xt"] is not None:  # log n for an estimator on a subsample of n
            ceilings["i_xt"] = i_xt_ceiling(ceilings["i_xt"], params, units)
        meta = {
            "version": FORMAT_VERSION, "estimator": row["estimator"], "label": label,
            "split": row["split"], "seed": seed, "layers": layers,
            "quantities": ["i_xt", "i_ty"], "units": units, "params": json_safe(params),
            "ceilings": ceilings,
        }
        return json.dumps(meta, allow_nan=False).encode("utf-8")

    def on_results(self, rows: Sequence[Mapping]) -> None:
        """Log result rows (keys `RESULT_KEYS`; i_xt, i_ty in ``units``, "bits" or "nats").

        Writes ``<label>/I_XT/<split>`` and ``<label>/I_TY/<split>`` (float32, step = epoch) in
        ``tb/seed<k>/<layer>/``, one dashboard tensor per (label, split, seed, epoch) in the run
        level, the custom-scalars layout when new labels or splits appear, and images every
        ``image_every`` new epochs; flushes every writer at the end.
        """
        self._check_open()
        rows = _check_rows(rows, RESULT_KEYS, "on_results",
                           text=("split", "layer", "estimator", "units", "params"),
                           numbers=("i_xt", "i_ty"))
        for i, r in enumerate(rows):
            if r["units"] not in ("bits", "nats"):
                raise ValueError(f"on_results: row {i} has units={r['units']!r}; expected "
                                 f"'bits' or 'nats'. Row: {dict(r)!r}")
        if not rows:
            return
        self._assign_labels(rows)
        for r in rows:
            self._layers.setdefault(r["layer"], None)
            self._splits.setdefault(r["split"], None)
        # per layer writer: one event per (seed, layer, epoch) holding every label and split
        per_event: dict[tuple[int, str, int], list[tuple[str, float]]] = {}
        # run level: one dashboard tensor per (label, split, seed, epoch)
        tensors: dict[tuple[int, str, str, int], tuple[dict[str, int], np.ndarray]] = {}
        for r in rows:
            seed, epoch = int(r["seed"]), int(r["epoch"])
            label = self._labels[(r["estimator"], r["params"])]
            split, layer = r["split"], r["layer"]
            i_xt, i_ty = float(r["i_xt"]), float(r["i_ty"])
            per_event.setdefault((seed, layer, epoch), []).extend(
                ((f"{label}/I_XT/{split}", i_xt), (f"{label}/I_TY/{split}", i_ty)))
            key = (epoch, label, split, seed)
            entry = tensors.get(key)
            if entry is None:
                index, n_layers = self._dashboard_index(r, label, seed)
                entry = tensors[key] = (index, np.full((n_layers, 2), np.nan))
            li = entry[0].get(layer)
            if li is None:
                self._warn_dropped(label, split, seed, layer)
            else:
                entry[1][li, 0] = i_xt
                entry[1][li, 1] = i_ty
            self._new_epochs.add(epoch)
            self._max_epoch = max(self._max_epoch, epoch)
        now = time.time()
        self._write_layer_scalars(per_event, now)
        self._write_layout()
        top = self._writer("")
        by_epoch: dict[int, summary_pb2.Summary] = {}
        for (epoch, label, split, seed), (_, arr) in tensors.items():
            tag = dashboard_tag(label, split, seed)
            summary = by_epoch.setdefault(epoch, summary_pb2.Summary())
            summary.value.append(top.tensor_value(tag, arr, plugin_name=PLUGIN_NAME,
                                                  content=self._dashboard_content[tag]))
        for epoch, summary in by_epoch.items():
            top.add_summary(summary, epoch, now)
        self._rows.extend(dict(r) for r in rows)
        if self.images and self.image_every and len(self._new_epochs) >= self.image_every:
            self._write_images()
        self.flush()

    def _dashboard_index(self, row: Mapping, label: str, seed: int
                         ) -> tuple[dict[str, int], int]:
        """The (layer -> row index, L) of a row's dashboard tag, fixed (with its metadata
        content) at the tag's first write."""
        tag = dashboard_tag(label, row["split"], seed)
        got = self._dashboard.get(tag)
        if got is None:
            layers = list(self._layers)
            got = self._dashboard[tag] = ({n: i for i, n in enumerate(layers)}, len(layers))
            self._dashboard_content[tag] = self._content(row, label, seed, layers)
        return got

    def _warn_dropped(self, label: str, split: str, seed: int, layer: str) -> None:
        if (dashboard_tag(label, split, seed), layer) in self._dropped_layers:
            return
        self._dropped_layers.add((dashboard_tag(label, split, seed), layer))
        warnings.warn(
            f"layer {layer!r} first appeared after the dashboard tensor "
            f"{dashboard_tag(label, split, seed)!r} was started; its layers are fixed at the "
            "first write, so this layer is only in the scalars. Log every layer from the "
            "first epoch on to include it.", RuntimeWarning, stacklevel=3)

    # ---- metrics and diagnostics ----------------------------------------------------------------

    def on_metrics(self, rows: Sequence[Mapping]) -> None:
        """Log metric rows (keys `METRIC_KEYS`) as ``metrics/<name>`` in ``tb/seed<k>/``."""
        self._check_open()
        rows = _check_rows(rows, METRIC_KEYS, "on_metrics", text=("name",), numbers=("value",))
        now = time.time()
        per_event: dict[tuple[int, int], list[tuple[str, float]]] = {}
        for r in rows:
            per_event.setdefault((int(r["seed"]), int(r["epoch"])), []).append(
                (f"metrics/{r['name']}", float(r["value"])))
        for (seed, epoch), values in per_event.items():
            w = self._writer(f"tb/seed{seed}")
            w.add_summary(summary_pb2.Summary(value=[w.scalar_value(t, v) for t, v in values]),
                          epoch, now)
        self.flush()

    def on_diagnostics(self, rows: Sequence[Mapping]) -> None:
        """Log diagnostic rows (keys `DIAGNOSTIC_KEYS`) as ``saturation/<name>/<split>`` in
        ``tb/seed<k>/<layer>/``."""
        self._check_open()
        rows = _check_rows(rows, DIAGNOSTIC_KEYS, "on_diagnostics",
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

    def _write_layer_scalars(self, per_event: Mapping[tuple[int, str, int], list], now: float
                             ) -> None:
        """One event per (seed, layer, epoch) holding its ``[(tag, value)]`` scalars, in the
        layer's writer ``tb/seed<k>/<layer>/`` (not flushed: the caller flushes)."""
        for (seed, layer, epoch), values in per_event.items():
            w = self._writer(f"tb/seed{seed}/{self._layer_dir(layer)}")
            w.add_summary(summary_pb2.Summary(value=[w.scalar_value(t, v) for t, v in values]),
                          epoch, now)

    def on_aux(self, rows: Sequence[Mapping]) -> None:
        """Log auxiliary-value rows (keys `AUX_KEYS`) as ``<label>/aux/<name>/<split>`` in
        ``tb/seed<k>/<layer>/``, next to the estimator's I_XT and I_TY. Rows of an estimator
        not yet seen by `on_results` get their label assigned here."""
        self._check_open()
        rows = _check_rows(rows, AUX_KEYS, "on_aux",
                           text=("split", "layer", "estimator", "params", "name"),
                           numbers=("value",))
        if not rows:
            return
        self._assign_labels(rows)
        now = time.time()
        per_event: dict[tuple[int, str, int], list[tuple[str, float]]] = {}
        for r in rows:
            label = self._labels[(r["estimator"], r["params"])]
            per_event.setdefault((int(r["seed"]), r["layer"], int(r["epoch"])), []).append(
                (f"{label}/aux/{r['name']}/{r['split']}", float(r["value"])))
        self._write_layer_scalars(per_event, now)
        self.flush()

    # ---- custom scalars layout ------------------------------------------------------------------

    def layout(self) -> layout_pb2.Layout:
        """The custom-scalars layout for the labels, splits and statistics seen so far."""
        C, Chart, Multi = layout_pb2.Category, layout_pb2.Chart, layout_pb2.MultilineChartContent
        categories = []
        for label in dict.fromkeys(self._labels.values()):
            lab = _regex_literal(label)
            charts = []
            for split in self._splits:
                sp = _regex_literal(split)
                charts.append(Chart(title=f"I(X;T) {split}",
                                    multiline=Multi(tag=[f"^{lab}/I_XT/{sp}$"])))
                charts.append(Chart(title=f"I(T;Y) {split}",
                                    multiline=Multi(tag=[f"^{lab}/I_TY/{sp}$"])))
            categories.append(C(title=label, chart=charts))
        categories.append(C(title="training", chart=[
            Chart(title="accuracy", multiline=Multi(tag=[r"^metrics/.*acc"])),
            Chart(title="loss", multiline=Multi(tag=[r"^metrics/.*loss"])),
            Chart(title="all metrics", multiline=Multi(tag=[r"^metrics/"]))]))
        categories.append(C(title="saturation", chart=[
            Chart(title=f"{stat} {split}", multiline=Multi(
                tag=[f"^saturation/{_regex_literal(stat)}/{_regex_literal(split)}$"]))
            for stat in (self._stats or dict.fromkeys(_DEFAULT_STATS)) for split in self._splits]))
        return layout_pb2.Layout(category=categories)

    def _write_layout(self) -> None:
        key = (tuple(self._labels.values()), tuple(self._splits), tuple(self._stats))
        if key == self._layout_key:
            return
        self._layout_key = key
        tensor = tensor_util.make_tensor_proto(self.layout().SerializeToString(),
                                               dtype=np.object_)
        summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(
            tag=_cs_metadata.CONFIG_SUMMARY_TAG, tensor=tensor,
            metadata=_cs_metadata.create_summary_metadata())])
        # At the session's first step: a restart's START (at a later step) never purges it, and
        # TensorBoard shows the last layout written at a step.
        self._writer("").add_summary(summary, self.resume_epoch or 0)

    # ---- images ---------------------------------------------------------------------------------

    def _write_images(self) -> None:
        """Render and write one image per (label, split) from every row so far."""
        from infoplane.results import Results

        self._new_epochs.clear()
        groups: dict[tuple[str, str, str], list[dict]] = {}
        for r in self._rows:
            groups.setdefault((r["estimator"], r["params"], r["split"]), []).append(r)
        top = self._writer("")
        for (name, params, split), rows in groups.items():
            label = self._labels[(name, params)]
            try:
                png = self._render(Results.from_rows(rows), estimator=name, split=split,
                                   params=params)
                top.image(f"information_plane/{label}/{split}", png, self._max_epoch)
            except Exception as err:  # noqa: BLE001 - a figure must never stop training
                if not self._image_warned:
                    self._image_warned = True
                    warnings.warn(
                        f"TensorBoard information-plane image {label}/{split} could not be "
                        f"rendered ({type(err).__name__}: {err}); scalars and dashboard tensors "
                        "are still written. Pass images=False to skip images.",
                        RuntimeWarning, stacklevel=3)

    # ---- lifecycle ------------------------------------------------------------------------------

    def flush(self) -> None:
        """Make everything logged so far visible in the event files."""
        for w in self._writers.values():
            w.flush()

    def close(self) -> None:
        """Write a final image if results arrived since the last one, flush, close
        (idempotent)."""
        if self._closed:
            return
        try:
            if self.images and self._new_epochs:
                self._write_images()
        finally:
            self._closed = True
            for w in self._writers.values():
                w.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def rows(self) -> list[dict]:
        """Every result row logged so far (copies)."""
        return [dict(r) for r in self._rows]

    def __enter__(self) -> TensorBoardLogger:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self._rows)} rows"
        return f"TensorBoardLogger({self.run_dir!r}, {state})"
