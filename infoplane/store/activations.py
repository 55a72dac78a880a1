"""Recorded layer activations of a run, one ``.npz`` per (split, seed, epoch): the opt-in
``activations/`` directory that ``infoplane estimate`` re-estimates, and (same format) the
`Recorder`'s write-ahead log ``pending/``. Format: `infoplane.store.layout`.
"""

from __future__ import annotations

import json
import operator
import os
import re
import zipfile
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from infoplane.store.atomic import atomic_savez
from infoplane.store.layout import ACTIVATIONS_DIR

__all__ = ["ActivationStore", "check_split"]

_EPOCH_RE = re.compile(r"^epoch(\d+)\.npz$")
_SEED_RE = re.compile(r"^seed(-?\d+)$")
_PROBE_RE = re.compile(r"^probe-(.+)\.npz$")
_FORMAT = 1


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
        """The file of one recorded epoch."""
        epoch = operator.index(epoch)
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        return os.path.join(self._seed_dir(split, seed), f"epoch{epoch:07d}.npz")

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
        arrays["__layers__"] = np.array(names, dtype=str)
        arrays["__meta__"] = np.array(json.dumps(meta))
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
        d = self._seed_dir(split, seed)
        if not os.path.isdir(d):
            return []
        return sorted(int(m.group(1)) for e in os.listdir(d) if (m := _EPOCH_RE.match(e)))

    def size_bytes(self) -> int:
        """Total size of the files under ``activations/`` in bytes (0 if none)."""
        total = 0
        for dirpath, _dirs, files in os.walk(self.root):
            total += sum(os.path.getsize(os.path.join(dirpath, f)) for f in files)
        return total

    # -- reading -----------------------------------------------------------------------------

    def _missing(self, what: str, path: str, available: str) -> FileNotFoundError:
        return FileNotFoundError(f"no {what}: {path!r} does not exist; {available}")

    def _open_epoch(self, seed: int, split: str, epoch: int):
        path = self.path(seed, split, epoch)
        if not os.path.isfile(path):
            if self.epochs(split, seed):
                available = f"recorded epochs of split {split!r}, seed {seed}: " + ", ".join(
                    map(str, self.epochs(split, seed))
                )
            elif self.seeds(split):
                available = f"seeds recorded for split {split!r}: {self.seeds(split)}"
            else:
                available = f"splits recorded in {self.root!r}: {self.splits()}"
            raise self._missing(f"activations for epoch {epoch}", path, available)
        return _opened(path), path

    def read_probe(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """The probe set of ``split``: (x (N, ...) float32, y (N,) int64)."""
        path = self.probe_path(split)
        if not os.path.isfile(path):
            raise self._missing(
                f"probe set for split {split!r}", path, f"splits in {self.root!r}: {self.splits()}"
            )
        try:
            with _opened(path) as z:
                return z["x"], z["y"]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
            raise _damaged(path, err) from None

    def read(self, seed: int, split: str, epoch: int) -> dict[str, np.ndarray]:
        """The activations of one recorded epoch: {layer name: array}, in layer order."""
        z, path = self._open_epoch(seed, split, epoch)
        try:
            with z:
                names = z["__layers__"].tolist()
                return {name: z[f"layer_{i}"] for i, name in enumerate(names)}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
            raise _damaged(path, err) from None

    def layers(self, split: str, seed: int) -> list[str]:
        """The layer names (in order) of the first recorded epoch of (split, seed)."""
        epochs = self.epochs(split, seed)
        if not epochs:
            raise self._missing(
                f"recorded epochs for split {split!r}, seed {seed}",
                self._seed_dir(split, seed),
                f"seeds recorded for split {split!r}: {self.seeds(split)}",
            )
        z, _path = self._open_epoch(seed, split, epochs[0])
        with z:
            return z["__layers__"].tolist()

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
            z, path = self._open_epoch(seed, split, e)
            with z:
                names = z["__layers__"].tolist()
                if layer not in names:
                    raise KeyError(f"{path}: no layer {layer!r}; layers: {names}")
                a = z[f"layer_{names.index(layer)}"]
            if shape is None:
                shape = a.shape
            elif a.shape != shape:
                raise ValueError(
                    f"layer {layer!r} has shape {a.shape} at epoch {e} but "
                    f"{shape} at epoch {epochs[0]}"
                )
            out.append(a.reshape(len(a), -1) if flatten else a)
        return np.stack(out)


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
