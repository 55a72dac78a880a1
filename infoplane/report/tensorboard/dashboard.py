"""The tensors that the "Information plane" tab reads (format:
`infoplane.report.tensorboard.format`): one float64 (L, 2) tensor per (estimator label,
split, seed, epoch), tag ``infoplane/<label>/<split>/seed<k>``, whose layers and metadata are
fixed at the tag's first write (`DashboardTensors`).
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
from tensorboard.compat.proto import summary_pb2

from infoplane.report.bounds import ceilings_of
from infoplane.report.tensorboard.events import EventWriter
from infoplane.report.tensorboard.format import (
    FORMAT_VERSION,
    PLUGIN_NAME,
    EstimatorLabels,
    ceilings_in,
    dashboard_tag,
    json_safe,
)

__all__ = ["DashboardTensors"]


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

    def content(self, row: Mapping, label: str, seed: int, layers: list[str]) -> bytes:
        """The metadata content (UTF-8 JSON) of a row's tag, with these layers."""
        try:
            params = json.loads(row["params"])
        except (TypeError, ValueError):
            params = row["params"]
        units = row["units"]
        probe = self.ceilings.get(row["split"]) or {}
        h = ceilings_in(probe, units)
        own = ceilings_of(row["estimator"], params, h["i_xt"], h["i_ty"], probe.get("n"), units)
        ceilings = {q: own[q][0] if q in own else None for q in ("i_xt", "i_ty")}
        meta = {
            "version": FORMAT_VERSION, "estimator": row["estimator"], "label": label,
            "split": row["split"], "seed": seed, "layers": layers,
            "quantities": ["i_xt", "i_ty"], "units": units, "params": json_safe(params),
            "ceilings": ceilings,
            "ceiling_names": {q: own[q][1] if q in own else None for q in ("i_xt", "i_ty")},
        }
        return json.dumps(meta, allow_nan=False).encode("utf-8")

    def _tag_index(self, row: Mapping, label: str, seed: int, layers: Sequence[str]
                   ) -> tuple[dict[str, int], int]:
        """The (layer -> row index, L) of a row's dashboard tag, fixed (with its metadata
        content) at the tag's first write."""
        tag = dashboard_tag(label, row["split"], seed)
        got = self._index.get(tag)
        if got is None:
            layers = list(layers)
            got = self._index[tag] = ({n: i for i, n in enumerate(layers)}, len(layers))
            self._content[tag] = self.content(row, label, seed, layers)
        return got

    def _warn_dropped(self, label: str, split: str, seed: int, layer: str) -> None:
        if (dashboard_tag(label, split, seed), layer) in self._dropped:
            return
        self._dropped.add((dashboard_tag(label, split, seed), layer))
        warnings.warn(
            f"layer {layer!r} first appeared after the dashboard tensor "
            f"{dashboard_tag(label, split, seed)!r} was started; its layers are fixed at the "
            "first write, so this layer is only in the scalars. Log every layer from the "
            "first epoch on to include it.", RuntimeWarning, stacklevel=4)

    def collect(self, rows: Sequence[Mapping], labels: EstimatorLabels,
                layers: Sequence[str]) -> dict[tuple[int, str, str, int], np.ndarray]:
        """One (L, 2) array per (epoch, label, split, seed) of ``rows`` (NaN where a layer has
        no row); ``labels``: (estimator, params) -> label; ``layers``: every layer seen so
        far, in order (the layers of a tag written for the first time)."""
        tensors: dict[tuple[int, str, str, int], tuple[dict[str, int], np.ndarray]] = {}
        for r in rows:
            seed, epoch = int(r["seed"]), int(r["epoch"])
            label = labels[(r["estimator"], r["params"])]
            split, layer = r["split"], r["layer"]
            key = (epoch, label, split, seed)
            entry = tensors.get(key)
            if entry is None:
                index, n_layers = self._tag_index(r, label, seed, layers)
                entry = tensors[key] = (index, np.full((n_layers, 2), np.nan))
            li = entry[0].get(layer)
            if li is None:
                self._warn_dropped(label, split, seed, layer)
            else:
                entry[1][li, 0] = float(r["i_xt"])
                entry[1][li, 1] = float(r["i_ty"])
        return {key: arr for key, (_, arr) in tensors.items()}

    def write(self, w: EventWriter, tensors: Mapping[tuple[int, str, str, int], np.ndarray],
              now: float | None = None) -> None:
        """Write `collect`'s tensors with the run-level writer ``w``: one event per epoch."""
        now = time.time() if now is None else now
        by_epoch: dict[int, summary_pb2.Summary] = {}
        for (epoch, label, split, seed), arr in tensors.items():
            tag = dashboard_tag(label, split, seed)
            summary = by_epoch.setdefault(epoch, summary_pb2.Summary())
            summary.value.append(w.tensor_value(tag, arr, plugin_name=PLUGIN_NAME,
                                                content=self._content[tag]))
        for epoch, summary in by_epoch.items():
            w.add_summary(summary, epoch, now)
