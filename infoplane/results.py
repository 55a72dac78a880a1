"""File I/O of a run directory: the results table and the opt-in activation store.

This module holds the side effects of a run (files); nothing here computes information.

A run directory ``runs/<name>/`` is a stable contract::

    runs/<name>/
      config.json             every option of the run (written by `infoplane.cli`)
      metrics.csv             run, seed, epoch, name, value (accuracy, loss, ...)
      diagnostics.csv         run, seed, split, epoch, layer, name, value (saturation, ...)
      aux.csv                 run, seed, split, epoch, layer, estimator, params, name, value:
                              every scalar an estimate reports besides i_xt and i_ty (the
                              other KDE bound, H(T), state counts, DSE, autoencoder error, ...)
      events.out.tfevents.*   TensorBoard event files (`infoplane.tensorboard`), also in tb/
      checkpoints/            orbax checkpoints of the training state (`infoplane run --resume`)
      results.csv             one row per (seed, split, epoch, layer, estimator): see below
      activations/            optional (`ActivationStore`): recorded layers, for re-estimation
        probe-<split>.npz           x (float32, shape as given), y (int64, (N,))
        <split>/seed<seed>/epoch<epoch:07d>.npz    one array per layer, see below
      pending/                while a `Recorder` buffers epochs (write-ahead): each buffered
        <split>/seed<seed>/epoch<epoch:07d>.npz    epoch's layers, as in activations/; deleted
                              once its rows are written, estimated on resume after a kill

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

Activation files (``.npz``, uncompressed unless ``ActivationStore(compress=True)``):

- ``__layers__``: 1-D unicode array of the layer names, in layer order (any characters,
  ``.`` and ``#`` included);
- ``layer_0``, ``layer_1``, ...: the arrays of those layers, as given: (N, d) or (N, H, W, C);
- ``__meta__``: 0-d unicode array, a JSON object {"format": 1, "seed", "split", "epoch"}.

Every activation file is written to a temporary file in the same directory and moved into
place with ``os.replace``, so a killed run never leaves a half-written file under a final name.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import operator
import os
import re
import tempfile
import types
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "RESULT_COLUMNS",
    "ActivationStore",
    "Results",
    "ResultsFileWarning",
    "ResultsWriter",
    "concat",
    "load_results",
    "truncate_results",
    "load_metrics",
    "write_json",
    "MetricsWriter",
    "METRIC_COLUMNS",
    "DIAGNOSTIC_COLUMNS",
    "DiagnosticsWriter",
    "load_diagnostics",
    "AUX_COLUMNS",
    "AuxWriter",
    "load_aux",
]

RESULT_COLUMNS = (
    "run",
    "seed",
    "split",
    "epoch",
    "layer",
    "estimator",
    "i_xt",
    "i_ty",
    "units",
    "params",
)
#: Columns of ``metrics.csv`` (scalars such as accuracy and loss, one row per value).
METRIC_COLUMNS = ("run", "seed", "epoch", "name", "value")
#: Columns of ``diagnostics.csv`` (per-layer activation statistics, `infoplane.diagnostics`).
DIAGNOSTIC_COLUMNS = ("run", "seed", "split", "epoch", "layer", "name", "value")
#: Columns of ``aux.csv``: an estimate's auxiliary scalars (`Estimate.aux`), one row per value,
#: keyed like results.csv by (run, seed, split, epoch, layer, estimator, params).
AUX_COLUMNS = ("run", "seed", "split", "epoch", "layer", "estimator", "params", "name", "value")
_FORMATS = (RESULT_COLUMNS, METRIC_COLUMNS, DIAGNOSTIC_COLUMNS, AUX_COLUMNS)
#: Columns that identify a row; `load_results` keeps the last row of each key.
KEY_COLUMNS = ("run", "seed", "split", "epoch", "layer", "estimator", "params")
RESULTS_FILE = "results.csv"
ACTIVATIONS_DIR = "activations"
#: The `Recorder`'s write-ahead log: buffered epochs' activations, deleted once estimated.
PENDING_DIR = "pending"
_INT_COLUMNS = ("seed", "epoch")
_FLOAT_COLUMNS = ("i_xt", "i_ty", "value")
_RUN_DIR_HELP = (
    "a run directory (runs/<name>/, written by `infoplane run`) holds config.json, "
    "results.csv, metrics.csv, checkpoints/ and optionally activations/"
)


class ResultsFileWarning(UserWarning):
    """A results file had lines that could not be read (dropped) or duplicate keys."""


# --------------------------------------------------------------------------------------------
# results.csv: writing
# --------------------------------------------------------------------------------------------


def _results_path(path: str | os.PathLike) -> str:
    """``path`` itself, or ``path/results.csv`` when ``path`` is a directory."""
    path = os.fspath(path)
    return os.path.join(path, RESULTS_FILE) if os.path.isdir(path) else path


def _fsync_dir(directory: str) -> None:
    """Make a rename or a new file in ``directory`` durable (best effort; POSIX only)."""
    try:
        fd = os.open(directory or ".", os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _atomic_write(path: str, write: Callable[[Any], None], durable: bool = True) -> None:
    """Call ``write(binary_file)`` on a temporary file next to ``path``, fsync it, move it over
    ``path`` with ``os.replace`` and fsync the directory: a crash leaves the old file or the
    new one, never half of one, and no temporary file.

    ``durable=False`` skips both fsyncs: still atomic, and a killed process (even by SIGKILL)
    loses nothing (the kernel keeps the written pages), but a power loss may lose the file.
    """
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    if durable:
        _fsync_dir(directory)


def _format_params(value: Any) -> str:
    if isinstance(value, Mapping):
        return json.dumps(dict(value), sort_keys=True)
    if not isinstance(value, str):
        raise TypeError(f"params must be a JSON string or a mapping, got {type(value).__name__}")
    return value


def _format_row(row: Mapping, index: int, columns: tuple = RESULT_COLUMNS) -> list[str]:
    """The CSV fields of one row, in ``columns`` order; errors name the row's index."""
    if not isinstance(row, Mapping):
        raise TypeError(f"row {index}: expected a mapping, got {type(row).__name__}")
    missing = [c for c in columns if c not in row]
    if missing:
        raise ValueError(
            f"row {index} lacks column(s) {missing}; a row needs {list(columns)}"
        )
    extra = [c for c in row if c not in columns]
    if extra:
        raise ValueError(
            f"row {index} has unknown column(s) {extra}; columns are {list(columns)}"
        )
    fields = []
    for c in columns:
        v = row[c]
        try:
            if c in _INT_COLUMNS:
                fields.append(str(operator.index(v)))
            elif c in _FLOAT_COLUMNS:
                fields.append(repr(float(v)))
            elif c == "params":
                fields.append(_format_params(v))
            else:
                fields.append(str(v))
        except (TypeError, ValueError) as err:
            raise type(err)(f"row {index}, column {c!r}: bad value {v!r} ({err})") from None
    return fields


