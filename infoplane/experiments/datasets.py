"""Probe datasets: the Shwartz-Ziv--Tishby 12-bit task (generated), a loader for the original
``var_u.mat``, scikit-learn's bundled handwritten digits, a user's ``.npz`` file, and a seeded
train/test split; and, from `infoplane.experiments.loaders`, the real datasets with their own
train/test splits: MNIST / Fashion-MNIST (`load_mnist`, `load_fashion_mnist`: IDX files or
mnist.npz), CIFAR-10 (`load_cifar10`: the python batches, unpickled safely) and MNIST-1D
(`load_mnist1d`, generated).

Nothing here downloads anything: `tishby_dataset` and `load_mnist1d` are generated,
`load_digits` reads the copy shipped inside scikit-learn, and the other loaders read files the
user already has.
"""

from __future__ import annotations

import math
import os

import numpy as np

from infoplane.experiments.loaders import (
    TrainTest,
    load_cifar10,
    load_fashion_mnist,
    load_mnist,
    load_mnist1d,
    read_idx,
    safe_unpickle,
)

__all__ = [
    "TrainTest",
    "icosahedron_vertices",
    "load_cifar10",
    "load_digits",
    "load_fashion_mnist",
    "load_mnist",
    "load_mnist1d",
    "load_npz",
    "load_var_u",
    "read_idx",
    "safe_unpickle",
    "tishby_dataset",
    "tishby_function",
    "train_test_split",
]

N_BITS = 12
_SQRT5 = math.sqrt(5.0)


def icosahedron_vertices() -> np.ndarray:
    """The 12 unit vertices of a regular icosahedron, float64 (12, 3), in a fixed order.

    The vertices are the cyclic permutations of ``(0, +-1, +-phi)`` (``phi`` the golden ratio),
    scaled to unit length. Rows 0-3 are ``(0, s1, s2*phi)`` for ``(s1, s2)`` in
    ``(+,+), (+,-), (-,+), (-,-)``; rows 4-7 and 8-11 are the same four points with the
    coordinates rolled by one and two places. Any two distinct vertices have inner product
    ``-1`` (antipodes) or ``+-1/sqrt(5)``.
    """
    phi = (1.0 + _SQRT5) / 2.0
    base = np.array([(0.0, s1, s2 * phi) for s1 in (1.0, -1.0) for s2 in (1.0, -1.0)])
    v = np.concatenate([base, np.roll(base, 1, axis=1), np.roll(base, 2, axis=1)])
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _all_patterns() -> np.ndarray:
    """int64 (4096, 12): row i holds the binary digits of i, most significant bit first."""
    i = np.arange(2**N_BITS)[:, None]
    return (i >> np.arange(N_BITS - 1, -1, -1)) & 1


def _gram_parts() -> tuple[np.ndarray, np.ndarray]:
    """The vertex Gram matrix G = V V^T split exactly as G = G_int + G_r5 / sqrt(5).

    Every entry of G is 1 (diagonal), -1 (antipodes) or +-1/sqrt(5), so both parts are integer
    matrices. Working with them keeps f exact: equal values of f are bit-identical floats.
    """
    g = icosahedron_vertices() @ icosahedron_vertices().T
    is_int = np.abs(g) > 0.9
    g_int = np.where(is_int, np.rint(g), 0).astype(np.int64)
    g_r5 = np.where(is_int, 0, np.rint(g * _SQRT5)).astype(np.int64)
    if not np.allclose(g_int + g_r5 / _SQRT5, g, atol=1e-12):  # pragma: no cover - a sanity check
        raise AssertionError("icosahedron Gram matrix is not of the form a + b/sqrt(5)")
    return g_int, g_r5


def tishby_function(x) -> np.ndarray:
    """f(x) = ||sum_i x_i v_i||^2 for binary patterns x (..., 12), computed exactly; float64.

    ``v_i`` are the `icosahedron_vertices`. f is invariant under O(3) acting on the vertices:
    a rotation or reflection that maps the icosahedron onto itself permutes the 12 inputs
    and leaves f unchanged. Internally ``f = a + b / sqrt(5)`` with integers ``a, b``, so ties
    are exact (no floating-point noise decides which side of a threshold a pattern falls on).
    """
    x = np.asarray(x)
    if x.shape[-1] != N_BITS:
        raise ValueError(f"x must have {N_BITS} columns (one per vertex), got shape {x.shape}.")
    xi = np.rint(x).astype(np.int64)
    if not np.all((xi == 0) | (xi == 1)) or not np.allclose(xi, x):
        raise ValueError("x must be binary (values 0 and 1 only).")
    g_int, g_r5 = _gram_parts()
    a = np.einsum("...i,ij,...j->...", xi, g_int, xi)
    b = np.einsum("...i,ij,...j->...", xi, g_r5, xi)
    return a + b / _SQRT5


