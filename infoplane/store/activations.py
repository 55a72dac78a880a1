"""Recorded layer activations, one ``.npz`` per (split, seed, epoch): the ``activations/``
directory that ``infoplane estimate`` re-estimates, and (same format) the `Recorder`'s
write-ahead log ``pending/``. Written by the `Recorder` (``store_activations=True``) or by any
other framework with plain NumPy; the full contract is in `infoplane.store.layout`::

    activations/
      probe-<split>.npz                       x (N, ...) probe inputs, y (N,) integer labels
      <split>/seed<seed>/epoch<epoch>.npz     one array (N, ...) per layer

An epoch file is infoplane's own (``__layers__``, ``layer_0``, ``layer_1``, ..., ``__meta__``)
or a plain one (no ``__layers__``: every array is a layer, named by its key, in the file's
order), so ``np.savez(path, fc1=t1, fc2=t2)`` from any framework writes a valid file.
`ActivationStore.scan` (`infoplane.store.scan`) checks a whole store against the layout from
the array headers alone: every file that breaks it is named with what is wrong, and every
entry that is no part of it is listed as ignored.
"""

from __future__ import annotations

import json
import operator
import os
import re
import zipfile
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from infoplane.store.atomic import atomic_savez
from infoplane.store.layout import ACTIVATIONS_DIR

__all__ = ["LAYOUT_HINT", "ActivationStore", "check_split"]

_EPOCH_RE = re.compile(r"^epoch(\d+)\.npz$")
_SEED_RE = re.compile(r"^seed(0|-?[1-9]\d*)$")
_PROBE_RE = re.compile(r"^probe-(.+)\.npz$")
_FORMAT = 1
_LAYERS, _META = "__layers__", "__meta__"
_READ_ERRORS = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile)
#: The layout in one line, for error messages.
LAYOUT_HINT = ("layout: activations/probe-<split>.npz (x, y) and activations/<split>/seed<k>/"
               "epoch<e>.npz (one array per layer); see infoplane.store.layout")


def check_split(split: Any) -> str:
    if (
        not isinstance(split, str)
        or not split
        or split in (".", "..")
        or "/" in split
        or os.sep in split
        or split.startswith(".")
    ):
        raise ValueError(f"split must be a plain name (no path separators), got {split!r}")
    return split


