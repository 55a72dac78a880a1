"""A resume never deletes data it cannot read: the tables of a run directory checked against
its schedule before ``--resume`` cuts them back to the checkpoint (`assess`, `apply`).

- A torn **last** line (a process killed in the middle of a write) only ever holds rows of an
  epoch after the newest checkpoint, which the resumed run writes again: dropped silently, as
  always.
- Real damage: a scheduled (seed, split, epoch) up to the checkpoint whose rows are missing or
  incomplete in ``results.csv`` / ``diagnostics.csv`` / ``aux.csv`` (a file cut short, lines
  deleted, a deleted file), unreadable lines in the middle, a file that is not a table at all.
  An estimate recorded in ``failures.csv`` (it failed and was skipped) is complete: its
  entry is not lost for want of its result and aux rows. A missing ``failures.csv`` is no
  damage (a run without failures, or from before the file existed).
  The damaged file is copied aside as ``<file>.damaged-<UTC time>`` (never overwritten), the
  readable rows are kept, and the lost entries are returned to be re-estimated from the
  stored activations (``activations/``). When they cannot be (no stored activations),
  `apply` raises `DamagedRunError` before anything is changed, naming what is missing and
  how to proceed. Lost ``metrics.csv`` rows (accuracy, loss) cannot be recomputed without
  retraining: reported, the damaged file kept aside.
- Only the rows the resume writes again are dropped from the lost entries: those of the run's
  own estimators (config.json ``estimator_specs``, which ``--resume`` rebuilds; `own_rows`)
  and their diagnostics. Rows of estimators added later by ``infoplane estimate`` are kept
  (any of theirs that were lost, ``infoplane estimate`` adds again). A run without specs
  (made before they were recorded) drops every row of its lost entries.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from infoplane.estimators import from_spec
from infoplane.recording.estimation import params_json
from infoplane.store import layout
from infoplane.store.atomic import atomic_write
from infoplane.store.config import read_config
from infoplane.store.tables import FORMATS, format_lines, read_records

__all__ = ["DamagedRunError", "Plan", "apply", "assess", "own_rows", "run_estimators"]

#: Per table: its columns and what one (seed, split, epoch) entry must hold (a row's content key).
_CONTENT = {
    layout.RESULTS_FILE: lambda r: (r["estimator"], r["params"], r["layer"]),
    layout.DIAGNOSTICS_FILE: lambda r: (r["layer"], r["name"]),
    layout.AUX_FILE: lambda r: (r["estimator"], r["params"], r["layer"], r["name"]),
    layout.METRICS_FILE: lambda r: (r["name"],),
}
_TORN = "a partially written last line"


class DamagedRunError(ValueError):
    """A run directory's tables lost rows that cannot be re-estimated: resume refused."""


@dataclasses.dataclass
class Table:
    """One table of the run directory as read: its records, problems and lost entries."""

    fname: str
    path: str
    exists: bool
    columns: tuple
    records: list = dataclasses.field(default_factory=list)
    problems: list = dataclasses.field(default_factory=list)
    unreadable: str | None = None
    lost: set = dataclasses.field(default_factory=set)

    @property
    def damaged(self) -> bool:
        real = [p for p in self.problems if not p.startswith(_TORN)]
        return bool(self.unreadable or real or self.lost)

    def what(self) -> str:
        """What is wrong with the table, for a message "<file> is damaged: <what>"."""
        if not self.exists:
            return "the file was deleted"
        if self.unreadable:
            return f"it is not a readable table ({self.unreadable})"
        real = [p for p in self.problems if not p.startswith(_TORN)]
        parts = [f"{len(real)} unreadable line(s) ({'; '.join(real[:3])})"] if real else []
        if self.lost:
            torn = ("; it ends in a partial line, so it was cut short" if len(real) < len(
                self.problems) else "")
            parts.append(f"the rows of {len(self.lost)} recorded (seed, split, epoch) "
                         f"entr{'y' if len(self.lost) == 1 else 'ies'} up to the checkpoint "
                         f"are missing{torn}")
        return ", and ".join(parts)