def tishby_dataset() -> tuple[np.ndarray, np.ndarray]:
    """The Shwartz-Ziv--Tishby-style 12-bit binary classification task, generated.

    Returns ``(x, y)``:
      x: float32 (4096, 12), values in {0, 1}: all 2^12 binary patterns; row i holds the binary
         digits of i, most significant bit first (so every row is distinct).
      y: int32 (4096,), values in {0, 1}: ``y = [f(x) > median(f)]``.

    Here ``f(x) = ||sum_i x_i v_i||^2`` (`tishby_function`) with ``v_1..v_12`` the unit vertices
    of a regular icosahedron (`icosahedron_vertices`): each input bit switches on one point of
    a 2-sphere, and the label thresholds an O(3)-invariant function of the active points.

    This is a dataset *in the spirit of* the original ``var_u.mat`` of Shwartz-Ziv & Tishby,
    "Opening the Black Box of Deep Neural Networks via Information" (2017): same inputs, same
    kind of label (a threshold on an O(3)-invariant function of 12 near-uniform points on a
    sphere, p(y=1) about 1/2). It is not that file: the original cannot be regenerated
    exactly and its licence does not allow redistributing it. If you have ``var_u.mat``, load
    it with `load_var_u` to compare.

    Facts (checked in the tests):
      * f takes exactly 20 distinct values on the 4096 patterns.
      * The median of f falls inside a block of 240 tied patterns, and a threshold on f must
        give equal f equal labels (otherwise the label would not be O(3)-invariant), so the
        classes cannot be split exactly in half: 2036 patterns have y = 1, i.e.
        p(y=1) = 2036/4096 = 0.497 (H(Y) = 0.99998 bits). For comparison, ``var_u.mat`` has
        2118 ones (0.517). Computing f naively in floating point can split that tied block
        by rounding noise (``x @ G @ x`` with ``G = V V^T`` gave 2048 "ones" on one machine,
        a labelling that is not O(3)-invariant); f is computed exactly here to avoid that.
      * The labels are invariant under every symmetry of the icosahedron (permuting the input
        bits accordingly).

    Deterministic: no random numbers are involved.

    Example::

        >>> x, y = tishby_dataset()
        >>> x.shape, x.dtype, y.shape, y.dtype
        ((4096, 12), dtype('float32'), (4096,), dtype('int32'))
    """
    patterns = _all_patterns()
    f = tishby_function(patterns)
    y = (f > np.median(f)).astype(np.int32)
    return patterns.astype(np.float32), y


def load_var_u(path) -> tuple[np.ndarray, np.ndarray]:
    """Load the original Shwartz-Ziv & Tishby dataset from your own copy of ``var_u.mat``.

    The file (from the authors' IDNNs repository; not redistributed with infoplane) holds
    ``F``: uint8 (4096, 12) binary patterns and ``y``: uint8 (1, 4096) labels.

    Returns ``(x, y)`` in the same form as `tishby_dataset`: x float32 (4096, 12), y int32
    (4096,). Needs SciPy (``pip install scipy``), imported only when this is called.
    """
    try:
        from scipy.io import loadmat
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("load_var_u needs SciPy to read .mat files: pip install scipy") from err
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"var_u.mat not found at {path!r}. Pass the path of your own copy of the file "
            "(it is not shipped with infoplane); or use tishby_dataset() for a generated "
            "dataset in the same spirit."
        )
    try:
        data = loadmat(path)
    except Exception as err:
        raise ValueError(f"Could not read {path!r} as a MATLAB .mat file: {err}") from err
    found = sorted(k for k in data if not k.startswith("__"))
    missing = [k for k in ("F", "y") if k not in data]
    if missing:
        raise KeyError(
            f"{path!r} does not look like var_u.mat: missing key(s) {missing}; keys found: "
            f"{found}. Expected 'F' (4096, 12) inputs and 'y' (1, 4096) labels."
        )
    x = np.asarray(data["F"])
    y = np.asarray(data["y"]).reshape(-1)
    if x.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ValueError(
            f"{path!r}: 'F' has shape {x.shape} and 'y' has shape {data['y'].shape}; expected "
            "F of shape (N, d) and y with N entries, e.g. (4096, 12) and (1, 4096)."
        )
    return x.astype(np.float32), y.astype(np.int32)


