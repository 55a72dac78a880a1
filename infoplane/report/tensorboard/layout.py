"""The custom-scalars layout of a run: a category per estimator label with multiline charts
``I(X;T) <split>`` and ``I(T;Y) <split>`` (one line per layer), a "training" category
(metrics) and a "saturation" category (`custom_scalars_layout`), as the summary TensorBoard
reads it (`layout_summary`).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from tensorboard.compat.proto import summary_pb2
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.custom_scalar import metadata as _cs_metadata
from tensorboard.util import tensor_util

from infoplane.report.tensorboard.format import regex_literal

__all__ = ["DEFAULT_STATS", "custom_scalars_layout", "layout_summary"]

#: Statistics of the saturation layout before any diagnostic row arrived.
DEFAULT_STATS = ("saturated", "zero", "dead_units", "mean_abs")


def custom_scalars_layout(labels: Iterable[str], splits: Iterable[str], stats: Iterable[str]
                          ) -> layout_pb2.Layout:
    """The layout for these estimator labels, splits and saturation statistics (in order;
    `DEFAULT_STATS` when ``stats`` is empty)."""
    C, Chart, Multi = layout_pb2.Category, layout_pb2.Chart, layout_pb2.MultilineChartContent
    splits = list(splits)
    stats = list(stats)
    categories = []
    for label in dict.fromkeys(labels):
        lab = regex_literal(label)
        charts = []
        for split in splits:
            sp = regex_literal(split)
            charts.append(Chart(title=f"I(X;T) {split}",
                                multiline=Multi(tag=[f"^{lab}/I_XT/{sp}$"])))
            charts.append(Chart(title=f"I(T;Y) {split}",
                                multiline=Multi(tag=[f"^{lab}/I_TY/{sp}$"])))
        categories.append(C(title=label, chart=charts))
    categories.append(C(title="training", chart=[
        Chart(title="accuracy", multiline=Multi(tag=[r"^metrics/.*acc"])),
        Chart(title="loss", multiline=Multi(tag=[r"^metrics/.*loss"])),
        Chart(title="all metrics", multiline=Multi(tag=[r"^metrics/"]))]))
    categories.append(C(title="saturation", chart=[
        Chart(title=f"{stat} {split}", multiline=Multi(
            tag=[f"^saturation/{regex_literal(stat)}/{regex_literal(split)}$"]))
        for stat in (stats or DEFAULT_STATS) for split in splits]))
    return layout_pb2.Layout(category=categories)


def layout_summary(layout: layout_pb2.Layout) -> summary_pb2.Summary:
    """The summary that carries ``layout`` (TensorBoard shows the last one written)."""
    tensor = tensor_util.make_tensor_proto(layout.SerializeToString(), dtype=np.object_)
    return summary_pb2.Summary(value=[summary_pb2.Summary.Value(
        tag=_cs_metadata.CONFIG_SUMMARY_TAG, tensor=tensor,
        metadata=_cs_metadata.create_summary_metadata())])
