"""One writer per run directory: an exclusive OS file lock on ``<run_dir>/.lock``.

Every writer of a run directory (``infoplane run``, new or ``--resume``, ``infoplane estimate``
and a user's `infoplane.Recorder`) holds `acquire`'s lock for its lifetime; a second writer
gets `RunDirectoryLocked`, whose message names the holder (pid, host, command, start time,
read from the lock file). Readers (``infoplane plot``, the dashboard, TensorBoard) take no lock.

The lock is ``fcntl.flock`` on the open lock file: the kernel releases it when the holder
exits, however it ends (SIGKILL included), so a lock file left behind by a killed process
never blocks the next writer; the file itself is kept (deleting it would race with a writer
that just opened it). Within one process the lock is re-entrant only where its first holder
said so (``share=True``: the harness holds it and its own `Recorder` takes it again; a count,
released when the last holder releases it); a second Recorder on a directory this process is
already writing is refused like another process.
"""

from __future__ import annotations

import datetime
import json
import os
import socket
import sys

__all__ = ["LOCK_FILE", "RunDirectoryLocked", "RunLock", "acquire"]

LOCK_FILE = ".lock"

#: {real path of the lock file: [fd, count, shared]} of the locks this process holds.
_HELD: dict[str, list] = {}


class RunDirectoryLocked(RuntimeError):
    """Another process is writing to this run directory (it holds ``<run_dir>/.lock``)."""


def _holder(fd: int) -> str:
    """Who holds the lock, from the lock file's content (best effort)."""
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        info = json.loads(os.read(fd, 65536).decode("utf-8") or "{}")
    except (OSError, ValueError):
        info = {}
    if not info.get("pid"):
        return "another process (it has not written its pid yet)"
    return (f"pid {info['pid']} on host {info.get('host', '?')} (command: "
            f"{info.get('command', '?')}; since {info.get('started', '?')} UTC)")


class RunLock:
    """A held lock on a run directory (see `acquire`); `release` (idempotent) or use it as a
    context manager."""

    def __init__(self, path: str):
        self.path = path
        self._released = False

    def release(self) -> None:
        if self._released:
            return
        self._released = True
        held = _HELD.get(self.path)
        if held is None:
            return
        held[1] -= 1
        if held[1] == 0:
            del _HELD[self.path]
            os.close(held[0])  # closing the last descriptor releases the flock

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def acquire(run_dir: str | os.PathLike, command: str | None = None, *,
            share: bool = False) -> RunLock:
    """Lock ``run_dir`` (which must exist) for writing, or raise `RunDirectoryLocked` naming
    the process that holds it. ``command``: how the holder is described to a second writer
    (default: this process's command line). ``share``: later `acquire` calls of this process
    share the lock (the harness and its own Recorder); without it they are refused too."""
    import fcntl

    path = os.path.realpath(os.path.join(os.fspath(run_dir), LOCK_FILE))
    if path in _HELD:
        if not _HELD[path][2]:
            raise RunDirectoryLocked(
                f"run directory {os.fspath(run_dir)!r} is already being written by this "
                f"process (pid {os.getpid()}: another open Recorder, run or estimate on it); "
                "one writer at a time: close that one first."
            )
        _HELD[path][1] += 1
        return RunLock(path)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(fd)
        os.close(fd)
        raise RunDirectoryLocked(
            f"run directory {os.fspath(run_dir)!r} is being written by {holder}; one writer "
            "at a time: wait until it has finished (or stop it) and try again. Reading it "
            "(infoplane plot, infoplane board, TensorBoard) needs no lock."
        ) from None
    except BaseException:
        os.close(fd)
        raise
    prog = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python"
    if prog == "__main__.py":  # python -m infoplane ...
        prog = os.path.basename(os.path.dirname(sys.argv[0]))
    info = {"pid": os.getpid(), "host": socket.gethostname(),
            "command": command or " ".join([prog, *sys.argv[1:]]),
            "started": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")}
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, (json.dumps(info) + "\n").encode())
    _HELD[path] = [fd, 1, bool(share)]
    return RunLock(path)
