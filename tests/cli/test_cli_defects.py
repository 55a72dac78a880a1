"""The small command-line defects of issue 22: each test fails on the old behaviour.

`Results.to_pandas` names its extra; ``binning(n_bins=...)`` errors say what was wrong; ``--data``
errors are quoted once, come before any run directory is announced, and explain an ``.npy``;
``board`` on a taken port says so once (exit 2); ``estimate`` on a missing directory says so;
``plot`` names the estimator it drew and the others; ``--help`` prints no ``%%``."""

from __future__ import annotations

import os
import socket
import sys
import tomllib

import numpy as np
import pytest

from infoplane import cli
from infoplane.experiments import datasets
from infoplane.store.results import Results, load_results
from infoplane.store.tables import RESULT_COLUMNS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# ---- Results.to_pandas and the pandas extra ----------------------------------------------------

_ROWS = {"run": ["r", "r"], "seed": [0, 1], "split": ["all", "all"], "epoch": [0, 5],
         "layer": ["l0", "l0"], "estimator": ["binning", "binning"], "params": ["{}", "{}"],
         "i_xt": [1.5, 2.25], "i_ty": [0.5, 0.75], "units": ["bits", "bits"]}


def test_pyproject_declares_the_pandas_extra():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        extras = tomllib.load(f)["project"]["optional-dependencies"]
    assert any(req.startswith("pandas") for req in extras["pandas"])


def test_to_pandas_without_pandas_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas -> ImportError
    with pytest.raises(ImportError, match=r'pip install "infoplane\[pandas\]"'):
        Results(_ROWS).to_pandas()


def test_to_pandas_with_pandas():
    pytest.importorskip("pandas")
    df = Results(_ROWS).to_pandas()
    assert sorted(df.columns) == sorted(RESULT_COLUMNS) and len(df) == 2
    assert df["i_xt"].tolist() == [1.5, 2.25] and df["epoch"].tolist() == [0, 5]
    assert df["layer"].tolist() == ["l0", "l0"]


# ---- binning(n_bins=...) -----------------------------------------------------------------------

