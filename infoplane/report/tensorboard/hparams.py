"""The run's hyper-parameters for TensorBoard's HPARAMS tab: the hparams plugin's experiment
config (the hparams and the metrics `HPARAM_METRICS` of run ``<name>/tb/seed0``) and the
session start info (group name = the run name), both written at step 0 of the run level.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from infoplane.report.tensorboard.events import EventWriter
from infoplane.report.tensorboard.format import HPARAM_GROUP, HPARAM_METRICS

__all__ = ["clean_hparams", "hparam_value", "write_hparams"]


def hparam_value(value: Any) -> bool | int | float | str | None:
    """An hparams-plugin value: bool/int/float/str as is (NumPy scalars unwrapped), None
    dropped (returned as None), anything else as its JSON text."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def clean_hparams(hparams: Mapping[str, Any]) -> dict[str, bool | int | float | str]:
    """``hparams`` with string keys and `hparam_value` values, None values dropped."""
    out = {}
    for k, v in dict(hparams).items():
        v = hparam_value(v)
        if v is not None:
            out[str(k)] = v
    return out


def write_hparams(w: EventWriter, run: str, hparams: Mapping[str, bool | int | float | str]
                  ) -> None:
    """Write the experiment config and the session start info of ``hparams`` (cleaned, see
    `clean_hparams`) at step 0 with ``w``, the run-level writer."""
    from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2
    from tensorboard.plugins.hparams import metadata as hp_metadata
    from tensorboard.plugins.hparams import summary_v2 as hp

    metrics = [hp.Metric(tag, group=HPARAM_GROUP, dataset_type=(
        hp.Metric.TRAINING if "train" in tag else hp.Metric.VALIDATION))
        for tag in HPARAM_METRICS]
    now = time.time()
    config = hp.hparams_config_pb([hp.HParam(k) for k in sorted(hparams)], metrics,
                                  time_created_secs=now)
    # Declare each hparam's type (no domain: the HPARAMS tab reads one experiment config
    # for the whole logdir, and a domain taken from one run would hide the others' values).
    value = config.value[0]
    experiment = hp_metadata.parse_experiment_plugin_data(value.metadata.plugin_data.content)
    for info in experiment.hparam_infos:
        v = hparams[info.name]
        info.type = (api_pb2.DATA_TYPE_BOOL if isinstance(v, bool) else
                     api_pb2.DATA_TYPE_STRING if isinstance(v, str) else
                     api_pb2.DATA_TYPE_FLOAT64)
    value.metadata.CopyFrom(hp_metadata.create_summary_metadata(
        plugin_data_pb2.HParamsPluginData(experiment=experiment)))
    w.add_summary(config, 0)
    w.add_summary(hp.hparams_pb(dict(hparams), trial_id=str(run), start_time_secs=now), 0)
