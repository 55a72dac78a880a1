"""The CSV tables of a run directory: ``results.csv``, ``metrics.csv``, ``diagnostics.csv``,
``aux.csv`` and ``failures.csv`` (formats: `infoplane.store.layout`).

- columns: `RESULT_COLUMNS`, `METRIC_COLUMNS`, `DIAGNOSTIC_COLUMNS`, `AUX_COLUMNS`, and the
  key of a row, `KEY_COLUMNS`;
- writing: `ResultsWriter` (and `MetricsWriter`, `DiagnosticsWriter`, `AuxWriter` for the
  other tables) checks every row, appends and fsyncs;
- reading: `read_records` drops unreadable lines (a killed writer's partial last line) and
  reports them; `load_metrics`, `load_diagnostics`, `load_aux` return typed rows;
- `truncate_results` rewrites a table atomically, keeping the rows a predicate accepts.

The `Results` table of ``results.csv`` is in `infoplane.store.results`.
"""

from __future__ import annotations

import csv
import io
import json
import operator
import os
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from infoplane.store.atomic import atomic_write, fsync_dir
from infoplane.store.layout import (
    AUX_FILE,
    DIAGNOSTICS_FILE,
    FAILURES_FILE,
    METRICS_FILE,
    RESULTS_FILE,
    RUN_DIR_HELP,
)

__all__ = [
    "AUX_COLUMNS",
    "DIAGNOSTIC_COLUMNS",
    "FAILURE_COLUMNS",
    "FORMATS",
    "INTERVAL_COLUMNS",
    "KEY_COLUMNS",
    "LEGACY_RESULT_COLUMNS",
    "METRIC_COLUMNS",
    "RESULT_COLUMNS",
    "AuxWriter",
    "DiagnosticsWriter",
    "FailuresWriter",
    "MetricsWriter",
    "ResultsFileWarning",
    "ResultsWriter",
    "format_params",
    "load_aux",
    "load_diagnostics",
    "load_failures",
    "load_metrics",
    "read_records",
    "results_path",
    "truncate_results",
    "warn_problems",
]

