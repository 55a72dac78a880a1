"""Parameter sweeps of a stored run (``infoplane sweep``): the expansion of a spec with list
values into one spec per parameter set (`expand_sweep`, `expand_sweeps`), the estimator
instances a re-estimation records for them (`swept_params`), and the sensitivity of the
final-epoch estimates to the swept values (`sensitivity`, `format_sensitivity`).

The expansion rule: in ``name(k1=[a, b], k2=v, ...)`` a parameter value written as a list
``[...]`` is a sweep over its elements when the estimator's default for that key is not a
sequence (``n_bins=[4, 8, 16]``: three specs); when the default is a sequence (binning's
``range``, default ``(-1, 1)``) the list is a sweep only when some element is itself a list
or tuple (``range=[[-1, 1], [0, 1]]``: two specs; ``range=[0, 1]`` stays one value). Several
swept keys give their Cartesian product, in the order written (the last key varies fastest).
A wrapper spec (``subsample(binning(n_bins=[8, 16]), n=[256, 512])``) expands its inner spec
and its own parameters. Element texts are kept verbatim, so each expanded spec is read by
`infoplane.estimators.from_spec` exactly as if typed (bare words, ``true``/``none``, ...).

Sensitivity: for each estimator, split and layer, the seed mean of I(X;T) and I(T;Y) at the
last epoch that every swept parameter set has recorded, per parameter set, and the spread
(max - min over the parameter sets, NaN estimates left out) of each quantity. Values are in
the rows' units, or all in bits when the parameter sets differ in units.

Pure functions over spec strings and results tables; nothing is estimated or written here.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from infoplane.estimators import REGISTRY, from_spec, split_specs
from infoplane.experiments.presets import default_estimators
from infoplane.recording.estimation import params_json
from infoplane.report.compression import instance_label
from infoplane.report.tensorboard.format import quantity_symbols

__all__ = ["MAX_COMBINATIONS", "SENSITIVITY_COLUMNS", "SensitivityRow", "expand_sweep",
           "expand_sweeps", "format_sensitivity", "run_intervals", "sensitivity", "swept_keys",
           "swept_params"]

#: At most this many parameter sets in one sweep (all specs together).
MAX_COMBINATIONS = 64
NOTHING_TO_SWEEP = ("nothing to sweep: give a parameter a list, e.g. "
                    "binning(n_bins=[8, 16, 32])")


def _defaults(name: str, spec: str, inner: str | None) -> dict:
    """The parameter defaults of estimator ``name`` (a wrapper's: built around ``inner``)."""
    if inner is None:
        if name not in REGISTRY:
            from_spec(name)  # raises the unknown-name error, listing the valid names
        cls = REGISTRY[name]
    else:
        cls = type(from_spec(f"{name}({inner})"))  # an unknown wrapper name raises here
    return {f.name: f.default for f in dataclasses.fields(cls) if f.name != "estimator"}


def _is_sequence_text(text: str) -> bool:
    return text.strip()[:1] in ("[", "(")


def _choices(spec: str, name: str, item: str, defaults: dict) -> tuple[list[str], bool]:
    """The ``key=value`` texts one item of a spec stands for, and whether it is swept."""
    key, eq, value = item.partition("=")
    key, value = key.strip(), value.strip()
    if not eq:
        return [item], False  # not key=value: from_spec reports it
    if key not in defaults:
        raise ValueError(f"estimator {name!r} has no parameter {key!r}; its parameters are: "
                         f"{', '.join(defaults)} (in {spec!r}).")
    if not (value.startswith("[") and value.endswith("]")):
        return [item.strip()], False
    elements = split_specs(value[1:-1])
    if isinstance(defaults[key], tuple | list) and not any(map(_is_sequence_text, elements)):
        return [item.strip()], False  # range=[0, 1]: one value of a sequence parameter
    if not elements:
        raise ValueError(f"{spec!r}: {key}=[] sweeps over nothing; give at least one value, "
                         f"e.g. {key}=[{defaults[key]!r}].")
    return [f"{key}={e}" for e in elements], True


def _expand(spec: str) -> tuple[list[str], bool]:
    """(the specs ``spec`` stands for, whether any of its parameters is swept)."""
    text = spec.strip()
    name, paren, rest = text.partition("(")
    name = name.strip()
    if not paren:
        return [text], False
    if not rest.rstrip().endswith(")"):
        raise ValueError(f"estimator spec {spec!r} must end with ')': name(key=value, ...).")
    items = split_specs(rest.rstrip()[:-1])
    wrapper = name not in REGISTRY and bool(items) and "=" not in items[0].partition("(")[0]
    heads, swept = ([""], False)
    if wrapper:  # subsample(<spec>, n=...): the inner spec first
        heads, swept = _expand(items[0])
        items = items[1:]
    defaults = _defaults(name, spec, heads[0] if wrapper else None)
    per_item = [_choices(spec, name, item, defaults) for item in items]
    swept = swept or any(s for _c, s in per_item)
    count = len(heads) * math.prod(len(c) for c, _s in per_item)
    if count > MAX_COMBINATIONS:
        raise ValueError(f"{spec!r} expands to {count} parameter sets, more than "
                         f"{MAX_COMBINATIONS}; sweep fewer values or split the sweep.")
    out = []
    for head in heads:
        for combo in itertools.product(*(c for c, _s in per_item)):
            parts = ([head] if wrapper else []) + list(combo)
            out.append(f"{name}({', '.join(parts)})" if parts else name)
    return out, swept


def expand_sweep(spec: str) -> list[str]:
    """The specs of a sweep spec, one per parameter set (the rule: the module docstring),
    e.g. ``"binning(n_bins=[4, 8], range=data)"`` -> ``["binning(n_bins=4, range=data)",
    "binning(n_bins=8, range=data)"]``. Each is checked with `from_spec`. ValueError: no
    list to sweep, an unknown estimator or key, a bad value (naming its spec), or more
    than `MAX_COMBINATIONS` parameter sets."""
    return expand_sweeps([spec])


def expand_sweeps(specs: Sequence[str]) -> list[str]:
    """`expand_sweep` of several specs (each may also be a comma-separated list, as in
    ``--estimators``), in order, parameter sets that record the same ``params`` kept once;
    at least one must sweep a parameter, and all together at most `MAX_COMBINATIONS`."""
    if isinstance(specs, str):
        specs = [specs]
    out: dict[str, str] = {}  # params JSON -> spec
    any_swept = False
    for arg in specs:
        for spec in split_specs(arg):
            expanded, swept = _expand(spec)
            any_swept = any_swept or swept
            for s in expanded:
                try:
                    est = from_spec(s)
                except (TypeError, ValueError) as err:
                    raise ValueError(f"{s} (from {spec}): {err}") from None
                out.setdefault(params_json(est), s)
                if len(out) > MAX_COMBINATIONS:
                    raise ValueError(f"the sweep has more than {MAX_COMBINATIONS} parameter "
                                     "sets; sweep fewer values or split the sweep.")
    if not any_swept:
        raise ValueError(NOTHING_TO_SWEEP)
    return list(out.values())


def swept_params(specs: Sequence[str], n_probe: int, subsample: int | None = None,
                 intervals: int | None = 0) -> list[str]:
    """The ``params`` JSON of the rows a re-estimation of ``specs`` records
    (`infoplane.experiments.reestimate`: the costly estimators wrapped in `Subsample` as
    `default_estimators` does for a probe of ``n_probe`` rows and ``subsample``, with the
    confidence intervals of ``intervals``)."""
    return [params_json(e)
            for e in default_estimators(list(specs), n_probe, subsample, intervals)]


def run_intervals(run_dir: str) -> int | None:
    """The ``intervals`` a run was recorded with (config.json; None: ``infoplane run``'s
    default rule, `infoplane.experiments.presets.with_run_intervals`), 0 for a run without the
    setting (recorded before it existed, or not by ``infoplane run``): a sweep estimates its
    parameter sets as the run did, so a swept value equal to the run's own lands on its
    rows."""
    from infoplane.store.config import read_config

    try:
        config = read_config(run_dir)
    except (OSError, ValueError):
        return 0
    if not isinstance(config, dict) or config.get("command") != "run":
        return 0
    return config.get("intervals", 0)


def swept_keys(param_sets: Sequence[str]) -> tuple[str, ...]:
    """The parameter keys (sorted) whose values differ between the JSON ``param_sets``."""
    decoded = [json.loads(p) for p in param_sets]
    keys = sorted({k for d in decoded for k in d})
    return tuple(k for k in keys if len({json.dumps(d.get(k), sort_keys=True)
                                         for d in decoded}) > 1)


@dataclasses.dataclass(frozen=True)
class SensitivityRow:
    """The final-epoch estimates of one parameter set on one layer (`sensitivity`).

    Attributes:
      estimator, split, layer: the curve; params: the rows' JSON; label: the swept values,
        e.g. ``binning(n_bins=4)``; values: ``((key, value), ...)`` of the swept keys.
      epoch: the final epoch compared; n_seeds: the seeds averaged there.
      i_xt, i_ty: the seed means (NaN: no finite estimate); units: theirs.
      i_xt_spread, i_ty_spread: max - min over the layer's parameter sets (the same on every
        row of the layer).
    """

    estimator: str
    split: str
    layer: str
    params: str
    label: str
    values: tuple[tuple[str, Any], ...]
    epoch: int
    n_seeds: int
    i_xt: float
    i_ty: float
    units: str
    i_xt_spread: float
    i_ty_spread: float

    def as_dict(self) -> dict:
        """One CSV row: the swept keys as columns of their own (`SENSITIVITY_COLUMNS` around
        them), values of lists / dicts as JSON."""
        d = {c: getattr(self, c) for c in SENSITIVITY_COLUMNS if c != "params"}
        for k, v in self.values:
            d[k] = json.dumps(v) if isinstance(v, list | dict) else v
        return {**d, "params": self.params}


#: The CSV columns of a `SensitivityRow`, besides one per swept key (after ``layer``).
SENSITIVITY_COLUMNS = ("estimator", "split", "layer", "label", "epoch", "n_seeds", "i_xt",
                       "i_ty", "i_xt_spread", "i_ty_spread", "units", "params")


def _spread(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return max(finite) - min(finite) if finite else math.nan


def sensitivity(table, param_sets: Sequence[str], split: str | None = None
                ) -> list[SensitivityRow]:
    """The sensitivity rows of ``table`` (a `Results`) for the parameter sets ``param_sets``
    (JSON, as in the ``params`` column; those absent from the table are left out), per
    estimator, split (only ``split`` when given) and layer, in table order (module
    docstring). A layer whose parameter sets share no recorded epoch has no rows."""
    sel = table.where(params=list(param_sets))
    if split is not None:
        sel = sel.where(split=split)
    present = [p for p in param_sets if p in set(sel.unique("params"))]
    out: list[SensitivityRow] = []
    for est in sel.unique("estimator"):
        mine = [p for p in present if json.loads(p).get("estimator", est) == est]
        keys = swept_keys(mine)
        rows_e = sel.where(estimator=est, params=mine)
        to_bits = len(set(rows_e.unique("units"))) > 1
        for sp in rows_e.unique("split"):
            for layer in rows_e.where(split=sp).unique("layer"):
                cur = rows_e.where(split=sp, layer=layer)
                out.extend(_layer_rows(cur, mine, keys, est, sp, layer, to_bits))
    return out


def _layer_rows(cur, mine, keys, est, split, layer, to_bits) -> list[SensitivityRow]:
    per = {p: cur.where(params=p) for p in mine}
    per = {p: r for p, r in per.items() if len(r)}
    if not per:
        return []
    common = set.intersection(*(set(r["epoch"].tolist()) for r in per.values()))
    if not common:
        return []
    epoch = max(common)
    cells = {}
    for p, r in per.items():
        at = r.where(epoch=epoch)
        scale = (1.0 / math.log(2.0)) if to_bits and at["units"][0] == "nats" else 1.0
        cells[p] = (len(set(at["seed"].tolist())), float(np.mean(at["i_xt"])) * scale,
                    float(np.mean(at["i_ty"])) * scale,
                    "bits" if to_bits else str(at["units"][0]))
    xt_spread = _spread([c[1] for c in cells.values()])
    ty_spread = _spread([c[2] for c in cells.values()])
    rows = []
    for p, (n, xt, ty, units) in cells.items():
        d = json.loads(p)
        rows.append(SensitivityRow(
            estimator=est, split=split, layer=layer, params=p,
            label=instance_label(est, p, keys), values=tuple((k, d.get(k)) for k in keys),
            epoch=int(epoch), n_seeds=n, i_xt=xt, i_ty=ty, units=units,
            i_xt_spread=xt_spread, i_ty_spread=ty_spread))
    return rows


def _num(v: float) -> str:
    return "nan" if math.isnan(v) else f"{v:.3f}"


def _value(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v) if isinstance(v, list | dict) else repr(v)


def format_sensitivity(rows: Sequence[SensitivityRow]) -> str:
    """The sensitivity rows as terminal tables, one per estimator and split: a line per
    layer and parameter set (the swept keys, epoch, seeds, the two quantities) and a
    "spread" line (max - min) under each layer."""
    groups: dict[tuple, list[SensitivityRow]] = {}
    for r in rows:
        groups.setdefault((r.estimator, r.split), []).append(r)
    if not groups:
        return "sensitivity: (no rows)"
    blocks = []
    for (est, split), members in groups.items():
        keys = [k for k, _v in members[0].values] or ["params"]
        xt, ty, _note = quantity_symbols(est, members[0].params)
        head = ["layer", *keys, "epoch", "seeds", xt, ty]
        body, last = [], None
        for i, r in enumerate(members):
            vals = [_value(v) for _k, v in r.values] or [r.label]
            body.append([r.layer if r.layer != last else "", *vals, str(r.epoch),
                         str(r.n_seeds), _num(r.i_xt), _num(r.i_ty)])
            last = r.layer
            if i + 1 == len(members) or members[i + 1].layer != r.layer:
                body.append(["", "spread", *[""] * (len(keys) - 1), "", "",
                             _num(r.i_xt_spread), _num(r.i_ty_spread)])
        widths = [max(len(x) for x in col) for col in zip(head, *body, strict=True)]
        lines = [f"sensitivity of {est} to {', '.join(keys)} ({split}): final-epoch {xt} "
                 f"and {ty}, seed mean, {members[0].units}; spread = max - min"]
        for cells in [head, *body]:
            lines.append("  " + "  ".join(c.rjust(w) if i >= len(keys) + 1 else c.ljust(w)
                                          for i, (c, w) in enumerate(zip(cells, widths,
                                                                         strict=True))
                                          ).rstrip())
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
