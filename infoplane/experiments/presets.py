"""The built-in experiments (`PRESETS`): data, network and training settings, and the
estimators ``infoplane run`` uses by default (`DEFAULT_ESTIMATORS` or a preset's own, the
costly ones on a probe subsample, `COSTLY`); `preset_data` loads a preset's train and test
splits and its probe sets.

Presets on real data (`infoplane.experiments.loaders`; nothing is downloaded): ``mnist1d-mlp``
(generated), ``mnist-cnn`` (``--data``: the MNIST or Fashion-MNIST IDX files or mnist.npz)
and ``cifar-cnn`` (``--data``: the CIFAR-10 python batches). Their train and test splits are
the dataset's own; ``limit`` (``--limit N``) keeps the first N samples of each, for reduced
runs on a CPU.
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
from infoplane.estimators.intervals import with_intervals
from infoplane.estimators.subsample import Subsample
from infoplane.experiments import datasets, loaders
from infoplane.experiments.models import CNN, MLP, butakov_cnn, vgg_small

__all__ = ["COSTLY", "DEFAULT_ESTIMATORS", "DEFAULT_INTERVALS", "INTERVAL_FAMILIES",
           "LEGACY_DEFAULT_ESTIMATORS", "PRESETS", "Preset", "PresetData", "check_preset",
           "data_problem", "default_estimators", "has_default_intervals", "load_preset_data",
           "model_factory", "preset_data", "preset_estimators", "with_run_intervals"]


#: Estimators of ``infoplane run`` when none are given: every estimator but the opt-in
#: ``matrix_renyi`` (in the conv-net presets' own lists), as specs
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
#: at N = 1024 (DSMI needs one N x N eigenproblem per cluster and class), so DSMI gets 512;
#: matrix_renyi solves three N x N eigenproblems in float64 per layer-epoch (~0.1 s at 512).
COSTLY = {"compressed": 1024, "dsmi": 512, "matrix_renyi": 512}
#: The confidence intervals of a run whose ``intervals`` is not given (None): B = 20 subsets
#: (`infoplane.Intervals`) for the estimators of `INTERVAL_FAMILIES`, whose intervals cost
#: a few seconds on the default run, and none for the others.
DEFAULT_INTERVALS = 20
INTERVAL_FAMILIES = ("binning", "kde")


#: The (leaky) ReLU presets' estimators: their layers are unbounded, so binning uses each
#: layer's own range (the default (-1, 1) suits tanh) and KDE the adaptive noise of Chelombiev
#: et al. (variance sigma2 * max|T|^2, not an absolute 1e-3 that every pair of wide-layer
#: samples dwarfs); compressed with absolute noise as in `DEFAULT_ESTIMATORS` (relative noise
#: leaves dead ReLU units and saturated softmax coordinates at exactly their value).
RELU_ESTIMATORS = ("binning(range='data')", "adaptive_binning", "kde(adaptive=True)",
                   "compressed(noise='absolute')")


@dataclasses.dataclass(frozen=True)
class Preset:
    """A built-in experiment: data, network and training settings.

    data: "tishby", "digits", "file" (the user's .npz), or a real dataset with its own train
    and test splits: "mnist1d" (generated), "mnist" and "cifar10" (the user's files, needed).
    model: "mlp", "cnn" (the small conv net), "auto" (by the input's shape), "butakov"
    (`models.butakov_cnn`) or "vgg" (`models.vgg_small`).
    probe: "all" records every sample as one series (the original Shwartz-Ziv--Tishby setup);
    "split" records the training and the test samples as the series "train" and "test";
    "test" records only the test samples (the series "test"; Butakov et al.'s setup).
    schedule: the recorded epochs when none is given: "log" (``points`` log-spaced) or "every".
    estimators: the default estimator specs (None: `DEFAULT_ESTIMATORS`).
    optimizer / weight_decay: the optax optimiser (a name in
    `infoplane.experiments.network.OPTIMIZERS`) and its weight decay (0: none; see that
    module for the rule). `infoplane.experiments.network.customise` overrides these fields.
    """

    name: str
    description: str
    data: str
    model: str
    activation: str = "tanh"
    hidden: tuple[int, ...] = (10, 7, 5, 4, 3)
    epochs: int = 3000
    points: int = 20
    learning_rate: float = 4e-4
    batch_size: int = 256
    train_fraction: float = 0.8
    probe: str = "all"
    schedule: str = "log"
    estimators: tuple[str, ...] | None = None
    optimizer: str = "adam"
    weight_decay: float = 0.0


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
        # MNIST-1D: an MLP 40-100-100-10 ReLU, the MLP baseline of Greydanus & Kobak (2020)
        # (two hidden layers of 100); Adam 1e-3, batch 100, 200 epochs (8000 steps on the
        # 4000 training signals); records the train and test signals.
        Preset("mnist1d-mlp", "ReLU MLP 40-100-100-10 on MNIST-1D (generated by the mnist1d "
               "package; no --data)", data="mnist1d", model="mlp", activation="relu",
               hidden=(100, 100), epochs=200, points=20, learning_rate=1e-3, batch_size=100,
               probe="split", estimators=RELU_ESTIMATORS),
        # Butakov et al. (ICLR 2024): Adam 1e-5, batch 1024, 300 epochs, every epoch estimated
        # on the 10 000 test images; the estimators the issue names (binning, compressed, KDE)
        # and the CNN literature's matrix-based Renyi entropy (Wickstrom et al.'s tensor kernel).
        Preset("mnist-cnn", "Butakov et al.'s LeakyReLU conv net (conv 8, 16, 32, dense 32) "
               "on MNIST or Fashion-MNIST (--data DIR of the four IDX files, or mnist.npz); "
               "every epoch on the test images", data="mnist", model="butakov",
               activation="leaky_relu", hidden=(32,), epochs=300, learning_rate=1e-5,
               batch_size=1024, probe="test", schedule="every",
               estimators=("binning(range='data')", "compressed(noise='absolute')",
                           "kde(adaptive=True)", "matrix_renyi")),
        # A small VGG-style ReLU net; Adam 1e-3, batch 128, 50 epochs, 20 log-spaced epochs
        # recorded on the 10 000 test images. No KDE by default: O(N^2 d) on layers of up to
        # 16 384 values (add it with --estimators on a GPU). matrix_renyi, as Wickstrom et al.
        # on VGG16 / CIFAR-10, on its 512-image subsample (COSTLY).
        Preset("cifar-cnn", "small VGG-style ReLU conv net (16,16 | 32,32 | 64,64, dense 128) "
               "on CIFAR-10 (--data DIR of the python batches); the test images",
               data="cifar10", model="vgg", activation="relu", hidden=(128,), epochs=50,
               points=20, learning_rate=1e-3, batch_size=128, probe="test",
               estimators=("binning(range='data')", "adaptive_binning",
                           "compressed(noise='absolute')", "matrix_renyi")),
    )
}

#: The data kinds that come with their own train/test split, and whether they need a path.
_REAL = {"mnist1d": False, "mnist": True, "cifar10": True}
_DATA_HELP = {
    "mnist": "a directory holding the four MNIST (or Fashion-MNIST) IDX files "
             "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
             "t10k-labels-idx1-ubyte (each gzipped or not), or Keras's mnist.npz",
    "cifar10": "the cifar-10-batches-py directory (data_batch_1 .. data_batch_5, test_batch)",
}


def check_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; valid presets: {', '.join(PRESETS)}") from None


def preset_estimators(preset: Preset) -> tuple[str, ...]:
    """The estimator specs a preset runs when none are given."""
    return tuple(preset.estimators) if preset.estimators is not None else DEFAULT_ESTIMATORS


def data_problem(preset: Preset, data_path) -> str | None:
    """Why ``data_path`` (None: no ``--data``) cannot go with ``preset``, or None. Only the
    presence of a path is checked here; the loaders check the files."""
    if preset.data in ("mnist", "cifar10") and data_path is None:
        return (f"--preset {preset.name} needs --data (data= in Python): "
                f"{_DATA_HELP[preset.data]}")
    if preset.data == "file" and data_path is None:
        return "--preset data needs --data FILE.npz (arrays x and y)"
    if preset.data in ("digits", "mnist1d") and data_path is not None:
        return (f"--preset {preset.name} trains on its own built-in data and takes no --data "
                f"(got {os.fspath(data_path)!r}); "
                "use --preset data for your .npz file, --preset tishby-tanh for var_u.mat, "
                "mnist-cnn for MNIST files or cifar-cnn for CIFAR-10")
    if data_path is not None and os.fspath(data_path).lower().endswith(".npy"):
        return (f"--data {os.fspath(data_path)!r} is a single .npy array (data= in Python); "
                f"--preset {preset.name} takes {_NPY_HELP.get(preset.data, _NPY_HELP['file'])}")
    return None


#: What ``--data`` takes instead of an ``.npy`` file, per kind of preset data.
_NPY_HELP = {
    "file": "an .npz with arrays x (N, ...) and y (N,), made with numpy.savez(path, x=inputs, "
            "y=labels) (for MNIST or CIFAR-10 use --preset mnist-cnn or cifar-cnn with their "
            "directory)",
    "tishby": "the original var_u.mat or an .npz with arrays x (N, d) and y (N,), made with "
              "numpy.savez(path, x=inputs, y=labels)",
    "mnist": _DATA_HELP["mnist"],
    "cifar10": _DATA_HELP["cifar10"],
}


@dataclasses.dataclass(frozen=True)
class PresetData:
    """A preset's data: ``train`` and ``test`` pairs (x float32 (N, ...), y int32 (N,)) that
    training uses, and the probe sets the Recorder records: ``probe`` (x, y) as the series
    ``split``, and ``probe_test`` (x, y) as "test" (None: no second series)."""

    train: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray]
    probe: tuple[np.ndarray, np.ndarray]
    split: str
    probe_test: tuple[np.ndarray, np.ndarray] | None
    n_classes: int


def preset_data(preset: Preset, data_path=None, *, seed: int = 0,
                limit: int | None = None, shuffle_labels: bool = False) -> PresetData:
    """Load a preset's data and split it.

    Real datasets (``mnist1d``, ``mnist``, ``cifar10``) keep their own train and test
    splits; the others are split at random with ``seed`` (`datasets.train_test_split`,
    ``preset.train_fraction``). ``limit``: keep only the first ``limit`` training and the
    first ``limit`` test samples (None: all); with ``probe="all"`` the probe is the samples
    kept, in their original order. ``shuffle_labels``: the labels permuted at random over the
    samples once, before anything is split or kept (`shuffled_labels`, ``seed``): a dataset
    whose labels carry no information about its inputs (Zhang et al. 2017), which training,
    every probe and every estimate then use.
    """
    if limit is not None and (isinstance(limit, bool) or int(limit) != limit or limit < 1):
        raise ValueError(f"limit must be a positive integer (samples kept of each split), got "
                         f"{limit!r}.")
    problem = data_problem(preset, data_path)
    if problem and preset.data in _REAL:
        raise ValueError(problem)
    if preset.data in _REAL:
        tt = _load_real(preset, data_path)
        if shuffle_labels:
            tt = tt._replace(y_train=shuffled_labels(tt.y_train, seed),
                             y_test=shuffled_labels(tt.y_test, seed + 1))
        tt = tt.head(limit)
        train, test = (tt.x_train, tt.y_train), (tt.x_test, tt.y_test)
        everything = None
    else:
        x, y = load_preset_data(preset, data_path)
        y = shuffled_labels(y, seed) if shuffle_labels else y
        train_idx, test_idx = datasets.train_test_split(len(y), preset.train_fraction, seed)
        if limit is not None:
            train_idx, test_idx = train_idx[:limit], test_idx[:limit]
        train, test = (x[train_idx], y[train_idx]), (x[test_idx], y[test_idx])
        kept = np.sort(np.concatenate([train_idx, test_idx]))
        everything = (x, y) if limit is None else (x[kept], y[kept])
    n_classes = (10 if preset.data in _REAL else  # every real dataset here has 10 classes
                 int(max(np.max(train[1]), np.max(test[1]) if len(test[1]) else 0)) + 1)
    if preset.probe == "all":
        if everything is None:
            everything = (np.concatenate([train[0], test[0]]), np.concatenate([train[1], test[1]]))
        return PresetData(train, test, everything, "all", None, n_classes)
    if preset.probe == "test":
        return PresetData(train, test, test, "test", None, n_classes)
    return PresetData(train, test, train, "train", test, n_classes)


def shuffled_labels(y: np.ndarray, seed: int) -> np.ndarray:
    """``y`` permuted over the samples by ``numpy.random.default_rng(seed)`` (the class counts
    kept, the pairing with the inputs destroyed): random labels."""
    return np.asarray(y)[np.random.default_rng(seed).permutation(len(y))]


def _load_real(preset: Preset, data_path) -> loaders.TrainTest:
    if preset.data == "mnist1d":
        return loaders.load_mnist1d()
    path = os.fspath(data_path)
    if preset.data == "mnist":
        return loaders.load_mnist(path)
    return loaders.load_cifar10(path)


def load_preset_data(preset: Preset, data_path: str | None = None):
    """``(x, y)`` of a preset: x float32 (N, ...) in the model's input layout, y int32 (N,).

    ``data_path``: for the "data" preset (required) an ``.npz`` file (`datasets.load_npz`);
    for the ``tishby-*`` presets (optional) a file that replaces the generated task: the
    original ``var_u.mat`` (`datasets.load_var_u`) or an ``.npz`` of vectors (N, d); the
    network is the preset's. The digits preset takes no file. The presets on real data keep
    their own train and test splits: use `preset_data` for them.
    """
    if preset.data in _REAL:
        raise ValueError(f"the {preset.name!r} preset has its own train and test splits; load "
                         "its data with preset_data(preset, data_path).")
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
    if os.path.isdir(data_path):
        raise ValueError(
            f"{os.fspath(data_path)!r} is a directory: the 'data' preset reads one .npz file "
            "(arrays x and y). For the MNIST or Fashion-MNIST IDX files use --preset "
            "mnist-cnn, for the CIFAR-10 python batches --preset cifar-cnn."
        )
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
    if kind in ("butakov", "vgg"):
        if x.ndim != 4:
            raise ValueError(f"the {preset.name} network needs images (N, H, W, C); got "
                             f"inputs {x.shape}.")
        make = butakov_cnn if kind == "butakov" else vgg_small
        return functools.partial(make, tuple(int(s) for s in x.shape[1:]), n_classes,
                                 preset.activation)
    if kind == "cnn":
        if x.ndim != 4:
            raise ValueError(f"the conv net needs images (N, H, W, C); got inputs {x.shape}.")
        in_shape = tuple(int(s) for s in x.shape[1:])
        return functools.partial(CNN, in_shape, n_classes, preset.activation)
    widths = (int(np.prod(x.shape[1:])), *preset.hidden, n_classes)
    return functools.partial(MLP, widths, preset.activation)


def with_run_intervals(est, intervals: int | None):
    """``est`` with the confidence intervals of a run (`infoplane.Intervals`, innermost under
    a `Subsample`): ``intervals`` = B resamples (0: none), or None: `DEFAULT_INTERVALS` for
    the estimators named in `INTERVAL_FAMILIES`, none for the others. An estimator that has
    intervals already keeps its own."""
    if intervals is None:
        intervals = DEFAULT_INTERVALS if has_default_intervals(est) else 0
    return with_intervals(est, intervals)


def has_default_intervals(est) -> bool:
    """Whether the default rule of `with_run_intervals` (``intervals=None``) gives ``est``
    intervals: its name is in `INTERVAL_FAMILIES`."""
    return est.name in INTERVAL_FAMILIES


def default_estimators(specs: Sequence[str], n_probe: int, subsample: int | None = None,
                       intervals: int | None = 0):
    """Estimator instances for ``specs`` (names or specs such as ``"dsmi(sigma=1.0)"``, see
    `infoplane.estimators.from_spec`); the costly ones (`COSTLY`) wrapped in `Subsample` when
    the probe is larger than their subset size: ``COSTLY[name]`` when ``subsample`` is None,
    else ``subsample`` (0: never subsample); each with the confidence intervals of
    ``intervals`` (`with_run_intervals`: B subsets, 0 none, None the default rule)."""
    out = []
    for spec in specs:
        est = from_spec(spec)
        name = est.name
        size = COSTLY.get(name) if subsample is None else (subsample if name in COSTLY else 0)
        if isinstance(est, Subsample):  # the spec chose its subset itself
            size = 0
        if size and n_probe > size:
            est = Subsample(est, n=int(size))
        out.append(with_run_intervals(est, intervals))
    return out
