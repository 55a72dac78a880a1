"""Real datasets from the user's own files, offline: MNIST and Fashion-MNIST (the four IDX
files, gzipped or not, or Keras's ``mnist.npz``), CIFAR-10 (the python-pickle batches, read by
a restricted unpickler) and MNIST-1D (generated procedurally by the ``mnist1d`` package).

Every loader returns a `TrainTest` ``(x_train, y_train, x_test, y_test)``: the dataset's own
train and test splits, kept separate; inputs float32 in the layout of the built-in networks
(images (N, H, W, C) channels last, scaled to [0, 1]; MNIST-1D (N, 40)), labels int32 (N,).
Nothing here downloads anything: each problem with a file (missing, truncated, wrong format,
counts that disagree, labels out of range) raises an error that names the file and says what
to do.

Formats, implemented from their specifications:

* IDX (LeCun, Cortes & Burges, "THE MNIST DATABASE of handwritten digits"): a 4-byte magic
  number ``0x00 0x00 TYPE NDIM`` (TYPE 0x08 unsigned byte, 0x09 signed byte, 0x0B int16,
  0x0C int32, 0x0D float32, 0x0E float64), then NDIM dimensions as big-endian uint32, then
  the data, big-endian, row-major (C order). MNIST images are 0x00000803 (uint8, 3-d:
  N x 28 x 28), labels 0x00000801 (uint8, 1-d: N). Fashion-MNIST (Xiao, Rasul & Vollgraf 2017)
  uses the same file names and format.
* CIFAR-10 python version (Krizhevsky 2009): ``data_batch_1`` .. ``data_batch_5`` and
  ``test_batch``, each a pickled dict with ``b'data'``, a uint8 (10000, 3072) array whose row
  holds the 1024 red, then green, then blue values of a 32 x 32 image in row-major order, and
  ``b'labels'``, a list of 10000 ints in 0..9.
"""

from __future__ import annotations

import functools
import gzip
import math
import os
import pickle
import random
import zlib
from typing import NamedTuple

import numpy as np

__all__ = ["CIFAR10_FILES", "MNIST_FILES", "TrainTest", "load_cifar10", "load_fashion_mnist",
           "load_mnist", "load_mnist1d", "read_idx", "safe_unpickle"]


class TrainTest(NamedTuple):
    """A dataset's train and test splits: x float32 (N, ...), y int32 (N,) each."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def head(self, n: int | None) -> TrainTest:
        """The first ``n`` training and the first ``n`` test samples (None: all)."""
        if n is None:
            return self
        n = int(n)
        return TrainTest(self.x_train[:n], self.y_train[:n], self.x_test[:n], self.y_test[:n])


# --------------------------------------------------------------------------------------- IDX

#: IDX type byte -> big-endian NumPy dtype.
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
#: The MNIST / Fashion-MNIST files by role: (split, kind) -> accepted names, first preferred
#: (the standard hyphenated names, and the dotted ones some mirrors use), each also ``.gz``.
MNIST_FILES = {
    ("train", "images"): ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    ("train", "labels"): ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    ("test", "images"): ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    ("test", "labels"): ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}
_MAGIC = {"images": 0x00000803, "labels": 0x00000801}
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: str) -> bytes:
    """The file's bytes, decompressed if it is gzip (recognised by its magic, not its name)."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as err:
        raise FileNotFoundError(f"could not read {path!r}: {err.strerror or err}") from err
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:
        raise ValueError(
            f"{path!r} is a damaged gzip file ({err}); download it again, or check it with "
            f"`gunzip -t {os.path.basename(path)}`."
        ) from None


