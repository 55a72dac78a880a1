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
from infoplane.estimators import Binning, NullLabels
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
    assert config["estimator_specs"] == ["null_labels(binning, permutations=2, seed=0)"]
    again = harness.resume_experiment(str(trusted))
    assert again.recorder.estimators == [NullLabels(Binning(), 2, 0)]


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