#: The columns of ``results.csv`` before the interval columns existed (read, and upgraded in
#: place by `ResultsWriter` before it appends).
LEGACY_RESULT_COLUMNS = (
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
#: A row's confidence interval of i_xt and i_ty (`infoplane.estimators.Intervals`, in the
#: row's units): empty in the CSV and NaN when read back where intervals were off. A row may
#: omit them.
INTERVAL_COLUMNS = ("i_xt_lo", "i_xt_hi", "i_ty_lo", "i_ty_hi")
#: The columns of ``results.csv``.
RESULT_COLUMNS = (*LEGACY_RESULT_COLUMNS, *INTERVAL_COLUMNS)
#: Columns of ``metrics.csv`` (scalars such as accuracy and loss, one row per value).
METRIC_COLUMNS = ("run", "seed", "epoch", "name", "value")
#: Columns of ``diagnostics.csv`` (per-layer activation statistics, `infoplane.report.diagnostics`).
DIAGNOSTIC_COLUMNS = ("run", "seed", "split", "epoch", "layer", "name", "value")
#: Columns of ``aux.csv``: an estimate's auxiliary scalars (`Estimate.aux`), one row per value,
#: keyed like results.csv by (run, seed, split, epoch, layer, estimator, params).
AUX_COLUMNS = ("run", "seed", "split", "epoch", "layer", "estimator", "params", "name", "value")
#: Columns of ``failures.csv``: one row per (seed, split, epoch, layer, estimator) whose
#: estimate failed and was skipped (``error``: the exception's type and message, one line).
#: A resume counts these rows as done: they are neither lost rows nor estimated again.
FAILURE_COLUMNS = ("run", "seed", "split", "epoch", "layer", "estimator", "params", "error")
#: The columns of each table of `infoplane.store.layout.TABLE_FILES`, in that order.
FORMATS = (RESULT_COLUMNS, METRIC_COLUMNS, DIAGNOSTIC_COLUMNS, AUX_COLUMNS, FAILURE_COLUMNS)
#: Columns that identify a row; `load_results` keeps the last row of each key.
KEY_COLUMNS = ("run", "seed", "split", "epoch", "layer", "estimator", "params")
INT_COLUMNS = ("seed", "epoch")
FLOAT_COLUMNS = ("i_xt", "i_ty", *INTERVAL_COLUMNS, "value")
#: The headers each table's reader accepts besides its own (older formats).
_OLDER = {RESULT_COLUMNS: (LEGACY_RESULT_COLUMNS,)}


class ResultsFileWarning(UserWarning):
    """A results file had lines that could not be read (dropped) or duplicate keys."""


# --------------------------------------------------------------------------------------------
# results.csv: writing
# --------------------------------------------------------------------------------------------


def results_path(path: str | os.PathLike) -> str:
    """``path`` itself, or ``path/results.csv`` when ``path`` is a directory."""
    path = os.fspath(path)
    return os.path.join(path, RESULTS_FILE) if os.path.isdir(path) else path


def format_params(value: Any) -> str:
    if isinstance(value, Mapping):
        return json.dumps(dict(value), sort_keys=True)
    if not isinstance(value, str):
        raise TypeError(f"params must be a JSON string or a mapping, got {type(value).__name__}")
    return value


def _format_row(row: Mapping, index: int, columns: tuple = RESULT_COLUMNS) -> list[str]:
    """The CSV fields of one row, in ``columns`` order; errors name the row's index."""
    if not isinstance(row, Mapping):
        raise TypeError(f"row {index}: expected a mapping, got {type(row).__name__}")
    missing = [c for c in columns if c not in row and c not in INTERVAL_COLUMNS]
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
        v = row.get(c)
        try:
            if c in INTERVAL_COLUMNS:
                fields.append(_interval_field(v))
            elif c in INT_COLUMNS:
                fields.append(str(operator.index(v)))
            elif c in FLOAT_COLUMNS:
                fields.append(repr(float(v)))
            elif c == "params":
                fields.append(format_params(v))
            else:
                fields.append(str(v))
        except (TypeError, ValueError) as err:
            raise type(err)(f"row {index}, column {c!r}: bad value {v!r} ({err})") from None
    return fields


def _interval_field(v: Any) -> str:
    """An interval end's CSV field: "" for None or NaN (intervals off), else its repr."""
    if v is None or v == "":
        return ""
    v = float(v)
    return "" if v != v else repr(v)


def format_lines(rows: Iterable[Sequence[str]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerows(rows)
    return buf.getvalue()


class ResultsWriter:
    """Appends result rows to ``results.csv``, durably.

    ``path``: the CSV file, or a run directory (then ``<path>/results.csv``); its directory
    must exist. The header `RESULT_COLUMNS` is written only when the file is new or empty; a
    file of the older header `LEGACY_RESULT_COLUMNS` (before the interval columns) is rewritten
    first with the new header and empty interval fields (atomically); an existing file with
    another header raises `ValueError`. A partial last line left by a
    killed writer is cut off (with a `ResultsFileWarning`) before anything is appended.

    ``write(rows)`` checks every row first (each needs exactly the columns `RESULT_COLUMNS`,
    the `INTERVAL_COLUMNS` optional: omitted, None or NaN is written as an empty field;
    ``params`` may be a JSON string or a mapping), then appends them in one write, flushes and
    ``os.fsync``s, so a process killed afterwards (even by SIGKILL) loses none of them.

    Use as a context manager, or call `close`::

        with ResultsWriter(run_dir) as w:
            w.write(rows)
    """

    def __init__(self, path: str | os.PathLike, columns: tuple[str, ...] = RESULT_COLUMNS):
        self.path = results_path(path)
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
            f.write(format_lines([self.columns]).encode())
            self._sync()
            fsync_dir(os.path.dirname(self.path))
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
                f.write(format_lines([self.columns]).encode())
            self._sync()
            if cut == 0:
                return
        header_line = content.split(b"\n", 1)[0].decode("utf-8", errors="replace")
        header = tuple(next(csv.reader([header_line]), []))
        if header in _OLDER.get(self.columns, ()):
            self._upgrade(header)
        elif header != self.columns:
            raise ValueError(
                f"{self.path} has header {list(header)}, expected {list(self.columns)}; "
                "refusing to append rows of another format (use a new file or run directory)"
            )

    def _upgrade(self, header: tuple) -> None:
        """Rewrite a file of an older header (`LEGACY_RESULT_COLUMNS`) with `columns`, the new
        columns empty, atomically (a crash leaves the old file or the new), and reopen it."""
        records, problems, _ = read_records(self.path, (self.columns,))
        if problems:
            warn_problems(self.path, problems, stacklevel=4)
        lines = [_aligned(fields, header, self.columns) for fields, _row in records]
        text = format_lines([self.columns, *lines]).encode()
        self._file.close()
        atomic_write(self.path, lambda f: f.write(text))
        self._file = open(self.path, "a+b")  # closed in close()

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
        self._file.write(format_lines(lines).encode())
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


def _aligned(fields: list[str], header: tuple, columns: tuple) -> list[str]:
    """``fields`` of a line under ``header`` rearranged to ``columns`` ("" where absent)."""
    by_name = dict(zip(header, fields, strict=True))
    return [by_name.get(c, "") for c in columns]


def parse_fields(fields: list[str], columns: tuple = RESULT_COLUMNS) -> dict[str, Any]:
    row: dict[str, Any] = dict(zip(columns, fields, strict=True))
    for c in INT_COLUMNS:
        if c in row:
            row[c] = int(row[c])
    for c in FLOAT_COLUMNS:
        if c in row:
            row[c] = float("nan") if row[c] == "" and c in INTERVAL_COLUMNS else float(row[c])
    return row


def read_records(
    path: str, formats: tuple = (RESULT_COLUMNS,)
) -> tuple[list[tuple[list[str], dict]], list[str], tuple]:
    """Read ``path``: ([(raw fields, typed row)], [problems]); bad lines are skipped.

    A problem is a partial last line (no trailing newline) or a line with the wrong number of
    fields or an unreadable seed/epoch/i_xt/i_ty; the header must be one of ``formats`` or an
    older header of one (`LEGACY_RESULT_COLUMNS`: its rows lack the interval columns). Also
    returns the header read.
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
    if columns not in formats + tuple(o for f in formats for o in _OLDER.get(f, ())):
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
            records.append((fields, parse_fields(fields, columns)))
        except ValueError as err:
            problems.append(f"line {line}: {err}")
    return records, problems, columns


def warn_problems(path: str, problems: list[str], stacklevel: int) -> None:
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
    path = results_path(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no results file at {path!r}; {RUN_DIR_HELP}")
    records, _problems, columns = read_records(path, FORMATS)
    kept = [fields for fields, row in records if keep(dict(row))]
    text = format_lines([columns, *kept]).encode()
    atomic_write(path, lambda f: f.write(text))
    return len(kept)


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


def FailuresWriter(path: str | os.PathLike) -> ResultsWriter:  # noqa: N802
    """A `ResultsWriter` for ``failures.csv``: rows with the columns `FAILURE_COLUMNS`,
    appended, flushed and fsync'd like results."""
    return ResultsWriter(path, FAILURE_COLUMNS)


def _load_rows(run_dir_or_csv, filename: str, columns: tuple, what: str) -> list[dict]:
    path = os.fspath(run_dir_or_csv)
    if os.path.isdir(path):
        path = os.path.join(path, filename)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no {what} file at {path!r}; {RUN_DIR_HELP}")
    records, problems, _ = read_records(path, (columns,))
    warn_problems(path, problems, stacklevel=3)
    return [row for _fields, row in records]


def load_metrics(run_dir_or_csv: str | os.PathLike) -> list[dict]:
    """The rows of a run's ``metrics.csv`` (dicts with `METRIC_COLUMNS`, typed values)."""
    return _load_rows(run_dir_or_csv, METRICS_FILE, METRIC_COLUMNS, "metrics")


def load_diagnostics(run_dir_or_csv: str | os.PathLike) -> list[dict]:
    """The rows of a run's ``diagnostics.csv`` (dicts with `DIAGNOSTIC_COLUMNS`, typed values:
    per-layer activation statistics such as the saturated fraction, see
    `infoplane.report.diagnostics`)."""
    return _load_rows(run_dir_or_csv, DIAGNOSTICS_FILE, DIAGNOSTIC_COLUMNS, "diagnostics")


def load_aux(run_dir_or_csv: str | os.PathLike) -> list[dict]:
    """The rows of a run's ``aux.csv`` (dicts with `AUX_COLUMNS`, typed values): the auxiliary
    scalars of every estimate, e.g. ``name="i_xt_lower"`` for the KDE lower bound (in the
    estimator's units), ``"h_t"``, ``"n_states"``, ``"dse_t"``, ``"ae_recon_error"``. Select
    an estimator's rows by ``estimator`` and ``params`` as in results.csv."""
    return _load_rows(run_dir_or_csv, AUX_FILE, AUX_COLUMNS, "aux")



def load_failures(run_dir_or_csv: str | os.PathLike) -> list[dict]:
    """The rows of a run's ``failures.csv`` (dicts with `FAILURE_COLUMNS`): every
    (seed, split, epoch, layer, estimator) whose estimate failed and was skipped, with the
    error (e.g. non-finite activations of a diverged layer). A run directory without the file
    (written before failures were kept, or by an older version) has none: ``[]``."""
    path = os.fspath(run_dir_or_csv)
    if os.path.isdir(path) and not os.path.exists(os.path.join(path, FAILURES_FILE)):
        return []
    return _load_rows(path, FAILURES_FILE, FAILURE_COLUMNS, "failures")