def _format_lines(rows: Iterable[Sequence[str]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerows(rows)
    return buf.getvalue()


class ResultsWriter:
    """Appends result rows to ``results.csv``, durably.

    ``path``: the CSV file, or a run directory (then ``<path>/results.csv``); its directory
    must exist. The header `RESULT_COLUMNS` is written only when the file is new or empty; an
    existing file with another header raises `ValueError`. A partial last line left by a
    killed writer is cut off (with a `ResultsFileWarning`) before anything is appended.

    ``write(rows)`` checks every row first (each needs exactly the columns `RESULT_COLUMNS`;
    ``params`` may be a JSON string or a mapping), then appends them in one write, flushes and
    ``os.fsync``s, so a process killed afterwards (even by SIGKILL) loses none of them.

    Use as a context manager, or call `close`::

        with ResultsWriter(run_dir) as w:
            w.write(rows)
    """

    def __init__(self, path: str | os.PathLike, columns: tuple[str, ...] = RESULT_COLUMNS):
        self.path = _results_path(path)
        self.columns = tuple(columns)
        self.rows_written = 0
        self._file = open(self.path, "a+b")  # closed in close()
        try:
            self._prepare()
        except BaseException:
            self._file.close()
            raise

    def _prepare(self) -> None:
        f = self._file
        f.seek(0)
        content = f.read()
        if not content:
            f.write(_format_lines([self.columns]).encode())
            self._sync()
            _fsync_dir(os.path.dirname(self.path))
            return
        if not content.endswith(b"\n"):
            cut = content.rfind(b"\n") + 1
            warnings.warn(
                f"{self.path}: cutting off a partially written last line "
                f"({len(content) - cut} bytes, left by a killed writer) before appending",
                ResultsFileWarning,
                stacklevel=3,
            )
            f.truncate(cut)
            if cut == 0:
                f.write(_format_lines([self.columns]).encode())
            self._sync()
            if cut == 0:
                return
        header_line = content.split(b"\n", 1)[0].decode("utf-8", errors="replace")
        header = tuple(next(csv.reader([header_line]), []))
        if header != self.columns:
            raise ValueError(
                f"{self.path} has header {list(header)}, expected {list(self.columns)}; "
                "refusing to append rows of another format (use a new file or run directory)"
            )

    def _sync(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())

    @property
    def closed(self) -> bool:
        return self._file.closed

    def write(self, rows: Iterable[Mapping]) -> int:
        """Append ``rows`` (mappings with the columns `RESULT_COLUMNS`), flush and fsync.

        All rows are checked before anything is written, so a bad row writes nothing.
        Returns the number of rows written.
        """
        if self._file.closed:
            raise ValueError(f"ResultsWriter({self.path!r}) is closed")
        lines = [_format_row(r, i, self.columns) for i, r in enumerate(rows)]
        if not lines:
            return 0
        self._file.seek(0, os.SEEK_END)
        self._file.write(_format_lines(lines).encode())
        self._sync()
        self.rows_written += len(lines)
        return len(lines)

    def close(self) -> None:
        """Flush, fsync and close the file (idempotent)."""
        if not self._file.closed:
            try:
                self._sync()
            finally:
                self._file.close()

    def __enter__(self) -> ResultsWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"ResultsWriter({self.path!r}, {state}, {self.rows_written} rows written)"


# --------------------------------------------------------------------------------------------
# results.csv: reading and truncating
# --------------------------------------------------------------------------------------------


def _parse_fields(fields: list[str], columns: tuple = RESULT_COLUMNS) -> dict[str, Any]:
    row: dict[str, Any] = dict(zip(columns, fields, strict=True))
    for c in _INT_COLUMNS:
        if c in row:
            row[c] = int(row[c])
    for c in _FLOAT_COLUMNS:
        if c in row:
            row[c] = float(row[c])
    return row


def _read_records(
    path: str, formats: tuple = (RESULT_COLUMNS,)
) -> tuple[list[tuple[list[str], dict]], list[str], tuple]:
    """Read ``path``: ([(raw fields, typed row)], [problems]); bad lines are skipped.

    A problem is a partial last line (no trailing newline) or a line with the wrong number of
    fields or an unreadable seed/epoch/i_xt/i_ty; the header must be `RESULT_COLUMNS`.
    """
    with open(path, "rb") as f:
        content = f.read()
    problems: list[str] = []
    if content and not content.endswith(b"\n"):
        cut = content.rfind(b"\n") + 1
        problems.append(f"a partially written last line ({len(content) - cut} bytes)")
        content = content[:cut]
    text = content.decode("utf-8", errors="replace")
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        return [], problems, formats[0]
    columns = tuple(header)
    if columns not in formats:
        raise ValueError(
            f"{path} is not a results file: header {header}, expected {list(formats[0])}"
        )
    records = []
    for fields in reader:
        if not fields:
            continue
        line = reader.line_num
        if len(fields) != len(columns):
            problems.append(f"line {line}: {len(fields)} fields instead of {len(columns)}")
            continue
        try:
            records.append((fields, _parse_fields(fields, columns)))
        except ValueError as err:
            problems.append(f"line {line}: {err}")
    return records, problems, columns


def _warn_problems(path: str, problems: list[str], stacklevel: int) -> None:
    if problems:
        shown = "; ".join(problems[:5]) + ("; ..." if len(problems) > 5 else "")
        warnings.warn(
            f"{path}: dropped {len(problems)} unreadable line(s) (a killed writer?): {shown}",
            ResultsFileWarning,
            stacklevel=stacklevel + 1,
        )


def truncate_results(path: str | os.PathLike, keep: Callable[[dict], bool]) -> int:
    """Rewrite a results file atomically, keeping the rows for which ``keep(row)`` is true.

    ``path``: the CSV file or a run directory. ``keep`` gets each row as a dict with typed
    values (seed/epoch int, i_xt/i_ty float, others str), e.g.
    ``lambda r: r["epoch"] <= last_checkpoint_epoch`` when resuming. Kept rows are written back
    unchanged (same text), unreadable lines (e.g. a partial last line) are dropped. The new
    file is written to a temporary file in the same directory, fsync'd and moved over the old
    one with ``os.replace``: a crash leaves either the old or the new file. Close any
    `ResultsWriter` on the file first. Returns the number of rows kept.
    """
    path = _results_path(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no results file at {path!r}; {_RUN_DIR_HELP}")
    records, _problems, columns = _read_records(path, _FORMATS)
    kept = [fields for fields, row in records if keep(dict(row))]
    text = _format_lines([columns, *kept]).encode()
    _atomic_write(path, lambda f: f.write(text))
    return len(kept)


# --------------------------------------------------------------------------------------------
# The results table
# --------------------------------------------------------------------------------------------


def _column_array(column: str, values: Any) -> np.ndarray:
    """A read-only 1-D copy of ``values`` with the dtype of ``column``."""
    if column in _INT_COLUMNS:
        arr = np.asarray(values)
        if arr.size and arr.dtype.kind not in "iub":
            if arr.dtype.kind == "f" and np.all(arr == np.round(arr)):
                arr = arr.astype(np.int64)
            else:
                arr = np.asarray([operator.index(v) for v in arr.ravel()], dtype=np.int64)
        arr = np.array(arr, dtype=np.int64)
    elif column in _FLOAT_COLUMNS:
        arr = np.array(values, dtype=np.float64)
    else:
        if column == "params":
            vals = [_format_params(v) for v in values]
        else:
            vals = [str(v) for v in values]
        arr = np.empty(len(vals), dtype=object)
        arr[:] = vals
    if arr.ndim != 1:
        raise ValueError(f"column {column!r} must be 1-D, got shape {arr.shape}")
    arr.setflags(write=False)
    return arr


def _fmt_values(values: Sequence) -> str:
    return ", ".join(repr(v) for v in values)


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Results:
    """The results table: one 1-D NumPy array per column of `RESULT_COLUMNS`, all of length n.

    dtypes: seed, epoch int64; i_xt, i_ty float64; run, split, layer, estimator, units, params
    object arrays of str (params: JSON). The arrays are read-only copies. Build one with
    `load_results`, `Results.from_rows` or `concat`; ``Results(data)`` takes a mapping
    column -> values.

    Example::

        res = load_results("runs/tishby-tanh-20250101-120000")
        epochs, i_xt, i_ty = res.series(estimator="binning", layer="layer5")
        res.where(estimator=["kde", "binning"], layer="layer1").rows()
    """

    data: Mapping[str, np.ndarray]

    def __post_init__(self):
        missing = [c for c in RESULT_COLUMNS if c not in self.data]
        extra = [c for c in self.data if c not in RESULT_COLUMNS]
        if missing or extra:
            raise ValueError(
                f"Results needs exactly the columns {list(RESULT_COLUMNS)}; "
                f"missing {missing}, unknown {extra}"
            )
        cols = {c: _column_array(c, self.data[c]) for c in RESULT_COLUMNS}
        lengths = {c: len(a) for c, a in cols.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"Results columns differ in length: {lengths}")
        object.__setattr__(self, "data", types.MappingProxyType(cols))

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def empty(cls) -> Results:
        """A table with no rows."""
        return cls({c: [] for c in RESULT_COLUMNS})

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping]) -> Results:
        """A table from mappings with (at least) the columns `RESULT_COLUMNS`.

        ``params`` may be a JSON string or a mapping (encoded with sorted keys).
        """
        rows = list(rows)
        for i, r in enumerate(rows):
            missing = [c for c in RESULT_COLUMNS if c not in r]
            if missing:
                raise ValueError(
                    f"row {i} lacks column(s) {missing}; a result row needs {list(RESULT_COLUMNS)}"
                )
        return cls({c: [r[c] for r in rows] for c in RESULT_COLUMNS})

    def _take(self, index: np.ndarray) -> Results:
        return Results({c: a[index] for c, a in self.data.items()})

    # -- access ------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.data["epoch"])

    @property
    def columns(self) -> tuple[str, ...]:
        """The column names, `RESULT_COLUMNS`."""
        return tuple(self.data)

    def __getitem__(self, column: str) -> np.ndarray:
        """The (n,) read-only array of ``column``."""
        try:
            return self.data[column]
        except KeyError:
            raise KeyError(f"no column {column!r}; columns are {list(RESULT_COLUMNS)}") from None

    def _mask(self, column: str, value: Any) -> np.ndarray:
        arr = self[column]
        values = (
            list(value)
            if isinstance(value, list | tuple | set | frozenset | np.ndarray)
            else [value]
        )
        mask = np.zeros(len(arr), dtype=bool)
        for v in values:
            if column == "params" and isinstance(v, Mapping):
                v = _format_params(v)
            elif arr.dtype == object and not isinstance(v, str):
                v = str(v)
            mask |= np.asarray(arr == v, dtype=bool)
        return mask

    def where(self, **equals: Any) -> Results:
        """The rows whose columns equal the given values, e.g.
        ``where(estimator="binning", layer="layer1")``. A list, tuple or set means "any of":
        ``where(layer=["layer1", "layer2"])``. ``params`` may also be given as a dict.
        """
        mask = np.ones(len(self), dtype=bool)
        for column, value in equals.items():
            if column not in self.data:
                raise ValueError(f"where(): no column {column!r}; columns are {self.columns}")
            mask &= self._mask(column, value)
        return self._take(np.flatnonzero(mask))

    def unique(self, column: str) -> list:
        """The distinct values of ``column`` in order of first appearance (Python scalars)."""
        return list(dict.fromkeys(self[column].tolist()))

    def series(
        self,
        *,
        estimator: str,
        layer: str,
        split: str | None = None,
        seed: int | None = None,
        run: str | None = None,
        params: str | Mapping | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The trajectory of one layer under one estimator: ``(epochs, i_xt, i_ty)``, each (E,),
        sorted by epoch (int64, float64, float64).

        The selection must be one curve: when several runs, seeds, splits or parameter sets
        match and the corresponding argument was not given, a `ValueError` lists the values
        that exist; so does an empty selection, and so does an epoch that appears twice.
        """
        given = {"run": run, "seed": seed, "split": split, "params": params}
        sel = self.where(estimator=estimator, layer=layer)
        call = f"series(estimator={estimator!r}, layer={layer!r})"
        if not len(sel):
            raise ValueError(
                f"{call}: no rows; estimators: {_fmt_values(self.unique('estimator'))}; "
                f"layers: {_fmt_values(self.unique('layer'))}"
            )
        for column, value in given.items():
            if value is None:
                continue
            narrowed = sel.where(**{column: value})
            if not len(narrowed):
                raise ValueError(
                    f"{call}: no rows with {column}={value!r}; values that exist: "
                    f"{_fmt_values(sel.unique(column))}"
                )
            sel = narrowed
        ambiguous = [
            f"{len(sel.unique(c))} {c} values ({_fmt_values(sel.unique(c))}); pass {c}=..."
            for c in ("run", "seed", "split", "params")
            if len(sel.unique(c)) > 1
        ]
        if ambiguous:
            raise ValueError(f"{call} is ambiguous: " + "; ".join(ambiguous))
        epochs = sel["epoch"]
        order = np.argsort(epochs, kind="stable")
        epochs = epochs[order]
        if len(epochs) > 1 and np.any(epochs[1:] == epochs[:-1]):
            dup = sorted({int(e) for e in epochs[1:][epochs[1:] == epochs[:-1]]})
            raise ValueError(f"{call}: epoch(s) {dup} appear more than once")
        return (
            np.array(epochs),
            np.array(sel["i_xt"][order]),
            np.array(sel["i_ty"][order]),
        )

    def rows(self) -> list[dict]:
        """The rows as dicts of Python scalars (seed/epoch int, i_xt/i_ty float, others str)."""
        cols = {c: a.tolist() for c, a in self.data.items()}
        return [dict(zip(cols, vals, strict=True)) for vals in zip(*cols.values(), strict=True)]

    def params(self, estimator: str) -> dict:
        """The decoded ``params`` JSON of ``estimator``; `ValueError` if it has none or several
        (then select one with ``where(params=...)``)."""
        found = self.where(estimator=estimator).unique("params")
        if not found:
            raise ValueError(
                f"no rows with estimator {estimator!r}; estimators: "
                f"{_fmt_values(self.unique('estimator'))}"
            )
        if len(found) > 1:
            raise ValueError(
                f"estimator {estimator!r} has {len(found)} parameter sets: {'; '.join(found)}; "
                "select one with where(params=...)"
            )
        return json.loads(found[0])

    def to_pandas(self):
        """A ``pandas.DataFrame`` of the table (pandas is optional: ImportError without it)."""
        try:
            import pandas as pd
        except ImportError as err:
            raise ImportError(
                "Results.to_pandas() needs pandas, which is an optional dependency of "
                "infoplane: pip install pandas (everything else works with NumPy only)"
            ) from err
        return pd.DataFrame({c: np.array(a) for c, a in self.data.items()})

    def __repr__(self) -> str:
        n = len(self)
        if not n:
            return "Results(0 rows)"
        epochs = self["epoch"]
        return (
            f"Results({n} rows; runs: {_fmt_values(self.unique('run'))}; "
            f"estimators: {_fmt_values(self.unique('estimator'))}; "
            f"layers: {_fmt_values(self.unique('layer'))}; "
            f"epochs {int(epochs.min())}..{int(epochs.max())})"
        )


def concat(results: Iterable[Results]) -> Results:
    """One table with the rows of every table of ``results``, in order."""
    results = list(results)
    if not results:
        return Results.empty()
    return Results({c: np.concatenate([r[c] for r in results]) for c in RESULT_COLUMNS})


def _drop_duplicates(res: Results, path: str, stacklevel: int) -> Results:
    """Keep the last row of each key (`KEY_COLUMNS`), warning when any are dropped."""
    last: dict[tuple, int] = {}
    cols = [res[c].tolist() for c in KEY_COLUMNS]
    for i, key in enumerate(zip(*cols, strict=True)):
        last[key] = i
    if len(last) == len(res):
        return res
    keep = np.array(sorted(last.values()), dtype=np.int64)
    warnings.warn(
        f"{path}: {len(res) - len(keep)} row(s) repeat the key {KEY_COLUMNS} of a later row "
        "(a resumed run?); keeping the last of each",
        ResultsFileWarning,
        stacklevel=stacklevel + 1,
    )
    return res._take(keep)


def load_results(run_dir_or_csv: str | os.PathLike) -> Results:
    """Read a run's results: ``run_dir_or_csv`` is a run directory (``<dir>/results.csv``) or
    the path of a results CSV.

    Unreadable lines (a partial last line left by a killed writer) are dropped with a
    `ResultsFileWarning`; so are earlier rows whose key (`KEY_COLUMNS`) repeats in a later row.
    """
    path = os.fspath(run_dir_or_csv)
    if os.path.isdir(path):
        path = os.path.join(path, RESULTS_FILE)
        if not os.path.exists(path):
            raise FileNotFoundError(
                f"no {RESULTS_FILE} in run directory {os.path.dirname(path)!r} (looked for "
                f"{path!r}); {_RUN_DIR_HELP}"
            )
    elif not os.path.exists(path):
        raise FileNotFoundError(
            f"no such run directory or results file: {path!r}; expected a run directory or "
            f"the path of its {RESULTS_FILE}; {_RUN_DIR_HELP}"
        )
    records, problems, _ = _read_records(path)
    _warn_problems(path, problems, stacklevel=2)
    rows = [row for _fields, row in records]
    res = Results.from_rows(rows) if rows else Results.empty()
    return _drop_duplicates(res, path, stacklevel=2)


# --------------------------------------------------------------------------------------------
# Activation store
# --------------------------------------------------------------------------------------------

_EPOCH_RE = re.compile(r"^epoch(\d+)\.npz$")
_SEED_RE = re.compile(r"^seed(-?\d+)$")
_PROBE_RE = re.compile(r"^probe-(.+)\.npz$")
_FORMAT = 1


def _check_split(split: Any) -> str:
    if (
        not isinstance(split, str)
        or not split
        or split in (".", "..")
        or "/" in split
        or os.sep in split
        or split.startswith(".")
    ):
        raise ValueError(f"split must be a plain name (no path separators), got {split!r}")
    return split


def _atomic_savez(path: str, arrays: Mapping[str, np.ndarray], compress: bool,
                  durable: bool = True) -> None:
    """Write an .npz atomically (see `_atomic_write`), creating its directory."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    _atomic_write(path, lambda f: (np.savez_compressed if compress else np.savez)(f, **arrays),
                  durable)


class ActivationStore:
    """Recorded layer activations of a run, one ``.npz`` per (split, seed, epoch), under
    ``<run_dir>/activations/`` (format: see the module docstring), so that a finished run can
    be re-estimated with other estimators later.

    ``compress``: write with ``np.savez_compressed`` (slower; tanh activations compress
    little). Files are written atomically; writing an existing epoch again replaces it.
    ``subdir``: the directory under ``run_dir`` (`ACTIVATIONS_DIR`; the `Recorder`'s
    write-ahead log uses `PENDING_DIR`, same format). ``durable``: fsync every file and its
    directory (False: atomic and safe against a killed process, not against a power loss).
    """

    def __init__(self, run_dir: str | os.PathLike, *, compress: bool = False,
                 subdir: str = ACTIVATIONS_DIR, durable: bool = True):
        self.run_dir = os.fspath(run_dir)
        if not isinstance(subdir, str) or not subdir or os.path.isabs(subdir):
            raise ValueError(f"subdir must be a relative directory name, got {subdir!r}")
        self.root = os.path.join(self.run_dir, subdir)
        self.compress = bool(compress)
        self.durable = bool(durable)

    def __repr__(self) -> str:
        return f"ActivationStore({self.run_dir!r})"

    # -- paths -------------------------------------------------------------------------------

    def probe_path(self, split: str) -> str:
        return os.path.join(self.root, f"probe-{_check_split(split)}.npz")

    def _seed_dir(self, split: str, seed: int) -> str:
        return os.path.join(self.root, _check_split(split), f"seed{operator.index(seed)}")

    def path(self, seed: int, split: str, epoch: int) -> str:
        """The file of one recorded epoch."""
        epoch = operator.index(epoch)
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        return os.path.join(self._seed_dir(split, seed), f"epoch{epoch:07d}.npz")

    # -- writing -----------------------------------------------------------------------------

    def write_probe(self, split: str, x, y) -> str:
        """Store the probe set of ``split``: x (N, ...) as float32, y (N,) integer labels.
        Returns the file's path."""
        x = np.asarray(x, dtype=np.float32)
        y = np.asarray(y)
        if y.ndim != 1 or x.ndim < 1 or len(x) != len(y):
            raise ValueError(f"probe: need x (N, ...) and y (N,), got {x.shape} and {y.shape}")
        if y.dtype.kind not in "iub":
            if y.dtype.kind != "f" or not np.all(y == np.round(y)):
                raise ValueError(f"probe: y must hold integer labels, got dtype {y.dtype}")
        path = self.probe_path(split)
        _atomic_savez(path, {"x": x, "y": y.astype(np.int64)}, self.compress, self.durable)
        return path

    def write(self, seed: int, split: str, epoch: int, acts: Mapping[str, Any]) -> str:
        """Store the activations of one recorded epoch: ``acts`` maps layer name -> array
        (N, d) or (N, ...), in layer order. Arrays are stored with their dtype. Returns the
        file's path."""
        path = self.path(seed, split, epoch)
        if not isinstance(acts, Mapping) or not acts:
            raise ValueError("acts must be a non-empty mapping layer name -> array")
        names = list(acts)
        for name in names:
            if not isinstance(name, str) or not name:
                raise ValueError(f"layer names must be non-empty strings, got {name!r}")
        arrays = {f"layer_{i}": np.asarray(acts[name]) for i, name in enumerate(names)}
        meta = {"format": _FORMAT, "seed": int(seed), "split": split, "epoch": int(epoch)}
        arrays["__layers__"] = np.array(names, dtype=str)
        arrays["__meta__"] = np.array(json.dumps(meta))
        _atomic_savez(path, arrays, self.compress, self.durable)
        return path

    # -- listing -----------------------------------------------------------------------------

    def splits(self) -> list[str]:
        """The splits with recorded epochs or a probe set, sorted."""
        if not os.path.isdir(self.root):
            return []
        found = set()
        for entry in os.listdir(self.root):
            full = os.path.join(self.root, entry)
            if os.path.isdir(full) and not entry.startswith("."):
                found.add(entry)
            elif (m := _PROBE_RE.match(entry)) and os.path.isfile(full):
                found.add(m.group(1))
        return sorted(found)

    def seeds(self, split: str) -> list[int]:
        """The seeds recorded for ``split``, sorted ([] if none)."""
        d = os.path.join(self.root, _check_split(split))
        if not os.path.isdir(d):
            return []
        return sorted(int(m.group(1)) for e in os.listdir(d) if (m := _SEED_RE.match(e)))

    def epochs(self, split: str, seed: int) -> list[int]:
        """The recorded epochs of (split, seed), sorted ([] if none)."""
        d = self._seed_dir(split, seed)
        if not os.path.isdir(d):
            return []
        return sorted(int(m.group(1)) for e in os.listdir(d) if (m := _EPOCH_RE.match(e)))

    def size_bytes(self) -> int:
        """Total size of the files under ``activations/`` in bytes (0 if none)."""
        total = 0
        for dirpath, _dirs, files in os.walk(self.root):
            total += sum(os.path.getsize(os.path.join(dirpath, f)) for f in files)
        return total

    # -- reading -----------------------------------------------------------------------------

    def _missing(self, what: str, path: str, available: str) -> FileNotFoundError:
        return FileNotFoundError(f"no {what}: {path!r} does not exist; {available}")

    def _open_epoch(self, seed: int, split: str, epoch: int):
        path = self.path(seed, split, epoch)
        if not os.path.isfile(path):
            if self.epochs(split, seed):
                available = f"recorded epochs of split {split!r}, seed {seed}: " + ", ".join(
                    map(str, self.epochs(split, seed))
                )
            elif self.seeds(split):
                available = f"seeds recorded for split {split!r}: {self.seeds(split)}"
            else:
                available = f"splits recorded in {self.root!r}: {self.splits()}"
            raise self._missing(f"activations for epoch {epoch}", path, available)
        return np.load(path, allow_pickle=False), path

    def read_probe(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """The probe set of ``split``: (x (N, ...) float32, y (N,) int64)."""
        path = self.probe_path(split)
        if not os.path.isfile(path):
            raise self._missing(
                f"probe set for split {split!r}", path, f"splits in {self.root!r}: {self.splits()}"
            )
        with np.load(path, allow_pickle=False) as z:
            return z["x"], z["y"]

    def read(self, seed: int, split: str, epoch: int) -> dict[str, np.ndarray]:
        """The activations of one recorded epoch: {layer name: array}, in layer order."""
        z, _path = self._open_epoch(seed, split, epoch)
        with z:
            names = z["__layers__"].tolist()
            return {name: z[f"layer_{i}"] for i, name in enumerate(names)}

    def layers(self, split: str, seed: int) -> list[str]:
        """The layer names (in order) of the first recorded epoch of (split, seed)."""
        epochs = self.epochs(split, seed)
        if not epochs:
            raise self._missing(
                f"recorded epochs for split {split!r}, seed {seed}",
                self._seed_dir(split, seed),
                f"seeds recorded for split {split!r}: {self.seeds(split)}",
            )
        z, _path = self._open_epoch(seed, split, epochs[0])
        with z:
            return z["__layers__"].tolist()

    def read_layer(
        self,
        seed: int,
        split: str,
        layer: str,
        epochs: Iterable[int] | None = None,
        *,
        flatten: bool = False,
    ) -> np.ndarray:
        """One layer at several epochs, stacked: (E, N, d) (or (E, N, ...) as stored).

        ``epochs``: the epochs in the order wanted (default: all recorded, sorted).
        ``flatten``: reshape each epoch to (N, -1), e.g. for conv layers, giving (E, N, d).
        Only this layer is read from each file.
        """
        epochs = self.epochs(split, seed) if epochs is None else [operator.index(e) for e in epochs]
        if not epochs:
            raise self._missing(
                f"recorded epochs for split {split!r}, seed {seed}",
                self._seed_dir(split, seed),
                f"seeds recorded for split {split!r}: {self.seeds(split)}",
            )
        out: list[np.ndarray] = []
        shape = None
        for e in epochs:
            z, path = self._open_epoch(seed, split, e)
            with z:
                names = z["__layers__"].tolist()
                if layer not in names:
                    raise KeyError(f"{path}: no layer {layer!r}; layers: {names}")
                a = z[f"layer_{names.index(layer)}"]
            if shape is None:
                shape = a.shape
            elif a.shape != shape:
                raise ValueError(
                    f"layer {layer!r} has shape {a.shape} at epoch {e} but "
                    f"{shape} at epoch {epochs[0]}"
                )
            out.append(a.reshape(len(a), -1) if flatten else a)
        return np.stack(out)


# --------------------------------------------------------------------------------------------
# metrics.csv and config.json
# --------------------------------------------------------------------------------------------


def MetricsWriter(path: str | os.PathLike) -> ResultsWriter:  # noqa: N802 - a writer "class"
    """A `ResultsWriter` for ``metrics.csv``: rows with the columns `METRIC_COLUMNS`
    (run, seed, epoch, name, value), appended, flushed and fsync'd like results."""
    return ResultsWriter(path, METRIC_COLUMNS)


def DiagnosticsWriter(path: str | os.PathLike) -> ResultsWriter:  # noqa: N802
    """A `ResultsWriter` for ``diagnostics.csv``: rows with the columns `DIAGNOSTIC_COLUMNS`
    (run, seed, split, epoch, layer, name, value), appended, flushed and fsync'd."""
    return ResultsWriter(path, DIAGNOSTIC_COLUMNS)


def AuxWriter(path: str | os.PathLike) -> ResultsWriter:  # noqa: N802
    """A `ResultsWriter` for ``aux.csv``: rows with the columns `AUX_COLUMNS`, appended,
    flushed and fsync'd like results."""
    return ResultsWriter(path, AUX_COLUMNS)


def _load_rows(run_dir_or_csv, filename: str, columns: tuple, what: str) -> list[dict]:
    path = os.fspath(run_dir_or_csv)
    if os.path.isdir(path):
        path = os.path.join(path, filename)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no {what} file at {path!r}; {_RUN_DIR_HELP}")
    records, problems, _ = _read_records(path, (columns,))
    _warn_problems(path, problems, stacklevel=3)
    return [row for _fields, row in records]


def load_metrics(run_dir_or_csv: str | os.PathLike) -> list[dict]:
    """The rows of a run's ``metrics.csv`` (dicts with `METRIC_COLUMNS`, typed values)."""
    return _load_rows(run_dir_or_csv, "metrics.csv", METRIC_COLUMNS, "metrics")


def load_diagnostics(run_dir_or_csv: str | os.PathLike) -> list[dict]:
    """The rows of a run's ``diagnostics.csv`` (dicts with `DIAGNOSTIC_COLUMNS`, typed values:
    per-layer activation statistics such as the saturated fraction, see
    `infoplane.diagnostics`)."""
    return _load_rows(run_dir_or_csv, "diagnostics.csv", DIAGNOSTIC_COLUMNS, "diagnostics")


def load_aux(run_dir_or_csv: str | os.PathLike) -> list[dict]:
    """The rows of a run's ``aux.csv`` (dicts with `AUX_COLUMNS`, typed values): the auxiliary
    scalars of every estimate, e.g. ``name="i_xt_lower"`` for the KDE lower bound (in the
    estimator's units), ``"h_t"``, ``"n_states"``, ``"dse_t"``, ``"ae_recon_error"``. Select
    an estimator's rows by ``estimator`` and ``params`` as in results.csv."""
    return _load_rows(run_dir_or_csv, "aux.csv", AUX_COLUMNS, "aux")


def write_json(path: str | os.PathLike, data: Mapping) -> None:
    """Write ``data`` as indented JSON atomically (see `_atomic_write`)."""
    text = (json.dumps(dict(data), indent=2, default=str) + "\n").encode()
    _atomic_write(os.fspath(path), lambda f: f.write(text))
