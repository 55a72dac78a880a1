"""``infoplane run --null P --shuffle-labels`` end to end (issue 21, part 2): the null in
aux.csv at every layer-epoch, kept by a resume; random labels that keep the class counts and
are kept by a resume; the compression verdict printed after the checks."""

from __future__ import annotations

import json

import numpy as np
import pytest

import infoplane
from infoplane import cli
from infoplane.datasets import tishby_dataset
from infoplane.estimators import Binning, Intervals, NullLabels
from infoplane.experiments import run as harness


@pytest.fixture(scope="module")
def trusted(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("trust")
    code = cli.main(["run", "--epochs", "3", "--points", "2", "--estimators", "binning",
                     "--null", "2", "--shuffle-labels", "--no-tensorboard", "--logdir",
                     str(logdir), "--name", "t"])
    assert code == 0
    return logdir / "t"


def test_run_null_rows_and_verdict(trusted, capsys):
    results = infoplane.load_results(trusted)
    nulls = {(a["epoch"], a["layer"]): a["value"] for a in infoplane.load_aux(trusted)
             if a["name"] == "i_ty_null"}
    assert set(nulls) == {(r["epoch"], r["layer"]) for r in results.rows()}
    first = results.where(layer="layers.0")  # injective on 4096 distinct inputs: the plug-in
    for r in first.rows():                   # I(T;Y_pi) of any labelling is H(Y)
        assert nulls[(r["epoch"], "layers.0")] == pytest.approx(r["i_ty"], abs=1e-6)
    config = json.loads((trusted / "config.json").read_text())
    assert config["null"] == 2 and config["shuffle_labels"] is True
    assert config["estimator_specs"] == [  # binning: intervals by default, outside the null
        "intervals(null_labels(binning, permutations=2, seed=0), resamples=20, fraction=0.5, "
        "level=0.95, seed=0, kind='percentile')"]
    again = harness.resume_experiment(str(trusted))
    assert again.recorder.estimators == [Intervals(NullLabels(Binning(), 2, 0), 20)]


def test_shuffled_labels_keep_the_class_counts(trusted):
    x, y = tishby_dataset()
    s = harness.run_experiment("tishby-tanh", epochs=1, points=2, estimators=["binning"],
                               shuffle_labels=True, logdir=None, tensorboard=False)
    px, py = s.recorder.probes["all"]
    np.testing.assert_array_equal(px, x)  # the inputs in their order, the labels permuted
    assert np.bincount(py).tolist() == np.bincount(y).tolist()
    assert 0.4 < np.mean(py == y) < 0.6  # about chance agreement for balanced binary labels
    with pytest.raises(TypeError, match="shuffle_labels must be True or False"):
        harness.run_experiment("tishby-tanh", epochs=1, shuffle_labels=1, logdir=None)
    with pytest.raises(ValueError, match="null must be a number of label permutations"):
        harness.run_experiment("tishby-tanh", epochs=1, null=-1, logdir=None)


def test_run_prints_the_compression_verdict(tmp_path, capsys):
    assert cli.main(["run", "--epochs", "2", "--points", "2", "--estimators", "binning",
                     "--no-tensorboard", "--logdir", str(tmp_path), "--name", "v"]) == 0
    out = capsys.readouterr().out
    assert "I(X;T) compression verdict" in out and "Rule: drop = peak - final" in out
    assert cli.main(["run", "--null", "-1", "--logdir", str(tmp_path)]) == 2
    assert "--null must be a number of label permutations" in capsys.readouterr().err


# ---- intervals in results.csv (issue 21, part 1) ----------------------------------------------

INTERVALS = ("i_xt_lo", "i_xt_hi", "i_ty_lo", "i_ty_hi")


def _intervals_hold_the_estimate(rows) -> None:
    for r in rows:
        assert r["i_xt_lo"] <= r["i_xt"] <= r["i_xt_hi"], r
        assert r["i_ty_lo"] <= r["i_ty"] <= r["i_ty_hi"], r


def test_run_intervals_by_default_for_binning_and_kde_and_off_with_zero(tmp_path, capsys):
    """The default (no --intervals): B = 20 for binning and KDE, none for adaptive binning;
    --intervals 0: none; the columns of results.csv empty where off; kept by a resume."""
    assert cli.main(["run", "--epochs", "2", "--points", "2", "--estimators",
                     "binning,adaptive_binning", "--no-tensorboard", "--logdir", str(tmp_path),
                     "--name", "d"]) == 0
    capsys.readouterr()
    res = infoplane.load_results(tmp_path / "d")
    binned = res.where(estimator="binning").rows()
    assert binned and all(r[c] is not None for r in binned for c in INTERVALS)
    _intervals_hold_the_estimate(binned)
    assert json.loads(binned[0]["params"])["intervals"] == 20
    adaptive = res.where(estimator="adaptive_binning").rows()
    assert adaptive and all(r[c] is None for r in adaptive for c in INTERVALS)
    assert "intervals" not in json.loads(adaptive[0]["params"])
    header = (tmp_path / "d" / "results.csv").read_text().splitlines()[0].split(",")
    assert header[-4:] == list(INTERVALS)
    assert not [a for a in infoplane.load_aux(tmp_path / "d") if a["name"] in INTERVALS]
    config = json.loads((tmp_path / "d" / "config.json").read_text())
    assert config["intervals"] is None
    assert config["estimator_specs"][0].startswith("intervals(binning, resamples=20")
    again = harness.resume_experiment(str(tmp_path / "d"))  # nothing left: same estimators
    assert [e.name for e in again.recorder.estimators] == ["binning", "adaptive_binning"]
    assert dict(again.recorder.estimators[1].params()).get("intervals") is None

    assert cli.main(["run", "--epochs", "2", "--points", "2", "--estimators", "binning",
                     "--intervals", "0", "--no-tensorboard", "--logdir", str(tmp_path),
                     "--name", "off"]) == 0
    off = infoplane.load_results(tmp_path / "off").rows()
    assert off and all(r[c] is None for r in off for c in INTERVALS)
    assert "1 seed and no per-point interval" in capsys.readouterr().out
    assert cli.main(["run", "--intervals", "1", "--logdir", str(tmp_path)]) == 2
    assert "--intervals must be 0 (off) or a number of subsets" in capsys.readouterr().err


def test_run_intervals_on_every_estimator_and_the_verdict_uses_them(tmp_path, capsys):
    """--intervals B: every estimator (adaptive binning too) gets B subsets; with one seed
    the verdict's interval is that of the columns."""
    assert cli.main(["run", "--epochs", "30", "--points", "4", "--estimators",
                     "adaptive_binning", "--intervals", "6", "--no-tensorboard", "--logdir",
                     str(tmp_path), "--name", "b"]) == 0
    out = capsys.readouterr().out
    rows = infoplane.load_results(tmp_path / "b").rows()
    _intervals_hold_the_estimate(rows)
    assert {json.loads(r["params"])["intervals"] for r in rows} == {6}
    table = infoplane.compression_summary(infoplane.load_results(tmp_path / "b"))
    assert {t.interval for t in table if t.verdict != "does not"} <= {"columns"}
    assert any(t.interval == "columns" for t in table)
    assert "I(X;T) compression verdict" in out


def test_estimate_intervals_adds_an_instance_of_its_own(tmp_path, capsys):
    """``infoplane estimate --intervals B``: rows of their own (another parameter set) with
    the same estimate as the rows without, and the interval around it."""
    assert cli.main(["run", "--epochs", "2", "--points", "2", "--estimators", "binning",
                     "--intervals", "0", "--store-activations", "--no-tensorboard",
                     "--logdir", str(tmp_path), "--name", "s"]) == 0
    assert cli.main(["estimate", str(tmp_path / "s"), "--estimators", "binning",
                     "--intervals", "4"]) == 0
    res = infoplane.load_results(tmp_path / "s")
    plain, wrapped = (res.where(params=p) for p in res.unique("params"))
    assert len(plain) == len(wrapped) and "intervals" in wrapped.params("binning")
    np.testing.assert_allclose(wrapped["i_xt"], plain["i_xt"], atol=1e-9)
    _intervals_hold_the_estimate(wrapped.rows())
    assert cli.main(["estimate", str(tmp_path / "s"), "--estimators", "binning",
                     "--intervals", "-3"]) == 2
    capsys.readouterr()


def test_recorder_intervals_option(tmp_path):
    x, y = tishby_dataset()
    rng = np.random.default_rng(0)
    rec = infoplane.Recorder(x[:512], y[:512], ["binning"], None, intervals=5)
    w = rng.normal(size=(12, 4))
    rec.add(0, {"h": np.tanh(x[:512] @ w)})
    rec.flush()
    rows = rec.results().rows()
    assert len(rows) == 1 and json.loads(rows[0]["params"])["intervals"] == 5
    _intervals_hold_the_estimate(rows)
    assert rec.describe()["intervals"][0]["resamples"] == 5
    with pytest.raises(ValueError, match="intervals"):
        infoplane.Recorder(x, y, ["binning"], None, intervals=-1)
