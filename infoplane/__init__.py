"""infoplane: information-plane analysis of neural-network training in JAX/flax.

Flat public API::

    import infoplane
    from infoplane.estimators import Binning, AdaptiveBinning, KDE

    est = infoplane.estimate(Binning(), x, t, y)        # one layer: est.i_xt, est.i_ty (bits)
    ests = infoplane.estimate_epochs(KDE(), x, ts, y)   # ts: (E, N, d), results of shape (E,)
"""

from infoplane import estimators
from infoplane._api import estimate, estimate_epochs, prepare
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

__version__ = "0.1.0"

__all__ = [
    "KDE",
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