def _parse_idx(path: str) -> tuple[int, np.ndarray]:
    """(magic number, array in native byte order) of one IDX file, every field checked."""
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise ValueError(f"{path!r} holds {len(raw)} bytes: too short for an IDX file (a "
                         "4-byte magic number, the dimensions, then the data); download it "
                         "again.")
    magic = int.from_bytes(raw[:4], "big")
    code, ndim = raw[2], raw[3]
    if raw[0] or raw[1] or code not in _IDX_DTYPES or ndim == 0:
        hint = (" It looks like an HTML page (a failed download?)."
                if raw[:1] in (b"<", b"\n", b" ") else "")
        raise ValueError(
            f"{path!r} is not an IDX file: its magic number is 0x{magic:08x}, an IDX file "
            "starts with 0x0000TTDD (TT the type, 08 for unsigned bytes; DD the number of "
            f"dimensions), e.g. 0x00000803 for MNIST images and 0x00000801 for labels.{hint}"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path!r} is truncated: its header declares {ndim} dimensions "
                         f"({header} bytes) but the file holds {len(raw)} bytes; download it "
                         "again.")
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, 4))
    dtype = np.dtype(_IDX_DTYPES[code])
    expected = math.prod(dims) * dtype.itemsize
    got = len(raw) - header
    if got != expected:
        what = "truncated" if got < expected else "longer than its header declares"
        raise ValueError(
            f"{path!r} is {what}: its header declares {dims} values of {dtype.itemsize} "
            f"byte(s) ({expected} bytes of data) but it holds {got}; download it again."
        )
    data = np.frombuffer(raw, dtype, offset=header).reshape(dims)
    return magic, data.astype(dtype.newbyteorder("="))


def read_idx(path) -> np.ndarray:
    """One IDX file (gzipped or not) as an array in native byte order, shape its declared
    dimensions (MNIST images: uint8 (N, 28, 28); labels: uint8 (N,)). Raises ValueError naming
    the file for a bad magic number or a length that disagrees with the declared dimensions."""
    path = os.path.expanduser(os.fspath(path))
    if not os.path.isfile(path):
        raise FileNotFoundError(f"IDX file {path!r} not found.")
    return _parse_idx(path)[1]


def _find_mnist_file(root: str, names: tuple[str, ...]) -> str | None:
    for name in names:
        for candidate in (name, name + ".gz"):
            if os.path.isfile(os.path.join(root, candidate)):
                return os.path.join(root, candidate)
    return None


def _mnist_part(path: str, kind: str, dataset: str) -> np.ndarray:
    magic, data = _parse_idx(path)
    if magic != _MAGIC[kind]:
        other = {v: k for k, v in _MAGIC.items()}.get(magic)
        swapped = f" (a file of {other}: are the files swapped?)" if other else ""
        raise ValueError(
            f"{path!r} has magic number 0x{magic:08x}{swapped}, but {dataset} {kind} are "
            f"0x{_MAGIC[kind]:08x} (uint8, {3 if kind == 'images' else 1}-d); use the "
            f"original {dataset} file."
        )
    return data


def load_mnist(path, *, dataset: str = "MNIST") -> TrainTest:
    """MNIST (or Fashion-MNIST: the same files and format) from the user's files.

    ``path``: a directory holding the four standard IDX files ``train-images-idx3-ubyte``,
    ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each
    gzipped (``.gz``) or not (the dotted names ``train-images.idx3-ubyte`` etc. are accepted
    too); or a Keras-style ``.npz`` (``mnist.npz``) with arrays x_train (N, 28, 28) uint8,
    y_train (N,), x_test, y_test.

    Returns `TrainTest`: x float32 (N, 28, 28, 1) grey levels scaled from 0..255 to [0, 1]
    (an ``.npz`` of floats is taken as it is), y int32 (N,) in 0..9; 60 000 training and
    10 000 test images for the real files. Checked: magic numbers, each file's length against
    its declared dimensions, equal image and label counts, labels in 0..9.
    """
    path = os.path.expanduser(os.fspath(path))
    if os.path.isfile(path) and path.lower().endswith(".npz"):
        return _mnist_npz(path, dataset)
    if not os.path.isdir(path):
        raise FileNotFoundError(_mnist_where(path, dataset, "is not a directory" if
                                             os.path.exists(path) else "does not exist"))
    found = {key: _find_mnist_file(path, names) for key, names in MNIST_FILES.items()}
    missing = [names[0] for key, names in MNIST_FILES.items() if found[key] is None]
    if missing:
        present = sorted(os.listdir(path))[:12]
        raise FileNotFoundError(
            _mnist_where(path, dataset, f"lacks {', '.join(missing)} (or their .gz); it holds "
                         f"{present or 'nothing'}")
        )
    out = []
    for split in ("train", "test"):
        images = _mnist_part(found[(split, "images")], "images", dataset)
        labels = _mnist_part(found[(split, "labels")], "labels", dataset)
        if len(images) != len(labels):
            raise ValueError(
                f"{found[(split, 'images')]!r} holds {len(images)} images but "
                f"{found[(split, 'labels')]!r} holds {len(labels)} labels; the two files of a "
                "split must come from the same download."
            )
        _check_labels(labels, found[(split, "labels")], 10)
        out += [(images.astype(np.float32) / 255.0)[..., None], labels.astype(np.int32)]
    return TrainTest(*out)