class ActivationStore:
    """Recorded layer activations of a run, one ``.npz`` per (split, seed, epoch), under
    ``<run_dir>/activations/`` (format: see the module docstring), so that a finished run can
    be re-estimated with other estimators later.

    ``compress``: write with ``np.savez_compressed`` (slower; tanh activations compress
    little). Files are written atomically; writing an existing epoch again replaces it.
    ``subdir``: the directory under ``run_dir`` (`ACTIVATIONS_DIR`; the `Recorder`'s
    write-ahead log uses `PENDING_DIR`, same format). ``durable``: fsync every file and its
    directory (False: atomic and safe against a killed process, not against a power loss).
    Reading accepts infoplane's files and plain ones written by other frameworks alike.
    """

    def __init__(self, run_dir: str | os.PathLike, *, compress: bool = False,
                 subdir: str = ACTIVATIONS_DIR, durable: bool = True):
        self.run_dir = os.fspath(run_dir)
        if not isinstance(subdir, str) or not subdir or os.path.isabs(subdir):
            raise ValueError(f"subdir must be a relative directory name, got {subdir!r}")
        self.root = os.path.join(self.run_dir, subdir)
        self.compress = bool(compress)
        self.durable = bool(durable)

    def __repr__(self) -> str:
        return f"ActivationStore({self.run_dir!r})"

    # -- paths -------------------------------------------------------------------------------

    def probe_path(self, split: str) -> str:
        return os.path.join(self.root, f"probe-{check_split(split)}.npz")

    def _seed_dir(self, split: str, seed: int) -> str:
        return os.path.join(self.root, check_split(split), f"seed{operator.index(seed)}")

    def path(self, seed: int, split: str, epoch: int) -> str:
        """The file one recorded epoch is written to (``epoch<epoch:07d>.npz``; reading also
        finds an unpadded ``epoch<epoch>.npz``)."""
        epoch = operator.index(epoch)
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        return os.path.join(self._seed_dir(split, seed), f"epoch{epoch:07d}.npz")

    def _epoch_files(self, split: str, seed: int) -> dict[int, str]:
        """{epoch: file name} of (split, seed); two names of one epoch are a ValueError."""
        d = self._seed_dir(split, seed)
        found: dict[int, str] = {}
        for entry in sorted(os.listdir(d)) if os.path.isdir(d) else ():
            if (m := _EPOCH_RE.match(entry)) and os.path.isfile(os.path.join(d, entry)):
                e = int(m.group(1))
                if e in found:
                    raise ValueError(f"{d}: {found[e]} and {entry} both hold epoch {e}; "
                                     "delete or rename one of them")
                found[e] = entry
        return found

    # -- writing -----------------------------------------------------------------------------

    def write_probe(self, split: str, x, y) -> str:
        """Store the probe set of ``split``: x (N, ...) as float32, y (N,) integer labels.
        Returns the file's path."""
        x = np.asarray(x, dtype=np.float32)
        y = np.asarray(y)
        if y.ndim != 1 or x.ndim < 1 or len(x) != len(y):
            raise ValueError(f"probe: need x (N, ...) and y (N,), got {x.shape} and {y.shape}")
        if y.dtype.kind not in "iub":
            if y.dtype.kind != "f" or not np.all(y == np.round(y)):
                raise ValueError(f"probe: y must hold integer labels, got dtype {y.dtype}")
        path = self.probe_path(split)
        atomic_savez(path, {"x": x, "y": y.astype(np.int64)}, self.compress, self.durable)
        return path

    def write(self, seed: int, split: str, epoch: int, acts: Mapping[str, Any]) -> str:
        """Store the activations of one recorded epoch: ``acts`` maps layer name -> array
        (N, d) or (N, ...), in layer order. Arrays are stored with their dtype. Returns the
        file's path."""
        path = self.path(seed, split, epoch)
        if not isinstance(acts, Mapping) or not acts:
            raise ValueError("acts must be a non-empty mapping layer name -> array")
        names = list(acts)
        for name in names:
            if not isinstance(name, str) or not name:
                raise ValueError(f"layer names must be non-empty strings, got {name!r}")
        arrays = {f"layer_{i}": np.asarray(acts[name]) for i, name in enumerate(names)}
        meta = {"format": _FORMAT, "seed": int(seed), "split": split, "epoch": int(epoch)}
        arrays[_LAYERS] = np.array(names, dtype=str)
        arrays[_META] = np.array(json.dumps(meta))
        atomic_savez(path, arrays, self.compress, self.durable)
        return path

    # -- listing -----------------------------------------------------------------------------

    def splits(self) -> list[str]:
        """The splits with recorded epochs or a probe set, sorted."""
        if not os.path.isdir(self.root):
            return []
        found = set()
        for entry in os.listdir(self.root):
            full = os.path.join(self.root, entry)
            if os.path.isdir(full) and not entry.startswith("."):
                found.add(entry)
            elif (m := _PROBE_RE.match(entry)) and os.path.isfile(full):
                found.add(m.group(1))
        return sorted(found)

    def seeds(self, split: str) -> list[int]:
        """The seeds recorded for ``split``, sorted ([] if none)."""
        d = os.path.join(self.root, check_split(split))
        if not os.path.isdir(d):
            return []
        return sorted(int(m.group(1)) for e in os.listdir(d) if (m := _SEED_RE.match(e)))

    def epochs(self, split: str, seed: int) -> list[int]:
        """The recorded epochs of (split, seed), sorted ([] if none)."""
        return sorted(self._epoch_files(split, seed))

    def size_bytes(self) -> int:
        """Total size of the files under ``activations/`` in bytes (0 if none)."""
        total = 0
        for dirpath, _dirs, files in os.walk(self.root):
            total += sum(os.path.getsize(os.path.join(dirpath, f)) for f in files)
        return total

    def scan(self):
        """The whole store checked against the layout from the array headers: a
        `infoplane.store.scan.Scan` (its entries, layers, errors and ignored entries)."""
        from infoplane.store.scan import scan

        return scan(self)

    # -- reading -----------------------------------------------------------------------------

    def _missing(self, what: str, path: str, available: str) -> FileNotFoundError:
        return FileNotFoundError(f"no {what}: {path!r} does not exist; {available}")

    def epoch_path(self, seed: int, split: str, epoch: int) -> str:
        """The existing file of one recorded epoch (FileNotFoundError listing what there is)."""
        path = self.path(seed, split, epoch)
        if os.path.isfile(path):
            return path
        if (name := self._epoch_files(split, seed).get(operator.index(epoch))) is not None:
            return os.path.join(os.path.dirname(path), name)
        if self.epochs(split, seed):
            available = f"recorded epochs of split {split!r}, seed {seed}: " + ", ".join(
                map(str, self.epochs(split, seed))
            )
        elif self.seeds(split):
            available = f"seeds recorded for split {split!r}: {self.seeds(split)}"
        else:
            available = f"splits recorded in {self.root!r}: {self.splits()}"
        raise self._missing(f"activations for epoch {epoch}", path, available)

    def read_probe(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """The probe set of ``split``: (x (N, ...) as stored, float32 when infoplane wrote it;
        y (N,) int64). A file without ``x`` or ``y``, labels that are not integers or lengths
        that differ are a ValueError naming the file."""
        path = self.probe_path(split)
        if not os.path.isfile(path):
            raise self._missing(
                f"probe set for split {split!r}", path, f"splits in {self.root!r}: {self.splits()}"
            )
        with _opened(path) as z:
            _probe_keys(z.files, path)
            x, y = _array(z, "x", path), _array(z, "y", path)
        return x, _labels(y, x.shape, x.dtype, path)

    def read(self, seed: int, split: str, epoch: int) -> dict[str, np.ndarray]:
        """The activations of one recorded epoch: {layer name: array}, in layer order."""
        path = self.epoch_path(seed, split, epoch)
        with _opened(path) as z:
            keys = _layer_keys(z.files, lambda k: _array(z, k, path), path)
            return {name: _array(z, key, path, name) for name, key in keys}

    def layers(self, split: str, seed: int) -> list[str]:
        """The layer names (in order) of the first recorded epoch of (split, seed)."""
        epochs = self.epochs(split, seed)
        if not epochs:
            raise self._missing(
                f"recorded epochs for split {split!r}, seed {seed}",
                self._seed_dir(split, seed),
                f"seeds recorded for split {split!r}: {self.seeds(split)}",
            )
        path = self.epoch_path(seed, split, epochs[0])
        with _opened(path) as z:
            return [name for name, _ in _layer_keys(z.files, lambda k: _array(z, k, path), path)]

    def read_layer(
        self,
        seed: int,
        split: str,
        layer: str,
        epochs: Iterable[int] | None = None,
        *,
        flatten: bool = False,
    ) -> np.ndarray:
        """One layer at several epochs, stacked: (E, N, d) (or (E, N, ...) as stored).

        ``epochs``: the epochs in the order wanted (default: all recorded, sorted).
        ``flatten``: reshape each epoch to (N, -1), e.g. for conv layers, giving (E, N, d).
        Only this layer is read from each file.
        """
        epochs = self.epochs(split, seed) if epochs is None else [operator.index(e) for e in epochs]
        if not epochs:
            raise self._missing(
                f"recorded epochs for split {split!r}, seed {seed}",
                self._seed_dir(split, seed),
                f"seeds recorded for split {split!r}: {self.seeds(split)}",
            )
        out: list[np.ndarray] = []
        shape = None
        for e in epochs:
            path = self.epoch_path(seed, split, e)
            with _opened(path) as z:
                keys = dict(_layer_keys(z.files, lambda k, z=z, p=path: _array(z, k, p), path))
                if layer not in keys:
                    raise KeyError(f"{path}: no layer {layer!r}; layers: {list(keys)}")
                a = _array(z, keys[layer], path, layer)
            if shape is None:
                shape = a.shape
            elif a.shape != shape:
                raise ValueError(
                    f"layer {layer!r} has shape {a.shape} at epoch {e} but "
                    f"{shape} at epoch {epochs[0]}"
                )
            out.append(a.reshape(len(a), -1) if flatten else a)
        return np.stack(out)


# -- the format of one file ------------------------------------------------------------------


def _opened(path: str):
    """``np.load(path)``; an unreadable file is a ValueError naming it (`_damaged`)."""
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise _damaged(path, err) from None


def _damaged(path: str, err: Exception) -> ValueError:
    return ValueError(
        f"{path} is damaged and cannot be read ({type(err).__name__}: {err}); it is not a "
        "complete .npz activation file (cut short or overwritten?). Restore it from a backup, "
        "or delete it and record that epoch again."
    )


def _array(z, key: str, path: str, layer: str | None = None) -> np.ndarray:
    """``z[key]`` of an open .npz; an object array (it needs pickle) is a ValueError saying
    so, an unreadable one a ValueError naming the file (`_damaged`)."""
    try:
        return z[key]
    except ValueError as err:
        if "allow_pickle" in str(err):
            raise ValueError(_not_numeric(path, layer or key, np.dtype(object))) from None
        raise _damaged(path, err) from None
    except (OSError, KeyError, EOFError, zipfile.BadZipFile) as err:
        raise _damaged(path, err) from None


def _not_numeric(path: str, layer: str, dtype) -> str:
    return (f"{path}: layer {layer!r} has dtype {dtype}, not real numbers (bool, int or "
            "float); store numeric arrays, e.g. np.asarray(t, dtype=np.float32)")


def _check_meta(meta: np.ndarray, path: str) -> None:
    """``__meta__``: optional; when present a JSON object whose ``format`` (if any) is 1."""
    try:
        data = json.loads(str(meta[()]))
    except (ValueError, TypeError, IndexError):
        data = None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: {_META} is not a JSON object; it is infoplane's format "
                         "marker (optional): drop it or write json.dumps({'format': 1})")
    fmt = data.get("format", _FORMAT)
    if fmt != _FORMAT:
        raise ValueError(f"{path} has activation format {fmt!r}; this infoplane reads format "
                         f"{_FORMAT}: upgrade infoplane (or omit {_META} in a plain file)")