@dataclasses.dataclass
class Plan:
    """What `assess` found: the tables, the checkpoint epoch and the run directory."""

    run_dir: str
    last: int
    tables: dict
    #: whether a results / aux / failures row is the run's own (`own_rows`): the rows an
    #: entry must hold, and the ones a resume writes again
    required: Callable[[dict], bool] = lambda _r: True

    def lost(self) -> set:
        """The (seed, split, epoch) entries to re-estimate (results, diagnostics, aux)."""
        return set().union(*(t.lost for f, t in self.tables.items()
                             if f != layout.METRICS_FILE))


def assess(run_dir: str, last: int, expected: Iterable[tuple[int, str, int]],
           required: Callable[[dict], bool] | None = None) -> Plan:
    """Read every table of ``run_dir`` and find the ``expected`` (seed, split, epoch) entries
    up to the checkpoint epoch ``last`` that are missing or incomplete. Changes nothing.

    ``required``: whether a results / aux / failures row is one every entry must hold (the
    run's own estimators, `own_rows`); None: those of config.json's specs
    (`run_estimators`), or every row when unknown. Rows of estimators added later by
    ``infoplane estimate`` are never required: an epoch recorded after them lacks them
    without being damaged."""
    if required is None:
        ests = run_estimators(run_dir)
        required = (lambda _r: True) if ests is None else own_rows(ests)
    expected = {k for k in expected if k[2] <= last}
    tables = {}
    for fname, columns in zip(layout.TABLE_FILES, FORMATS, strict=True):
        path = os.path.join(run_dir, fname)
        t = Table(fname, path, os.path.exists(path), columns)
        if t.exists:
            try:
                t.records, t.problems, t.columns = read_records(path, (columns,))
            except (ValueError, OSError) as err:
                t.unreadable = str(err).split(": ", 1)[-1][:200]
        tables[fname] = t
    if last < 0:
        return Plan(run_dir, last, tables, required)
    # an estimate that failed and was recorded as such is done: not a lost row
    failed: dict = defaultdict(set)
    for _fields, r in tables[layout.FAILURES_FILE].records:
        if required(r):
            failed[(r["seed"], r["split"], r["epoch"])].add(_CONTENT[layout.RESULTS_FILE](r))
    for fname, t in tables.items():
        if fname == layout.FAILURES_FILE:
            continue
        metrics = fname == layout.METRICS_FILE
        want = {(s, e) for s, _sp, e in expected} if metrics else expected
        have: dict = defaultdict(set)
        for _fields, r in t.records:
            if r["epoch"] <= last and ("estimator" not in r or required(r)):
                key = (r["seed"], r["epoch"]) if metrics else (r["seed"], r["split"], r["epoch"])
                have[key].add(_CONTENT[fname](r))
        if fname == layout.RESULTS_FILE:
            for key, entries in failed.items():
                if key[2] <= last:
                    have[key] |= entries
        full = set().union(*have.values()) if have else set()
        if full and fname == layout.AUX_FILE:  # no aux rows for a failed estimate
            t.lost = {k for k in want
                      if have.get(k, set()) != {c for c in full
                                                if c[:3] not in failed.get(k, ())}}
        elif full:
            t.lost = {k for k in want if have.get(k) != full}
        elif fname == layout.RESULTS_FILE or not t.exists or t.unreadable:
            t.lost = set(want)  # nothing readable where rows must be
    return Plan(run_dir, last, tables, required)


def _epochs(keys) -> str:
    epochs = sorted({k[-1] for k in keys})
    shown = ", ".join(map(str, epochs[:12])) + (", ..." if len(epochs) > 12 else "")
    return f"epoch{'s' if len(epochs) > 1 else ''} {shown}"


def _params_key(params: str) -> str:
    """A row's ``params`` without the `PerChannel` marker (conv layers' rows carry it)."""
    try:
        meta = json.loads(params)
    except (TypeError, ValueError):
        return params
    if not isinstance(meta, dict):
        return params
    meta.pop("per_channel", None)
    return json.dumps(meta, sort_keys=True, default=str)


def own_rows(estimators: Sequence[Any]) -> Callable[[dict], bool]:
    """Whether a results / aux / failures row is one that ``estimators`` (instances) write:
    its estimator name and parameters are one of theirs (a `PerChannel` row's too)."""
    keys = {(e.name, _params_key(params_json(e))) for e in estimators}
    return lambda r: (r["estimator"], _params_key(r["params"])) in keys


