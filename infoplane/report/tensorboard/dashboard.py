"""The tensors that the "Information plane" tab reads (format:
`infoplane.report.tensorboard.format`): one float64 (L, 6) tensor per (estimator label,
split, seed, epoch), tag ``infoplane/<label>/<split>/seed<k>`` (columns
`DASHBOARD_QUANTITIES`: the estimate and its interval), and, for an instance with aux values
the tab draws (`DASHBOARD_AUX`, e.g. the null ``i_ty_null``), one (L, 5) tensor per epoch
under ``.../seed<k>/aux``; the layers and metadata of a tag are fixed at its first write
(`DashboardTensors`).
"""

from __future__ import annotations

import json
import math
import time
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
from tensorboard.compat.proto import summary_pb2

from infoplane.report.bounds import ceilings_of
from infoplane.report.tensorboard.events import EventWriter
from infoplane.report.tensorboard.format import (
    DASHBOARD_AUX,
    DASHBOARD_QUANTITIES,
    FORMAT_VERSION,
    PLUGIN_NAME,
    EstimatorLabels,
    ceilings_in,
    dashboard_aux_tag,
    dashboard_tag,
    json_safe,
)

__all__ = ["DashboardTensors", "row_value"]

Tensors = dict[tuple[int, str, str, int], tuple[str, np.ndarray]]


def row_value(row: Mapping, key: str) -> float:
    """``row[key]`` as a float; NaN when absent, None, empty or not a number (the interval
    columns of rows written without intervals)."""
    v = row.get(key)
    if v is None or isinstance(v, bool) or v == "":
        return math.nan
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


