"""What one figure overlays: one `Trace` per run (its selection, legend name, ceilings, null
baseline and layer widths), the layers' widths and labels ("layers.2 (5)"), and their draw
order (widest layer underneath).

Layer widths (units per sample, ``prod(shape[1:])``) are read, in this order, from the run's
stored activations (the .npy headers of the first recorded epoch of the split, no array
data) or from ``config.json`` (``preset_settings["hidden"]`` of an MLP preset of
``infoplane run``: layer ``layers.i`` has ``hidden[i]`` units); a layer of unknown width is
labelled with its bare name.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

from infoplane.report.figures.ceilings import Ceilings, resolve_ceilings, subsample_cap
from infoplane.report.figures.selection import (
    ResultsLike,
    Selection,
    aux_of,
    load_table,
    null_series,
    select,
)

__all__ = ["Trace", "draw_rank", "gather", "layer_label", "layer_widths", "merged_widths",
           "per_run", "resolve_widths", "sources_of", "unique_ceilings"]


@dataclasses.dataclass(frozen=True)
class Trace:
    """One run as drawn: its rows (`Selection`), its name in the legend ("" when it is the
    figure's only run), its ceilings, its null baseline (`null_series`) and its layer
    widths ({layer: units}, possibly partial)."""

    sel: Selection
    name: str
    ceilings: Ceilings
    nulls: dict
    widths: Mapping[str, int]


def layer_widths(run_dir: str | os.PathLike | None, split: str) -> dict[str, int]:
    """{layer: units per sample} of a run directory (see the module docstring); {} when
    nothing tells (no directory, no activations, not an MLP preset, an unreadable file)."""
    if run_dir is None or not os.path.isdir(run_dir):
        return {}
    widths = _stored_widths(os.fspath(run_dir), split)
    return widths or _config_widths(os.fspath(run_dir))


def _stored_widths(run_dir: str, split: str) -> dict[str, int]:
    from infoplane.store.activations import ActivationStore
    from infoplane.store.scan import _file_layers  # the .npy headers only, no array data

    try:
        store = ActivationStore(run_dir)
        seeds = store.seeds(split)
        epochs = store.epochs(split, seeds[0]) if seeds else []
        if not epochs:
            return {}
        shapes = _file_layers(store.epoch_path(seeds[0], split, epochs[0]))
    except (OSError, ValueError, KeyError):
        return {}
    return {name: math.prod(shape[1:]) for name, shape in shapes.items()}


def _config_widths(run_dir: str) -> dict[str, int]:
    from infoplane.store.config import config_path, read_config

    try:
        config = read_config(config_path(run_dir))
    except (OSError, ValueError):
        return {}
    preset = config.get("preset_settings") if isinstance(config, Mapping) else None
    if not isinstance(preset, Mapping) or preset.get("model") not in ("mlp", "auto"):
        return {}
    probes = config.get("probes") or {}
    shapes = [p.get("x_shape") for p in probes.values() if isinstance(p, Mapping)]
    if preset.get("model") == "auto" and not all(isinstance(s, list) and len(s) == 1
                                                 for s in shapes):
        return {}  # "auto" builds the conv net for images
    hidden = preset.get("hidden")
    if not isinstance(hidden, list) or not all(isinstance(h, int) for h in hidden):
        return {}
    return {f"layers.{i}": h for i, h in enumerate(hidden)}


def resolve_widths(widths: Any, run_dir: str | None, split: str) -> dict[str, int]:
    """A figure's ``widths`` option: "auto" (the run directory's, when the results came
    from one; {} for a table), None (none: bare names), a run directory, or a mapping
    {layer: units}."""
    if widths is None or widths is False:
        return {}
    if isinstance(widths, str) and widths == "auto":
        return layer_widths(run_dir, split)
    if isinstance(widths, str | os.PathLike):
        return layer_widths(widths, split)
    if isinstance(widths, Mapping):
        return {str(k): int(v) for k, v in widths.items()}
    raise TypeError(f"widths must be None, 'auto', a run directory or a mapping "
                    f"{{layer: units}}, got {type(widths).__name__}")


def layer_label(layer: str, widths: Mapping[str, int]) -> str:
    """``"layers.2 (5)"``: the layer and its width, or the bare name when it is unknown."""
    w = widths.get(layer)
    return f"{layer} ({w})" if w else layer


def draw_rank(layers: Sequence[str], widths: Mapping[str, int]) -> dict[str, int]:
    """{layer: rank}: the order in which the layers are stacked, 0 drawn first (underneath,
    largest markers, thickest line): the widest layer first when every width is known
    (ties: table order), table order otherwise (input to output, usually widest first)."""
    order = list(layers)
    if order and all(widths.get(layer) for layer in order):
        order = sorted(order, key=lambda layer: -widths[layer])  # stable
    return {layer: i for i, layer in enumerate(order)}


def per_run(value: Any, i: int, n: int, *, rows: bool = False) -> Any:
    """The ``i``-th run's value of a per-figure option: ``value[i]`` when ``value`` is a
    list or tuple of one value per run (``n`` > 1; for ``rows=True`` options, whose value
    may itself be a list of row mappings, only a list of non-mappings), ``value`` itself
    otherwise."""
    if n > 1 and isinstance(value, list | tuple) and len(value) == n and not (
            rows and any(isinstance(v, Mapping) for v in value)):
        return value[i]
    return value


def sources_of(results: ResultsLike | Sequence[ResultsLike], who: str
               ) -> list[tuple[Any, str | None]]:
    """[(table, run directory or None)] of a figure's ``results``: a table or run directory,
    or a list of them (an overlay of runs), each read once."""
    sources = list(results) if isinstance(results, list | tuple) else [results]
    if not sources:
        raise ValueError(f"{who}: results is an empty list; pass a Results table or a run "
                         "directory, or a list of them")
    return [load_table(s) for s in sources]


def gather(sources: Sequence[tuple[Any, str | None]], *, run: Any, labels: Any,
           ceilings: Any, null: Any, widths: Any, who: str, **select_kw) -> list[Trace]:
    """The traces of a figure: one per source (`sources_of`), or one per value of ``run``
    when it is a list (one table holding several runs). ``labels``: the runs' legend names
    (default: the run directory's name, else the table's run value). ``ceilings``,
    ``null``, ``widths``: as the figures take them, or a list with one per run.
    ``select_kw``: `select`'s other arguments."""
    runs = list(run) if isinstance(run, list | tuple) else None
    if runs is not None and len(sources) > 1:
        raise ValueError(f"{who}: pass several results or a list of run=..., not both")
    if runs is not None:
        loaded, picks = list(sources) * len(runs), runs
    else:
        loaded, picks = list(sources), [run] * len(sources)
    n = len(loaded)
    if labels is not None:
        labels = [labels] if isinstance(labels, str) else list(labels)
        if len(labels) != n:
            raise ValueError(f"{who}: {len(labels)} label(s) for {n} run(s); give one each")
    traces = []
    for i, ((res, run_dir), pick) in enumerate(zip(loaded, picks, strict=True)):
        sel = select(res, run=pick, who=who, **select_kw)
        ceil = resolve_ceilings(per_run(ceilings, i, n), run_dir, sel.split, sel.units)
        nulls = null_series(aux_of(per_run(null, i, n, rows=True), run_dir), sel)
        name = "" if n == 1 else (labels[i] if labels is not None else
                                  os.path.basename(os.path.normpath(run_dir)) if run_dir
                                  and runs is None else sel.run)
        traces.append(Trace(sel, name, subsample_cap(ceil, sel), nulls,
                            resolve_widths(per_run(widths, i, n), run_dir, sel.split)))
    names = [t.name for t in traces]
    if len(set(names)) < len(names):  # the same run name twice: number them
        traces = [dataclasses.replace(t, name=f"{t.name} [{i + 1}]")
                  for i, t in enumerate(traces)]
    return traces


def merged_widths(traces: Sequence[Trace]) -> dict[str, int]:
    """{layer: width} over the traces (the first run that knows a layer's width)."""
    out: dict[str, int] = {}
    for t in traces:
        for layer, w in t.widths.items():
            out.setdefault(layer, w)
    return out


def unique_ceilings(traces: Sequence[Trace]) -> list[Ceilings]:
    """The traces' ceilings, each distinct set once (an overlay of runs on one probe draws
    one H(X) line)."""
    out: list[Ceilings] = []
    for t in traces:
        if t.ceilings not in out:
            out.append(t.ceilings)
    return out
