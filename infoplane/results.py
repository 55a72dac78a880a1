"""The results table and the files of a run directory: the public import path of
`infoplane.store` (the layout and every format are documented in `infoplane.store.layout`).

`Results` / `load_results` / `concat` (the table), `ResultsWriter` and the other tables'
writers and loaders (`infoplane.store.tables`), `ActivationStore` (`infoplane.store.activations`)
and `write_json` (`infoplane.store.atomic`).
"""

from infoplane.store.activations import ActivationStore
from infoplane.store.atomic import write_json
from infoplane.store.layout import ACTIVATIONS_DIR, PENDING_DIR, RESULTS_FILE  # noqa: F401
from infoplane.store.results import Results, concat, load_results
from infoplane.store.tables import (
    AUX_COLUMNS,
    DIAGNOSTIC_COLUMNS,
    FAILURE_COLUMNS,
    KEY_COLUMNS,  # noqa: F401
    METRIC_COLUMNS,
    RESULT_COLUMNS,
    AuxWriter,
    DiagnosticsWriter,
    FailuresWriter,
    MetricsWriter,
    ResultsFileWarning,
    ResultsWriter,
    load_aux,
    load_diagnostics,
    load_failures,
    load_metrics,
    truncate_results,
)

__all__ = [
    "RESULT_COLUMNS",
    "ActivationStore",
    "Results",
    "ResultsFileWarning",
    "ResultsWriter",
    "concat",
    "load_results",
    "truncate_results",
    "load_metrics",
    "write_json",
    "MetricsWriter",
    "METRIC_COLUMNS",
    "DIAGNOSTIC_COLUMNS",
    "DiagnosticsWriter",
    "load_diagnostics",
    "AUX_COLUMNS",
    "AuxWriter",
    "load_aux",
    "FAILURE_COLUMNS",
    "FailuresWriter",
    "load_failures",
]
