"""The built-in experiments (`PRESETS`): data, network and training settings, and the
estimators ``infoplane run`` uses by default (`DEFAULT_ESTIMATORS`, the costly ones on a
probe subsample, `COSTLY`).
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from flax import nnx

from infoplane.estimators import from_spec
from infoplane.estimators.subsample import Subsample
from infoplane.experiments import datasets
from infoplane.experiments.models import CNN, MLP

__all__ = ["COSTLY", "DEFAULT_ESTIMATORS", "LEGACY_DEFAULT_ESTIMATORS", "PRESETS", "Preset",
           "check_preset", "default_estimators", "load_preset_data", "model_factory"]


#: Estimators of ``infoplane run`` when none are given: every estimator, as specs
#: (`infoplane.estimators.from_spec`). Two differ from their class defaults, for the presets'
#: tanh networks (see README, "Honesty notes"): ``compressed`` adds absolute noise (relative
#: noise leaves a saturated softmax output's near-zero coordinate almost noiseless, and its
#: I(X;T) came out near -140 bits), and ``dsmi`` uses sigma = 1, the scale of tanh
#: activations (the paper's sigma = 10 puts every pair of samples within one kernel width:
#: DSMI ~ 0 on every layer).
DEFAULT_ESTIMATORS = ("binning", "adaptive_binning", "kde", "compressed(noise='absolute')",
                      "dsmi(sigma=1.0)")
#: The default of runs made before `DEFAULT_ESTIMATORS` held every estimator (their config.json
#: has ``estimator_names: null``): what ``--resume`` continues them with.
LEGACY_DEFAULT_ESTIMATORS = ("binning", "adaptive_binning", "kde")
#: Estimators that run on a stratified probe subsample by default, and its size. Measured on
#: the 2-core CI CPU (benchmarks/RESULTS.md): compressed ~0.1 s and dsmi ~0.4 s per layer-epoch
#: at N = 1024 (DSMI needs one N x N eigenproblem per cluster and class), so DSMI gets 512.
COSTLY = {"compressed": 1024, "dsmi": 512}


@dataclasses.dataclass(frozen=True)
class Preset:
    """A built-in experiment: data, network and training settings.

    probe: "all" records every sample as one series (the original Shwartz-Ziv--Tishby setup);
    "split" records the training and the test samples as the series "train" and "test".
    """

    name: str
    description: str
    data: str  # "tishby", "digits" or "file"
    model: str  # "mlp" or "cnn"
    activation: str = "tanh"
    hidden: tuple[int, ...] = (10, 7, 5, 4, 3)
    epochs: int = 3000
    points: int = 20
    learning_rate: float = 4e-4
    batch_size: int = 256
    train_fraction: float = 0.8
    probe: str = "all"


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("tishby-tanh",
               "Shwartz-Ziv & Tishby 12-10-7-5-4-3-2 tanh network on the generated 12-bit task",
               data="tishby", model="mlp"),
        Preset("tishby-relu", "the same network with ReLU hidden layers (Saxe et al. 2018)",
               data="tishby", model="mlp", activation="relu"),
        Preset("digits-cnn",
               "small tanh conv net (conv 8, conv 16, dense 32) on scikit-learn's 8x8 digits",
               data="digits", model="cnn", epochs=300, points=20, learning_rate=1e-3,
               batch_size=64, probe="split"),
        Preset("data", "your --data file.npz: a tanh MLP 32-16-8 (vectors) or the small conv "
               "net (images (N, H, W[, C]))", data="file", model="auto", hidden=(32, 16, 8),
               epochs=300, points=20, learning_rate=1e-3, batch_size=64, probe="split"),
    )
}


def check_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; valid presets: {', '.join(PRESETS)}") from None


def load_preset_data(preset: Preset, data_path: str | None = None):
    """``(x, y)`` of a preset: x float32 (N, ...) in the model's input layout, y int32 (N,).

    ``data_path``: for the "data" preset (required) an ``.npz`` file (`datasets.load_npz`);
    for the ``tishby-*`` presets (optional) a file that replaces the generated task: the
    original ``var_u.mat`` (`datasets.load_var_u`) or an ``.npz`` of vectors (N, d); the
    network is the preset's. The digits preset takes no file.
    """
    if preset.data == "tishby":
        if data_path is None:
            return datasets.tishby_dataset()
        return _vectors_file(preset, data_path)
    if data_path is not None and preset.data != "file":
        raise ValueError(
            f"the {preset.name!r} preset trains on its own built-in data and takes no data "
            f"file (got {os.fspath(data_path)!r}); use --preset data for your .npz, or "
            "--preset tishby-tanh for var_u.mat."
        )
    if preset.data == "digits":
        return datasets.load_digits()
    if data_path is None:
        raise ValueError("the 'data' preset needs --data FILE.npz (arrays x and y).")
    if os.fspath(data_path).lower().endswith(".mat"):
        raise ValueError(
            f"{os.fspath(data_path)!r} is a MATLAB file: the 'data' preset reads .npz files. "
            "For the original var_u.mat use --preset tishby-tanh (or tishby-relu)."
        )
    x, y = datasets.load_npz(data_path)
    if x.ndim == 3:  # (N, H, W) greyscale images: add the channel axis
        x = x[..., None]
    return x, y


def _vectors_file(preset: Preset, data_path):
    """A tishby preset's data from a file: var_u.mat (.mat) or an .npz of (N, d) vectors."""
    path = os.fspath(data_path)
    if path.lower().endswith(".mat"):
        x, y = datasets.load_var_u(path)
    else:
        x, y = datasets.load_npz(path)
    if x.ndim != 2:
        raise ValueError(
            f"{path!r}: the {preset.name!r} preset trains an MLP on vectors (N, d), got inputs "
            f"of shape {x.shape}; for images use --preset data (it picks the conv net)."
        )
    labels = np.unique(y)
    if labels.size < 2 or labels.min() < 0:
        raise ValueError(
            f"{path!r}: labels must be class ids 0..C-1 with at least two classes, got "
            f"{labels.tolist()[:10]}."
        )
    return x, y


def model_factory(preset: Preset, x: np.ndarray, n_classes: int) -> Callable[[nnx.Rngs], Any]:
    kind = preset.model
    if kind == "auto":
        kind = "cnn" if x.ndim == 4 else "mlp"
    if kind == "cnn":
        if x.ndim != 4:
            raise ValueError(f"the conv net needs images (N, H, W, C); got inputs {x.shape}.")
        in_shape = tuple(int(s) for s in x.shape[1:])
        return functools.partial(CNN, in_shape, n_classes, preset.activation)
    widths = (int(np.prod(x.shape[1:])), *preset.hidden, n_classes)
    return functools.partial(MLP, widths, preset.activation)


def default_estimators(specs: Sequence[str], n_probe: int, subsample: int | None = None):
    """Estimator instances for ``specs`` (names or specs such as ``"dsmi(sigma=1.0)"``, see
    `infoplane.estimators.from_spec`); the costly ones (`COSTLY`) wrapped in `Subsample` when
    the probe is larger than their subset size: ``COSTLY[name]`` when ``subsample`` is None,
    else ``subsample`` (0: never subsample)."""
    out = []
    for spec in specs:
        est = from_spec(spec)
        name = est.name
        size = COSTLY.get(name) if subsample is None else (subsample if name in COSTLY else 0)
        if isinstance(est, Subsample):  # the spec chose its subset itself
            size = 0
        if size and n_probe > size:
            est = Subsample(est, n=int(size))
        out.append(est)
    return out