def _layer_keys(keys: list[str], load: Callable[[str], np.ndarray], path: str
                ) -> list[tuple[str, str]]:
    """(layer name, array key) of an epoch file whose arrays are ``keys`` (file order);
    ``load(key)`` reads one small array (``__layers__``, ``__meta__``)."""
    if _META in keys:
        _check_meta(load(_META), path)
    if _LAYERS in keys:  # infoplane's own file
        names = load(_LAYERS)
        if names.ndim != 1 or names.dtype.kind != "U" or len(set(names.tolist())) < len(names):
            raise ValueError(f"{path}: {_LAYERS} must list distinct layer names (1-D str), got "
                             f"{names!r}")
        out = [(str(n), f"layer_{i}") for i, n in enumerate(names.tolist())]
        if missing := [k for _, k in out if k not in keys]:
            raise ValueError(f"{path}: {_LAYERS} names {len(out)} layers but array "
                             f"{missing[0]!r} is missing")
        return out
    if reserved := [k for k in keys if k.startswith("__") and k != _META]:
        raise ValueError(f"{path}: array names starting with '__' are reserved, got "
                         f"{reserved}; rename those layers")
    out = [(k, k) for k in keys if k != _META]
    if not out:
        raise ValueError(f"{path} holds no layer arrays; write one array per layer, e.g. "
                         "np.savez(path, fc1=t1, fc2=t2)")
    return out


