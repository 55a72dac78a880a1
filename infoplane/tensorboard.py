"""TensorBoard event files of a run: the public import path of `infoplane.report.tensorboard`
(the layout, tags and formats are documented in `infoplane.report.tensorboard.format`).

`TensorBoardLogger` writes a run's results, metrics, diagnostics and auxiliary values;
`EventWriter` one event directory. No TensorFlow is needed.
"""

from infoplane.report.tensorboard.events import (  # noqa: F401
    DATA_CLASS_TENSOR,
    EventWriter,
    masked_crc32c,
)
from infoplane.report.tensorboard.format import (  # noqa: F401
    AUX_KEYS,
    DIAGNOSTIC_KEYS,
    FORMAT_VERSION,
    HPARAM_METRICS,
    METRIC_KEYS,
    PLUGIN_NAME,
    RESULT_KEYS,
    dashboard_tag,
    estimator_label,
    json_safe,
    layer_dir_name,
)
from infoplane.report.tensorboard.logger import TensorBoardLogger

__all__ = [
    "DATA_CLASS_TENSOR",
    "DIAGNOSTIC_KEYS",
    "FORMAT_VERSION",
    "HPARAM_METRICS",
    "METRIC_KEYS",
    "PLUGIN_NAME",
    "RESULT_KEYS",
    "EventWriter",
    "TensorBoardLogger",
    "dashboard_tag",
    "estimator_label",
    "json_safe",
    "layer_dir_name",
]
