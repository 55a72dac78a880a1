"""Hypothesis fuzzing of the command line (issue 18, part 8): ``infoplane run`` and ``infoplane
estimate`` with hostile option strings either stop with a usage error (exit status 1 or 2 and
a one-line message, no traceback) or hand the harness well-formed settings. The harness itself
is replaced by a stub here (training is tested elsewhere), so every example is fast."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infoplane import cli
from infoplane.experiments import reestimate
from infoplane.experiments import run as experiment


class Reached(Exception):
    """The stubbed harness was called: the command line accepted the arguments."""


VALUES = st.sampled_from([
    "", "0", "1", "-1", "3", "2.5", "1e9", "99999999999999999999", "nan", "inf", "abc", "../x",
    "a/b", "\x00", "é" * 300, "0,1,2", "2,1", "0,0", "-3,4", ",", "log", "every", "binning",
    "binning(", "binning(n_bins=-5)", "kde(sigma2=0)", "binning,kde", "subsample(dsmi, n=2)",
    "dsmi(sigma=True)", "x.mat", "x.npz", "tishby-relu", "digits-cnn", "data", "unknown",
])
RUN_OPTIONS = ["--preset", "--epochs", "--points", "--schedule", "--estimators", "--subsample",
               "--seed", "--seeds", "--data", "--name", "--buffer", "--image-every", "--logdir"]
RUN_FLAGS = ["--store-activations", "--no-tensorboard"]


def _argv(draw_opts, flags):
    argv = []
    for opt, value in draw_opts:
        argv += [opt, value]
    return argv + flags


RUN_ARGV = st.builds(_argv, st.lists(st.tuples(st.sampled_from(RUN_OPTIONS), VALUES),
                                     max_size=4),
                     st.lists(st.sampled_from(RUN_FLAGS), max_size=2, unique=True))


@pytest.fixture
def stubbed(monkeypatch):
    calls = []

    def fake_run(preset, **kw):
        calls.append(kw)
        assert kw["epochs"] is None or (isinstance(kw["epochs"], int) and kw["epochs"] >= 1)
        assert kw["points"] is None or kw["points"] >= 2
        assert kw["subsample"] is None or kw["subsample"] >= 0
        assert kw["buffer"] is None or kw["buffer"] >= 1
        assert isinstance(kw["image_every"], int) and kw["image_every"] >= 0
        seeds = kw["seeds"]
        assert seeds and all(isinstance(s, int) and s >= 0 for s in seeds)
        assert len(set(seeds)) == len(seeds)
        assert kw["estimators"], "an empty estimator list reached the harness"
        raise Reached

    monkeypatch.setattr(experiment, "run_experiment", fake_run)
    monkeypatch.setattr(reestimate, "Reestimation", lambda *a, **k: (_ for _ in ()).throw(Reached))
    return calls


def _main(argv, capsys):
    try:
        code = cli.main(argv)
    except SystemExit as e:  # argparse: a bad value for a typed option, exit status 2
        code = e.code
    except Reached:
        return "reached"
    err = capsys.readouterr().err
    assert code in (1, 2), (argv, code, err)
    assert "Traceback" not in err, (argv, err)
    assert err.strip(), f"{argv}: exit {code} without a message"
    return code


@settings(derandomize=True, max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(argv=RUN_ARGV)
def test_run_options_fail_cleanly_or_reach_the_harness(argv, stubbed, capsys, tmp_path):
    if "--logdir" not in argv:
        argv = argv + ["--logdir", str(tmp_path / "runs")]
    _main(["run", *argv], capsys)


@settings(derandomize=True, max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(run_dir=VALUES, estimators=VALUES, subsample=st.one_of(st.none(), VALUES))
def test_estimate_options_fail_cleanly_or_reach_the_estimation(run_dir, estimators, subsample,
                                                               stubbed, capsys):
    argv = ["estimate", run_dir, "--estimators", estimators]
    if subsample is not None:
        argv += ["--subsample", subsample]
    _main(argv, capsys)


@pytest.mark.parametrize("argv", [["--image-every", "-1"], ["--seeds", "0,0"], ["--seeds", ","],
                                  ["--seeds", "99999999999999999999"],
                                  ["--seed", "99999999999999999999"], ["--epochs", "0"],
                                  ["--estimators", "binning("], ["--name", "../x"]])
def test_examples_are_usage_errors(argv, stubbed, capsys, tmp_path):
    assert _main(["run", *argv, "--logdir", str(tmp_path)], capsys) == 2