class DashboardTensors:
    """The dashboard tensors of one run. ``ceilings``: {split: {"i_xt": H(X), "i_ty": H(Y)}}
    in bits, optionally with "n" (the probe's sample count), for the metadata: each
    estimator's own (`infoplane.report.bounds.ceilings_of`: log2 n for a subsample, none for
    DSMI, log2 n and for alpha >= 1 H(X), H(Y) for matrix_renyi), named in
    ``ceiling_names``."""

    def __init__(self, ceilings: Mapping[str, Mapping[str, float]]):
        self.ceilings = ceilings
        self._index: dict[str, tuple[dict[str, int], int]] = {}  # tag -> (layer idx, L)
        self._content: dict[str, bytes] = {}  # tag -> metadata content
        self._dropped: set[tuple[str, str]] = set()

    def metadata(self, row: Mapping, label: str, seed: int, layers: list[str],
                 order: int) -> dict:
        """The metadata (a dict, see the format) of a row's main tag, with these layers."""
        try:
            params = json.loads(row["params"])
        except (TypeError, ValueError):
            params = row["params"]
        units = row["units"] if "units" in row else (
            params.get("units", "bits") if isinstance(params, Mapping) else "bits")
        probe = self.ceilings.get(row["split"]) or {}
        h = ceilings_in(probe, units)
        own = ceilings_of(row["estimator"], params, h["i_xt"], h["i_ty"], probe.get("n"), units)
        ceilings = {q: own[q][0] if q in own else None for q in ("i_xt", "i_ty")}
        return {
            "version": FORMAT_VERSION, "estimator": row["estimator"], "label": label,
            "split": row["split"], "seed": seed, "layers": layers,
            "quantities": list(DASHBOARD_QUANTITIES), "units": units,
            "params": json_safe(params), "ceilings": ceilings,
            "ceiling_names": {q: own[q][1] if q in own else None for q in ("i_xt", "i_ty")},
            "order": order,
        }

    def content(self, row: Mapping, label: str, seed: int, layers: list[str],
                order: int = 0) -> bytes:
        """The metadata content (UTF-8 JSON) of a row's tag, with these layers."""
        meta = self.metadata(row, label, seed, layers, order)
        return json.dumps(meta, allow_nan=False).encode("utf-8")

    def _tag_index(self, row: Mapping, label: str, seed: int, layers: Sequence[str],
                   order: int, aux: bool = False) -> tuple[str, dict[str, int], int]:
        """(tag, layer -> row index, L) of a row's dashboard tag (``aux``: its aux tag),
        fixed (with its metadata content) at the tag's first write."""
        tag = (dashboard_aux_tag if aux else dashboard_tag)(label, row["split"], seed)
        got = self._index.get(tag)
        if got is None:
            layers = list(layers)
            got = self._index[tag] = ({n: i for i, n in enumerate(layers)}, len(layers))
            meta = self.metadata(row, label, seed, layers, order)
            if aux:
                meta.update(kind="aux", quantities=list(DASHBOARD_AUX))
            self._content[tag] = json.dumps(meta, allow_nan=False).encode("utf-8")
        return (tag, *got)

    def _warn_dropped(self, tag: str, layer: str) -> None:
        if (tag, layer) in self._dropped:
            return
        self._dropped.add((tag, layer))
        warnings.warn(
            f"layer {layer!r} first appeared after the dashboard tensor {tag!r} was started; "
            "its layers are fixed at the first write, so this layer is only in the scalars. "
            "Log every layer from the first epoch on to include it.", RuntimeWarning,
            stacklevel=4)

    def collect(self, rows: Sequence[Mapping], labels: EstimatorLabels,
                layers: Sequence[str]) -> Tensors:
        """One (tag, (L, 6) array) per (epoch, label, split, seed) of result ``rows``: the
        `DASHBOARD_QUANTITIES` of each layer (NaN where a layer has no row, or its row no
        interval); ``labels``: (estimator, params) -> label; ``layers``: every layer seen so
        far, in order (the layers of a tag written for the first time)."""
        return self._collect(rows, labels, layers, None)

    def collect_aux(self, rows: Sequence[Mapping], labels: EstimatorLabels,
                    layers: Sequence[str]) -> Tensors:
        """As `collect`, for aux rows (keys `AUX_KEYS`): one (tag, (L, 5) array) of the aux
        tag per (epoch, label, split, seed) with a value named in `DASHBOARD_AUX` (the other
        aux rows are not in the dashboard tensors)."""
        wanted = [r for r in rows if r["name"] in DASHBOARD_AUX]
        layers = list(dict.fromkeys([*layers, *(r["layer"] for r in wanted)]))
        return self._collect(wanted, labels, layers, {n: i for i, n in enumerate(DASHBOARD_AUX)})

    def _collect(self, rows, labels: EstimatorLabels, layers, aux: dict | None) -> Tensors:
        tensors: dict[tuple[int, str, str, int], tuple[str, dict, np.ndarray]] = {}
        order = {lab: i for i, lab in enumerate(labels.values())}
        width = len(DASHBOARD_QUANTITIES) if aux is None else len(DASHBOARD_AUX)
        for r in rows:
            seed, epoch = int(r["seed"]), int(r["epoch"])
            label = labels[(r["estimator"], r["params"])]
            key = (epoch, label, r["split"], seed)
            entry = tensors.get(key)
            if entry is None:
                tag, index, n_layers = self._tag_index(r, label, seed, layers, order[label],
                                                       aux is not None)
                entry = tensors[key] = (tag, index, np.full((n_layers, width), np.nan))
            li = entry[1].get(r["layer"])
            if li is None:
                self._warn_dropped(entry[0], r["layer"])
            elif aux is None:
                entry[2][li] = [row_value(r, q) for q in DASHBOARD_QUANTITIES]
            else:
                entry[2][li, aux[r["name"]]] = row_value(r, "value")
        return {key: (tag, arr) for key, (tag, _, arr) in tensors.items()}

    def write(self, w: EventWriter, tensors: Tensors, now: float | None = None) -> None:
        """Write `collect`'s (or `collect_aux`'s) tensors with the run-level writer ``w``:
        one event per epoch, in epoch order."""
        now = time.time() if now is None else now
        by_epoch: dict[int, summary_pb2.Summary] = {}
        for (epoch, _label, _split, _seed), (tag, arr) in sorted(tensors.items(),
                                                                 key=lambda kv: kv[0][0]):
            summary = by_epoch.setdefault(epoch, summary_pb2.Summary())
            summary.value.append(w.tensor_value(tag, arr, plugin_name=PLUGIN_NAME,
                                                content=self._content[tag]))
        for epoch, summary in by_epoch.items():
            w.add_summary(summary, epoch, now)