def load_fashion_mnist(path) -> TrainTest:
    """Fashion-MNIST (Zalando): the same four IDX file names and format as MNIST (or an
    ``.npz``); see `load_mnist`."""
    return load_mnist(path, dataset="Fashion-MNIST")


def _mnist_where(path: str, dataset: str, problem: str) -> str:
    return (f"{dataset} data {path!r} {problem}. Pass a directory holding the four IDX files "
            f"{', '.join(n[0] for n in MNIST_FILES.values())} (each gzipped or not), or a "
            "Keras-style .npz with x_train, y_train, x_test, y_test.")


def _check_labels(labels: np.ndarray, path: str, n_classes: int) -> None:
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        bad = labels[(labels < 0) | (labels >= n_classes)]
        raise ValueError(f"{path!r}: labels must lie in 0..{n_classes - 1}, found "
                         f"{sorted(set(bad.tolist()))[:5]}; is it a label file of this "
                         "dataset?")


def _mnist_npz(path: str, dataset: str) -> TrainTest:
    keys = ("x_train", "y_train", "x_test", "y_test")
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in keys if k not in data.files]
            if missing:
                raise KeyError(f"{path!r} lacks array(s) {missing}; it has {sorted(data.files)}."
                               f" A {dataset} .npz (Keras's mnist.npz) holds {', '.join(keys)}.")
            arrays = [np.asarray(data[k]) for k in keys]
    except KeyError:
        raise
    except Exception as err:
        raise ValueError(f"could not read {path!r} as an .npz file: {err}") from err
    out = []
    for split, (x, y) in (("train", arrays[:2]), ("test", arrays[2:])):
        if x.ndim == 4 and x.shape[-1] == 1:
            x = x[..., 0]
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise ValueError(f"{path!r}: x_{split} must be (N, H, W) images and y_{split} (N,) "
                             f"labels, got {x.shape} and {y.shape}.")
        if not np.issubdtype(y.dtype, np.integer):
            raise ValueError(f"{path!r}: y_{split} must hold integer labels, got {y.dtype}.")
        _check_labels(y, f"{path}: y_{split}", 10)
        if x.dtype == np.uint8:
            x = x.astype(np.float32) / 255.0
        elif np.issubdtype(x.dtype, np.number):
            x = x.astype(np.float32)
            if not np.all(np.isfinite(x)):
                raise ValueError(f"{path!r}: x_{split} contains NaN or inf values.")
        else:
            raise ValueError(f"{path!r}: x_{split} must be numeric, got {x.dtype}.")
        out += [x[..., None], y.astype(np.int32)]
    return TrainTest(*out)


# --------------------------------------------------------------------------------- CIFAR-10

#: The CIFAR-10 python batches by split.
CIFAR10_FILES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}


