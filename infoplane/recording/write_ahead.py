"""The `Recorder`'s write-ahead log, ``<run_dir>/pending/``: before `Recorder.record` returns,
each buffered epoch's activations are written there atomically (the ``activations/`` format,
`infoplane.store.activations`), and a flush deletes them once their rows are fsync'd; so a
killed process (even by SIGKILL) loses at most the epoch in flight, not the buffered ones.
``Recorder(..., resume=True)`` estimates what a killed process left there first (`recover`).

``Recorder(write_ahead=None)`` (the default) is on exactly when there is a run directory and
``buffer > 1`` (`check_write_ahead`). Cost: one atomic ``.npz`` write (temporary file +
``os.replace``, no fsync: a killed process keeps it, a power loss may not) of N x sum(widths)
x 4 bytes per recorded epoch and probe set, and `Recorder.record` waits for the capture to
finish instead of returning before the device does. Measured for 4096 samples and layers of
widths 10, 7, 5, 4, 3, 2 (0.51 MB): 1.7 ms per write, +2.4 ms per `record` (2.1 -> 4.5 ms,
CPU). With ``store_activations=True`` the pending file is a hard link to the stored one (a copy
where the file system has no hard links): the arrays are written once (`write_epoch`). The
default turns itself off with a warning when one epoch of a probe set exceeds
`WRITE_AHEAD_MAX_MB` (64 MB, e.g. conv feature maps of a large probe; `too_large`);
``write_ahead=True`` always writes.
"""

from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from infoplane.recording.buffer import Entry
from infoplane.store.activations import ActivationStore
from infoplane.store.layout import PENDING_DIR
from infoplane.store.tables import ResultsFileWarning

__all__ = ["WRITE_AHEAD_MAX_MB", "check_write_ahead", "discard_pending", "epoch_megabytes",
           "link_or_copy", "pending_keys", "pending_store", "recover", "remove_empty_dirs",
           "remove_temp_files", "too_large", "write_epoch"]

#: Largest epoch (one probe set's activations, MB) the default write-ahead log writes.
WRITE_AHEAD_MAX_MB = 64


def check_write_ahead(write_ahead, logdir, buffer: int) -> bool:
    """The effective ``write_ahead`` setting: None -> on exactly with a logdir and buffer > 1."""
    if write_ahead is None:
        return logdir is not None and buffer > 1
    if not isinstance(write_ahead, bool):
        raise TypeError(f"write_ahead must be None, True or False, got {write_ahead!r}.")
    if write_ahead and logdir is None:
        raise ValueError(
            "write_ahead=True needs a run directory to write buffered epochs to: pass a "
            "logdir, or leave write_ahead=None (on only with a logdir and buffer > 1)."
        )
    return write_ahead


def pending_store(run_dir: str) -> ActivationStore:
    """The write-ahead log of a run: ``<run_dir>/pending/``, in the `ActivationStore` format,
    written atomically without fsync (a killed process keeps what it wrote)."""
    return ActivationStore(run_dir, subdir=PENDING_DIR, durable=False)


def pending_keys(wal: ActivationStore, splits: list[str]) -> list[tuple[int, str, int]]:
    """Every (seed, split, epoch) in a write-ahead log, ordered by seed, epoch, then split
    (the recorder's probe sets first, in their order)."""
    found = wal.splits()
    rank = {s: i for i, s in enumerate(splits + [s for s in found if s not in splits])}
    keys = [(seed, split, epoch) for split in found for seed in wal.seeds(split)
            for epoch in wal.epochs(split, seed)]
    return sorted(keys, key=lambda k: (k[0], k[2], rank[k[1]]))


def link_or_copy(src: str, dst: str) -> None:
    """Make ``dst`` a hard link to ``src`` (the same bytes, nothing written twice), replacing
    ``dst`` atomically; a copy where the file system has no hard links."""
    directory = os.path.dirname(dst)
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".{os.path.basename(dst)}.{os.getpid()}.tmp")
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def discard_pending(entries: Iterable[Entry]) -> None:
    """Delete the write-ahead files of estimated entries (their rows are written)."""
    for e in entries:
        if e.pending is not None:
            try:
                os.remove(e.pending)
            except FileNotFoundError:
                pass