def train_test_split(n: int, frac: float = 0.8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random split of ``range(n)`` into train and test index arrays.

    A permutation drawn with ``numpy.random.default_rng(seed)``; the first
    ``round(frac * n)`` indices are the training set, the rest the test set. Each array is
    sorted; together they cover ``0..n-1`` exactly once. Returns ``(train_idx, test_idx)``,
    int64 arrays.
    """
    n = int(n)
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}.")
    if not 0.0 <= frac <= 1.0:
        raise ValueError(f"frac must be in [0, 1], got {frac}.")
    perm = np.random.default_rng(seed).permutation(n)
    k = int(round(frac * n))
    return np.sort(perm[:k]), np.sort(perm[k:])


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """The UCI optical handwritten digits shipped inside scikit-learn (no download).

    Returns ``(x, y)``: x float32 (1797, 8, 8, 1) grey levels scaled from 0..16 to [0, 1]
    (NHWC, the layout of flax convolutions), y int32 (1797,) digits 0..9.
    """
    try:
        from sklearn.datasets import load_digits as _load
    except ImportError as err:  # pragma: no cover - scikit-learn is a dependency
        raise ImportError(
            "the digits dataset ships with scikit-learn: pip install scikit-learn"
        ) from err
    bunch = _load()
    x = (np.asarray(bunch.images, dtype=np.float32) / 16.0)[..., None]
    return x, np.asarray(bunch.target, dtype=np.int32)


class _NotAnArchive(ValueError):
    """An ``.npy`` file (one array, ``numpy.save``) where an ``.npz`` archive was expected."""


def _open_npz(path: str, how: str):
    """``np.load`` of an ``.npz`` archive (no pickles); a single ``.npy`` array (``np.save``)
    is a `_NotAnArchive` error that says to save an archive with ``how``."""
    data = np.load(path, allow_pickle=False)
    if not isinstance(data, np.lib.npyio.NpzFile):  # np.save's one array, not np.savez's
        raise _NotAnArchive(
            f"{path!r} holds a single .npy array (numpy.save), not an .npz archive of named "
            f"arrays; --data (data= in Python) takes an .npz with arrays x (N, ...) and y "
            f"(N,): save them together with {how}."
        )
    return data


def load_npz(path) -> tuple[np.ndarray, np.ndarray]:
    """A user's dataset from an ``.npz`` file with arrays ``x`` (N, ...) and ``y`` (N,).

    ``x``: numeric, finite, N samples of any shape (vectors (N, d), or images (N, H, W) /
    (N, H, W, C) channels-last); returned as float32. ``y``: integer class labels (N,) (or
    one-hot (N, C), converted with argmax); returned as int32. Every problem is reported with
    the file name and how to fix it.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        what = "is a directory, not a file" if os.path.isdir(path) else "not found"
        raise FileNotFoundError(
            f"data file {path!r} {what}. Pass an .npz file made with "
            "numpy.savez(path, x=inputs, y=labels)."
        )
    try:
        with _open_npz(path, "numpy.savez(path, x=inputs, y=labels)") as data:
            keys = sorted(data.files)
            missing = [k for k in ("x", "y") if k not in keys]
            if missing:
                raise KeyError(
                    f"{path!r} lacks array(s) {missing}; it has {keys}. Save it with "
                    "numpy.savez(path, x=inputs, y=labels)."
                )
            x, y = np.asarray(data["x"]), np.asarray(data["y"])
    except (KeyError, FileNotFoundError, _NotAnArchive):
        raise
    except Exception as err:
        raise ValueError(f"could not read {path!r} as an .npz file: {err}") from err
    if y.ndim == 2 and y.shape[1] > 1:
        y = y.argmax(axis=1)
    y = y.reshape(-1) if y.ndim == 2 and y.shape[1] == 1 else y
    if y.ndim != 1:
        raise ValueError(f"{path!r}: y must have shape (N,), got {y.shape}.")
    if not (np.issubdtype(y.dtype, np.integer) or y.dtype == bool):
        if np.issubdtype(y.dtype, np.floating) and np.all(y == np.round(y)):
            y = y.astype(np.int64)
        else:
            raise ValueError(f"{path!r}: y must hold integer class labels, got dtype {y.dtype}.")
    if x.ndim < 2 or x.shape[0] != y.shape[0]:
        raise ValueError(
            f"{path!r}: x must have shape (N, ...) with the N = {y.shape[0]} samples of y, got "
            f"{x.shape}."
        )
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise ValueError(f"{path!r}: x must be numeric, got dtype {x.dtype}.")
    x = x.astype(np.float32)
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{path!r}: x contains NaN or inf values; clean the data first.")
    if len(np.unique(y)) < 2:
        raise ValueError(f"{path!r}: y has a single class; need at least two.")
    return x, y.astype(np.int32)
