"""The results table of a run: `Results` (one read-only NumPy column per field of
``results.csv``), `load_results` and `concat`.

``results.csv`` itself (its columns, writer, reader and truncation) is `infoplane.store.tables`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import operator
import os
import types
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from infoplane.store.layout import RESULTS_FILE, RUN_DIR_HELP
from infoplane.store.tables import (
    FLOAT_COLUMNS,
    INT_COLUMNS,
    INTERVAL_COLUMNS,
    KEY_COLUMNS,
    RESULT_COLUMNS,
    ResultsFileWarning,
    format_params,
    read_records,
    warn_problems,
)

__all__ = ["Results", "concat", "load_results"]


def _column_array(column: str, values: Any) -> np.ndarray:
    """A read-only 1-D copy of ``values`` with the dtype of ``column``."""
    if column in INT_COLUMNS:
        arr = np.asarray(values)
        if arr.size and arr.dtype.kind not in "iub":
            if arr.dtype.kind == "f" and np.all(arr == np.round(arr)):
                arr = arr.astype(np.int64)
            else:
                arr = np.asarray([operator.index(v) for v in arr.ravel()], dtype=np.int64)
        arr = np.array(arr, dtype=np.int64)
    elif column in FLOAT_COLUMNS:
        arr = np.array(values, dtype=np.float64)
    else:
        if column == "params":
            vals = [format_params(v) for v in values]
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

    dtypes: seed, epoch int64; i_xt, i_ty and the interval ends i_xt_lo, i_xt_hi, i_ty_lo,
    i_ty_hi float64 (NaN where intervals were off: `infoplane.estimators.Intervals`); run,
    split, layer, estimator, units, params object arrays of str (params: JSON). The arrays are
    read-only copies. Build one with `load_results`, `Results.from_rows` or `concat`;
    ``Results(data)`` takes a mapping column -> values (the interval columns may be omitted:
    NaN).

    Example::

        res = load_results("runs/tishby-tanh-20250101-120000")
        epochs, i_xt, i_ty = res.series(estimator="binning", layer="layer5")
        res.where(estimator=["kde", "binning"], layer="layer1").rows()
    """

    data: Mapping[str, np.ndarray]

    def __post_init__(self):
        missing = [c for c in RESULT_COLUMNS if c not in self.data and c not in INTERVAL_COLUMNS]
        extra = [c for c in self.data if c not in RESULT_COLUMNS]
        if missing or extra:
            raise ValueError(
                f"Results needs exactly the columns {list(RESULT_COLUMNS)}; "
                f"missing {missing}, unknown {extra}"
            )
        n = len(self.data["epoch"])
        cols = {c: _column_array(c, self.data[c] if c in self.data else np.full(n, np.nan))
                for c in RESULT_COLUMNS}
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
        """A table from mappings with (at least) the columns `RESULT_COLUMNS` (the interval
        columns optional: NaN).

        ``params`` may be a JSON string or a mapping (encoded with sorted keys).
        """
        rows = list(rows)
        for i, r in enumerate(rows):
            missing = [c for c in RESULT_COLUMNS if c not in r and c not in INTERVAL_COLUMNS]
            if missing:
                raise ValueError(
                    f"row {i} lacks column(s) {missing}; a result row needs {list(RESULT_COLUMNS)}"
                )
        return cls({c: [r.get(c, math.nan) for r in rows] for c in RESULT_COLUMNS})

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
                v = format_params(v)
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
        """The rows as dicts of Python scalars (seed/epoch int, i_xt/i_ty float, others str; an
        interval end is a float, or None where intervals were off: the CSV's empty field)."""
        cols = {c: a.tolist() for c, a in self.data.items()}
        for c in INTERVAL_COLUMNS:
            cols[c] = [None if v != v else v for v in cols[c]]
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
        """A ``pandas.DataFrame`` of the table, one column per table column (pandas is
        optional, the ``pandas`` extra: ImportError without it)."""
        try:
            import pandas as pd
        except ImportError as err:
            raise ImportError(
                "Results.to_pandas() needs pandas, an optional dependency of infoplane: "
                'pip install "infoplane[pandas]" (or pip install pandas); everything else '
                "works with NumPy only"
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
                f"{path!r}); {RUN_DIR_HELP}"
            )
    elif not os.path.exists(path):
        raise FileNotFoundError(
            f"no such run directory or results file: {path!r}; expected a run directory or "
            f"the path of its {RESULTS_FILE}; {RUN_DIR_HELP}"
        )
    records, problems, _ = read_records(path)
    warn_problems(path, problems, stacklevel=2)
    rows = [row for _fields, row in records]
    res = Results.from_rows(rows) if rows else Results.empty()
    return _drop_duplicates(res, path, stacklevel=2)