def _numpy_globals() -> dict[tuple[str, str], object]:
    """The only globals a pickled dict of NumPy arrays needs, by (module, name) as pickles
    spell them (``numpy.core`` by NumPy 1 and Python 2 pickles, ``numpy._core`` by NumPy 2)."""
    core = getattr(np, "_core", None)
    if core is None:  # pragma: no cover - NumPy 1
        import numpy.core as core
    import _codecs

    allowed = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
               ("_codecs", "encode"): _codecs.encode}
    for mod in ("numpy.core", "numpy._core"):
        allowed[(f"{mod}.multiarray", "_reconstruct")] = core.multiarray._reconstruct
        allowed[(f"{mod}.multiarray", "scalar")] = core.multiarray.scalar
        allowed[(f"{mod}.numeric", "_frombuffer")] = core.numeric._frombuffer
    return allowed


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the NumPy array reconstruction globals (`_numpy_globals`); dicts, lists,
    strings, bytes and numbers need no globals. Anything else (``os.system``,
    ``builtins.eval``, any class) is refused before it can be called."""

    def __init__(self, file, path: str):
        super().__init__(file, encoding="bytes")
        self._path = path
        self._allowed = _numpy_globals()

    def find_class(self, module: str, name: str):
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"{self._path!r} refers to {module}.{name}, which a pickled dataset of NumPy "
                "arrays never needs; refusing to load it (the file may be corrupt or "
                "malicious). Use the original file."
            ) from None


def safe_unpickle(path):
    """Unpickle a file of plain data (dicts, lists, numbers, strings, NumPy arrays) without
    letting it run code: only the globals NumPy arrays are rebuilt from are resolved (the
    `pickle` module's documented way to restrict globals). Python 2 pickles (the CIFAR
    batches) load with ``encoding="bytes"``, so their str keys become bytes."""
    path = os.path.expanduser(os.fspath(path))
    try:
        with open(path, "rb") as f:
            return _RestrictedUnpickler(f, path).load()
    except pickle.UnpicklingError as err:
        if "refusing" in str(err):
            raise ValueError(str(err)) from None
        raise ValueError(f"{path!r} is not a readable pickle ({err}); use the original "
                         "file.") from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            MemoryError, OverflowError) as err:
        raise ValueError(f"{path!r} is truncated or not a pickle ({type(err).__name__}: "
                         f"{err}); use the original file.") from None


def _cifar_batch(path: str) -> tuple[np.ndarray, np.ndarray]:
    batch = safe_unpickle(path)
    if not isinstance(batch, dict):
        raise ValueError(f"{path!r} holds a {type(batch).__name__}, not a CIFAR-10 batch (a "
                         "dict with 'data' and 'labels').")
    batch = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in batch.items()}
    missing = [k for k in ("data", "labels") if k not in batch]
    if missing:
        raise ValueError(f"{path!r} lacks {missing} (it has {sorted(map(str, batch))}); a "
                         "CIFAR-10 batch holds 'data' (N, 3072) and 'labels' (N,).")
    data, labels = batch["data"], batch["labels"]
    if (not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2
            or data.shape[1] != 3072):
        desc = (f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray)
                else type(data).__name__)
        raise ValueError(f"{path!r}: 'data' must be a uint8 array (N, 3072) of 32x32 RGB "
                         f"images, got {desc}.")
    try:
        labels = np.asarray(labels)
    except Exception:
        labels = np.asarray([])
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{path!r}: 'labels' must be a list of integers, got "
                         f"{labels.dtype} {labels.shape}.")
    if len(labels) != len(data):
        raise ValueError(f"{path!r} holds {len(data)} images but {len(labels)} labels.")
    _check_labels(labels, path, 10)
    return data, labels


def load_cifar10(path) -> TrainTest:
    """CIFAR-10 from the directory of its python-pickle batches (``cifar-10-batches-py``, the
    folder ``cifar-10-python.tar.gz`` unpacks to; a directory holding that folder works too).

    Reads ``data_batch_1`` .. ``data_batch_5`` (training, in that order) and ``test_batch``
    with `safe_unpickle` (a file that tries to call anything but NumPy's array reconstruction
    is refused). Returns `TrainTest`: x float32 (N, 32, 32, 3) (NHWC; the batches store CHW)
    scaled to [0, 1], y int32 in 0..9; 50 000 training and 10 000 test images for the real
    files.
    """
    path = os.path.expanduser(os.fspath(path))
    if os.path.isfile(path) and path.lower().endswith((".tar.gz", ".tgz", ".tar")):
        raise ValueError(f"{path!r} is the archive; unpack it first (tar xzf "
                         f"{os.path.basename(path)}) and pass the cifar-10-batches-py "
                         "directory it makes.")
    if not os.path.isdir(path):
        raise FileNotFoundError(
            f"CIFAR-10 data {path!r} is not a directory. Pass the cifar-10-batches-py directory "
            "holding data_batch_1 .. data_batch_5 and test_batch (python version).")
    nested = os.path.join(path, "cifar-10-batches-py")
    if not os.path.isfile(os.path.join(path, "test_batch")) and os.path.isdir(nested):
        path = nested
    names = [n for files in CIFAR10_FILES.values() for n in files]
    missing = [n for n in names if not os.path.isfile(os.path.join(path, n))]
    if missing:
        raise FileNotFoundError(
            f"CIFAR-10 directory {path!r} lacks {', '.join(missing)}; it holds "
            f"{sorted(os.listdir(path))[:12] or 'nothing'}. Pass the cifar-10-batches-py "
            "directory of the python version (data_batch_1 .. data_batch_5, test_batch).")
    out = []
    for files in CIFAR10_FILES.values():
        parts = [_cifar_batch(os.path.join(path, n)) for n in files]
        data = np.concatenate([d for d, _ in parts])
        images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        out += [images.astype(np.float32) / 255.0,
                np.concatenate([lab for _, lab in parts]).astype(np.int32)]
    return TrainTest(*out)


# --------------------------------------------------------------------------------- MNIST-1D

def load_mnist1d(num_samples: int = 5000, seed: int = 42, train_split: float = 0.8
                 ) -> TrainTest:
    """MNIST-1D (Greydanus & Kobak 2020), generated procedurally by the ``mnist1d`` package's
    ``make_dataset`` (its download path is never used: no network, no file written).

    ``num_samples`` signals (a multiple of 10: the same number per digit), 40 values each;
    the first ``train_split`` of them (after the generator's shuffle) are the training set.
    The defaults (5000, seed 42, 0.8) are the package's: 4000 training and 1000 test signals.
    Deterministic given the arguments; the generator seeds NumPy's and Python's global random
    states, which are restored afterwards (the caller's random streams are untouched).

    Returns `TrainTest`: x float32 (N, 40) (standardised by the generator), y int32 in 0..9.
    """
    for name, value, lo in (("num_samples", num_samples, 20), ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {value!r}.")
    if num_samples % 10:
        raise ValueError(f"num_samples must be a multiple of 10 (signals per digit), got "
                         f"{num_samples}.")
    if not 0.0 < float(train_split) < 1.0:
        raise ValueError(f"train_split must lie in (0, 1), got {train_split!r}.")
    arrays = _mnist1d_arrays(int(num_samples), int(seed), float(train_split))
    return TrainTest(*(a.copy() for a in arrays))


@functools.lru_cache(maxsize=4)
def _mnist1d_arrays(num_samples: int, seed: int, train_split: float):
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as err:  # pragma: no cover - a dependency
        raise ImportError("MNIST-1D is generated by the mnist1d package: pip install "
                          "mnist1d") from err
    args = get_dataset_args()
    args.num_samples, args.seed, args.train_split = num_samples, seed, train_split
    np_state, py_state = np.random.get_state(), random.getstate()  # noqa: NPY002
    try:
        d = make_dataset(args)
    finally:
        np.random.set_state(np_state)  # noqa: NPY002 - the generator uses the legacy state
        random.setstate(py_state)
    return (np.asarray(d["x"], np.float32), np.asarray(d["y"], np.int32),
            np.asarray(d["x_test"], np.float32), np.asarray(d["y_test"], np.int32))
