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
"""

from infoplane import estimators
from infoplane._api import estimate, estimate_epochs, prepare
from infoplane.capture import capture_linen, capture_nnx, layer_names_linen, layer_names_nnx
from infoplane.checks import dpi_violations
from infoplane.diagnostics import activation_stats, ceilings
from infoplane.estimators import (
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
    knn_entropy,
    ksg_mi,
)
from infoplane.estimators.subsample import Subsample
from infoplane.harness import PRESETS, run_experiment
from infoplane.recorder import Recorder, Schedule, log_spaced_epochs
from infoplane.results import (
    ActivationStore,
    Results,
    load_diagnostics,
    load_metrics,
    load_results,
)

__version__ = "0.1.0"

#: Submodules imported on first use (matplotlib and TensorBoard load only when needed):
#: ``infoplane.plot`` (figures), ``infoplane.tensorboard`` (event files).
_LAZY = ("plot", "tensorboard")


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return importlib.import_module(f"infoplane.{name}")
    raise AttributeError(f"module 'infoplane' has no attribute {name!r}")

__all__ = [
    "KDE",
    "PRESETS",
    "ActivationStore",
    "Recorder",
    "Results",
    "Schedule",
    "Subsample",
    "capture_linen",
    "capture_nnx",
    "layer_names_linen",
    "layer_names_nnx",
    "activation_stats",
    "ceilings",
    "dpi_violations",
    "load_diagnostics",
    "load_metrics",
    "load_results",
    "log_spaced_epochs",
    "run_experiment",
    "AdaptiveBinning",
    "Binning",
    "Compressed",
    "DiffusionSpectral",
    "Estimate",
    "Estimator",
    "Probe",
    "__version__",
    "dse",
    "dsmi",
    "estimate",
    "estimate_epochs",
    "estimators",
    "knn_entropy",
    "ksg_mi",
    "prepare",
]
