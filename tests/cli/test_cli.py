"""`infoplane run`, `infoplane estimate` and `infoplane selftest`: the files they write, their
refusal to overwrite, and their usage errors."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import infoplane
from infoplane import cli
from infoplane.store.tables import RESULT_COLUMNS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EPOCHS, POINTS = 30, 5
ESTIMATORS = ("binning", "kde")
LAYERS = tuple(f"layers.{i}" for i in range(5)) + ("output",)


def _run(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
               INFOPLANE_NO_CACHE="1")
    return subprocess.run(
        [sys.executable, "-m", *args], capture_output=True, text=True, env=env, cwd=ROOT,
        timeout=600,
    )


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("runs")
    proc = _run(
        "infoplane", "run", "--epochs", str(EPOCHS), "--points", str(POINTS), "--estimators",
        ",".join(ESTIMATORS), "--store-activations", "--logdir", str(logdir), "--name", "t1",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return logdir, logdir / "t1", proc


def _read_results(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_config(run_dir):
    _, d, _ = run_dir
    config = json.loads((d / "config.json").read_text())
    assert config["preset"] == "tishby-tanh"
    assert config["epochs"] == EPOCHS and config["points"] == POINTS and config["seeds"] == [0]
    assert config["estimators"] == list(ESTIMATORS)
    # the params recorded in config.json are those of every results row
    rows = _read_results(d / "results.csv")
    for est, params in zip(config["estimators"], config["estimator_params"], strict=True):
        p = json.loads(next(r["params"] for r in rows if r["estimator"] == est))
        assert p == {"estimator": est, "units": "bits", **params}
    assert config["run"] == "t1"
    assert config["schedule"]["epochs"] == [0, 1, 5, 12, 30]
    assert config["versions"]["infoplane"] and config["versions"]["flax"]
    assert config["preset_settings"]["hidden"] == [10, 7, 5, 4, 3]


def test_results_csv(run_dir):
    _, d, _ = run_dir
    with open(d / "results.csv", newline="") as f:
        header = next(csv.reader(f))
    assert tuple(header) == RESULT_COLUMNS
    rows = _read_results(d / "results.csv")
    epochs = json.loads((d / "config.json").read_text())["schedule"]["epochs"]
    keys = [(int(r["epoch"]), r["layer"], r["estimator"]) for r in rows]
    expected = {
        (e, layer, est) for e in epochs for layer in LAYERS for est in ESTIMATORS
    }
    assert len(keys) == len(set(keys)) == len(expected)  # each present exactly once
    assert set(keys) == expected
    for r in rows:
        i_xt, i_ty = float(r["i_xt"]), float(r["i_ty"])
        assert math.isfinite(i_xt) and math.isfinite(i_ty)
        assert r["units"] == "bits"
        assert r["run"] == "t1" and r["seed"] == "0" and r["split"] == "all"
        assert i_ty <= 1.0 + 1e-6  # H(Y) <= 1 bit for two classes
        if r["estimator"] == "binning":
            assert -1e-6 <= i_xt <= math.log2(4096) + 1e-6
        params = json.loads(r["params"])
        assert params["estimator"] == r["estimator"] and params["units"] == "bits"
    # a deterministic net on 4096 distinct inputs: the 10-unit tanh layer keeps them distinct
    first = [r for r in rows if r["layer"] == "layers.0" and r["estimator"] == "binning"]
    assert all(float(r["i_xt"]) > 11.0 for r in first)


def test_metrics_and_output(run_dir):
    _, d, proc = run_dir
    metrics = infoplane.load_metrics(d)
    acc = [m for m in metrics if m["name"] == "train_acc"]
    assert [m["epoch"] for m in acc] == [0, 1, 5, 12, 30]
    assert all(0 <= m["value"] <= 1 for m in acc)
    out = proc.stdout
    for est in ESTIMATORS:
        assert f"{est} (all, seed 0): I(X;T)/I(T;Y) in bits" in out
    for layer in LAYERS:
        assert layer in out
    assert "final metrics, seed 0: train_acc" in out and "test_acc" in out
    assert "time: training" in out and "estimation" in out


def test_estimate_reestimates_stored_activations(run_dir):
    _, d, _ = run_dir
    before = infoplane.load_results(d)
    aux_before = infoplane.load_aux(d)
    proc = _run("infoplane", "estimate", str(d), "--estimators", "adaptive_binning")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    after = infoplane.load_results(d)
    new = after.where(estimator="adaptive_binning")
    assert len(after) == len(before) + len(new) and len(new) == 5 * len(LAYERS)
    store = infoplane.ActivationStore(d)
    x, y = store.read_probe("all")
    t = store.read(0, "all", 12)["layers.1"]
    direct = infoplane.estimate(infoplane.AdaptiveBinning(), x, t, y)
    row = new.where(epoch=12, layer="layers.1").rows()[0]
    assert row["i_xt"] == pytest.approx(float(direct.i_xt), abs=1e-6)
    assert row["run"] == "t1"
    aux_new = infoplane.load_aux(d)[len(aux_before):]  # appended, earlier rows kept
    assert infoplane.load_aux(d)[:len(aux_before)] == aux_before
    h_t = [a for a in aux_new if (a["epoch"], a["layer"], a["name"]) == (12, "layers.1", "h_t")]
    assert len(h_t) == 1 and h_t[0]["estimator"] == "adaptive_binning"
    assert h_t[0]["value"] == pytest.approx(float(direct.aux["h_t"]), abs=1e-6)
    # the new estimator is in TensorBoard too, and nothing recorded before was dropped
    from tensorboard.backend.event_processing import plugin_event_multiplexer as pem

    mux = pem.EventMultiplexer()
    mux.AddRunsFromDirectory(str(d.parent))
    mux.Reload()
    for tag in ("adaptive_binning/I_XT/all", "binning/I_XT/all", "kde/I_TY/all"):
        steps = [e.step for e in mux.Tensors("t1/tb/seed0/layers.1", tag)]
        assert steps == [0, 1, 5, 12, 30], tag
    value = mux.Tensors("t1/tb/seed0/layers.1", "adaptive_binning/I_XT/all")[3]
    assert value.tensor_proto.float_val[0] == pytest.approx(row["i_xt"], rel=1e-6)
    assert "infoplane/adaptive_binning/all/seed0" in mux.Runs()["t1"]["tensors"]
    again = _run("infoplane", "estimate", str(d), "--estimators", "adaptive_binning")
    assert again.returncode == 0 and "already estimated; nothing to do" in again.stdout
    assert len(infoplane.load_results(d)) == len(after)


def test_estimate_without_store_is_a_clear_error(tmp_path):
    proc = _run("infoplane", "estimate", str(tmp_path), "--estimators", "kde")
    assert proc.returncode == 2 and "--store-activations" in proc.stderr


def test_selftest_command():
    proc = _run("infoplane", "selftest", "--only", "binning")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "binning" in proc.stdout and "checks passed" in proc.stdout
    bad = _run("infoplane", "selftest", "--only", "nope")
    assert bad.returncode == 2 and "nope" in bad.stderr


def test_existing_run_is_not_overwritten(run_dir, capsys):
    logdir, d, _ = run_dir
    before = {p: (d / p).read_bytes() for p in os.listdir(d) if (d / p).is_file()}
    code = cli.main(
        ["run", "--epochs", "2", "--points", "2", "--logdir", str(logdir), "--name", "t1"]
    )
    assert "--resume" in capsys.readouterr().err
    assert code == 1
    assert {p: (d / p).read_bytes() for p in os.listdir(d) if (d / p).is_file()} == before


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
        (["--estimators", "kde(sigma=1)"], "no parameter 'sigma'"),
        (["--estimators", "kde(sigma2=0)"], "sigma2 > 0"),
        (["--estimators", "kde,kde(sigma2=0.1)"], "twice"),
        (["--epochs", "0"], "--epochs"),
        (["--points", "1"], "--points"),
        (["--name", "a/b"], "--name"),
        (["--name", "../escape"], "--name"),
        (["--seeds", "x"], "--seeds"),
        (["--seeds", "1,1"], "distinct"),
        (["--schedule", "sometimes"], "--schedule"),
        (["--preset", "data"], "--data"),
        (["--preset", "digits-cnn", "--data", "x.npz"], "--data"),
        (["--preset", "digits-cnn", "--data", "var_u.mat"], "--data"),
        (["--subsample", "-1"], "--subsample"),
    ],
)
def test_usage_errors_exit_2(argv, needle, tmp_path, capsys):
    assert cli.main(["run", *argv, "--logdir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("preset", "data", "chosen"),
    [(None, None, "tishby-tanh"), (None, "mine.npz", "data"), (None, "var_u.mat", "tishby-tanh"),
     (None, "VAR_U.MAT", "tishby-tanh"), ("tishby-tanh", "mine.npz", "tishby-tanh"),
     ("tishby-relu", "var_u.mat", "tishby-relu"), ("data", "mine.npz", "data")],
)
def test_data_selects_the_preset(preset, data, chosen):
    """--data alone: a .mat file is the Tishby task's original (tishby-tanh), an .npz the data
    preset; an explicit --preset tishby-* keeps the Tishby network on the file."""
    from infoplane.cli import run as cli_run

    argv = ["run"] + (["--preset", preset] if preset else []) + (["--data", data] if data else [])
    args = cli.build_parser().parse_args(argv)
    cli_run.check_args(args)
    assert args.preset == chosen


def test_estimator_specs_and_the_printed_checks(tmp_path, capsys):
    argv = ["run", "--epochs", "3", "--points", "2", "--logdir", str(tmp_path), "--name", "s",
            "--estimators", "binning(n_bins=12),kde(sigma2=0.01)", "--no-tensorboard"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "DPI check:" in out and "range check:" in out
    params = {r["estimator"]: json.loads(r["params"])
              for r in _read_results(tmp_path / "s" / "results.csv")}
    assert params["binning"]["n_bins"] == 12 and params["kde"]["sigma2"] == 0.01


def test_help_lists_every_option(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["run", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for opt in ("--preset", "--epochs", "--points", "--schedule", "--estimators", "--seed",
                "--seeds", "--data", "--logdir", "--name", "--resume", "--store-activations",
                "--subsample", "--buffer"):
        assert opt in out
    assert "tishby-relu" in out and "digits-cnn" in out and "adaptive_binning" in out


def test_no_command_prints_help(capsys):
    assert cli.main([]) == 2
    assert "run" in capsys.readouterr().out


def test_log_spaced_epochs():
    e = infoplane.log_spaced_epochs(31, 5)
    np.testing.assert_array_equal(e, [0, 1, 5, 12, 30])
    e = infoplane.log_spaced_epochs(8001, 400)
    assert e[0] == 0 and e[-1] == 8000 and np.all(np.diff(e) > 0) and len(e) < 400
    np.testing.assert_array_equal(infoplane.log_spaced_epochs(1, 3), [0])
    with pytest.raises(ValueError):
        infoplane.log_spaced_epochs(0, 3)


def test_progress_bar_lines():
    import io

    from infoplane.recording.progress import ProgressDisplay

    buf = io.StringIO()  # not a terminal: a line at every 10% (the first after epoch 1)
    bar = ProgressDisplay(stream=buf)
    bar.expect("training", 50)
    for i in range(51):
        bar(i, 50)
    bar.close()
    lines = buf.getvalue().splitlines()
    assert len(lines) == 11 and lines[-1].startswith("training 50/50")


def test_run_writes_diagnostics_and_tensorboard(run_dir):
    _, d, _ = run_dir
    diag = infoplane.load_diagnostics(d)
    epochs = sorted({r["epoch"] for r in diag})
    assert epochs == [0, 1, 5, 12, 30]
    assert {r["layer"] for r in diag} == set(LAYERS)
    sat = [r["value"] for r in diag if r["name"] == "saturated"]
    assert all(0.0 <= v <= 1.0 for v in sat)
    assert any(f.startswith("events.out.tfevents") for f in os.listdir(d))
    for layer in LAYERS:
        assert any(f.startswith("events.out.tfevents")
                   for f in os.listdir(d / "tb" / "seed0" / layer)), layer
    cfg = json.loads((d / "config.json").read_text())
    assert cfg["probes"]["all"]["h_x_bits"] == pytest.approx(12.0)
    assert cfg["probes"]["all"]["h_y_bits"] == pytest.approx(1.0, abs=1e-3)


def test_plot_command_writes_each_kind(run_dir, tmp_path, capsys):
    _, d, _ = run_dir
    assert cli.main(["plot", str(d), "--estimator", "binning"]) == 0
    out = capsys.readouterr().out
    default = d / "figures" / "plane-binning.png"
    assert f"wrote {default}" in out and default.stat().st_size > 10_000
    assert "data-processing inequality" in out or "DPI" in out
    for kind, suffix in (("panel", "pdf"), ("curves", "svg"), ("plane", "png")):
        target = tmp_path / f"{kind}.{suffix}"
        assert cli.main(["plot", str(d), "--kind", kind, "-o", str(target)]) == 0, kind
        assert target.stat().st_size > 5_000, kind
    head = (tmp_path / "panel.pdf").read_bytes()[:5]
    assert head == b"%PDF-"
    assert b"<svg" in (tmp_path / "curves.svg").read_bytes()[:2000]


def test_plot_bad_input(run_dir, tmp_path, capsys):
    _, d, _ = run_dir
    assert cli.main(["plot", str(tmp_path / "missing")]) == 2
    assert "not a directory" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli.main(["plot", str(empty)]) == 2
    assert "no results.csv" in capsys.readouterr().err
    (empty / "results.csv").write_text(",".join(RESULT_COLUMNS) + "\n")
    assert cli.main(["plot", str(empty)]) == 2
    assert "no results yet" in capsys.readouterr().err
    assert cli.main(["plot", str(d), "--estimator", "nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown estimator 'nope'" in err and "binning" in err
    assert cli.main(["plot", str(d), "-o", str(tmp_path / "f.jpg")]) == 2
    assert "jpg" in capsys.readouterr().err


def test_plot_skips_a_truncated_last_line(run_dir, tmp_path, capsys):
    """A killed run leaves a partial last line: the plot warns and draws the rest."""
    _, d, _ = run_dir
    killed = tmp_path / "killed"
    killed.mkdir()
    text = (d / "results.csv").read_text()
    (killed / "results.csv").write_text(text + "t1,0,all,31,layers.0,binn")
    (killed / "config.json").write_text((d / "config.json").read_text())
    import warnings

    with warnings.catch_warnings(record=True) as escaped:
        warnings.simplefilter("always")
        assert cli.main(["plot", str(killed), "--estimator", "binning",
                         "-o", str(tmp_path / "k.png")]) == 0
    captured = capsys.readouterr()
    assert captured.err.lower().count("partial") == 1  # read once, reported once
    assert "warning:" in captured.err
    assert not [w for w in escaped if issubclass(w.category, infoplane.results.ResultsFileWarning)]
    assert (tmp_path / "k.png").stat().st_size > 10_000


def test_board_serves_the_runs(run_dir):
    """`infoplane board` is a real TensorBoard on the run directories."""
    import re
    import urllib.request

    logdir, _, _ = run_dir
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(
        [sys.executable, "-m", "infoplane", "board", str(logdir), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT,
    )
    try:
        url, seen = None, []
        for line in proc.stdout:  # TensorBoard prints "TensorBoard x at http://...:PORT/"
            seen.append(line)
            m = re.search(r"(http://[^\s]+:\d+/)", line)
            if m:
                url = m.group(1)
                break
        assert url, "".join(seen)
        for _ in range(100):
            runs = json.loads(urllib.request.urlopen(url + "data/runs", timeout=10).read())
            if "t1" in runs:
                break
            import time

            time.sleep(0.2)
        assert "t1" in runs and "t1/tb/seed0/layers.0" in runs
        plugins = json.loads(
            urllib.request.urlopen(url + "data/plugins_listing", timeout=10).read())
        assert "scalars" in plugins and "images" in plugins
    finally:
        proc.kill()
        proc.wait(timeout=10)


@pytest.mark.slow
def test_unstable_estimates_are_flagged_end_to_end(tmp_path, capsys):
    """Compressed with BSY weights in 10-16 joint dimensions (mi=entropy, weighted=True,
    dim=8: weights of norm 24 to 17 000) spreads by far more than its value: those points are
    NaN in results.csv with the number, its standard error and the flag in aux.csv, print as
    "unstable", and the check report counts them instead of calling them DPI violations."""
    spec = ("compressed(mi=entropy, weighted=True, dim=8, ae_steps=30, ae_hidden=16, "
            "noise=absolute)")
    argv = ["run", "--epochs", "2", "--points", "2", "--logdir", str(tmp_path), "--name", "u",
            "--estimators", spec, "--subsample", "512", "--no-tensorboard"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "unstable/" in out and "unstable: flagged by the estimator" in out
    assert "withheld: compressed" in out
    res = infoplane.load_results(tmp_path / "u")
    i_xt = np.asarray(res["i_xt"], dtype=float)
    assert np.isnan(i_xt).any()
    aux = {(a["epoch"], a["layer"], a["name"]): a["value"] for a in infoplane.load_aux(
        tmp_path / "u")}
    for r in res.rows():
        flag = aux[(r["epoch"], r["layer"], "unstable")]
        raw = aux[(r["epoch"], r["layer"], "i_xt_raw")]
        assert math.isnan(r["i_xt"]) == bool(int(flag) & 1)
        if not math.isnan(r["i_xt"]):
            assert r["i_xt"] == pytest.approx(raw, rel=1e-6)
        assert (r["epoch"], r["layer"], "i_xt_stderr") in aux
