"""Information-plane estimators. Every estimator follows the protocol in `_base`.

Estimators: `Binning` (Shwartz-Ziv & Tishby 2017; Saxe et al. 2018), `AdaptiveBinning`
(Chelombiev et al. 2019), `KDE` (Kolchinsky & Tracey 2017), `Compressed` (Butakov et al.
2024), `DiffusionSpectral` (DSE/DSMI, Liao, Liu et al. 2023).
Building blocks: `dse`, `dsmi`, `knn_entropy` (Kozachenko–Leonenko /
Berrett–Samworth–Yuan) and `ksg_mi` (Kraskov–Stögbauer–Grassberger).
"""

from infoplane.estimators._base import Estimate, Estimator, Probe, make_probe
from infoplane.estimators.adaptive import AdaptiveBinning
from infoplane.estimators.binning import Binning
from infoplane.estimators.compressed import Compressed
from infoplane.estimators.kde import KDE
from infoplane.estimators.knn import knn_entropy, ksg_mi
from infoplane.estimators.spectral import DiffusionSpectral, dse, dsmi
from infoplane.estimators.subsample import Subsample

#: Estimator classes by their `name`.
REGISTRY = {
    cls.name: cls for cls in (Binning, AdaptiveBinning, KDE, Compressed, DiffusionSpectral)
}
#: Valid estimator names, e.g. for a command line.
NAMES = tuple(REGISTRY)


def by_name(name: str, **params) -> Estimator:
    """An estimator from its name (one of `NAMES`, e.g. "binning") and its parameters."""
    try:
        cls = REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"Unknown estimator {name!r}. Valid names: {', '.join(NAMES)}."
        ) from None
    return cls(**params)


__all__ = [
    "KDE",
    "NAMES",
    "REGISTRY",
    "AdaptiveBinning",
    "Binning",
    "Compressed",
    "DiffusionSpectral",
    "Estimate",
    "Estimator",
    "Probe",
    "Subsample",
    "by_name",
    "dse",
    "dsmi",
    "knn_entropy",
    "ksg_mi",
    "make_probe",
]
