"""The progress display of ``infoplane run`` / ``estimate`` / ``sweep`` on a non-terminal
stderr (`infoplane.recording.progress`): a bounded number of plain lines (no carriage
returns), the estimation bar naming the estimator and layer, compilations announced,
``--quiet`` (no bars, no progress lines: the final table and verdict only) and ``--verbose``
(the stages with their times)."""

from __future__ import annotations

import contextlib
import io

import pytest

from infoplane import cli

RUN = ["run", "--epochs", "20", "--points", "4", "--estimators", "binning",
       "--no-tensorboard", "--store-activations"]


@pytest.fixture(scope="module")
def normal_run(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INFOPLANE_NO_CACHE", "1")
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main([*RUN, "--logdir", str(logdir), "--name", "p"])
    assert code == 0, out.getvalue() + err.getvalue()
    return logdir / "p", out.getvalue(), err.getvalue()


def test_run_prints_bounded_plain_lines(normal_run):
    _, out, err = normal_run
    lines = err.splitlines()
    assert "\r" not in err
    training = [line for line in lines if line.startswith("training ")]
    assert 2 <= len(training) <= 12 and training[-1].startswith("training 20/20"), err
    assert "compiling binning for width" in err  # the silent compile explained
    assert len(lines) <= 40, err
    assert "infoplane run p:" in out and "run directory:" in out


def test_quiet_run_prints_only_the_result(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("INFOPLANE_NO_CACHE", "1")
    assert cli.main([*RUN, "--logdir", str(tmp_path), "--name", "q", "--quiet"]) == 0
    cap = capsys.readouterr()
    assert "training" not in cap.err and "compiling" not in cap.err
    assert "estimating" not in cap.err
    assert "infoplane run q:" not in cap.out and "run directory:" not in cap.out
    assert "binning (" in cap.out and "epoch" in cap.out  # the final table
    assert "final metrics" in cap.out
    with pytest.raises(SystemExit):  # one or the other
        cli.main([*RUN, "--logdir", str(tmp_path), "--quiet", "--verbose"])


def test_estimate_names_the_estimator_and_layer(normal_run, capsys):
    run_dir, _, _ = normal_run
    assert cli.main(["estimate", str(run_dir), "--estimators", "kde", "--verbose"]) == 0
    err = capsys.readouterr().err
    assert "estimating kde · layers." in err, err
    assert "compiling kde for width" in err and "compiled kde for layers." in err
    assert "estimated 4 entries (epochs 0-20)" in err
    lines = err.splitlines()
    assert sum(line.startswith("estimating 4/4") for line in lines) == 1, err


def test_sweep_quiet_prints_the_verdict_only(normal_run, capsys):
    run_dir, _, _ = normal_run
    assert cli.main(["sweep", str(run_dir), "binning(n_bins=[4, 8])", "--quiet"]) == 0
    cap = capsys.readouterr()
    assert "estimating" not in cap.err and "compiling" not in cap.err
    assert "parameter sets" not in cap.out and "n_bins" in cap.out


def test_redirected_stderr_gets_readable_lines(normal_run, tmp_path, capsys):
    import contextlib

    run_dir, _, _ = normal_run
    with open(tmp_path / "err.log", "w") as err, contextlib.redirect_stderr(err):
        code = cli.main(["estimate", str(run_dir), "--estimators", "binning(n_bins=12)"])
    assert code == 0, capsys.readouterr().out
    text = (tmp_path / "err.log").read_text()
    assert "\r" not in text and "\x1b" not in text  # no redraws, no escape codes
    lines = text.splitlines()
    assert 1 <= len(lines) <= 25, text
    assert lines[-1].startswith("estimating 4/4"), text
