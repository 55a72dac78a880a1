"""Checking a whole activation store against its layout (`infoplane.store.layout`) before
anything is estimated, reading only the .npy headers of the layer arrays (no array data), the
labels ``y`` and infoplane's small ``__layers__`` / ``__meta__`` arrays: `scan` returns a `Scan`
of the entries, layers and shapes per split, the files that break the layout (each named,
with what is wrong) and the entries that are no part of it (ignored).
"""

from __future__ import annotations

import dataclasses
import io
import os
import zipfile
from collections.abc import Callable, Mapping

import numpy as np

from infoplane.store.activations import (
    _EPOCH_RE,
    _LAYERS,
    _META,
    _PROBE_RE,
    _READ_ERRORS,
    _SEED_RE,
    ActivationStore,
    _array,
    _damaged,
    _labels,
    _layer_keys,
    _not_numeric,
    _opened,
    _probe_keys,
)

__all__ = ["Scan", "scan"]

_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0,
                   (2, 0): np.lib.format.read_array_header_2_0}


def _headers(path: str) -> tuple[list[str], dict[str, tuple[tuple, np.dtype]], Callable]:
    """The array keys of an .npz (file order), each one's (shape, dtype) from its .npy
    header, and a loader of one small array. Raises ValueError naming a damaged file."""
    try:
        zf = zipfile.ZipFile(path)
    except _READ_ERRORS as err:
        raise _damaged(path, err) from None
    with zf:
        keys, info = [], {}
        for member in zf.namelist():
            if not member.endswith(".npy"):
                raise ValueError(f"{path}: {member!r} is not a .npy array; write the file with "
                                 "np.savez")
            key = member[:-4]
            try:
                with zf.open(member) as f:
                    version = np.lib.format.read_magic(f)
                    read = _HEADER_READERS.get(version)
                    header = read(f) if read is not None else None
            except _READ_ERRORS as err:
                raise _damaged(path, err) from None
            if header is None:  # .npy 3.0: only structured dtypes with non-Latin-1 names
                raise ValueError(_not_numeric(path, key, f"(.npy format {version})"))
            keys.append(key)
            info[key] = (tuple(header[0]), header[2])
        try:
            small = {k: zf.read(k + ".npy") for k in (_LAYERS, _META) if k in info}
        except _READ_ERRORS as err:
            raise _damaged(path, err) from None

    def load(key: str) -> np.ndarray:
        try:
            return np.lib.format.read_array(io.BytesIO(small[key]), allow_pickle=False)
        except _READ_ERRORS as err:
            raise _damaged(path, err) from None

    return keys, info, load


@dataclasses.dataclass(frozen=True)
class Scan:
    """What `scan` found under a store's root.

    entries: (split, seed, epoch), sorted; only splits whose files all follow the layout.
    layers: split -> its layer names in order (those of its first epoch file).
    shapes: split -> {layer: shape as stored, (N, ...)}.
    n: split -> probe size N (len(y)).
    errors: one line per file that breaks the layout, naming it and what is wrong.
    ignored: one line per entry that is no part of the layout (skipped, not an error).
    """

    entries: tuple[tuple[str, int, int], ...] = ()
    layers: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    shapes: Mapping[str, Mapping[str, tuple[int, ...]]] = dataclasses.field(default_factory=dict)
    n: Mapping[str, int] = dataclasses.field(default_factory=dict)
    errors: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()


def scan(store: ActivationStore) -> Scan:
    """Check every file under ``store.root`` against the layout without reading array data
    (only the .npy headers, ``y`` and infoplane's small ``__layers__`` / ``__meta__``).

    Errors: a split with epochs but no (readable) probe file; a probe without x or y, or
    with non-integer labels; an unreadable epoch file; two files of one epoch; a layer that
    is not real numbers, has no samples axis, no units, or not N rows; a file whose layers
    or shapes differ from its split's first file; a format marker other than 1. Ignored (a
    line each): files and directories that match no name of the layout. Hidden entries
    (``.*``, e.g. a writer's temporary files) are skipped silently.
    """
    errors: list[str] = []
    ignored: list[str] = []
    layers: dict[str, tuple[str, ...]] = {}
    shapes: dict[str, dict[str, tuple[int, ...]]] = {}
    sizes: dict[str, int] = {}
    root = store.root
    if not os.path.isdir(root):
        return Scan()
    split_dirs = []
    for entry in sorted(os.listdir(root)):
        full = os.path.join(root, entry)
        if entry.startswith("."):
            continue
        if os.path.isdir(full):
            split_dirs.append(entry)
        elif not ((m := _PROBE_RE.match(entry)) and not m.group(1).startswith(".")):
            ignored.append(f"{full}: not probe-<split>.npz nor a <split>/ directory")
    for split in split_dirs:
        found = _scan_split(store, split, errors, ignored)
        if found is None:
            continue
        try:
            n = _probe_n(store, split)
        except (ValueError, FileNotFoundError) as err:
            errors.append(str(err))
            continue
        bad = [_wrong_rows(path, layer, shape, n, store.probe_path(split))
               for path, names in found for layer, shape in names.items() if shape[0] != n]
        if bad:
            errors.extend(bad)
            continue
        layers[split], shapes[split], sizes[split] = tuple(found[0][1]), found[0][1], n
    entries = tuple(sorted(k for sp in layers for k in _keys_of(store, sp)))
    return Scan(entries, layers, shapes, sizes, tuple(errors), tuple(ignored))


