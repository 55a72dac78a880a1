"""Activations written by another framework: files made with plain ``np.savez`` exactly as the
layout says (`infoplane.store.layout`), read by `ActivationStore`, checked by
`infoplane.store.scan`, and estimated by ``infoplane estimate`` and `reestimate` (whose rows
must equal direct estimator calls on the same arrays); hostile files get errors naming them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import infoplane
from infoplane.experiments.reestimate import ActivationLayoutWarning, Reestimation, reestimate
from infoplane.store.activations import ActivationStore

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
N = 64


def _layers(rng, n=N):
    """A conv map (N, C, H, W), the same map as (N, H, W, C), a dense layer (float64) and one
    bool unit (N,); two widths, so the tests compile little."""
    conv = (rng.integers(-2, 3, size=(n, 2, 2, 1)) / 3).astype(np.float32)
    return {"conv1": conv, "conv1_nhwc": conv.transpose(0, 2, 3, 1),
            "fc.0": np.tanh(rng.standard_normal((n, 4)) * 0.4), "out": rng.random(n) < 0.5}


def write_foreign(run_dir, seed=0, splits=("train", "val"), seeds=(0, 1), epochs=(0, 3, 12)):
    """A run directory holding only activations/, written as the README says; returns
    {split: (x, y)} and {(split, seed, epoch): {layer: array}}."""
    rng = np.random.default_rng(seed)
    acts = os.path.join(run_dir, "activations")
    probes, stored = {}, {}
    for sp in splits:
        x = rng.standard_normal((N, 5)).astype(np.float32)
        y = rng.integers(0, 3, N)
        os.makedirs(acts, exist_ok=True)
        np.savez(os.path.join(acts, f"probe-{sp}.npz"), x=x, y=y)
        probes[sp] = (x, y)
        for s in seeds:
            os.makedirs(os.path.join(acts, sp, f"seed{s}"))
            for e in epochs:
                layers = _layers(rng)
                np.savez(os.path.join(acts, sp, f"seed{s}", f"epoch{e}.npz"), **layers)
                stored[(sp, s, e)] = layers
    return probes, stored


def _flat(t):
    return np.asarray(t).reshape(len(t), -1).astype(np.float32)


def _check_rows_equal_direct(table, probes, stored, estimators):
    assert len(table) == len(stored) * 4 * len(estimators)
    by_key = {(r["split"], r["seed"], r["epoch"], r["layer"], r["estimator"]): r
              for r in table.rows()}
    for (sp, s, e), layers in stored.items():
        x, y = probes[sp]
        for layer, t in layers.items():
            for est in estimators:
                direct = infoplane.estimate(est, x, _flat(t), y)
                row = by_key[(sp, s, e, layer, est.name)]
                assert row["i_xt"] == pytest.approx(float(direct.i_xt), abs=1e-5)
                assert row["i_ty"] == pytest.approx(float(direct.i_ty), abs=1e-5)
                assert row["run"] == "foreign" and row["units"] == "bits"
        # a permutation of the units changes no estimate: NCHW and NHWC agree
        for est in estimators:
            a, b = (by_key[(sp, s, e, k, est.name)] for k in ("conv1", "conv1_nhwc"))
            assert (a["i_xt"], a["i_ty"]) == pytest.approx((b["i_xt"], b["i_ty"]), abs=1e-6)


def _cli(*args):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
               INFOPLANE_NO_CACHE="1")
    return subprocess.run([sys.executable, "-m", "infoplane", *args], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=600)


# -- reading --------------------------------------------------------------------------------


def test_store_reads_plain_numpy_files(tmp_path):
    probes, stored = write_foreign(tmp_path, seeds=(0, 10), epochs=(3, 12, 100))
    store = ActivationStore(tmp_path)
    assert store.splits() == ["train", "val"] and store.seeds("train") == [0, 10]
    assert store.epochs("val", 10) == [3, 12, 100]  # unpadded names: epoch3.npz
    assert store.layers("train", 0) == ["conv1", "conv1_nhwc", "fc.0", "out"]  # file order
    got = store.read(10, "val", 12)
    assert list(got) == list(stored[("val", 10, 12)])
    for k, v in got.items():
        assert v.dtype == stored[("val", 10, 12)][k].dtype
        assert np.array_equal(v, stored[("val", 10, 12)][k])
    x, y = store.read_probe("train")
    assert np.array_equal(x, probes["train"][0]) and y.dtype == np.int64
    flat = store.read_layer(0, "train", "conv1", flatten=True)
    assert flat.shape == (3, N, 4)  # (N, 2, 2, 1) -> (N, 4)
    assert np.array_equal(flat[2], _flat(stored[("train", 0, 100)]["conv1"]))
    found = store.scan()
    assert not found.errors and not found.ignored
    assert found.entries == tuple(sorted(stored)) and found.n == {"train": N, "val": N}
    assert found.shapes["train"]["conv1"] == (N, 2, 2, 1)
    assert found.shapes["train"]["out"] == (N,)
    # float labels that are integers are labels; infoplane's own format marker is optional
    np.savez(store.probe_path("val"), x=probes["val"][0], y=probes["val"][1].astype(float))
    meta = json.dumps({"format": 1})
    np.savez(tmp_path / "activations/val/seed0/epoch5.npz", __meta__=meta,
             **stored[("val", 10, 12)])
    assert list(store.read(0, "val", 5)) == list(stored[("val", 10, 12)])
    assert not store.scan().errors and np.array_equal(store.read_probe("val")[1],
                                                      probes["val"][1])


# -- estimating -----------------------------------------------------------------------------


def test_cli_estimates_a_directory_holding_only_foreign_activations(tmp_path):
    d = tmp_path / "foreign"
    probes, stored = write_foreign(d)
    open(d / "activations" / "notes.txt", "w").write("a file of mine")
    proc = _cli("estimate", str(d), "--estimators", "binning,kde")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ignored" in proc.stderr and "notes.txt" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "appended 96 rows" in proc.stdout  # 2 splits x 2 seeds x 3 epochs x 4 layers x 2
    for f in ("results.csv", "aux.csv", "failures.csv"):
        assert (d / f).is_file(), f
    assert not (d / "config.json").exists()
    table = infoplane.load_results(d)
    _check_rows_equal_direct(table, probes, stored, [infoplane.Binning(), infoplane.KDE()])
    assert {(r["split"], r["seed"]) for r in table.rows()} == {
        (sp, s) for sp in ("train", "val") for s in (0, 1)}
    aux = infoplane.load_aux(d)
    assert any(a["name"] == "i_xt_lower" and a["split"] == "val" for a in aux)


def test_python_api_estimates_foreign_activations(tmp_path):
    d = tmp_path / "foreign"
    probes, stored = write_foreign(d, seed=1, seeds=(0,), epochs=(0, 7))
    ests = [infoplane.Binning(), infoplane.KDE(sigma2=0.01)]
    table = reestimate(d, ["binning", infoplane.KDE(sigma2=0.01)])  # names and instances
    _check_rows_equal_direct(table, probes, stored, ests)
    # the same numbers as estimate_epochs on the store's stacked, flattened layer
    store = ActivationStore(d)
    x, y = store.read_probe("val")
    ts = store.read_layer(0, "val", "fc.0", flatten=True)
    direct = infoplane.estimate_epochs(ests[1], x, ts.astype(np.float32), y)
    rows = table.where(split="val", layer="fc.0", estimator="kde")
    assert [r["epoch"] for r in rows.rows()] == [0, 7]
    assert [r["i_xt"] for r in rows.rows()] == pytest.approx(np.asarray(direct.i_xt), abs=1e-5)
    # complete: a no-op returning the same table (results.csv is where a resume looks)
    assert len(reestimate(d, "binning")) == len(table)
    assert infoplane.load_results(d).rows() == table.rows()


def write_channels(run_dir, first: bool, n=64):
    """A store of one conv map with three channels of known informations and a dense layer:
    channels 0 and 2 code the label (4 equiprobable classes: I(X;T_c) = I(T_c;Y) = 2 bits),
    channel 1 is constant (0 bits); stored (N, C, H, W) when ``first``, else (N, H, W, C).
    Returns (x, y, {layer: array})."""
    y = np.arange(n) % 4
    x = np.random.default_rng(0).standard_normal((n, 3)).astype(np.float32)
    code = (y / 4.0 - 0.4).astype(np.float32)
    conv = np.empty((n, 3, 2, 2), np.float32)
    conv[:, 0], conv[:, 1], conv[:, 2] = code[:, None, None], 0.3, code[:, None, None]
    layers = {"conv": conv if first else conv.transpose(0, 2, 3, 1),
              "fc": np.tanh(np.random.default_rng(1).standard_normal((n, 4))).astype(
                  np.float32)}
    acts = os.path.join(run_dir, "activations")
    os.makedirs(os.path.join(acts, "all", "seed0"))
    np.savez(os.path.join(acts, "probe-all.npz"), x=x, y=y)
    for e in (0, 5):
        np.savez(os.path.join(acts, "all", "seed0", f"epoch{e}.npz"), **layers)
    return x, y, layers


@pytest.mark.parametrize("first", [True, False])
def test_per_channel_estimate_of_stored_conv_maps(tmp_path, first):
    """`reestimate(per_channel=...)`: the conv map's row is the mean over its channels
    (ground truth 4/3 bits for both quantities, against 2 bits flattened), each channel in
    aux; the dense layer keeps the flat estimator's params; a rerun is a no-op and a flat
    estimate afterwards adds rows of its own for the map only."""
    d = tmp_path / "pc"
    x, y, layers = write_channels(d, first)
    table = reestimate(d, ["binning"], per_channel="first" if first else True)
    conv = table.where(layer="conv")
    assert len(conv) == 2 and all(json.loads(r["params"])["per_channel"] == "mean"
                                  for r in conv.rows())
    np.testing.assert_allclose(conv["i_xt"], 4 / 3, atol=1e-6)
    np.testing.assert_allclose(conv["i_ty"], 4 / 3, atol=1e-6)
    aux = {(a["epoch"], a["name"]): a["value"] for a in infoplane.load_aux(d)
           if a["layer"] == "conv"}
    for e in (0, 5):
        got = [aux[(e, f"channel{c}_i_ty")] for c in range(3)]
        np.testing.assert_allclose(got, [2.0, 0.0, 2.0], atol=1e-6)
        assert aux[(e, "n_channels")] == 3
    fc = table.where(layer="fc")
    assert "per_channel" not in json.loads(fc["params"][0])
    direct = infoplane.estimate(infoplane.Binning(), x, layers["fc"], y)
    np.testing.assert_allclose(fc["i_xt"], float(direct.i_xt), atol=1e-5)
    # complete: nothing to do
    job = Reestimation(str(d), ["binning"], per_channel="first" if first else "last")
    assert not job.entries and any("nothing to do" in n for n in job.notes)
    job.run()
    # flattened: the map gets a row of its own (2 bits), the dense layer is already done
    both = reestimate(d, ["binning"])
    flat = [r for r in both.where(layer="conv").rows()
            if "per_channel" not in json.loads(r["params"])]
    assert [r["i_ty"] for r in flat] == pytest.approx([2.0, 2.0], abs=1e-6)
    assert len(both.where(layer="fc")) == 2 and len(both) == 6
    with pytest.raises(TypeError, match="per_channel must be"):
        Reestimation(str(d), ["binning"], per_channel="middle")


def test_cli_per_channel_estimate(tmp_path):
    d = tmp_path / "pc"
    write_channels(d, first=True)
    proc = _cli("estimate", str(d), "--estimators", "binning", "--per-channel", "first",
                "--quiet")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    conv = infoplane.load_results(d).where(layer="conv")
    np.testing.assert_allclose(conv["i_ty"], 4 / 3, atol=1e-6)
    from infoplane.cli._common import per_channel_as_run

    assert per_channel_as_run(None, str(d)) is False  # no config.json: flattened
    for value, want in (("off", False), ("first", "first"), ("last", "last")):
        assert per_channel_as_run(value, str(d)) == want
    for recorded in (True, "first", False):  # the run's own setting, as config.json has it
        (d / "config.json").write_text(json.dumps({"per_channel": recorded}))
        assert per_channel_as_run(None, str(d)) == recorded
    (d / "config.json").write_text("{cut")
    assert per_channel_as_run(None, str(d)) is False
    bad = _cli("estimate", str(d), "--estimators", "binning", "--per-channel", "middle")
    assert bad.returncode == 2 and "invalid choice" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_a_nan_layer_is_a_failure_and_the_rest_is_estimated(tmp_path):
    d = tmp_path / "foreign"
    probes, stored = write_foreign(d, splits=("train",), seeds=(0,), epochs=(0, 1))
    bad = dict(stored[("train", 0, 1)])
    bad["fc.0"] = np.full_like(bad["fc.0"], np.nan)
    np.savez(d / "activations/train/seed0/epoch1.npz", **bad)
    (d / "activations/train/seed01").mkdir()  # leading zero: not a seed directory
    np.savez(d / "activations/train/seed0/epoch_2.npz", a=np.zeros((N, 2)))  # bad name
    with pytest.warns(ActivationLayoutWarning) as warned:
        table = reestimate(d, ["binning"])
    messages = sorted(str(w.message) for w in warned if w.category is ActivationLayoutWarning)
    assert len(messages) == 2 and "epoch_2.npz" in messages[0] and "seed01" in messages[1]
    assert len(table) == 2 * 4 - 1
    fails = infoplane.load_failures(d)
    assert [(f["epoch"], f["layer"], f["estimator"]) for f in fails] == [(1, "fc.0", "binning")]
    assert "NaN" in fails[0]["error"]


# -- hostile files --------------------------------------------------------------------------


def _bad_wrong_n(d):
    np.savez(d / "activations/train/seed0/epoch1.npz", fc=np.zeros((N - 1, 3)))
    return "epoch1.npz", f"N = {N}"


def _bad_strings(d):
    np.savez(d / "activations/train/seed0/epoch1.npz", fc=np.array(["a"] * N))
    return "epoch1.npz", "not real numbers"


def _bad_objects(d):
    np.savez(d / "activations/train/seed0/epoch1.npz", fc=np.array([None] * N))
    return "epoch1.npz", "dtype object"


def _bad_complex(d):
    np.savez(d / "activations/train/seed0/epoch1.npz", fc=np.ones((N, 3), complex))
    return "epoch1.npz", "complex128"


def _bad_scalar(d):
    np.savez(d / "activations/train/seed0/epoch1.npz", fc=np.float32(1))
    return "epoch1.npz", "(N, ...)"


def _bad_no_probe(d):
    os.unlink(d / "activations/probe-train.npz")
    return "probe-train.npz", "is missing"


def _bad_probe_without_y(d):
    np.savez(d / "activations/probe-train.npz", x=np.zeros((N, 2)))
    return "probe-train.npz", "no 'y'"


def _bad_float_labels(d):
    np.savez(d / "activations/probe-train.npz", x=np.zeros((N, 2)), y=np.linspace(0, 1, N))
    return "probe-train.npz", "integer class labels"


def _bad_probe_lengths(d):
    np.savez(d / "activations/probe-train.npz", x=np.zeros((N + 1, 2)), y=np.zeros(N, int))
    return "probe-train.npz", "(N,) with N = 65"


def _bad_layers_differ(d):
    np.savez(d / "activations/train/seed0/epoch1.npz", other=np.zeros((N, 3)))
    return "epoch1.npz", "differ from"


def _bad_shape_changes(d):
    np.savez(d / "activations/train/seed0/epoch1.npz", fc=np.zeros((N, 4)))
    return "epoch1.npz", "keeps its shape"


def _bad_reserved(d):
    np.savez(d / "activations/train/seed0/epoch1.npz", fc=np.zeros((N, 3)), __x=np.zeros(N))
    return "epoch1.npz", "reserved"


def _bad_empty(d):
    np.savez(d / "activations/train/seed0/epoch1.npz")
    return "epoch1.npz", "no layer arrays"


def _bad_format(d):
    np.savez(d / "activations/train/seed0/epoch1.npz", fc=np.zeros((N, 3)),
             __meta__=json.dumps({"format": 2}))
    return "epoch1.npz", "format 2"


def _bad_truncated(d):
    path = d / "activations/train/seed0/epoch0.npz"
    os.truncate(path, os.path.getsize(path) // 2)
    return "epoch0.npz", "damaged"


def _bad_two_files_one_epoch(d):
    np.savez(d / "activations/train/seed0/epoch0000000.npz", fc=np.zeros((N, 3)))
    return "epoch0000000.npz", "both hold epoch 0"


HOSTILE = [_bad_wrong_n, _bad_strings, _bad_objects, _bad_complex, _bad_scalar, _bad_no_probe,
           _bad_probe_without_y, _bad_float_labels, _bad_probe_lengths, _bad_layers_differ,
           _bad_shape_changes, _bad_reserved, _bad_empty, _bad_format, _bad_truncated,
           _bad_two_files_one_epoch]


def _good(d):
    (d / "activations/train/seed0").mkdir(parents=True)
    np.savez(d / "activations/probe-train.npz", x=np.eye(N, 2), y=np.arange(N) % 2)
    np.savez(d / "activations/train/seed0/epoch0.npz", fc=np.zeros((N, 3)))


@pytest.mark.parametrize("damage", HOSTILE, ids=lambda f: f.__name__[5:])
def test_hostile_files_are_errors_naming_the_file(tmp_path, damage):
    _good(tmp_path)
    name, what = damage(tmp_path)
    found = ActivationStore(tmp_path).scan()
    assert found.entries == () and len(found.errors) >= 1, found
    assert any(name in e and what in e for e in found.errors), found.errors
    with pytest.raises(ValueError) as err:  # nothing estimated, the lock released
        Reestimation(str(tmp_path), ["binning"])
    assert name in str(err.value) and what in str(err.value) and "nothing was estimated" in str(
        err.value)
    assert not (tmp_path / "results.csv").exists()


def test_reading_a_hostile_file_names_it(tmp_path):
    _good(tmp_path)
    store = ActivationStore(tmp_path)
    _bad_objects(tmp_path)
    with pytest.raises(ValueError, match=r"epoch1\.npz: layer 'fc' has dtype object"):
        store.read(0, "train", 1)
    _bad_format(tmp_path)
    with pytest.raises(ValueError, match="format 2"):
        store.read_layer(0, "train", "fc")
    _bad_probe_without_y(tmp_path)
    with pytest.raises(ValueError, match=r"probe-train\.npz has no 'y' array"):
        store.read_probe("train")


def test_empty_or_unnamed_stores_are_clear(tmp_path):
    (tmp_path / "activations" / "logs").mkdir(parents=True)
    (tmp_path / "activations" / "logs" / "x.npz").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="holds no recorded epochs"):
        Reestimation(str(tmp_path), ["binning"])
    ignored = ActivationStore(tmp_path).scan().ignored
    assert len(ignored) == 2 and "not a seed<k>/ directory" in ignored[0]


def test_cli_hostile_file_exits_2_without_traceback(tmp_path):
    _good(tmp_path)
    _bad_wrong_n(tmp_path)
    proc = _cli("estimate", str(tmp_path), "--estimators", "binning")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "epoch1.npz" in proc.stderr and f"N = {N}" in proc.stderr
    assert not (tmp_path / "results.csv").exists()
