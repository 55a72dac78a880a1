"""Atomic file replacement: a crash leaves the old file or the new one, never half of one.

`atomic_write` writes through a temporary file in the target's directory and
``os.replace``; with ``durable=True`` (the default) it also fsyncs the file and the directory,
so the new file survives a power loss too. `atomic_savez` and `write_json` use it.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

__all__ = ["atomic_savez", "atomic_write", "fsync_dir", "write_json"]


def fsync_dir(directory: str) -> None:
    """Make a rename or a new file in ``directory`` durable (best effort; POSIX only)."""
    try:
        fd = os.open(directory or ".", os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def atomic_write(path: str, write: Callable[[Any], None], durable: bool = True) -> None:
    """Call ``write(binary_file)`` on a temporary file next to ``path``, fsync it, move it over
    ``path`` with ``os.replace`` and fsync the directory: a crash leaves the old file or the
    new one, never half of one, and no temporary file.

    ``durable=False`` skips both fsyncs: still atomic, and a killed process (even by SIGKILL)
    loses nothing (the kernel keeps the written pages), but a power loss may lose the file.
    """
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    if durable:
        fsync_dir(directory)


def atomic_savez(path: str, arrays: Mapping[str, np.ndarray], compress: bool,
                 durable: bool = True) -> None:
    """Write an .npz atomically (see `atomic_write`), creating its directory."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    atomic_write(path, lambda f: (np.savez_compressed if compress else np.savez)(f, **arrays),
                 durable)


def write_json(path: str | os.PathLike, data: Mapping) -> None:
    """Write ``data`` as indented JSON atomically (see `atomic_write`)."""
    text = (json.dumps(dict(data), indent=2, default=str) + "\n").encode()
    atomic_write(os.fspath(path), lambda f: f.write(text))