def _keys_of(store: ActivationStore, split: str) -> list[tuple[str, int, int]]:
    return [(split, seed, e) for seed in store.seeds(split) for e in store.epochs(split, seed)]


def _wrong_rows(path: str, layer: str, shape: tuple, n: int, probe: str) -> str:
    return (f"{path}: layer {layer!r} has shape {shape}, not (N, ...) with N = {n}, the "
            f"labels in {probe}; every layer holds one row per probe sample, in its order")


def _probe_n(store: ActivationStore, split: str) -> int:
    path = store.probe_path(split)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} is missing: split {split!r} has recorded epochs, and "
                                "each split needs its probe set, np.savez(path, x=x, y=y) with "
                                "x (N, ...) the probe inputs and y (N,) the integer labels")
    keys, info, _load = _headers(path)
    _probe_keys(keys, path)
    with _opened(path) as z:
        y = _array(z, "y", path)
    return len(_labels(y, *info["x"], path))


def _scan_split(store, split, errors, ignored) -> list[tuple[str, dict]] | None:
    """[(path, {layer: shape})] of one split's epoch files in (seed, epoch) order; None if
    it has none or any of them breaks the layout (errors appended)."""
    files, n_errors = [], len(errors)
    split_dir = os.path.join(store.root, split)
    for entry in sorted(os.listdir(split_dir)):
        full = os.path.join(split_dir, entry)
        if entry.startswith("."):
            continue
        if not (_SEED_RE.match(entry) and os.path.isdir(full)):
            ignored.append(f"{full}: not a seed<k>/ directory (k an integer, no leading zeros)")
            continue
        for name in sorted(os.listdir(full)):
            path = os.path.join(full, name)
            if name.startswith("."):
                continue
            if not (_EPOCH_RE.match(name) and os.path.isfile(path)):
                ignored.append(f"{path}: not epoch<e>.npz (e an integer >= 0)")
                continue
            try:
                files.append(((int(entry[4:]), int(name[5:-4])), path, _file_layers(path)))
            except ValueError as err:
                errors.append(str(err))
        try:
            store.epochs(split, int(entry[4:]))
        except ValueError as err:  # two files of one epoch
            errors.append(str(err))
    if not files and len(errors) == n_errors:
        ignored.append(f"{split_dir}: a split directory without epoch files")
        return None
    files = [(path, names) for _key, path, names in sorted(files, key=lambda f: f[0])]
    errors.extend(_differs(path, names, *files[0]) for path, names in files[1:]
                  if _units(names) != _units(files[0][1]))  # N: checked against the probe
    return None if len(errors) > n_errors else files


def _file_layers(path: str) -> dict[str, tuple[int, ...]]:
    """{layer: shape} of one epoch file (file order), from its headers; a layer that is not
    real numbers, has no samples axis or no units is a ValueError naming the file."""
    keys, info, load = _headers(path)
    out = {}
    for name, key in _layer_keys(keys, load, path):
        shape, dtype = info[key]
        if dtype.kind not in "biuf":
            raise ValueError(_not_numeric(path, name, dtype))
        if len(shape) < 1 or 0 in shape[1:]:
            raise ValueError(f"{path}: layer {name!r} has shape {shape}; a layer is (N, ...) "
                             "with at least one unit per sample")
        out[name] = shape
    return out


def _units(names: dict) -> dict:
    return {k: shape[1:] for k, shape in names.items()}


def _differs(path: str, names: dict, first_path: str, first: dict) -> str:
    if set(names) != set(first):
        return (f"{path}: layers {sorted(names)} differ from {sorted(first)} in {first_path}; "
                "every epoch file of a split holds the same layers")
    layer = next(k for k in names if names[k][1:] != first[k][1:])
    return (f"{path}: layer {layer!r} has shape {names[layer]} but {first[layer]} in "
            f"{first_path}; a layer keeps its shape across epochs and seeds")
