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

The package has seven parts, each a folder with its own docstring saying what it owns and
what it may import (README, "Layout"): ``estimators/`` (the protocol, the estimator families,
the array API), ``store/`` (the run directory), ``report/`` (checks, diagnostics, figures,
TensorBoard), ``recording/`` (capture and the `Recorder`), ``experiments/`` (datasets,
presets, training, run / resume), ``dashboard/`` (the TensorBoard tab) and ``cli/``. The
public modules `infoplane.plot`, `infoplane.datasets`, `infoplane.results` and
`infoplane.tensorboard` are stable import paths into them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

#: Public name -> the module that defines it (a module itself when the value is None).
_EXPORTS = {
    "estimate": "infoplane.estimators.apply",
    "estimate_epochs": "infoplane.estimators.apply",
    "prepare": "infoplane.estimators.apply",
    "capture_linen": "infoplane.recording.capture",
    "capture_nnx": "infoplane.recording.capture",
    "layer_names_linen": "infoplane.recording.capture",
    "layer_names_nnx": "infoplane.recording.capture",
    "check_report": "infoplane.report.checks",
    "compression_summary": "infoplane.report.compression",
    "dpi_violations": "infoplane.report.checks",
    "range_violations": "infoplane.report.checks",
    "activation_stats": "infoplane.report.diagnostics",
    "ceilings": "infoplane.report.diagnostics",
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
    "MatrixRenyi": "infoplane.estimators",
    "matrix_entropy": "infoplane.estimators",
    "matrix_mi": "infoplane.estimators",
    "knn_entropy": "infoplane.estimators",
    "ksg_mi": "infoplane.estimators",
    "from_spec": "infoplane.estimators",
    "to_spec": "infoplane.estimators",
    "Subsample": "infoplane.estimators.subsample",
    "NullLabels": "infoplane.estimators.null",
    "Intervals": "infoplane.estimators.intervals",
    "PerChannel": "infoplane.estimators.channels",
    "PRESETS": "infoplane.experiments.presets",
    "run_experiment": "infoplane.experiments.run",
    "reestimate": "infoplane.experiments.reestimate",
    "Recorder": "infoplane.recording.recorder",
    "Schedule": "infoplane.recording.schedule",
    "log_spaced_epochs": "infoplane.recording.schedule",
    "ActivationStore": "infoplane.store.activations",
    "Results": "infoplane.store.results",
    "load_aux": "infoplane.store.tables",
    "load_diagnostics": "infoplane.store.tables",
    "load_failures": "infoplane.store.tables",
    "load_metrics": "infoplane.store.tables",
    "load_results": "infoplane.store.results",
    # public submodules
    "estimators": None,
    "datasets": None,
    "plot": None,
    "results": None,
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
    from infoplane import datasets, estimators, plot, results, tensorboard  # noqa: F401
    from infoplane.estimators import (  # noqa: F401
        KDE,
        AdaptiveBinning,
        Binning,
        Compressed,
        DiffusionSpectral,
        Estimate,
        Estimator,
        MatrixRenyi,
        Probe,
        dse,
        dsmi,
        from_spec,
        knn_entropy,
        ksg_mi,
        matrix_entropy,
        matrix_mi,
        to_spec,
    )
    from infoplane.estimators.apply import estimate, estimate_epochs, prepare  # noqa: F401
    from infoplane.estimators.channels import PerChannel  # noqa: F401
    from infoplane.estimators.intervals import Intervals  # noqa: F401
    from infoplane.estimators.null import NullLabels  # noqa: F401
    from infoplane.estimators.subsample import Subsample  # noqa: F401
    from infoplane.experiments.presets import PRESETS  # noqa: F401
    from infoplane.experiments.reestimate import reestimate  # noqa: F401
    from infoplane.experiments.run import run_experiment  # noqa: F401
    from infoplane.recording.capture import (  # noqa: F401
        capture_linen,
        capture_nnx,
        layer_names_linen,
        layer_names_nnx,
    )
    from infoplane.recording.recorder import Recorder  # noqa: F401
    from infoplane.recording.schedule import Schedule, log_spaced_epochs  # noqa: F401
    from infoplane.report.checks import (  # noqa: F401
        check_report,
        dpi_violations,
        range_violations,
    )
    from infoplane.report.compression import compression_summary  # noqa: F401
    from infoplane.report.diagnostics import activation_stats, ceilings  # noqa: F401
    from infoplane.store.activations import ActivationStore  # noqa: F401
    from infoplane.store.results import Results, load_results  # noqa: F401
    from infoplane.store.tables import (  # noqa: F401
        load_aux,
        load_diagnostics,
        load_failures,
        load_metrics,
    )

__all__ = sorted(k for k in _EXPORTS
                 if k not in ("datasets", "plot", "results", "tensorboard")) + [
    "__version__"
]
