"""Information-plane estimators. Every estimator follows the protocol in `_base`.

Estimators: `Binning` (Shwartz-Ziv & Tishby 2017; Saxe et al. 2018), `AdaptiveBinning`
(Chelombiev et al. 2019), `KDE` (Kolchinsky & Tracey 2017), `Compressed` (Butakov et al.
2024), `DiffusionSpectral` (DSE/DSMI, Liao, Liu et al. 2023), `MatrixRenyi` (matrix-based
Rényi α-entropy, Giraldo et al. 2014; Wickstrøm et al. 2019; Yu et al. 2020).
Building blocks: `dse`, `dsmi`, `knn_entropy` (Kozachenko–Leonenko /
Berrett–Samworth–Yuan), `ksg_mi` (Kraskov–Stögbauer–Grassberger), `matrix_entropy` and
`matrix_mi`.

This part (``estimators/``) owns the estimator protocol (`_base`, which imports nothing else),
one module per family, the numerics they share (`_numerics`, `_discrete`, `_dse`), estimators
by name and spec string (`specs`), the array API behind `infoplane.estimate` /
`estimate_epochs` / `prepare` (`apply`, with its input checks in `validate`) and the
ground-truth self-test (`selftest`).

May import: nothing of infoplane outside ``estimators/``.
"""

from infoplane.estimators._base import Estimate, Estimator, Probe, make_probe
from infoplane.estimators.adaptive import AdaptiveBinning
from infoplane.estimators.binning import Binning
from infoplane.estimators.channels import PerChannel
from infoplane.estimators.compressed import Compressed
from infoplane.estimators.intervals import Intervals
from infoplane.estimators.kde import KDE
from infoplane.estimators.knn import knn_entropy, ksg_mi
from infoplane.estimators.null import NullLabels
from infoplane.estimators.renyi import MatrixRenyi, matrix_entropy, matrix_mi
from infoplane.estimators.specs import NAMES, REGISTRY, by_name, from_spec, split_specs, to_spec
from infoplane.estimators.spectral import DiffusionSpectral, dse, dsmi
from infoplane.estimators.subsample import Subsample

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
    "Intervals",
    "MatrixRenyi",
    "NullLabels",
    "PerChannel",
    "Probe",
    "Subsample",
    "by_name",
    "from_spec",
    "dse",
    "dsmi",
    "knn_entropy",
    "ksg_mi",
    "make_probe",
    "matrix_entropy",
    "matrix_mi",
    "split_specs",
    "to_spec",
]
