"""Ctrl-C during ``infoplane run``: one message and the exact resume command, no traceback,
exit 130 (a KeyboardInterrupt raised inside the harness after the run directory exists, and
one before); ``--resume`` says which other options it ignores."""

from __future__ import annotations

from infoplane import cli
from infoplane.cli.run import ignored_on_resume
from infoplane.experiments import run as experiment


def test_ctrl_c_stops_cleanly_and_names_the_resume_command(tmp_path, monkeypatch, capsys):
    run_dir = tmp_path / "runs" / "i"

    def interrupted_after_writing(*_a, **_kw):
        run_dir.mkdir(parents=True)
        (run_dir / "config.json").write_text("{}")
        raise KeyboardInterrupt

    monkeypatch.setattr(experiment, "run_experiment", interrupted_after_writing)
    code = cli.main(["run", "--epochs", "3", "--estimators", "binning", "--no-tensorboard",
                     "--logdir", str(tmp_path / "runs"), "--name", "i"])
    err = capsys.readouterr().err
    assert code == 130 and "Traceback" not in err
    assert f"infoplane run --resume {run_dir}" in err

    def interrupted_at_once(*_a, **_kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(experiment, "run_experiment", interrupted_at_once)
    assert cli.main(["run", "--epochs", "3", "--estimators", "binning", "--logdir",
                     str(tmp_path / "runs"), "--name", "j"]) == 130
    assert "interrupted before anything was recorded" in capsys.readouterr().err
    assert ignored_on_resume(["--resume", str(run_dir), "--epochs", "5", "--null=2"]) == [
        "--null"]  # --epochs N trains the run to N epochs
    assert ignored_on_resume(["--resume", str(run_dir)]) == []
