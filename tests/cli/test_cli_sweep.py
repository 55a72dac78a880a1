"""`infoplane sweep`: the expansion of list-valued spec parameters
(`infoplane.experiments.sweep`), the re-estimation of a stored run over them, its verdict and
sensitivity output; and `infoplane plot --estimator SPEC`."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import re
import shutil

import numpy as np
import pytest

import infoplane
from infoplane import cli
from infoplane.estimators import Binning
from infoplane.experiments.sweep import MAX_COMBINATIONS, expand_sweep, expand_sweeps

# -- expansion -----------------------------------------------------------------------------


def test_a_scalar_list_is_one_spec_per_value():
    assert expand_sweep("binning(n_bins=[4, 8, 16, 29, 64])") == [
        "binning(n_bins=4)", "binning(n_bins=8)", "binning(n_bins=16)", "binning(n_bins=29)",
        "binning(n_bins=64)"]
    # the other parameters are kept verbatim; bare words as from_spec reads them
    assert expand_sweep("kde(sigma2=[0.01, 0.1], units=nats)") == [
        "kde(sigma2=0.01, units=nats)", "kde(sigma2=0.1, units=nats)"]
    specs = expand_sweep("binning(n_bins=8, convention=[clip, idnns])")
    assert [infoplane.from_spec(s) for s in specs] == [
        Binning(n_bins=8), Binning(n_bins=8, convention="idnns")]


def test_several_lists_give_the_cartesian_product():
    specs = expand_sweep("binning(n_bins=[4, 8, 16], convention=[clip, idnns])")
    assert len(specs) == 6
    got = {(e.n_bins, e.convention) for e in map(infoplane.from_spec, specs)}
    assert got == {(n, c) for n in (4, 8, 16) for c in ("clip", "idnns")}
    assert specs[:2] == ["binning(n_bins=4, convention=clip)",
                         "binning(n_bins=4, convention=idnns)"]


def test_a_sequence_parameter_sweeps_only_a_list_of_sequences():
    specs = expand_sweep("binning(range=[[-1, 1], [0, 1]], n_bins=[4, 8])")
    got = [(e.range, e.n_bins) for e in map(infoplane.from_spec, specs)]
    assert got == [((-1.0, 1.0), 4), ((-1.0, 1.0), 8), ((0.0, 1.0), 4), ((0.0, 1.0), 8)]
    # range=[0, 1] is one value of the sequence parameter, not a sweep over 0 and 1
    assert expand_sweep("binning(range=[0, 1], n_bins=[4, 8])") == [
        "binning(range=[0, 1], n_bins=4)", "binning(range=[0, 1], n_bins=8)"]
    with pytest.raises(ValueError, match="nothing to sweep"):
        expand_sweep("binning(range=[0, 1])")
    # a bare word next to a sequence: a sweep too
    assert [e.range for e in map(infoplane.from_spec,
                                 expand_sweep("binning(range=[data, [0, 1]])"))] == [
        "data", (0.0, 1.0)]


def test_a_wrapper_expands_its_inner_spec_and_its_own_parameters():
    assert expand_sweep("subsample(binning(n_bins=[8, 16]), n=256)") == [
        "subsample(binning(n_bins=8), n=256)", "subsample(binning(n_bins=16), n=256)"]
    specs = expand_sweep("subsample(binning(n_bins=[8, 16]), n=[256, 512])")
    got = [(e.estimator.n_bins, e.n) for e in map(infoplane.from_spec, specs)]
    assert got == [(8, 256), (8, 512), (16, 256), (16, 512)]


def test_expansion_errors():
    for spec in ("binning", "binning(n_bins=8)", "subsample(binning, n=256)"):
        with pytest.raises(ValueError, match=re.escape(
                "nothing to sweep: give a parameter a list, e.g. binning(n_bins=[8, 16, 32])")):
            expand_sweep(spec)
    with pytest.raises(ValueError, match="no parameter 'nbins'.*n_bins"):
        expand_sweep("binning(nbins=[4, 8])")
    with pytest.raises(ValueError, match="Unknown estimator 'binnig'"):
        expand_sweep("binnig(n_bins=[4, 8])")
    with pytest.raises(ValueError, match=r"binning\(n_bins=1\).*n_bins >= 2"):
        expand_sweep("binning(n_bins=[1, 4])")
    with pytest.raises(ValueError, match="sweeps over nothing"):
        expand_sweep("binning(n_bins=[])")


def test_at_most_64_parameter_sets():
    assert MAX_COMBINATIONS == 64
    assert len(expand_sweep(f"binning(n_bins=[{', '.join(map(str, range(2, 66)))}])")) == 64
    with pytest.raises(ValueError, match="65 parameter sets, more than 64"):
        expand_sweep(f"binning(n_bins=[{', '.join(map(str, range(2, 67)))}])")
    with pytest.raises(ValueError, match="72 parameter sets, more than 64"):
        expand_sweep("binning(n_bins=[2, 3, 4, 5, 6, 7, 8, 9, 10], convention=[clip, idnns], "
                     "hash_seed=[0, 1, 2, 3])")
    # the cap holds for several specs together too
    with pytest.raises(ValueError, match="more than 64"):
        expand_sweeps([f"binning(n_bins=[{', '.join(map(str, range(2, 42)))}])",
                       f"kde(sigma2=[{', '.join(str(0.01 * k) for k in range(1, 30))}])"])


def test_several_specs_and_duplicates():
    # the same parameter set twice (29 is the default) is kept once
    assert expand_sweeps(["binning(n_bins=[4, 29])", "binning"]) == [
        "binning(n_bins=4)", "binning(n_bins=29)"]
    assert expand_sweeps(["binning(n_bins=[4, 8]),kde"]) == [
        "binning(n_bins=4)", "binning(n_bins=8)", "kde"]


# -- the command ---------------------------------------------------------------------------


def _h(*cols) -> float:
    """Plug-in joint entropy (bits) of the rows of the given integer columns."""
    _, counts = np.unique(np.column_stack(cols), axis=0, return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum())


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("sweep")
    assert cli.main(["run", "--epochs", "3", "--points", "2", "--estimators", "binning",
                     "--store-activations", "--no-tensorboard", "--logdir", str(logdir),
                     "--name", "s"]) == 0
    run = logdir / "s"
    before = infoplane.load_results(run)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = cli.main(["sweep", str(run), "binning(n_bins=[4, 29])", "--csv",
                       str(logdir / "sens.csv")])
    return run, before, rc, out.getvalue(), logdir / "sens.csv"


def _n_bins(table) -> list[int]:
    return [json.loads(p)["n_bins"] for p in table["params"]]


def test_sweep_appends_the_missing_parameter_sets_once(swept):
    run, before, rc, out, _ = swept
    assert rc == 0, out
    assert set(_n_bins(before)) == {29}
    after = infoplane.load_results(run)
    n_bins = _n_bins(after)
    assert n_bins.count(29) == len(before)  # the default was there: not written again
    assert n_bins.count(4) == len(before)   # every (epoch, layer) of n_bins=4 added
    keys = [(r["seed"], r["split"], r["epoch"], r["layer"], r["params"]) for r in after.rows()]
    assert len(keys) == len(set(keys))


def test_sweep_prints_the_verdict_across_the_values_and_the_sensitivity(swept):
    run, _, _, out, _ = swept
    assert re.search(r"^sweep binning, all, layers\.0: .*n_bins", out, re.M), out
    assert "sensitivity of binning to n_bins" in out and "spread" in out
    table = infoplane.load_results(run)
    last = max(table["epoch"].tolist())
    sens = out[out.index("sensitivity of"):]
    for layer in ("layers.0", "output"):
        vals = {n: float(table.where(layer=layer, epoch=last, params=p)["i_xt"][0])
                for n, p in ((json.loads(p)["n_bins"], p) for p in table.unique("params"))}
        # the layer's block: its two values and their spread, 3 decimals
        block = sens[sens.index(f"\n  {layer} ") + 1:]
        assert f"{vals[4]:.3f}" in block.splitlines()[0]
        assert f"{abs(vals[29] - vals[4]):.3f}" in "\n".join(block.splitlines()[:3])


def test_sweep_values_match_a_direct_estimate_and_the_plug_in_formula(swept):
    run, *_ = swept
    store = infoplane.ActivationStore(run)
    x, y = store.read_probe("all")
    table = infoplane.load_results(run).where(epoch=3, layer="layers.1")
    row = next(r for r in table.rows() if json.loads(r["params"])["n_bins"] == 4)
    t = store.read(0, "all", 3)["layers.1"]
    direct = infoplane.estimate(Binning(n_bins=4), x, t, y)
    assert math.isclose(row["i_xt"], float(direct.i_xt), abs_tol=1e-6)
    assert math.isclose(row["i_ty"], float(direct.i_ty), abs_tol=1e-6)
    # ground truth: the plug-in formulas on the np.digitize bins of 4 equal bins of [-1, 1]
    edges = np.linspace(-1.0, 1.0, 5).astype(np.float32)
    bins = np.clip(np.digitize(t, edges) - 1, 0, 3)
    _, x_id = np.unique(x.reshape(len(x), -1), axis=0, return_inverse=True)
    h_t = _h(*bins.T)
    i_xt = h_t + _h(x_id) - _h(x_id, *bins.T)
    i_ty = h_t + _h(y) - _h(y, *bins.T)
    assert math.isclose(row["i_xt"], i_xt, abs_tol=1e-5)
    assert math.isclose(row["i_ty"], i_ty, abs_tol=1e-5)


def test_sweep_csv(swept):
    run, _, _, _, path = swept
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert rows and {"layer", "n_bins", "i_xt", "i_ty", "i_xt_spread", "epoch"} <= set(rows[0])
    assert len(rows) == 2 * 6  # two parameter sets x six layers
    table = infoplane.load_results(run)
    for r in rows:
        want = table.where(layer=r["layer"], epoch=int(r["epoch"]), params=r["params"])
        assert int(r["n_bins"]) == json.loads(r["params"])["n_bins"]
        assert math.isclose(float(r["i_xt"]), float(want["i_xt"][0]), rel_tol=1e-9)
    by_layer = {}
    for r in rows:
        by_layer.setdefault(r["layer"], []).append(float(r["i_ty"]))
    for r in rows:
        vals = by_layer[r["layer"]]
        assert math.isclose(float(r["i_ty_spread"]), max(vals) - min(vals), abs_tol=1e-12)


def test_a_second_sweep_estimates_nothing(swept, capsys):
    run, *_ = swept
    n = len(infoplane.load_results(run))
    assert cli.main(["sweep", str(run), "binning(n_bins=[4, 29])"]) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert len(infoplane.load_results(run)) == n


def test_sweep_usage_errors(swept, tmp_path, capsys):
    run, *_ = swept
    bare = tmp_path / "bare"
    shutil.copytree(run, bare, ignore=shutil.ignore_patterns("activations"))
    assert cli.main(["sweep", str(bare), "binning(n_bins=[4, 8])"]) == 2
    err = capsys.readouterr().err
    assert "has no stored activations" in err and "--store-activations" in err
    assert cli.main(["sweep", str(run), "binning(n_bins=8)"]) == 2
    assert "nothing to sweep" in capsys.readouterr().err
    assert cli.main(["sweep", str(run), "binning(nbins=[4, 8])"]) == 2
    assert "no parameter 'nbins'" in capsys.readouterr().err
    assert cli.main(["sweep", str(run), "binning(n_bins=[4, 8])", "--split", "test"]) == 2
    assert "unknown split 'test'" in capsys.readouterr().err
    assert cli.main(["sweep", str(tmp_path / "nope"), "binning(n_bins=[4, 8])"]) == 2
    assert "no such directory" in capsys.readouterr().err


# -- plot --estimator SPEC -----------------------------------------------------------------


def test_plot_estimator_spec_chooses_the_parameter_set(swept, tmp_path, capsys):
    run, *_ = swept
    out = tmp_path / "four.png"
    assert cli.main(["plot", str(run), "--estimator", "binning(n_bins=4)", "-o",
                     str(out)]) == 0
    assert out.stat().st_size > 0
    assert cli.main(["plot", str(run), "--estimator", "binning(n_bins=4)", "--params",
                     "n_bins=4", "--kind", "curves", "-o", str(tmp_path / "c.png")]) == 0
    capsys.readouterr()
    # no selection among two parameter sets: the error names the spec syntax
    assert cli.main(["plot", str(run), "-o", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert '--estimator "binning(KEY=VALUE, ...)"' in err and "2 parameter sets" in err
    assert not (tmp_path / "x.png").exists()
    # the spec and --params disagreeing
    assert cli.main(["plot", str(run), "--estimator", "binning(n_bins=4)", "--params",
                     "n_bins=8"]) == 2
    assert "different values for n_bins" in capsys.readouterr().err
    assert cli.main(["plot", str(run), "--estimator", "binning(nbins=4)"]) == 2
    assert "no parameter 'nbins'" in capsys.readouterr().err
    # a parameter set the run does not hold
    assert cli.main(["plot", str(run), "--estimator", "binning(n_bins=8)"]) == 2
    assert "no parameter set" in capsys.readouterr().err


def test_estimator_spec_gives_the_recorded_values():
    from infoplane.cli.plot import estimator_spec

    assert estimator_spec("binning") == ("binning", {})
    assert estimator_spec("binning(n_bins=4, range=[0, 1])") == (
        "binning", {"n_bins": 4, "range": [0.0, 1.0]})
    assert estimator_spec("kde(sigma2=1)") == ("kde", {"sigma2": 1.0})
    assert estimator_spec("subsample(compressed(k=3), n=512)") == (
        "compressed", {"k": 3, "subsample": 512, "subsample_seed": 0})
