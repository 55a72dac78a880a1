"""Writing TensorBoard event files without TensorFlow: `EventWriter` (one event directory) and
`EventDirs` (the event directories of one run, each starting with a restart marker).

Events are built from TensorBoard's own protos and framed as TFRecords with a CRC-32C in C
(`masked_crc32c`), written synchronously by the calling thread.
"""

from __future__ import annotations

import itertools
import os
import socket
import struct
import time
from collections.abc import Callable

from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2
from tensorboard.plugins.image import metadata as _image_metadata
from tensorboard.plugins.scalar import metadata as _scalar_metadata
from tensorboard.util import tensor_util

from infoplane.report.tensorboard.format import layer_dir_name, sha6

try:  # CRC32C in C: ~100x faster than TensorBoard's pure-Python fallback on a 300-byte event
    import google_crc32c as _crc32c

    def masked_crc32c(data: bytes) -> int:
        """TFRecord's masked CRC32C of ``data``: rotate right by 15, add 0xa282ead8."""
        c = _crc32c.value(data)
        return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF
except ImportError:  # pragma: no cover - a core dependency; same values, only slower
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c

__all__ = ["DATA_CLASS_TENSOR", "EventDirs", "EventWriter", "masked_crc32c", "png_size"]

DATA_CLASS_TENSOR = summary_pb2.DATA_CLASS_TENSOR
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_SCALAR_METADATA = _scalar_metadata.create_summary_metadata(display_name="", description="")
_SCALAR_SHAPE = tensor_shape_pb2.TensorShapeProto()
_FILE_IDS = itertools.count()


def png_size(png: bytes) -> tuple[int, int]:
    """(width, height) in pixels from a PNG's IHDR chunk."""
    if len(png) < 24 or png[:8] != _PNG_SIGNATURE or png[12:16] != b"IHDR":
        raise ValueError(
            f"image() needs PNG bytes (starting with the PNG signature and an IHDR chunk), got "
            f"{len(png)} bytes starting {bytes(png[:16])!r}."
        )
    return struct.unpack(">II", png[16:24])


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
        width, height = png_size(png)
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


class EventDirs:
    """The event directories of one run: ``run_dir`` itself (``rel=""``) and ``run_dir/rel``,
    each an `EventWriter` created at its first use, whose first event is
    ``SessionLog(START)`` at ``resume_epoch`` (0 for a new run; see
    `infoplane.report.tensorboard.format`). Layer directories are `layer_dir_name` of the
    layer name, with ``-<sha6(layer)>`` appended when two layers would share one.
    """

    def __init__(self, run_dir: str, resume_epoch: int | None,
                 closed_message: Callable[[], str]):
        self.run_dir = run_dir
        self.resume_epoch = resume_epoch
        self.writers: dict[str, EventWriter] = {}
        self._layer_dirs: dict[str, str] = {}
        self._closed_message = closed_message
        self.closed = False

    def get(self, rel: str) -> EventWriter:
        """The writer of ``run_dir/rel`` ("" = run level); its first event is a START."""
        w = self.writers.get(rel)
        if w is None:
            if self.closed:
                raise RuntimeError(self._closed_message())
            w = EventWriter(os.path.join(self.run_dir, rel) if rel else self.run_dir)
            w.session_start(self.resume_epoch or 0)
            self.writers[rel] = w
        return w

    def layer_dir(self, layer: str) -> str:
        """The directory (under ``tb/seed<k>/``) of a layer's scalars."""
        d = self._layer_dirs.get(layer)
        if d is None:
            d = layer_dir_name(layer)
            if d in self._layer_dirs.values():
                d = f"{d}-{sha6(layer)}"
            self._layer_dirs[layer] = d
        return d

    def flush(self) -> None:
        for w in self.writers.values():
            w.flush()

    def close(self) -> None:
        self.closed = True
        for w in self.writers.values():
            w.close()
