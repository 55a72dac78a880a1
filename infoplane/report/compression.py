"""The compression verdict of a results table: does I(X;T) fall after its fitting phase?

For each estimator instance (estimator name and parameter set), run, split and layer,
`compression_summary` reads the I(X;T) trajectory of every seed and reports the peak, the
final value, the drop and its interval, and a verdict -- the question of the Shwartz-Ziv &
Tishby vs Saxe et al. / Chelombiev et al. debate, answered per run and per estimator.

The rule (``m`` = ``min_drop``, 0.1 bits by default, ``0.1 * ln 2`` nats in a nats table):

1. Per seed, the trajectory is I(X;T) at the recorded epochs; NaN or +-inf points (withheld
   estimates, failures) are skipped. A seed with fewer than 2 finite points is left out; the
   remaining seeds are compared on the epochs where every one of them has a finite value.
   Fewer than 2 such epochs: "cannot tell".
2. peak = the maximum of the seed-mean trajectory, at epoch ``peak_epoch`` (the first if tied);
   final = the seed mean at the last of those epochs, ``final_epoch``; drop = peak - final
   (>= 0, in the table's units).
3. The interval [lo, hi] of the drop, at confidence ``level`` (0.95):
   - >= 2 seeds: the Student-t interval of the per-seed drops ``d_s = I_s(peak_epoch) -
     I_s(final_epoch)`` (a paired difference), ``mean(d) +- t_{(1+level)/2, n-1} sd(d)/sqrt n``;
   - 1 seed, and the table has per-point interval columns ``i_xt_lo``, ``i_xt_hi`` (e.g. a
     bootstrap): the conservative ``[peak_lo - final_hi, peak_hi - final_lo]`` (its level is
     that of the columns);
   - 1 seed and no such columns: no interval.
4. Verdict: "does not" when ``peak_epoch == final_epoch`` (still rising, drop 0); else
   "compresses" when ``lo > m``; "does not" when ``hi < m``; "cannot tell" otherwise (the
   interval contains m, there is no interval, or too few points). ``reason`` says which.

Why 0.1 bits: it is below 1 % of H(X) = 12 bits of Tishby's probe, far below the drops of
several bits that Shwartz-Ziv & Tishby report, and well above float rounding; a smaller drop
is not a compression phase anyone would read off an information plane. Set ``min_drop`` to
your estimator's resolution (e.g. its seed-to-seed spread) when it is coarser.

Caveat: the peak epoch is chosen on the same data, so the drop is biased upward when the
trajectory is flat and noisy (the maximum of noisy means); the interval does not correct it.
Values of the estimators in `NOT_SHANNON` (``dsmi``, ``matrix_renyi``) are not Shannon
information: their verdict is about their own quantity.

Parameter sweeps: `sweep_verdicts` says, for each (run, estimator, split, layer) with several
parameter sets, across which values of the parameters that differ each verdict holds, e.g.
"compresses for n_bins in {8, 16, 30}; cannot tell for n_bins=4".

This module only reads values from the table (pure NumPy); it estimates nothing.

Example::

    import infoplane

    summary = infoplane.compression_summary(infoplane.load_results("runs/NAME"))
    print(summary)                       # the table, the sweep lines and the rule
    [r.verdict for r in summary]         # one CompressionRow per (instance, split, layer)
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from infoplane.report.bounds import NOT_SHANNON, NOT_SHANNON_WHY, read_params
from infoplane.store.tables import format_params

__all__ = ["COMPRESSES", "CANNOT_TELL", "DOES_NOT", "CompressionRow", "CompressionSummary",
           "SweepVerdict", "compression_summary", "format_compression", "instance_label",
           "rule_text", "sweep_verdicts", "t_quantile"]

COMPRESSES, DOES_NOT, CANNOT_TELL = "compresses", "does not", "cannot tell"
#: The columns a table needs; ``i_xt_lo``, ``i_xt_hi`` are used when present.
NEEDED = ("run", "seed", "split", "epoch", "layer", "estimator", "params", "i_xt", "units")
_LN2 = math.log(2.0)


# -- the Student-t quantile (pure Python: scipy is not a dependency) ---------------------------

def _t_two_sided(t: float, df: int) -> float:
    """P(|T| < t) for Student's t with integer ``df`` >= 1 (Abramowitz & Stegun 26.7.3-4)."""
    theta = math.atan(t / math.sqrt(df))
    s, c2 = math.sin(theta), math.cos(theta) ** 2
    if df % 2:  # odd: (2/pi) (theta + sin cos (1 + 2/3 cos^2 + 2*4/(3*5) cos^4 + ...))
        term, acc = 1.0, 1.0 if df > 1 else 0.0
        for k in range(1, (df - 1) // 2):
            term *= c2 * (2 * k) / (2 * k + 1)
            acc += term
        return (2.0 / math.pi) * (theta + (s * math.cos(theta) * acc if df > 1 else 0.0))
    term, acc = 1.0, 1.0  # even: sin (1 + 1/2 cos^2 + 1*3/(2*4) cos^4 + ...)
    for k in range(1, df // 2):
        term *= c2 * (2 * k - 1) / (2 * k)
        acc += term
    return s * acc


def t_quantile(p: float, df: int) -> float:
    """The ``p`` quantile (0.5 < p < 1) of Student's t with integer ``df`` >= 1, to ~1e-12
    relative (bisection on the closed-form CDF); e.g. ``t_quantile(0.975, 2) = 4.3027``."""
    if not 0.5 < p < 1.0 or int(df) != df or df < 1:
        raise ValueError(f"t_quantile needs 0.5 < p < 1 and an integer df >= 1, got {p!r}, "
                         f"{df!r}")
    target, lo, hi = 2.0 * p - 1.0, 0.0, 1.0
    while _t_two_sided(hi, int(df)) < target:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if _t_two_sided(mid, int(df)) < target else (lo, mid)
        if hi - lo <= 1e-13 * hi:
            break
    return 0.5 * (lo + hi)


# -- rows --------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class CompressionRow:
    """The verdict of one (run, estimator instance, split, layer); values in ``units``.

    Attributes:
      run, estimator, params, split, layer: the curve (``params`` the table's JSON string).
      label: a readable instance label, e.g. ``binning(n_bins=8)`` (`instance_label`).
      n_seeds: the seeds used (those with >= 2 finite points).
      peak, peak_epoch: the maximum of the seed-mean I(X;T) and its epoch.
      final, final_epoch: the seed mean at the last epoch used.
      drop: peak - final. lo, hi: its interval (NaN: none). interval: "seeds" (Student t),
        "columns" (from i_xt_lo / i_xt_hi) or "" (none).
      verdict: "compresses", "does not" or "cannot tell"; reason: why, in words.
      min_drop: the threshold, in ``units``. units: "bits" or "nats".
      (peak .. hi are NaN and the epochs None when there were too few points.)
    """

    run: str
    estimator: str
    params: str
    label: str
    split: str
    layer: str
    n_seeds: int
    peak: float
    peak_epoch: int | None
    final: float
    final_epoch: int | None
    drop: float
    lo: float
    hi: float
    interval: str
    verdict: str
    reason: str
    min_drop: float
    units: str

    def as_dict(self) -> dict:
        """The row as a dict of Python scalars (for CSV or JSON)."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class SweepVerdict:
    """Across which parameter values each verdict holds, for one (run, estimator, split,
    layer) with several parameter sets.

    Attributes:
      run, estimator, split, layer: the group.
      keys: the parameter keys whose values differ between the sets (sorted).
      by_verdict: ``((verdict, (values, ...)), ...)`` in the order compresses, does not,
        cannot tell; each ``values`` a tuple with one entry per key.
      text: one line, e.g. "compresses for n_bins in {8, 16}; cannot tell for n_bins=4".
    """

    run: str
    estimator: str
    split: str
    layer: str
    keys: tuple[str, ...]
    by_verdict: tuple[tuple[str, tuple[tuple, ...]], ...]
    text: str


@dataclasses.dataclass(frozen=True)
class CompressionSummary(Sequence):
    """What `compression_summary` returns: a sequence of `CompressionRow` (in table order of
    first appearance) with the sweep lines (`SweepVerdict`) and the rule's settings;
    ``str(summary)`` is `format_compression` of it."""

    rows: tuple[CompressionRow, ...]
    sweeps: tuple[SweepVerdict, ...]
    min_drop: float
    level: float

    def __getitem__(self, i):
        return self.rows[i]

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[CompressionRow]:
        return iter(self.rows)

    def __str__(self) -> str:
        return format_compression(self.rows, sweeps=self.sweeps, min_drop=self.min_drop,
                                  level=self.level)

    def as_dicts(self) -> list[dict]:
        """The rows as dicts (`CompressionRow.as_dict`), e.g. for ``csv.DictWriter``."""
        return [r.as_dict() for r in self.rows]


# -- reading the table -------------------------------------------------------------------------

def _columns(table: Any) -> dict[str, np.ndarray]:
    """The columns of ``table`` (a `Results`, or a mapping / DataFrame of columns) as arrays."""
    if hasattr(table, "columns"):
        names = list(table.columns)
    else:
        names = list(table.keys()) if isinstance(table, Mapping) else []
    missing = [c for c in NEEDED if c not in names]
    if missing:
        raise TypeError(
            f"compression_summary() needs a results table with the columns {list(NEEDED)} "
            f"(a Results from infoplane.load_results(run_dir)); got {type(table).__name__} "
            f"lacking {missing}"
        )
    cols = {c: np.asarray(table[c]) for c in NEEDED}
    cols["params"] = np.asarray([format_params(p) if not isinstance(p, str) else p
                                 for p in cols["params"].tolist()], dtype=object)
    if "i_xt_lo" in names and "i_xt_hi" in names:
        cols["i_xt_lo"] = np.asarray(table["i_xt_lo"], dtype=np.float64)
        cols["i_xt_hi"] = np.asarray(table["i_xt_hi"], dtype=np.float64)
    return cols


def _select(cols: dict[str, np.ndarray], column: str, value: str | None) -> np.ndarray:
    available = list(dict.fromkeys(str(v) for v in cols[column].tolist()))
    if value is None:
        return np.ones(len(cols["epoch"]), dtype=bool)
    if str(value) not in available:
        raise ValueError(f"compression_summary(): no rows with {column}={value!r}; the table "
                         f"has {', '.join(available) or 'no rows'}")
    return np.asarray([str(v) == str(value) for v in cols[column].tolist()], dtype=bool)


def _label_value(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v) if isinstance(v, list | dict) else repr(v)


def instance_label(estimator: str, params: str | Mapping, keys: Sequence[str] | None = None
                   ) -> str:
    """A readable label of an estimator instance: ``estimator(k=v, ...)`` with the parameter
    ``keys`` (default: every key of ``params``, a mapping or its JSON), e.g.
    ``binning(n_bins=8)``; just ``estimator`` when there are none."""
    p = read_params(params)
    keys = sorted(p) if keys is None else list(keys)
    items = [f"{k}={_label_value(p[k]) if k in p else '-'}" for k in keys]
    return f"{estimator}({', '.join(items)})" if items else str(estimator)


def _differing_keys(param_sets: Sequence[str]) -> tuple[str, ...]:
    """The keys whose values differ between the decoded parameter sets (absent counts)."""
    decoded = [read_params(p) for p in param_sets]
    keys = sorted({k for d in decoded for k in d})
    return tuple(k for k in keys
                 if len({json.dumps(d[k], sort_keys=True, default=str) if k in d else None
                         for d in decoded}) > 1)


# -- one curve ---------------------------------------------------------------------------------

def _seed_series(idx: np.ndarray, cols: dict[str, np.ndarray]) -> dict[int, dict[int, int]]:
    """seed -> {epoch: row index} of the finite I(X;T) points (a repeated key keeps its last)."""
    out: dict[int, dict[int, int]] = {}
    for i in idx:
        if math.isfinite(float(cols["i_xt"][i])):
            out.setdefault(int(cols["seed"][i]), {})[int(cols["epoch"][i])] = int(i)
        else:
            out.setdefault(int(cols["seed"][i]), {}).pop(int(cols["epoch"][i]), None)
    return out


def _interval(values: np.ndarray, bounds: tuple[np.ndarray, np.ndarray] | None,
              ip: int, level: float) -> tuple[float, float, str]:
    """(lo, hi, kind) of the drop; values (n_seeds, E) on the common epochs."""
    n = values.shape[0]
    d = values[:, ip] - values[:, -1]
    if n >= 2:
        half = t_quantile(0.5 + level / 2.0, n - 1) * float(np.std(d, ddof=1)) / math.sqrt(n)
        return float(d.mean() - half), float(d.mean() + half), "seeds"
    if bounds is not None:
        lo, hi = bounds
        if all(math.isfinite(v) for v in (lo[0, ip], hi[0, ip], lo[0, -1], hi[0, -1])):
            return float(lo[0, ip] - hi[0, -1]), float(hi[0, ip] - lo[0, -1]), "columns"
    return math.nan, math.nan, ""


def _verdict(n_seeds: int, peak_at_end: bool, lo: float, hi: float, m: float, units: str,
             level: float) -> tuple[str, str]:
    if peak_at_end:
        return DOES_NOT, "peak at the final epoch: still rising"
    if math.isnan(lo):
        return CANNOT_TELL, (f"{n_seeds} seed and no per-point interval (i_xt_lo/i_xt_hi "
                             "empty): no interval for the drop (run more seeds, or "
                             "--intervals B)")
    ci = f"{level:.0%} interval"
    if lo > m:
        return COMPRESSES, f"{ci} above {m:.3g} {units} (lower bound {lo:.3g})"
    if hi < m:
        return DOES_NOT, f"{ci} below {m:.3g} {units} (upper bound {hi:.3g})"
    return CANNOT_TELL, f"{ci} contains {m:.3g} {units}"


def _curve(key: tuple, idx: np.ndarray, cols: dict[str, np.ndarray], label: str,
           min_drop: float, level: float) -> CompressionRow:
    run, estimator, params, split, layer, units = key
    m = min_drop * (_LN2 if units == "nats" else 1.0)
    series = _seed_series(idx, cols)
    used = {s: pts for s, pts in series.items() if len(pts) >= 2}
    left = sorted(set(series) - set(used))
    note = f"; seed(s) {left} left out (fewer than 2 finite points)" if left else ""
    common = sorted(set.intersection(*(set(p) for p in used.values()))) if used else []
    base = dict(run=run, estimator=estimator, params=params, label=label, split=split,
                layer=layer, n_seeds=len(used), min_drop=m, units=units)
    if len(common) < 2:
        return CompressionRow(**base, peak=math.nan, peak_epoch=None, final=math.nan,
                              final_epoch=None, drop=math.nan, lo=math.nan, hi=math.nan,
                              interval="", verdict=CANNOT_TELL,
                              reason=f"{len(common)} epoch(s) with a finite I(X;T) in every "
                              f"seed (need 2){note}")
    rows = np.asarray([[used[s][e] for e in common] for s in sorted(used)], dtype=np.int64)
    values = cols["i_xt"].astype(np.float64)[rows]
    bounds = ((cols["i_xt_lo"][rows], cols["i_xt_hi"][rows]) if "i_xt_lo" in cols else None)
    mean = values.mean(axis=0)
    ip = int(np.argmax(mean))
    lo, hi, kind = _interval(values, bounds, ip, level)
    verdict, reason = _verdict(len(used), ip == len(common) - 1, lo, hi, m, units, level)
    return CompressionRow(**base, peak=float(mean[ip]), peak_epoch=common[ip],
                          final=float(mean[-1]), final_epoch=common[-1],
                          drop=float(mean[ip] - mean[-1]), lo=lo, hi=hi, interval=kind,
                          verdict=verdict, reason=reason + note)


# -- the summary -------------------------------------------------------------------------------

def _check_number(name: str, value: Any, lo: float, hi: float, example: str) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, got {value!r}") from None
    if not lo <= value < hi:
        raise ValueError(f"{name} must be in [{lo}, {hi}), got {value!r}; e.g. {example}")
    return value


def compression_summary(table: Any, *, split: str | None = None,
                        estimator: str | None = None, min_drop: float = 0.1,
                        level: float = 0.95) -> CompressionSummary:
    """The compression verdict of every (run, estimator instance, split, layer) of ``table``
    (the rule: the module docstring, and the last line of ``str(result)``).

    Args:
      table: a `Results` (``infoplane.load_results(run_dir)``), or any mapping / DataFrame of
        columns with `NEEDED`; per-point interval columns ``i_xt_lo``, ``i_xt_hi`` are used
        when present (one seed).
      split, estimator: only these rows (None: all); an unknown value raises `ValueError`.
      min_drop: the smallest drop that counts as compression, in bits (nats tables use
        ``min_drop * ln 2``); >= 0.
      level: the confidence of the seeds' Student-t interval, in (0, 1).

    Returns a `CompressionSummary`: its rows (`CompressionRow`, in order of first appearance
    of each group, layers in table order) and its sweep lines (`sweep_verdicts`).
    """
    min_drop = _check_number("min_drop", min_drop, 0.0, math.inf, "min_drop=0.1 (bits)")
    level = _check_number("level", level, 1e-9, 1.0, "level=0.95")
    cols = _columns(table)
    keep = _select(cols, "split", split) & _select(cols, "estimator", estimator)
    groups: dict[tuple, list[int]] = {}
    names = ("run", "estimator", "params", "split", "layer", "units")
    lists = {c: [str(v) for v in cols[c].tolist()] for c in names}
    for i in np.flatnonzero(keep):
        groups.setdefault(tuple(lists[c][i] for c in names), []).append(int(i))
    param_sets: dict[str, list[str]] = {}
    for _run, est, params, *_ in groups:
        param_sets.setdefault(est, [])
        if params not in param_sets[est]:
            param_sets[est].append(params)
    shown = {est: _differing_keys(ps) for est, ps in param_sets.items()}
    rows = tuple(_curve(key, np.asarray(idx), cols, instance_label(key[1], key[2],
                                                                   shown[key[1]]),
                        min_drop, level)
                 for key, idx in groups.items())
    return CompressionSummary(rows=rows, sweeps=tuple(sweep_verdicts(rows)),
                              min_drop=min_drop, level=level)


def _sort_key(v: Any) -> tuple:
    return (0, float(v), "") if isinstance(v, int | float) and not isinstance(v, bool) else (
        1, 0.0, _label_value(v))


def _values_text(keys: tuple[str, ...], values: tuple[tuple, ...]) -> str:
    if len(keys) == 1:
        vals = sorted((v[0] for v in values), key=_sort_key)
        if len(vals) == 1:
            return f"{keys[0]}={_label_value(vals[0])}"
        return f"{keys[0]} in {{{', '.join(_label_value(v) for v in vals)}}}"
    tuples = sorted(values, key=lambda t: [_sort_key(v) for v in t])
    inner = ", ".join("(" + ", ".join(_label_value(v) for v in t) + ")" for t in tuples)
    return f"({', '.join(keys)}) in {{{inner}}}"


def sweep_verdicts(rows: Sequence[CompressionRow]) -> list[SweepVerdict]:
    """For each (run, estimator, split, layer) of ``rows`` with several parameter sets: across
    which values of the differing parameter keys each verdict holds (`SweepVerdict`)."""
    groups: dict[tuple, list[CompressionRow]] = {}
    for r in rows:
        groups.setdefault((r.run, r.estimator, r.split, r.layer), []).append(r)
    out = []
    for (run, est, split, layer), members in groups.items():
        if len({r.params for r in members}) < 2:
            continue
        keys = _differing_keys([r.params for r in members])
        by = []
        for verdict in (COMPRESSES, DOES_NOT, CANNOT_TELL):
            vals = tuple(tuple(read_params(r.params).get(k, "-") for k in keys)
                         for r in members if r.verdict == verdict)
            if vals:
                by.append((verdict, vals))
        text = "; ".join(f"{v} for {_values_text(keys, vals)}" for v, vals in by)
        out.append(SweepVerdict(run=run, estimator=est, split=split, layer=layer, keys=keys,
                                by_verdict=tuple(by), text=text))
    return out


# -- the terminal table ------------------------------------------------------------------------

def rule_text(min_drop: float = 0.1, level: float = 0.95) -> str:
    """The rule in one line (``min_drop`` in bits)."""
    return (f"Rule: drop = peak - final of the seed-mean I(X;T); 'compresses' if the "
            f"{level:.0%} interval of the drop (Student t over seeds; 1 seed: i_xt_lo/hi "
            f"columns) lies above {min_drop:g} bits (x ln2 in nats), 'does not' if it lies "
            "below or the peak is the final epoch, 'cannot tell' otherwise (interval contains "
            "the threshold, one seed without intervals, fewer than 2 finite epochs).")


def _num(v: float) -> str:
    return "-" if math.isnan(v) else f"{v:.3f}"


def _at(value: float, epoch: int | None) -> str:
    return "-" if epoch is None else f"{_num(value)}@{epoch}"


def format_compression(rows: Sequence[CompressionRow], *,
                       sweeps: Sequence[SweepVerdict] | None = None, min_drop: float = 0.1,
                       level: float = 0.95) -> str:
    """The verdicts as a terminal table: one line per row, the sweep lines (default:
    `sweep_verdicts` of ``rows``), a note on non-Shannon estimators, and last the rule in one
    line (`rule_text`; ``min_drop`` in bits, ``level`` as used)."""
    rows = list(rows)
    sweeps = sweep_verdicts(rows) if sweeps is None else list(sweeps)
    lines = ["I(X;T) compression verdict"]
    if not rows:
        lines.append("  (no rows)")
    multi_run = len({r.run for r in rows}) > 1
    head = (["run"] if multi_run else []) + ["estimator", "split", "layer", "seeds", "peak@ep",
                                             "final@ep", "drop", "interval", "verdict",
                                             "reason"]
    body = []
    for r in rows:
        ci = "-" if math.isnan(r.lo) else f"[{r.lo:.3f}, {r.hi:.3f}]"
        body.append(([r.run] if multi_run else []) + [
            r.label, r.split, r.layer, str(r.n_seeds), _at(r.peak, r.peak_epoch),
            _at(r.final, r.final_epoch), f"{_num(r.drop)} {r.units}", ci, r.verdict, r.reason])
    if rows:
        widths = [max(len(x) for x in col) for col in zip(head, *body, strict=True)]
        for cells in [head, *body]:
            lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(cells, widths,
                                                                     strict=True)).rstrip())
    for s in sweeps:
        where = f"{s.run}, " if multi_run else ""
        lines.append(f"sweep {where}{s.estimator}, {s.split}, {s.layer}: {s.text}")
    odd = sorted({r.estimator for r in rows} & NOT_SHANNON)
    for est in odd:
        lines.append(f"note: {est} is {NOT_SHANNON_WHY[est]}; its verdict is about that "
                     "quantity")
    lines.append(rule_text(min_drop, level))
    return "\n".join(lines)
