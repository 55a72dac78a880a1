"""Kill/resume soak (issue 18, part 8): SIGKILL at seeded-random moments of ``infoplane run``,
``infoplane estimate`` and a user's Recorder script, resuming after each kill; in the end
every scheduled row is there exactly once, with values bit-identical to an uninterrupted
run. The kill moments are fractions (fixed RNG seed) of the uninterrupted process's own
duration, so the test is reproducible and about as long on any machine (the later
processes load the first ones' compiled code from a shared JAX cache)."""

from __future__ import annotations

import concurrent.futures
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.recording.test_write_ahead import SCRIPT, result_rows

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUN = ("run", "--preset", "tishby-relu", "--epochs", "12", "--points", "6", "--estimators",
       "binning", "--no-tensorboard", "--store-activations")
TRIALS = {"run": 2, "est": 1, "rec": 1}  # kills per kind of process
#: What ``infoplane estimate`` adds: a cheap estimator.
EST = "adaptive_binning"


def _env(cache):
    return dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
                JAX_COMPILATION_CACHE_DIR=str(cache),
                JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
                JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")


def _start(cache, argv):
    return subprocess.Popen(argv, cwd=ROOT, env=_env(cache), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _finish(p) -> float:
    t0 = time.perf_counter()
    out, _ = p.communicate(timeout=300)
    assert p.returncode == 0, out
    return time.perf_counter() - t0


def _kill_after(p, delay: float) -> bool:
    """SIGKILL ``p`` after ``delay`` seconds; False if it had finished by then."""
    try:
        p.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=60)
        assert p.returncode == -signal.SIGKILL
        return True
    assert p.returncode == 0, p.stdout.read()
    return False


def _soak(cache, argv_first, argv_again, reference_seconds, fractions, result):
    """Start ``argv_first``, kill it at each fraction of the reference duration (restarting
    with ``argv_again()`` after each kill), then let ``argv_again()`` finish; returns the
    rows and the number of kills that landed inside a process."""
    argv = argv_first
    kills = 0
    for f in fractions:
        kills += _kill_after(_start(cache, argv), f * reference_seconds)
        argv = argv_again()
    _finish(_start(cache, argv_again()))
    return result(), kills


def _timed(cache, argv) -> float:
    t0 = time.perf_counter()
    _finish(_start(cache, argv))
    return time.perf_counter() - t0


@pytest.mark.slow
def test_sigkill_soak_run_estimate_and_recorder(tmp_path):
    """The three kinds run side by side (two cores): first the uninterrupted references, then
    the kill/resume chains; the kill moments are drawn before anything starts."""
    rng = np.random.default_rng(18)
    fractions = {kind: rng.uniform(0.15, 0.8, n) for kind, n in TRIALS.items()}
    cache = tmp_path / "jax-cache"
    py = [sys.executable, "-m", "infoplane"]
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    logdir = tmp_path / "rec"

    def recorder(name, mode):
        return [sys.executable, str(script), str(logdir), name, mode, "14", "-1"]

    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        # references: infoplane run, then infoplane estimate on a copy of it; a Recorder
        ref_run = pool.submit(_timed, cache, [*py, *RUN, "--logdir", str(tmp_path / "ref"),
                                              "--name", "r"])
        ref_rec = pool.submit(_timed, cache, recorder("ref", "fresh"))
        t_run = ref_run.result()
        ref_kde = tmp_path / "kde-ref" / "r"
        shutil.copytree(tmp_path / "ref" / "r", ref_kde)
        est = tmp_path / "kde-killed" / "r"
        shutil.copytree(tmp_path / "ref" / "r", est)
        ref_est = pool.submit(_timed, cache, [*py, "estimate", str(ref_kde), "--estimators",
                                              EST])
        t_rec = ref_rec.result()

        killed = tmp_path / "killed" / "r"
        first = [*py, *RUN, "--logdir", str(killed.parent), "--name", "r"]
        chain_run = pool.submit(  # killed before config.json was written: start it again
            _soak, cache, first, lambda: [*py, "run", "--resume", str(killed)]
            if (killed / "config.json").exists() else first, t_run, fractions["run"],
            lambda: result_rows(killed))
        chain_rec = pool.submit(
            _soak, cache, recorder("killed", "fresh"), lambda: recorder("killed", "resume"),
            t_rec, fractions["rec"], lambda: result_rows(logdir / "killed"))
        t_est = ref_est.result()
        again = [*py, "estimate", str(est), "--estimators", EST]
        chain_est = pool.submit(_soak, cache, again, lambda: again, t_est, fractions["est"],
                                lambda: result_rows(est))
        (rows_run, k_run), (rows_rec, k_rec), (rows_est, k_est) = (
            chain_run.result(), chain_rec.result(), chain_est.result())

    reference = result_rows(tmp_path / "ref" / "r")
    assert len(reference) == 6 * 6  # recorded epochs x layers
    assert rows_run == reference  # every scheduled row once, bit-identical
    assert rows_est == result_rows(ref_kde)
    assert rows_rec == result_rows(logdir / "ref")
    assert len(rows_est) == 2 * len(reference)
    assert k_run + k_rec + k_est >= 2, (k_run, k_rec, k_est)  # most kills land in a process
