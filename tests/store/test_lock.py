"""One writer per run directory (`infoplane.store.lock`): a second writer is refused with the
holder's pid, a SIGKILLed holder's lock file never blocks, the lock is re-entrant within a
process. Real processes, real SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from infoplane.store import lock as _lock

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

HOLDER = textwrap.dedent(
    """
    import sys, time
    from infoplane.store.lock import acquire
    held = acquire(sys.argv[1], command="holder-script")
    print("held", flush=True)
    time.sleep(600)
    """
)


def _holder(run_dir) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    p = subprocess.Popen([sys.executable, "-c", HOLDER, str(run_dir)], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert p.stdout.readline().strip() == "held"
    return p


def test_second_writer_is_refused_naming_the_holder_and_a_killed_holder_never_blocks(tmp_path):
    p = _holder(tmp_path)
    try:
        with pytest.raises(_lock.RunDirectoryLocked) as err:
            _lock.acquire(tmp_path)
        msg = str(err.value)
        assert f"pid {p.pid}" in msg and "holder-script" in msg and "one writer" in msg
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=30)
    assert p.returncode == -signal.SIGKILL
    assert (tmp_path / _lock.LOCK_FILE).exists()  # the stale lock file is still there ...
    with _lock.acquire(tmp_path, command="me") as held:  # ... and does not block
        assert str(os.getpid()) in (tmp_path / _lock.LOCK_FILE).read_text()
        assert held.path.endswith(_lock.LOCK_FILE)


def test_lock_is_reentrant_within_a_process_and_released_by_the_last_holder(tmp_path):
    outer = _lock.acquire(tmp_path, share=True)
    inner = _lock.acquire(tmp_path)
    inner.release()
    inner.release()  # idempotent: does not release the outer one
    probe = subprocess.run(
        [sys.executable, "-c", "import sys; from infoplane.store.lock import acquire; "
         "acquire(sys.argv[1])", str(tmp_path)],
        env=dict(os.environ, PYTHONPATH=ROOT), capture_output=True, text=True)
    assert probe.returncode != 0 and f"pid {os.getpid()}" in probe.stderr
    outer.release()
    probe = subprocess.run(
        [sys.executable, "-c", "import sys; from infoplane.store.lock import acquire; "
         "acquire(sys.argv[1])", str(tmp_path)],
        env=dict(os.environ, PYTHONPATH=ROOT), capture_output=True, text=True)
    assert probe.returncode == 0, probe.stderr


def test_a_second_writer_in_the_same_process_is_refused_unless_shared(tmp_path):
    """Two Recorders resuming one directory inside one process were both let in."""
    first = _lock.acquire(tmp_path)
    with pytest.raises(_lock.RunDirectoryLocked, match="already being written by this process"):
        _lock.acquire(tmp_path)
    first.release()
    with _lock.acquire(tmp_path):  # released: free again
        pass


def test_two_recorders_resuming_one_directory_in_one_process(tmp_path):
    import numpy as np

    from infoplane.recording.recorder import Recorder

    x = np.random.default_rng(0).normal(size=(16, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int32)
    a = Recorder(x, y, ["binning"], str(tmp_path), name="r", tensorboard=False)
    try:
        with pytest.raises(_lock.RunDirectoryLocked, match="this process"):
            Recorder(x, y, ["binning"], str(tmp_path), name="r", resume=True, tensorboard=False)
    finally:
        a.close()
    Recorder(x, y, ["binning"], str(tmp_path), name="r", resume=True, tensorboard=False).close()
