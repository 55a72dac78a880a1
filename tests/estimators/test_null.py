"""`NullLabels`: the label-permutation null of I(T;Y) (issue 21, part 2).

Checked against a NumPy plug-in reference on the same permutation (binning is the plug-in
estimator, so its null is exactly computable), on independent and dependent layers (the null
is ~0 / within its spread of the estimate where T ignores Y, far below it where T = Y), and
through the spec syntax, `Subsample`, the Recorder and unit conversion."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import infoplane
from infoplane.estimators import KDE, Binning, NullLabels, Subsample, from_spec, to_spec
from infoplane.estimators.null import with_null
from infoplane.recording.recorder import Recorder


def plugin_mi(a: np.ndarray, b: np.ndarray) -> float:
    """Plug-in I(A;B) in bits of two discrete label vectors (the slow readable reference)."""
    n = len(a)
    _, ia = np.unique(a, return_inverse=True)
    _, ib = np.unique(b, return_inverse=True)
    joint = np.zeros((ia.max() + 1, ib.max() + 1))
    np.add.at(joint, (ia, ib), 1.0)
    p = joint / n
    pa, pb = p.sum(1, keepdims=True), p.sum(0, keepdims=True)
    nz = p > 0
    return float(np.sum(p[nz] * np.log2(p[nz] / (pa @ pb)[nz])))


@pytest.fixture(scope="module")
def labelled():
    rng = np.random.default_rng(0)
    n = 400
    y = rng.integers(0, 4, n)
    x = rng.normal(size=(n, 6)).astype(np.float32)
    onehot = np.eye(4, dtype=np.float32)[y] * 0.9 - 0.45  # T = Y: 4 states inside (-1, 1)
    noise = rng.uniform(-0.9, 0.9, size=(n, 2)).astype(np.float32)  # T independent of Y
    return x, y, onehot, noise


def test_binning_null_is_the_plugin_information_of_the_permuted_labels(labelled):
    x, y, onehot, _ = labelled
    est = NullLabels(Binning(), permutations=3, seed=5)
    r = infoplane.estimate(est, x, onehot, y)
    plain = infoplane.estimate(Binning(), x, onehot, y)
    assert float(r.i_ty) == pytest.approx(float(plain.i_ty), abs=0)  # the estimate untouched
    assert float(r.i_xt) == pytest.approx(float(plain.i_xt), abs=0)
    assert r.params == plain.params and r.estimator == "binning"
    h_y = plugin_mi(y, y)
    assert float(r.i_ty) == pytest.approx(h_y, abs=1e-5)  # T = Y: I(T;Y) = H(Y) ~ 2 bits
    want = [plugin_mi(y, y[np.random.default_rng(5 + k).permutation(len(y))])
            for k in range(3)]
    assert float(r.aux["i_ty_null"]) == pytest.approx(np.mean(want), abs=1e-5)
    assert float(r.aux["i_ty_null_sd"]) == pytest.approx(np.std(want, ddof=1), abs=1e-5)
    assert 0 < float(r.aux["i_ty_null"]) < 0.1 * h_y  # the bias floor: small, not zero
    assert int(r.aux["null_permutations"]) == 3 and int(r.aux["null_seed"]) == 5


def test_null_of_an_independent_layer_matches_its_estimate_and_a_dependent_one_stands_out(
        labelled):
    """Where T ignores Y the estimate itself is only bias: it lies within the null's spread.
    Where T = Y the estimate is many spreads above the null."""
    x, y, onehot, noise = labelled
    kde = NullLabels(KDE(sigma2=0.05), permutations=8, seed=1)
    ind = infoplane.estimate(kde, x, noise, y)
    null, sd = float(ind.aux["i_ty_null"]), float(ind.aux["i_ty_null_sd"])
    assert sd > 0 and abs(float(ind.i_ty) - null) < 4 * sd + 1e-3
    assert abs(null) < 0.1  # bits: KDE's I(T;Y) bias on 400 samples of 2 units
    dep = infoplane.estimate(kde, x, onehot, y)
    assert float(dep.i_ty) > float(dep.aux["i_ty_null"]) + 20 * float(dep.aux["i_ty_null_sd"])
    one = infoplane.estimate(NullLabels(KDE(sigma2=0.05)), x, noise, y)
    assert math.isnan(float(one.aux["i_ty_null_sd"]))  # one permutation: no spread


def test_units_specs_wrappers_and_errors(labelled):
    x, y, onehot, _ = labelled
    r = infoplane.estimate(NullLabels(Binning(), permutations=2), x, onehot, y)
    nats = r.in_units("nats")
    assert float(nats.aux["i_ty_null"]) == pytest.approx(float(r.aux["i_ty_null"]) * math.log(2))
    assert float(nats.aux["null_permutations"]) == 2.0  # a count: no units
    spec = "null_labels(kde(sigma2=0.01), permutations=3, seed=2)"
    assert from_spec(spec) == NullLabels(KDE(sigma2=0.01), 3, 2)
    assert from_spec(to_spec(from_spec(spec))) == from_spec(spec)
    sub = with_null(Subsample(KDE(), n=100), 2)
    assert sub == Subsample(NullLabels(KDE(), 2), n=100)  # innermost: the same rows
    assert with_null(sub, 5) == sub and with_null(KDE(), 0) == KDE()
    assert to_spec(sub) == ("subsample(null_labels(kde, permutations=2, seed=0), n=100, "
                            "seed=0)")
    r = infoplane.estimate(sub, x, onehot, y)
    assert np.isfinite(float(r.aux["i_ty_null"])) and dict(r.params)["subsample"] == 100
    with pytest.raises(ValueError, match="permutations must be an integer from 1 to 1000"):
        NullLabels(KDE(), permutations=0)
    with pytest.raises(TypeError, match="wraps an estimator instance"):
        NullLabels(KDE)
    with pytest.raises(ValueError, match="null_labels takes an estimator spec first"):
        from_spec("null_labels(permutations=2)")
    with pytest.raises(ValueError, match="has no parameter 'n'"):
        from_spec("null_labels(kde, n=2)")


def test_recorder_null_writes_the_null_at_every_layer_epoch(labelled, tmp_path):
    x, y, onehot, noise = labelled
    acts = {"dep": onehot, "ind": noise}
    with_null_rec = Recorder(x, y, ["binning", "kde"], tmp_path, name="n", null=2,
                             tensorboard=False)
    plain = Recorder(x, y, ["binning", "kde"], None)
    for e in range(2):
        with_null_rec.add(e, acts)
        plain.add(e, acts)
    with_null_rec.close()
    plain.flush()

    def key(r):
        return (r["epoch"], r["layer"], r["estimator"], r["params"], r["i_xt"], r["i_ty"])

    assert sorted(map(key, infoplane.load_results(tmp_path / "n").rows())) == sorted(
        map(key, plain.results().rows()))  # the same rows, the same params
    nulls = {(a["epoch"], a["layer"], a["estimator"]): a["value"]
             for a in infoplane.load_aux(tmp_path / "n") if a["name"] == "i_ty_null"}
    assert len(nulls) == 2 * 2 * 2
    for e in range(2):
        want = np.mean([plugin_mi(y, y[np.random.default_rng(k).permutation(len(y))])
                        for k in range(2)])
        assert nulls[(e, "dep", "binning")] == pytest.approx(want, abs=1e-5)
    config = json.loads((tmp_path / "n" / "config.json").read_text())
    assert config["null_labels"] == [{"permutations": 2, "seed": 0}] * 2
    assert [to_spec(e) for e in with_null_rec.estimators] == [
        "null_labels(binning, permutations=2, seed=0)",
        "null_labels(kde, permutations=2, seed=0)"]
    with pytest.raises(ValueError, match="null"):
        Recorder(x, y, ["binning"], None, null=-1)


def test_curves_draw_the_null_of_a_run(labelled, tmp_path):
    """`infoplane.plot.information_curves` draws the seed-mean null as a dotted line per layer
    on the I(T;Y) panel, at the values of aux.csv; none with null=None or without a null."""
    from infoplane import plot

    x, y, onehot, noise = labelled
    rec = Recorder(x, y, ["binning"], tmp_path, name="c", null=1, tensorboard=False)
    for e in (0, 3):
        rec.add(e, {"dep": onehot, "ind": noise})
    rec.close()
    fig, axes = plot.information_curves(tmp_path / "c")
    lines = {ln.get_gid(): ln for ln in axes[1].get_lines()}
    want = {(a["epoch"], a["layer"]): a["value"] for a in infoplane.load_aux(tmp_path / "c")
            if a["name"] == "i_ty_null"}
    for layer in ("dep", "ind"):
        xs, ys = lines[f"null:{layer}"].get_data()
        assert list(xs) == [0, 3]
        np.testing.assert_allclose(ys, [want[(0, layer)], want[(3, layer)]], rtol=1e-6)
    assert not any(str(g).startswith("null:") for g in
                   (ln.get_gid() for ln in axes[0].get_lines()))  # I(X;T) panel: none
    _, bare = plot.information_curves(tmp_path / "c", null=None)
    assert not any(str(ln.get_gid()).startswith("null:") for ln in bare[1].get_lines())
    fig, ax = plot.information_plane(tmp_path / "c")
    xs, ys = {ln.get_gid(): ln for ln in ax.get_lines()}["null:dep"].get_data()
    dep = infoplane.load_results(tmp_path / "c").where(layer="dep")
    np.testing.assert_allclose(xs, dep["i_xt"], rtol=1e-6)  # at the layer's own I(X;T)
    np.testing.assert_allclose(ys, [want[(0, "dep")], want[(3, "dep")]], rtol=1e-6)
