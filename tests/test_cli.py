"""`infoplane run`: the files it writes, its refusal to overwrite, and its usage errors."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from infoplane import cli, quickrun

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EPOCHS, POINTS = 30, 5
ESTIMATORS = ("binning", "adaptive_binning", "kde")


def _run(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run(
        [sys.executable, "-m", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("runs")
    proc = _run(
        "infoplane.cli",
        "run",
        "--epochs",
        str(EPOCHS),
        "--points",
        str(POINTS),
        "--logdir",
        str(logdir),
        "--name",
        "t1",
    )
    assert proc.returncode == 0, proc.stderr
    return logdir, logdir / "t1", proc


def _read_results(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_config(run_dir):
    _, d, _ = run_dir
    config = json.loads((d / "config.json").read_text())
    assert config["preset"] == "tishby-tanh"
    assert config["epochs"] == EPOCHS and config["points"] == POINTS and config["seed"] == 0
    assert config["estimators"] == list(ESTIMATORS)
    assert config["estimator_params"]["kde"]["units"] == "bits"
    # the params recorded in config.json are those of every results row
    rows = _read_results(d / "results.csv")
    for est in ESTIMATORS:
        p = json.loads(next(r["params"] for r in rows if r["estimator"] == est))
        assert {k: v for k, v in p.items() if k != "estimator"} == config["estimator_params"][est]
    assert config["run"] == "t1"
    assert config["recorded_epochs"] == [0, 1, 5, 12, 30]
    assert config["versions"]["infoplane"]
    assert config["layers"] == list(quickrun.LAYER_NAMES)


def test_results_csv(run_dir):
    _, d, _ = run_dir
    with open(d / "results.csv", newline="") as f:
        header = next(csv.reader(f))
    assert tuple(header) == cli.RESULT_COLUMNS
    rows = _read_results(d / "results.csv")
    epochs = json.loads((d / "config.json").read_text())["recorded_epochs"]
    keys = [(int(r["epoch"]), r["layer"], r["estimator"]) for r in rows]
    expected = {
        (e, layer, est) for e in epochs for layer in quickrun.LAYER_NAMES for est in ESTIMATORS
    }
    assert len(keys) == len(set(keys)) == len(expected)  # each present exactly once
    assert set(keys) == expected
    for r in rows:
        i_xt, i_ty = float(r["i_xt"]), float(r["i_ty"])
        assert math.isfinite(i_xt) and math.isfinite(i_ty)
        assert r["units"] == "bits"
        assert r["run"] == "t1" and r["seed"] == "0" and r["split"] == "all"
        assert i_ty <= 1.0 + 1e-6  # H(Y) <= 1 bit for two classes
        if r["estimator"] in ("binning", "adaptive_binning"):
            assert -1e-6 <= i_xt <= math.log2(4096) + 1e-6
        params = json.loads(r["params"])
        assert params["estimator"] == r["estimator"] and params["units"] == "bits"
    # a deterministic net on 4096 distinct inputs: the 10-unit tanh layer keeps them distinct
    first = [r for r in rows if r["layer"] == "layer1" and r["estimator"] == "binning"]
    assert all(float(r["i_xt"]) > 11.0 for r in first)


def test_accuracy_and_output(run_dir):
    _, d, proc = run_dir
    with open(d / "accuracy.csv", newline="") as f:
        acc = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in acc] == [0, 1, 5, 12, 30]
    train = np.array([float(r["train_acc"]) for r in acc])
    assert np.all((0 <= train) & (train <= 1))
    out = proc.stdout
    for est in ESTIMATORS:
        assert f"{est}: I(X;T)/I(T;Y) in bits" in out
    for layer in quickrun.LAYER_NAMES:
        assert layer in out
    assert "accuracy after 30 epochs: train" in out and "test" in out
    assert "estimating" in out and "training" in out


def test_existing_run_is_not_overwritten(run_dir, capsys):
    logdir, d, _ = run_dir
    before = {p: (d / p).read_bytes() for p in os.listdir(d)}
    code = cli.main(
        ["run", "--epochs", "2", "--points", "2", "--logdir", str(logdir), "--name", "t1"]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert str(d) in err and "--name" in err and "already exists" in err
    assert {p: (d / p).read_bytes() for p in os.listdir(d)} == before


def test_unknown_estimator_exits_2(tmp_path):
    proc = _run("infoplane", "run", "--estimators", "binning,nope", "--logdir", str(tmp_path))
    assert proc.returncode == 2
    err = proc.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "'nope'" in err
    for name in ESTIMATORS:
        assert name in err
    assert os.listdir(tmp_path) == []  # nothing created


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--preset", "tishby-sigmoid"], "tishby-tanh, tishby-relu"),
        (["--estimators", "kde,kde"], "twice"),
        (["--estimators", ","], "valid names"),
        (["--epochs", "0"], "--epochs"),
        (["--points", "1"], "--points"),
        (["--name", "a/b"], "--name"),
    ],
)
def test_usage_errors_exit_2(argv, needle, tmp_path, capsys):
    assert cli.main(["run", *argv, "--logdir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1
    assert os.listdir(tmp_path) == []


def test_help_lists_every_option(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["run", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for opt in ("--preset", "--epochs", "--points", "--estimators", "--seed", "--logdir", "--name"):
        assert opt in out
    assert "tishby-relu" in out and "adaptive_binning" in out


def test_no_command_prints_help(capsys):
    assert cli.main([]) == 2
    assert "run" in capsys.readouterr().out


def test_log_spaced_epochs():
    e = quickrun.log_spaced_epochs(31, 5)
    np.testing.assert_array_equal(e, [0, 1, 5, 12, 30])
    e = quickrun.log_spaced_epochs(8001, 400)
    assert e[0] == 0 and e[-1] == 8000 and np.all(np.diff(e) > 0) and len(e) < 400
    np.testing.assert_array_equal(quickrun.log_spaced_epochs(1, 3), [0])
    with pytest.raises(ValueError):
        quickrun.log_spaced_epochs(0, 3)
