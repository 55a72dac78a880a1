"""Information-plane estimators. Every estimator follows the protocol in `_base`.

Estimators: `Binning` (Shwartz-Ziv & Tishby 2017; Saxe et al. 2018), `AdaptiveBinning`
(Chelombiev et al. 2019), `KDE` (Kolchinsky & Tracey 2017).
"""

from infoplane.estimators._base import Estimate, Estimator, Probe, make_probe
from infoplane.estimators.adaptive import AdaptiveBinning
from infoplane.estimators.binning import Binning
from infoplane.estimators.kde import KDE

#: Estimator classes by their `name`.
REGISTRY = {cls.name: cls for cls in (Binning, AdaptiveBinning, KDE)}
#: Valid estimator names, e.g. for a command line.
NAMES = tuple(REGISTRY)


def by_name(name: str, **params) -> Estimator:
    """An estimator from its name ("binning", "adaptive_binning", "kde") and parameters."""
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
    "Estimate",
    "Estimator",
    "Probe",
    "by_name",
    "make_probe",
]
