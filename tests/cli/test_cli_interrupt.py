"""Ctrl-C during ``infoplane run`` (a real SIGINT to a real process): one message and the
exact resume command, no traceback, exit 130, and the resume continues the run; ``--resume``
says which other options it ignores."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import infoplane
from infoplane.cli.run import ignored_on_resume

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_ctrl_c_stops_cleanly_and_names_the_resume_command(tmp_path):
    run_dir = tmp_path / "runs" / "i"
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    p = subprocess.Popen(
        [sys.executable, "-m", "infoplane", "run", "--epochs", "3000", "--points", "40",
         "--estimators", "binning", "--no-tensorboard", "--logdir", str(tmp_path / "runs"),
         "--name", "i"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and p.poll() is None:  # until an epoch is recorded
        results = run_dir / "results.csv"
        if results.exists() and len(results.read_text().splitlines()) > 1:
            break
        time.sleep(0.5)
    assert p.poll() is None, p.communicate()
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 130, out + err
    assert "Traceback" not in err, err
    assert f"infoplane run --resume {run_dir}" in err
    rows = infoplane.load_results(run_dir).rows()
    assert rows  # what was estimated is kept
    assert ignored_on_resume(["--resume", str(run_dir), "--epochs", "5", "--null=2"]) == [
        "--epochs", "--null"]
    assert ignored_on_resume(["--resume", str(run_dir)]) == []
