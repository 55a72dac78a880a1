"""infoplane: information-plane analysis of neural-network training in JAX/flax.

Flat public API::

    import infoplane
    from infoplane.estimators import Binning, AdaptiveBinning, KDE

    est = infoplane.estimate(Binning(), x, t, y)        # one layer: est.i_xt, est.i_ty (bits)
    ests = infoplane.estimate_epochs(KDE(), x, ts, y)   # ts: (E, N, d), results of shape (E,)

    rec = infoplane.Recorder(x_probe, y_probe, estimators=["binning", "kde"], logdir="runs")
    rec.record(epoch, model)   # in your training loop; linen: rec.record(epoch, module, params)
    rec.close()
    table = infoplane.load_results(rec.run_dir)

Names are imported on first use, so ``import infoplane`` (and TensorBoard loading the
Information plane plugin, which imports this package) does not pay for JAX, flax or
matplotlib until they are needed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

#: Public name -> the module that defines it (a module itself when the value is None).
_EXPORTS = {
    "estimate": "infoplane._api",
    "estimate_epochs": "infoplane._api",
    "prepare": "infoplane._api",
    "capture_linen": "infoplane.capture",
    "capture_nnx": "infoplane.capture",
    "layer_names_linen": "infoplane.capture",
    "layer_names_nnx": "infoplane.capture",
    "check_report": "infoplane.checks",
    "dpi_violations": "infoplane.checks",
    "range_violations": "infoplane.checks",
    "activation_stats": "infoplane.diagnostics",
    "ceilings": "infoplane.diagnostics",
    "KDE": "infoplane.estimators",
    "AdaptiveBinning": "infoplane.estimators",
    "Binning": "infoplane.estimators",
    "Compressed": "infoplane.estimators",
    "DiffusionSpectral": "infoplane.estimators",
    "Estimate": "infoplane.estimators",
    "Estimator": "infoplane.estimators",
    "Probe": "infoplane.estimators",
    "dse": "infoplane.estimators",
    "dsmi": "infoplane.estimators",
    "knn_entropy": "infoplane.estimators",
    "ksg_mi": "infoplane.estimators",
    "from_spec": "infoplane.estimators",
    "to_spec": "infoplane.estimators",
    "Subsample": "infoplane.estimators.subsample",
    "PRESETS": "infoplane.harness",
    "run_experiment": "infoplane.harness",
    "Recorder": "infoplane.recorder",
    "Schedule": "infoplane.recorder",
    "log_spaced_epochs": "infoplane.recorder",
    "ActivationStore": "infoplane.results",
    "Results": "infoplane.results",
    "load_aux": "infoplane.results",
    "load_diagnostics": "infoplane.results",
    "load_metrics": "infoplane.results",
    "load_results": "infoplane.results",
    # submodules
    "estimators": None,
    "datasets": None,
    "plot": None,
    "tensorboard": None,
}


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'infoplane' has no attribute {name!r}")
    module = _EXPORTS[name]
    value = (importlib.import_module(f"infoplane.{name}") if module is None
             else getattr(importlib.import_module(module), name))
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:  # static tools see the real names
    from infoplane import datasets, estimators, plot, tensorboard  # noqa: F401
    from infoplane._api import estimate, estimate_epochs, prepare  # noqa: F401
    from infoplane.capture import (  # noqa: F401
        capture_linen,
        capture_nnx,
        layer_names_linen,
        layer_names_nnx,
    )
    from infoplane.checks import check_report, dpi_violations, range_violations  # noqa: F401
    from infoplane.diagnostics import activation_stats, ceilings  # noqa: F401
    from infoplane.estimators import (  # noqa: F401
        KDE,
        AdaptiveBinning,
        Binning,
        Compressed,
        DiffusionSpectral,
        Estimate,
        Estimator,
        Probe,
        dse,
        dsmi,
        from_spec,
        knn_entropy,
        ksg_mi,
        to_spec,
    )
    from infoplane.estimators.subsample import Subsample  # noqa: F401
    from infoplane.harness import PRESETS, run_experiment  # noqa: F401
    from infoplane.recorder import Recorder, Schedule, log_spaced_epochs  # noqa: F401
    from infoplane.results import (  # noqa: F401
        ActivationStore,
        Results,
        load_aux,
        load_diagnostics,
        load_metrics,
        load_results,
    )

__all__ = sorted(k for k in _EXPORTS if k not in ("datasets", "plot", "tensorboard")) + [
    "__version__"
]
