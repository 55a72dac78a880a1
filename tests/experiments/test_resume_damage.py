"""``infoplane run --resume`` never deletes data it cannot read, falls back past a corrupt
checkpoint, names corrupted files, and keeps one writer per run directory (real processes,
real files, real kills)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import infoplane

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUN = ("run", "--preset", "tishby-relu", "--epochs", "10", "--points", "4", "--estimators",
       "binning", "--no-tensorboard")


def _env(cache):
    return dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
                JAX_COMPILATION_CACHE_DIR=str(cache),
                JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
                JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")


def _popen(cache, *args):
    return subprocess.Popen([sys.executable, "-m", "infoplane", *args], cwd=ROOT,
                            env=_env(cache), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _cli(cache, *args) -> subprocess.CompletedProcess:
    p = _popen(cache, *args)
    out, err = p.communicate(timeout=600)
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


@pytest.fixture(scope="module")
def ref(tmp_path_factory):
    """An uninterrupted tiny run with stored activations, and the JAX cache it filled."""
    base = tmp_path_factory.mktemp("damage")
    cache = base / "jax-cache"
    r = _cli(cache, *RUN, "--store-activations", "--logdir", str(base / "ref-logdir"),
             "--name", "ref")
    assert r.returncode == 0, r.stdout + r.stderr
    return base / "ref-logdir" / "ref", cache


def _copy(ref_dir, tmp_path):
    """A copy of the reference run under the same name (its rows say run "ref")."""
    dst = tmp_path / "copy" / "ref"
    shutil.copytree(ref_dir, dst)
    return dst


def _keys(run_dir):
    return sorted((r["seed"], r["split"], r["epoch"], r["layer"], r["estimator"], r["i_xt"],
                   r["i_ty"]) for r in infoplane.load_results(run_dir).rows())


def _aux(run_dir):
    return sorted((a["seed"], a["split"], a["epoch"], a["layer"], a["estimator"], a["name"],
                   a["value"]) for a in infoplane.load_aux(run_dir))


def _damaged(run_dir):
    return sorted(f for f in os.listdir(run_dir) if ".damaged-" in f)


def test_results_cut_mid_line_are_kept_aside_and_reestimated(ref, tmp_path):
    ref_dir, cache = ref
    d = _copy(ref_dir, tmp_path)
    data = (d / "results.csv").read_bytes()
    (d / "results.csv").write_bytes(data[: len(data) // 2])
    r = _cli(cache, "run", "--resume", str(d))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "results.csv is damaged" in r.stderr and "cut short" in r.stderr
    assert "kept as" in r.stderr and "re-estimating" in r.stderr, r.stderr
    (aside,) = _damaged(d)
    assert (d / aside).read_bytes() == data[: len(data) // 2]  # never deleted, unchanged
    assert _keys(d) == _keys(ref_dir)  # every row once, bit-identical
    assert _aux(d) == _aux(ref_dir)
    assert len(infoplane.load_diagnostics(d)) == len(infoplane.load_diagnostics(ref_dir))


def test_deleted_results_without_activations_refuse_and_change_nothing(ref, tmp_path):
    ref_dir, cache = ref
    d = _copy(ref_dir, tmp_path)
    os.remove(d / "results.csv")
    shutil.rmtree(d / "activations")
    before = {f: (d / f).read_bytes() for f in ("metrics.csv", "aux.csv", "diagnostics.csv")}
    r = _cli(cache, "run", "--resume", str(d))
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    assert "results.csv is damaged: the file was deleted" in r.stderr
    assert "cannot be re-estimated" in r.stderr and "Nothing was changed" in r.stderr
    assert {f: (d / f).read_bytes() for f in before} == before
    assert not (d / "results.csv").exists() and not _damaged(d)


def test_garbage_in_the_middle_is_kept_aside_and_lost_metrics_reported(ref, tmp_path):
    ref_dir, cache = ref
    d = _copy(ref_dir, tmp_path)
    lines = (d / "results.csv").read_text().splitlines(keepends=True)
    lines.insert(5, "\x00\x01 garbage, not a row\n")
    (d / "results.csv").write_text("".join(lines))
    m = (d / "metrics.csv").read_text().splitlines(keepends=True)
    (d / "metrics.csv").write_text("".join(m[:3] + m[7:]))  # some metric rows deleted
    r = _cli(cache, "run", "--resume", str(d))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "unreadable line" in r.stderr and "metrics of epoch" in r.stderr, r.stderr
    assert sorted(f.split(".damaged-")[0] for f in _damaged(d)) == ["metrics.csv",
                                                                    "results.csv"]
    assert _keys(d) == _keys(ref_dir)


def test_a_torn_last_line_is_the_normal_case_and_silent(ref, tmp_path):
    ref_dir, cache = ref
    d = _copy(ref_dir, tmp_path)
    with open(d / "results.csv", "a") as f:
        f.write("ref,0,all,10,lay")  # a kill in the middle of a write
    r = _cli(cache, "run", "--resume", str(d))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "damaged" not in r.stderr and not _damaged(d)
    assert _keys(d) == _keys(ref_dir)


@pytest.mark.parametrize("damage", ["truncate"])
def test_corrupt_newest_checkpoint_falls_back_to_the_previous(ref, tmp_path, damage):
    ref_dir, cache = ref
    d = _copy(ref_dir, tmp_path)
    steps = sorted(int(s) for s in os.listdir(d / "checkpoints") if s.isdigit())
    assert steps == [4, 10]
    for root, _dirs, files in os.walk(d / "checkpoints" / "10"):
        for f in files:
            if "ocdbt" in f or os.sep + "d" in root:
                path = os.path.join(root, f)
                os.truncate(path, os.path.getsize(path) // 2)
    r = _cli(cache, "run", "--resume", str(d))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "checkpoint of epoch 10 cannot be read" in r.stderr, r.stderr
    assert "falling back to the checkpoint of epoch 4" in r.stderr
    assert "resuming" in r.stdout and "after epoch 4" in r.stdout
    assert any(f.startswith("checkpoints-damaged-") for f in os.listdir(d))
    assert _keys(d) == _keys(ref_dir)  # epochs 5..10 trained again: the same numbers


@pytest.mark.parametrize("damage", ["half", "random"])
def test_damaged_config_is_a_clear_error(ref, tmp_path, damage):
    ref_dir, cache = ref
    d = _copy(ref_dir, tmp_path)
    cfg = d / "config.json"
    data = cfg.read_bytes()
    cfg.write_bytes(data[: len(data) // 2] if damage == "half" else os.urandom(len(data)))
    r = _cli(cache, "run", "--resume", str(d))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert str(cfg) in r.stderr and "damaged" in r.stderr and "restore it" in r.stderr


HOLD = textwrap.dedent(
    """
    import sys, time
    from infoplane.store.lock import acquire
    acquire(sys.argv[1], command="infoplane run --resume X")
    print("held", flush=True)
    time.sleep(600)
    """
)


def test_second_writer_is_refused_with_the_holders_pid(ref, tmp_path):
    ref_dir, cache = ref
    d = _copy(ref_dir, tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(d)], env=_env(cache),
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        before = (d / "results.csv").read_bytes()
        for args in (("run", "--resume", str(d)), ("estimate", str(d), "--estimators", "kde")):
            r = _cli(cache, *args)
            assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
            assert f"pid {holder.pid}" in r.stderr and "one writer" in r.stderr
        assert (d / "results.csv").read_bytes() == before
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    r = _cli(cache, "run", "--resume", str(d))  # the killed holder's lock file: no obstacle
    assert r.returncode == 0, r.stdout + r.stderr


def test_two_runs_with_the_same_name_started_together(ref, tmp_path):
    _ref_dir, cache = ref
    procs = [_popen(cache, *RUN, "--logdir", str(tmp_path), "--name", "D") for _ in range(2)]
    results = [p.communicate(timeout=600) + (p.returncode,) for p in procs]
    codes = sorted(rc for _out, _err, rc in results)
    assert codes[0] == 0 and codes[1] != 0, results
    (loser,) = [err for _out, err, rc in results if rc != 0]
    assert "Traceback" not in loser and "FileExistsError" not in loser
    assert "is being written by" in loser or "already exists" in loser, loser
    assert len(infoplane.load_results(tmp_path / "D")) == len(_keys(_ref_dir))


def test_empty_run_directory_advice_is_consistent(ref, tmp_path):
    _ref_dir, cache = ref
    (tmp_path / "E").mkdir()
    r = _cli(cache, "run", "--resume", str(tmp_path / "E"))
    assert r.returncode == 2 and "holds no run yet" in r.stderr
    assert "--name E" in r.stderr and "empty directory is used" in r.stderr
    (tmp_path / "F").mkdir()
    (tmp_path / "F" / "notes.txt").write_text("mine")
    r = _cli(cache, *RUN, "--logdir", str(tmp_path), "--name", "F")
    assert r.returncode == 1 and "no config.json" in r.stderr and "--resume" not in r.stderr
    t0 = time.time()
    r = _cli(cache, *RUN, "--epochs", "2", "--points", "2", "--logdir", str(tmp_path),
             "--name", "E")  # the empty directory is used, as --resume said
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp_path / "E" / "config.json").exists() and time.time() - t0 < 300


def _kde_keys(run_dir):
    return [k for k in _keys(run_dir) if k[4] == "kde"]


def test_estimate_resumes_after_a_kill_and_a_complete_estimate_is_a_no_op(ref, tmp_path):
    ref_dir, cache = ref
    full = _copy(ref_dir, tmp_path / "full")
    r = _cli(cache, "estimate", str(full), "--estimators", "kde")
    assert r.returncode == 0, r.stdout + r.stderr
    reference = _kde_keys(full)
    assert len(reference) == 4 * 6  # stored epochs x layers

    # a real SIGKILL while it estimates, then the rest of the rows are lost too: the rerun
    # estimates only what is missing
    d = _copy(ref_dir, tmp_path / "killed")
    p = _popen(cache, "estimate", str(d), "--estimators", "kde")
    assert "stored epochs to estimate" in p.stdout.readline()
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=60)
    assert p.returncode == -signal.SIGKILL
    r = _cli(cache, "estimate", str(d), "--estimators", "kde")
    assert r.returncode == 0, r.stdout + r.stderr
    assert _kde_keys(d) == reference

    lines = (d / "results.csv").read_text().splitlines(keepends=True)
    (d / "results.csv").write_text("".join(lines[:-10]) + lines[-10][:25])  # lost + torn
    r = _cli(cache, "estimate", str(d), "--estimators", "kde")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "appended 10 rows" in r.stdout, r.stdout
    assert _kde_keys(d) == reference and _keys(d) == _keys(full)
    assert _aux(d) == _aux(full)  # the re-estimated rows' aux rows are not written twice

    # killed after a flush's aux rows were fsync'd but before its result rows: the rerun
    # writes the results, and no aux row twice
    (d / "results.csv").write_text("".join(lines[:-6]))
    r = _cli(cache, "estimate", str(d), "--estimators", "kde")
    assert r.returncode == 0, r.stdout + r.stderr
    assert _keys(d) == _keys(full) and _aux(d) == _aux(full)

    before = (d / "results.csv").read_bytes()
    r = _cli(cache, "estimate", str(d), "--estimators", "kde,binning")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "all 24 rows of kde already estimated" in r.stdout and "nothing to do" in r.stdout
    assert "all 24 rows of binning already estimated" in r.stdout
    assert (d / "results.csv").read_bytes() == before


def test_failed_estimates_are_kept_not_retried_and_not_lost_on_resume(ref, tmp_path):
    ref_dir, cache = ref
    d = _copy(ref_dir, tmp_path)
    store = infoplane.ActivationStore(d)
    sp = store.splits()[0]
    seed = store.seeds(sp)[0]
    bad = store.epochs(sp, seed)[1]
    acts = store.read(seed, sp, bad)
    layer = list(acts)[2]
    acts[layer] = np.full_like(acts[layer], np.nan)  # a layer that diverged at this epoch
    store.write(seed, sp, bad, acts)
    r = _cli(cache, "estimate", str(d), "--estimators", "kde")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "estimation failed, skipped: kde on layer" in r.stderr, r.stderr
    fails = infoplane.load_failures(d)
    assert [(f["seed"], f["split"], f["epoch"], f["layer"], f["estimator"]) for f in fails] == [
        (seed, sp, bad, layer, "kde")]
    assert "NaN" in fails[0]["error"]
    assert len(_kde_keys(d)) == 4 * 6 - 1
    files = ("results.csv", "aux.csv", "failures.csv")
    before = {f: (d / f).read_bytes() for f in files}
    # the rerun does not retry it forever, and says so
    r = _cli(cache, "estimate", str(d), "--estimators", "kde")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 rows of kde failed earlier (failures.csv) and are not retried" in r.stdout
    assert "nothing to do" in r.stdout and "estimation failed" not in r.stderr
    assert {f: (d / f).read_bytes() for f in files} == before
    # a resume counts it done: no damage, nothing re-estimated, nothing dropped
    r = _cli(cache, "run", "--resume", str(d))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "damaged" not in r.stderr and not _damaged(d), r.stderr
    assert len(_kde_keys(d)) == 23
    assert infoplane.load_failures(d) == fails
    # a damaged failures.csv is kept aside like any table
    lines = (d / "failures.csv").read_text().splitlines(keepends=True)
    (d / "failures.csv").write_text(lines[0] + "\x00 garbage\n" + "".join(lines[1:]))
    r = _cli(cache, "run", "--resume", str(d))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "failures.csv is damaged" in r.stderr and "unreadable line" in r.stderr, r.stderr
    assert [f.split(".damaged-")[0] for f in _damaged(d)] == ["failures.csv"]
    assert infoplane.load_failures(d) == fails and len(_kde_keys(d)) == 23


def test_repair_keeps_the_rows_of_estimators_added_later(ref, tmp_path):
    """A resume that re-estimates lost entries writes the run's own estimators' rows again and
    keeps those of an estimator added later with ``infoplane estimate`` (issue 19: they were
    dropped from the rewritten tables)."""
    ref_dir, cache = ref
    d = _copy(ref_dir, tmp_path)
    r = _cli(cache, "estimate", str(d), "--estimators", "kde")
    assert r.returncode == 0, r.stdout + r.stderr
    kde, kde_aux = _kde_keys(d), [a for a in _aux(d) if a[4] == "kde"]
    assert len(kde) == 4 * 6 and kde_aux
    lines = (d / "results.csv").read_text().splitlines(keepends=True)
    assert ",binning," in lines[1]
    (d / "results.csv").write_text("".join(lines[:1] + lines[2:]))  # a run row deleted
    r = _cli(cache, "run", "--resume", str(d))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "results.csv is damaged" in r.stderr and "re-estimating 1 lost entry" in r.stderr
    assert _kde_keys(d) == kde and [a for a in _aux(d) if a[4] == "kde"] == kde_aux
    assert "kept the rows of the estimators added later (kde)" in r.stderr, r.stderr
    assert [k for k in _keys(d) if k[4] != "kde"] == _keys(ref_dir)  # re-estimated, once
    assert [a for a in _aux(d) if a[4] != "kde"] == _aux(ref_dir)


def test_own_rows_match_the_run_estimators_per_channel_rows_too():
    """The rows a resume writes again: its estimators' (name, params), per-channel rows of
    conv layers included; an added estimator, or the same one with other parameters, is not."""
    from infoplane.estimators import KDE, Binning, PerChannel, Subsample
    from infoplane.experiments.repair import own_rows
    from infoplane.recording.estimation import params_json

    own = own_rows([Binning(), Subsample(KDE(), n=100)])

    def row(est):
        return {"estimator": est.name, "params": params_json(est)}

    assert own(row(Binning())) and own(row(PerChannel(Binning(), channels=4)))
    assert own(row(Subsample(KDE(), n=100)))
    assert not own(row(KDE())) and not own(row(Binning(n_bins=12)))
    assert not own(row(Subsample(KDE(), n=50)))


def test_epochs_without_the_rows_of_an_added_estimator_are_not_damage(ref, tmp_path):
    """Rows of an estimator added with ``infoplane estimate`` are not required of every entry:
    epochs recorded after it (here: its rows of the last epoch removed) are not damaged, and a
    resume neither warns nor re-estimates (issue 19: it reported them as lost)."""
    ref_dir, cache = ref
    d = _copy(ref_dir, tmp_path)
    r = _cli(cache, "estimate", str(d), "--estimators", "kde")
    assert r.returncode == 0, r.stdout + r.stderr
    last = max(k[2] for k in _kde_keys(d))
    for name in ("results.csv", "aux.csv"):
        lines = (d / name).read_text().splitlines(keepends=True)
        keep = [ln for ln in lines if not (",kde," in ln and f",{last}," in ln)]
        assert len(keep) < len(lines)
        (d / name).write_text("".join(keep))
    kde = _kde_keys(d)
    r = _cli(cache, "run", "--resume", str(d))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "damaged" not in r.stderr and "re-estimating" not in r.stderr, r.stderr
    assert _kde_keys(d) == kde and not _damaged(d)
    assert [k for k in _keys(d) if k[4] != "kde"] == _keys(ref_dir)