def _probe_keys(keys: list[str], path: str) -> None:
    if missing := [k for k in ("x", "y") if k not in keys]:
        raise ValueError(f"{path} has no {' and no '.join(map(repr, missing))} array (it "
                         f"holds {list(keys)}); a probe file holds x (N, ...), the probe "
                         "inputs, and y (N,), the integer labels: np.savez(path, x=x, y=y)")


def _labels(y: np.ndarray, x_shape: tuple, x_dtype, path: str) -> np.ndarray:
    """The probe labels as int64, or a ValueError naming the file and what is wrong."""
    if x_dtype.kind not in "biuf" or len(x_shape) < 1:
        raise ValueError(f"{path}: x must be a numeric (N, ...) array of the probe inputs, got "
                         f"dtype {x_dtype} shape {tuple(x_shape)}")
    if y.ndim != 1 or len(y) != x_shape[0]:
        raise ValueError(f"{path}: y must have shape (N,) with N = {x_shape[0]} (the rows of "
                         f"x), got {y.shape}")
    if y.dtype.kind not in "iub" and not (
            y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y))):
        raise ValueError(f"{path}: y must hold integer class labels, got dtype {y.dtype}"
                         + (" with non-integer values" if y.dtype.kind == "f" else ""))
    return y.astype(np.int64)