def test_binning_n_bins_not_an_integer(capsys, tmp_path):
    assert cli.main(["run", "--estimators", "binning(n_bins=abc)", "--logdir",
                     str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "n_bins must be an integer" in err and "'abc'" in err and "one bin" not in err
    assert not os.listdir(tmp_path)


@pytest.mark.parametrize("n_bins", [0, -3, 70000])
def test_binning_n_bins_out_of_range_is_not_blamed_on_one_bin(n_bins):
    from infoplane.estimators import from_spec

    with pytest.raises(ValueError, match="n_bins >= 2") as info:
        from_spec(f"binning(n_bins={n_bins})")
    assert "one bin" not in str(info.value) and f"got {n_bins}" in str(info.value)


# ---- --data ------------------------------------------------------------------------------------

def _run_data(tmp_path, data) -> list[str]:
    return ["run", "--data", str(data), "--epochs", "1", "--points", "2", "--estimators",
            "binning", "--logdir", str(tmp_path / "runs"), "--name", "w", "--no-tensorboard"]


def test_data_without_x_and_y_is_quoted_once_and_announces_no_run_dir(tmp_path, capsys):
    path = tmp_path / "b.npz"
    np.savez(path, q=np.zeros((10, 3)))
    assert cli.main(_run_data(tmp_path, path)) == 2
    out, err = capsys.readouterr()
    assert f"error: {str(path)!r} lacks array(s) ['x', 'y']; it has ['q']" in err
    assert not err.rstrip().endswith("'")  # the KeyError's repr quotes are gone
    assert "run directory" not in out and str(tmp_path / "runs") not in out
    assert not (tmp_path / "runs" / "w").exists()


def test_npy_given_to_data(tmp_path, capsys):
    path = tmp_path / "a.npy"
    np.save(path, np.zeros((10, 3)))
    assert cli.main(_run_data(tmp_path, path)) == 2
    out, err = capsys.readouterr()
    assert "context manager" not in err and ".npy" in err
    assert "an .npz with arrays x (N, ...) and y (N,)" in err and "numpy.savez" in err
    assert "(data= in Python)" not in err and "run directory" not in out
    # an .npy renamed .npz, the mnist preset: each says what --data takes
    os.replace(path, tmp_path / "renamed.npz")
    assert cli.main(_run_data(tmp_path, tmp_path / "renamed.npz")) == 2
    out, err = capsys.readouterr()
    assert "single .npy array" in err and "x (N, ...) and y (N,)" in err
    assert "context manager" not in err and "run directory" not in out
    np.save(path, np.zeros((10, 3)))
    assert cli.main(["run", "--preset", "mnist-cnn", "--data", str(path)]) == 2
    err = capsys.readouterr().err
    assert "single .npy array" in err and "train-images-idx3-ubyte" in err
    with pytest.raises(ValueError, match="single .npy array"):
        datasets.load_npz(tmp_path / "renamed.npz")
    assert not (tmp_path / "runs").exists()


def test_the_run_directory_is_announced_once_the_data_has_loaded(tmp_path, capsys):
    argv = ["run", "--epochs", "1", "--points", "2", "--estimators", "binning", "--logdir",
            str(tmp_path), "--name", "ok", "--no-tensorboard"]
    assert cli.main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    announced = [i for i, line in enumerate(lines)
                 if line == f"run directory: {tmp_path / 'ok'}"]
    assert len(announced) == 1 and announced[0] > 0  # after the header line
    assert "->" not in lines[0] and lines[0].startswith("infoplane run ok: preset tishby-tanh")


# ---- board, estimate ---------------------------------------------------------------------------

def test_board_on_a_port_in_use(tmp_path, capsys):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        rc = cli.main(["board", str(tmp_path), "--port", str(port)])
    out, err = capsys.readouterr()
    assert rc == 2
    assert err.strip() == (f"infoplane board: error: port {port} is in use; pass --port N "
                           "(another port, or 0 to pick a free one)")
    assert "TensorBoard" not in out + err


def test_board_port_out_of_range(tmp_path, capsys):
    assert cli.main(["board", str(tmp_path), "--port", "70000"]) == 2
    assert "--port must be 0..65535" in capsys.readouterr().err


def test_estimate_on_a_missing_directory(tmp_path, capsys):
    nope = tmp_path / "runs" / "nope"
    assert cli.main(["estimate", str(nope), "--estimators", "binning"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"infoplane estimate: error: no such directory: {nope}"
    (tmp_path / "f").write_text("")
    assert cli.main(["estimate", str(tmp_path / "f"), "--estimators", "binning"]) == 2
    assert "is a file, not a run directory" in capsys.readouterr().err
    assert not nope.exists()


# ---- plot --------------------------------------------------------------------------------------

def _two_estimator_run(d) -> None:
    """results.csv of a run with estimators kde and binning, 2 layers, epochs 0 and 10."""
    d.mkdir()
    lines = [",".join(RESULT_COLUMNS)]
    for est in ("kde", "binning"):
        for epoch in (0, 10):
            for k, layer in enumerate(("l0", "l1")):
                values = {"run": "p", "seed": "0", "split": "train", "epoch": str(epoch),
                          "layer": layer, "estimator": est, "i_xt": str(3.0 - k + epoch / 10),
                          "i_ty": str(0.5 - k / 10), "units": "bits", "params": "{}"}
                lines.append(",".join(values.get(c, "") for c in RESULT_COLUMNS))
    (d / "results.csv").write_text("\n".join(lines) + "\n")


def test_plot_names_the_estimator_drawn_and_the_others(tmp_path, capsys):
    d = tmp_path / "p"
    _two_estimator_run(d)
    assert load_results(d).unique("estimator")[0] == "kde"  # the default: first in the run
    assert cli.main(["plot", str(d)]) == 0
    out = capsys.readouterr().out
    figure = d / "figures" / "plane-kde.png"
    assert f"wrote {figure} (kde)" in out and figure.stat().st_size > 5_000
    assert "other estimators: binning (--estimator NAME" in out
    assert os.listdir(d / "figures") == ["plane-kde.png"]
    assert cli.main(["plot", str(d), "--estimator", "binning"]) == 0
    out = capsys.readouterr().out
    assert "(binning)" in out and "other estimators: kde" in out
    assert (d / "figures" / "plane-binning.png").is_file()


# ---- --help ------------------------------------------------------------------------------------

def test_help_prints_no_doubled_percent_sign():
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert "plot" in sub.choices
    for name, command in sub.choices.items():
        text = command.format_help()
        assert "%%" not in text, name
    assert "95% band" in " ".join(sub.choices["plot"].format_help().split())