def run_estimators(run_dir: str) -> list | None:
    """The estimators ``infoplane run --resume`` rebuilds for ``run_dir`` (its config.json
    ``estimator_specs``); None when unknown (no or unreadable config, no specs)."""
    try:
        specs = read_config(run_dir).get("estimator_specs")
        return [from_spec(s) for s in specs] if specs else None
    except (OSError, ValueError, TypeError, AttributeError):
        return None


def apply(plan: Plan, can_reestimate: Callable[[tuple[int, str, int]], bool],
          warn: Callable[[str], None], stamp: str,
          reestimated: Callable[[dict], bool] | None = None) -> list[tuple[int, str, int]]:
    """Carry out ``plan``: refuse (`DamagedRunError`, nothing changed) when a lost entry cannot
    be re-estimated; else keep each damaged table aside (``<file>.damaged-<stamp>``), say
    what was kept, and cut every table back to the checkpoint without the lost entries' rows
    that the resume writes again. Returns the lost entries, sorted by epoch.

    ``reestimated``: whether a results / aux / failures row is re-estimated (`own_rows`);
    None: the rows `assess` required (``plan.required``). The other rows of a lost entry
    (estimators added by ``infoplane estimate``) are kept."""
    if reestimated is None:
        reestimated = plan.required
    lost = plan.lost()
    damaged = [t for t in plan.tables.values() if t.damaged]
    missing = sorted((k for k in lost if not can_reestimate(k)), key=lambda k: k[::-1])
    if missing:
        what = "; ".join(f"{t.fname} is damaged: {t.what()}" for t in damaged)
        raise DamagedRunError(
            f"cannot resume {plan.run_dir}: {what}. The rows of {len(missing)} recorded "
            f"(seed, split, epoch) entries up to the checkpoint (epoch {plan.last}) are lost "
            f"({_epochs(missing)}) and cannot be re-estimated: there are no stored "
            "activations for them (activations/, written by `infoplane run "
            "--store-activations`). Nothing was changed. To proceed: restore the damaged "
            "file(s) from a backup, or start the run again under a new name (its options are "
            "in config.json, 'argv')."
        )
    for t in damaged:
        kept = [r for _f, r in t.records if r["epoch"] <= plan.last]
        upto = f" up to epoch {max(r['epoch'] for r in kept)}" if kept else ""
        msg = f"{t.path} is damaged: {t.what()}"
        if t.exists:
            aside = _keep_aside(t.path, stamp)
            msg += f"; the damaged file is kept as {aside}"
        msg += f"; kept its {len(kept)} readable row(s){upto}"
        if t.fname == layout.METRICS_FILE:
            if t.lost:
                msg += (f"; the metrics of {_epochs(t.lost)} are lost (they cannot be "
                        "recomputed without retraining)")
        elif lost:
            msg += (f"; re-estimating {len(lost)} lost entr{'y' if len(lost) == 1 else 'ies'} "
                    f"({_epochs(lost)}) from the stored activations")
            added = sorted({r["estimator"] for _f, r in t.records if "estimator" in r
                            and not reestimated(r)})
            if added:
                msg += (f"; kept the rows of the estimators added later ({', '.join(added)}): "
                        f"`infoplane estimate {plan.run_dir} --estimators SPECS` with their "
                        "specs adds any of theirs that were lost")
        warn(msg)
    for t in plan.tables.values():
        if not t.exists:
            continue
        rows = [fields for fields, r in t.records if r["epoch"] <= plan.last and (
            t.fname == layout.METRICS_FILE or (r["seed"], r["split"], r["epoch"]) not in lost
            or ("estimator" in r and not reestimated(r)))]
        text = format_lines([t.columns, *rows]).encode()
        atomic_write(t.path, lambda f, text=text: f.write(text))
    return sorted(lost, key=lambda k: (k[2], k[0], k[1]))


def _keep_aside(path: str, stamp: str) -> str:
    """Copy ``path`` to ``<path>.damaged-<stamp>`` (``-2``, ``-3``, ... if taken; never
    overwritten); returns the copy's path."""
    aside, n = f"{path}.damaged-{stamp}", 1
    while os.path.exists(aside):
        n += 1
        aside = f"{path}.damaged-{stamp}-{n}"
    with open(path, "rb") as f:
        data = f.read()
    atomic_write(aside, lambda f: f.write(data))
    return aside