def remove_temp_files(root: str) -> None:
    """Delete the temporary files (``.*.tmp``) a killed writer left under ``root``."""
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            if f.startswith(".") and f.endswith(".tmp"):
                os.remove(os.path.join(dirpath, f))


def remove_empty_dirs(root: str) -> None:
    """Remove ``root`` and the directories below it that hold no file (best effort)."""
    if not os.path.isdir(root):
        return
    for dirpath, _dirs, _files in os.walk(root, topdown=False):
        try:
            os.rmdir(dirpath)
        except OSError:  # not empty: a file is still pending
            pass


def epoch_megabytes(acts: Mapping[str, Any]) -> float:
    """The size of one recorded epoch's activations ``{layer: array}``, in MB (2**20 bytes)."""
    return sum(a.size * a.dtype.itemsize for a in acts.values()) / 2**20


def recover(run_dir: str, splits: list[str], done: set[tuple[int, str, int]],
            read: Callable[[str, Mapping[str, Any]], Any]
            ) -> Iterator[tuple[tuple[int, str, int], str, Any]]:
    """The epochs a killed process left in ``run_dir/pending/``: ``((seed, split, epoch), path,
    read(split, activations))`` in `pending_keys` order. Files of epochs in ``done`` (their
    rows were written before the kill) are deleted; a file that cannot be read (or that
    ``read`` rejects) is warned about (`ResultsFileWarning`) and kept. Temporary files of a
    killed writer are deleted first."""
    wal = pending_store(run_dir)
    if not os.path.isdir(wal.root):
        return
    remove_temp_files(wal.root)
    for seed, split, epoch in pending_keys(wal, splits):
        path = wal.path(seed, split, epoch)
        if (seed, split, epoch) in done:  # its rows were written before the kill
            os.remove(path)
            continue
        try:
            acts = read(split, wal.read(seed, split, epoch))
        except Exception as err:  # a truncated file, another model's layers, ...
            warnings.warn(
                f"cannot recover the buffered epoch in {path!r} ({type(err).__name__}: "
                f"{err}); skipped and kept. Its epoch {epoch} ({split}, seed {seed}) is "
                "not in results.csv: record it again, or delete the file if it is not "
                "needed.", ResultsFileWarning, stacklevel=4)
            continue
        yield (seed, split, epoch), path, acts


def too_large(acts: Mapping[str, Any], buffer: int) -> bool:
    """Whether the default write-ahead (``write_ahead=None``) turns itself off for an epoch of
    this size: above `WRITE_AHEAD_MAX_MB` per probe set (e.g. conv feature maps of a large
    probe) writing it would cost more than it protects. Warns, saying how to get it back."""
    mb = epoch_megabytes(acts)
    if mb <= WRITE_AHEAD_MAX_MB:
        return False
    warnings.warn(
        f"one recorded epoch holds {mb:.0f} MB of activations, more than the "
        f"{WRITE_AHEAD_MAX_MB} MB the default write-ahead log writes per epoch: it is "
        f"off, so a killed process loses up to buffer={buffer} buffered epochs. "
        "Pass write_ahead=True to write them anyway, buffer=1 to write each epoch's "
        "results at once, or record fewer layers or a smaller probe.",
        stacklevel=4)
    return True


def write_epoch(key: tuple[int, str, int], acts: Mapping[str, Any],
                store: ActivationStore | None, wal: ActivationStore | None) -> str | None:
    """Write one recorded epoch ``{layer: (N, d)}`` of one probe set (``key``: seed, split,
    epoch) to the activation ``store`` and the write-ahead log ``wal`` (either may be None),
    before `Recorder.record` returns: a kill after this loses nothing. With both, the pending
    file is a hard link to the stored one (`link_or_copy`). Returns the pending file's path
    (None without a write-ahead log)."""
    if store is None and wal is None:
        return None
    host = {k: np.asarray(v) for k, v in acts.items()}  # waits for the capture
    stored = store.write(*key, host) if store is not None else None
    if wal is None:
        return None
    pending = wal.path(*key)
    if stored is None:
        wal.write(*key, host)
    else:
        link_or_copy(stored, pending)
    return pending
