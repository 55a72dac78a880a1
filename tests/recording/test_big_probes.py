"""Big probes and conv maps through the Recorder: the forward pass in probe batches, per-channel
estimates of conv layers (`infoplane.PerChannel`), and the plan of a recording's sizes and
cost before training (issue 19, part 2)."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
from flax import nnx

import infoplane
from infoplane.estimators import KDE, Binning
from infoplane.estimators.channels import PerChannel
from infoplane.experiments.models import CNN, MLP
from infoplane.recording.forward import batched_forward
from infoplane.recording.plan import estimator_ops
from infoplane.recording.recorder import Recorder


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(37, 8, 8, 1)).astype(np.float32)
    y = (x[:, :4].mean(axis=(1, 2, 3)) > 0).astype(np.int32) + 2 * (x[:, 4:, :4].mean(
        axis=(1, 2, 3)) > 0).astype(np.int32)
    return x, y


def _model(seed=0):
    return CNN((8, 8, 1), 4, rngs=nnx.Rngs(seed))


def test_probe_batches_give_the_whole_probe_results(images):
    x, y = images
    model = _model()
    whole = Recorder(x, y, ["binning"], logdir=None)
    batched = Recorder(x, y, ["binning"], logdir=None, probe_batch=8)  # 37 = 4 x 8 + 5
    a, b = whole.capture(model)["train"], batched.capture(model)["train"]
    assert list(a) == list(b)
    for k in a:
        assert b[k].shape == a[k].shape
        np.testing.assert_allclose(np.asarray(b[k]), np.asarray(a[k]), rtol=1e-5, atol=1e-6)
    for rec in (whole, batched):
        rec.record(0, model)
        rec.flush()
    ra, rb = whole.results().rows(), batched.results().rows()
    assert [r["layer"] for r in ra] == [r["layer"] for r in rb]
    np.testing.assert_allclose([r["i_xt"] for r in rb], [r["i_xt"] for r in ra], atol=1e-5)
    np.testing.assert_allclose([r["i_ty"] for r in rb], [r["i_ty"] for r in ra], atol=1e-5)
    assert batched.describe()["probe_batch"] == 8


def test_batched_forward_pads_the_last_batch_so_it_compiles_once():
    shapes = []

    def fn(state, xb):
        shapes.append(xb.shape)
        return {"t": xb * state, "u": xb[:, :1] + 1.0}

    x = np.arange(22, dtype=np.float32).reshape(11, 2)
    out = batched_forward(fn, 2.0, x, 4)
    assert shapes == [(4, 2)] * 3  # 11 rows: 4 + 4 + 3 (completed with the first row)
    np.testing.assert_array_equal(np.asarray(out["t"]), x * 2.0)
    np.testing.assert_array_equal(np.asarray(out["u"]), x[:, :1] + 1.0)
    assert batched_forward(fn, 2.0, x, 11)["t"].shape == (11, 2)


@pytest.mark.parametrize("bad, err", [(0, ValueError), (2.0, TypeError), (True, TypeError),
                                      ("8", TypeError)])
def test_bad_probe_batch_is_named(images, bad, err):
    x, y = images
    with pytest.raises(err, match="probe_batch"):
        Recorder(x, y, ["binning"], logdir=None, probe_batch=bad)


def test_per_channel_rows_are_the_mean_of_each_channel_estimated_alone(images):
    x, y = images
    model = _model(1)
    rec = Recorder(x, y, ["binning", KDE(sigma2=0.05)], logdir=None, per_channel=True)
    rec.record(0, model)
    rec.flush()
    shapes = rec._capture.shapes(model, None, x)
    assert shapes["convs.0"] == (4, 4, 8)  # the first conv's map after pooling
    assert rec._estimation.channels == {k: s[-1] for k, s in shapes.items() if len(s) > 1}
    assert rec._estimation.channels == {"convs.0": 8}  # convs.1's map is flattened for fc
    flat = rec.capture(model)["train"]
    rows = {(r["layer"], r["estimator"]): r for r in rec.results().rows()}
    aux = {(a["layer"], a["estimator"], a["name"]): a["value"] for a in rec.aux()}
    checked = 0
    for layer, shape in shapes.items():
        t = np.asarray(flat[layer]).reshape(len(x), *shape)
        for est in (Binning(), KDE(sigma2=0.05)):
            row = rows[(layer, est.name)]
            params = json.loads(row["params"])
            if len(shape) == 1:  # dense layers stay flat
                assert "per_channel" not in params
                want = infoplane.estimate(est, x, t, y)
                assert row["i_xt"] == pytest.approx(float(want.i_xt), abs=1e-4)
                continue
            assert params["per_channel"] == "mean"
            c = shape[-1]
            per = [infoplane.estimate(est, x, t[..., k].reshape(len(x), -1), y)
                   for k in range(c)]
            for q in ("i_xt", "i_ty"):
                vals = [float(getattr(p, q)) for p in per]
                assert row[q] == pytest.approx(np.mean(vals), abs=1e-4)
                width = len(str(c - 1))
                got = [aux[(layer, est.name, f"channel{k:0{width}d}_{q}")] for k in range(c)]
                np.testing.assert_allclose(got, vals, atol=1e-4)
                assert aux[(layer, est.name, f"channel_std_{q}")] == pytest.approx(
                    np.std(vals), abs=1e-4)
            assert aux[(layer, est.name, "n_channels")] == c
            checked += 1
    assert checked == 2  # one conv map x two estimators


def test_per_channel_ground_truth():
    """Channel 0 is the label, channel 1 a constant: I(T_0;Y) = H(Y), I(T_1;Y) = 0, so the
    mean is H(Y)/2 = 1 bit for four equiprobable classes; both layouts agree."""
    n, s = 64, 5
    y = np.arange(n) % 4
    x = np.arange(n, dtype=np.float32)[:, None]
    t = np.zeros((n, s, 2), np.float32)
    t[:, :, 0] = (y[:, None] / 4.0) - 0.4
    t[:, :, 1] = 0.3
    last = infoplane.estimate(PerChannel(Binning(), channels=2), x, t.reshape(n, -1), y)
    first = infoplane.estimate(PerChannel(Binning(), channels=2, channels_last=False), x,
                               t.transpose(0, 2, 1).reshape(n, -1), y)
    for r in (last, first):
        assert float(r.i_ty) == pytest.approx(1.0, abs=1e-6)
        assert float(r.i_xt) == pytest.approx(1.0, abs=1e-6)  # H(T_0) = 2, H(T_1) = 0
        assert float(r.aux["channel0_i_ty"]) == pytest.approx(2.0, abs=1e-6)
        assert float(r.aux["channel1_i_ty"]) == pytest.approx(0.0, abs=1e-6)
    assert dict(last.params)["per_channel"] == "mean"
    ts = np.stack([t.reshape(n, -1), t.reshape(n, -1)[::-1].copy()])
    both = infoplane.estimate_epochs(PerChannel(Binning(), channels=2), x, ts, y)
    assert both.i_ty.shape == (2,)


def test_per_channel_bad_arguments():
    with pytest.raises(TypeError, match="estimator instance"):
        PerChannel(Binning, channels=2)
    with pytest.raises(ValueError, match="channels"):
        PerChannel(Binning(), channels=0)
    x = np.zeros((10, 1), np.float32)
    with pytest.raises(ValueError, match="not a multiple of its 4 channels"):
        infoplane.estimate(PerChannel(Binning(), channels=4), x, np.zeros((10, 6)),
                           np.arange(10) % 2)
    pc = PerChannel(Binning(hash_seed=3), channels=2)
    assert pc.hash_seed == 3 and pc.with_hash_seed(5).estimator.hash_seed == 5


def test_per_channel_survives_a_killed_run(images, tmp_path):
    """The channel counts are kept in the run directory, so epochs a killed run left in
    pending/ (flattened maps) are estimated per channel on resume, like the unkilled run."""
    x, y = images
    model = _model(2)
    rec = Recorder(x, y, ["binning"], tmp_path / "a", name="r", buffer=16, flush_seconds=1e9,
                   tensorboard=False, per_channel=True)
    for epoch in range(2):
        rec.record(epoch, model)
    killed = shutil.copytree(rec.run_dir, tmp_path / "b" / "r")
    rec.close()
    with open(os.path.join(killed, "channels.json")) as f:
        assert json.load(f) == rec._estimation.channels
    rec2 = Recorder(x, y, ["binning"], tmp_path / "b", name="r", resume=True,
                    tensorboard=False, per_channel=True)
    assert rec2.recovered == [(0, "train", 0), (0, "train", 1)]
    rec2.close()

    def rows(run):
        return sorted((r["epoch"], r["layer"], r["params"], r["i_xt"], r["i_ty"])
                      for r in infoplane.load_results(run).rows())

    assert rows(killed) == rows(rec.run_dir)
    assert any('"per_channel": "mean"' in r[2] for r in rows(killed))


def test_plan_sizes_write_ahead_and_cost(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2100, 12)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int32)
    model = MLP((12, 8000, 10, 2), "tanh", rngs=nnx.Rngs(0))  # layer 0: 2100 x 8000 x 4 B
    rec = Recorder(x, y, ["binning", "kde"], tmp_path, name="p", tensorboard=False,
                   schedule=infoplane.Schedule.log_spaced(100, 10))
    plan = rec.plan(model, rate=1e10)
    assert rec.layer_names is None  # nothing recorded or computed
    got = {lp.layer: (lp.shape, lp.nbytes) for lp in plan.layers}
    assert got == {"layers.0": ((8000,), 4 * 2100 * 8000), "layers.1": ((10,), 4 * 2100 * 10),
                   "output": ((2,), 4 * 2100 * 2)}
    assert plan.bytes_per_epoch == 4 * 2100 * 8012
    assert plan.epochs == len(rec.schedule.epochs)
    assert not plan.write_ahead and "64 MB" in plan.note  # 64.2 MB per epoch: over the limit
    text = str(plan)
    assert "layers.0" in text and "write-ahead OFF" in text and "whole run" in text
    kde = dict(plan.seconds)["kde"]
    assert kde == pytest.approx(sum(estimator_ops(KDE(), 2100, d, 2) for d in (8000, 10, 2))
                                / 1e10)
    rec.close()
    small = Recorder(x[:200], y[:200], ["binning"], tmp_path, name="q", tensorboard=False)
    assert small.plan(model, rate=1e10, epochs=30).epochs == 30
    assert small.plan(model, rate=1e10).write_ahead
    small.close()


def test_cost_model_grows_as_stated():
    """The plan's operation counts follow the stated complexities: KDE N^2 d, binning N d."""
    kde, binning = KDE(), Binning()
    assert estimator_ops(kde, 2000, 1000, 2) / estimator_ops(kde, 1000, 1000, 2) == \
        pytest.approx(4.0, rel=0.01)
    assert estimator_ops(binning, 1000, 20000, 2) / estimator_ops(binning, 1000, 10000, 2) == \
        pytest.approx(2.0, rel=0.01)
    sub = infoplane.Subsample(kde, n=500)
    assert estimator_ops(sub, 4000, 100, 2) == estimator_ops(kde, 500, 100, 2)


def test_wrappers_share_one_base_and_walk_their_chain():
    """`Subsample` and `PerChannel` delegate through `Wrapper`: name, units, batching, the
    hashed estimator's seed (re-seeded through every wrapper in between), and the plan's cost
    of a nested chain is the innermost estimator's at the innermost subsample size."""
    from infoplane.estimators._wrapper import Wrapper, chain, innermost

    inner = Binning(hash_seed=3)
    nested = infoplane.Subsample(PerChannel(infoplane.Subsample(inner, n=40), channels=2), n=90)
    assert isinstance(nested, Wrapper) and isinstance(nested.estimator, Wrapper)
    assert [type(e).__name__ for e in chain(nested)] == ["Subsample", "PerChannel",
                                                         "Subsample", "Binning"]
    assert innermost(nested) is inner and innermost(inner) is inner
    assert (nested.name, nested.units, nested.epoch_batching) == ("binning", "bits", "vmap")
    assert nested.hash_seed == 3 and not hasattr(infoplane.Subsample(KDE()), "hash_seed")
    again = nested.with_hash_seed(7)
    assert innermost(again) == Binning(hash_seed=7) and again.n == 90
    assert again.estimator.channels == 2 and again.estimator.estimator.n == 40
    # the plan's cost walks the chain: C = 2 channels of width 50 at the inner 40 rows
    assert estimator_ops(nested, 4000, 100, 2) == 2 * estimator_ops(inner, 40, 50, 2)


def test_cost_model_counts_intervals_and_null_estimates():
    """`Intervals` adds B estimates on subsets of fraction·N rows, `NullLabels` P more
    estimates; both compose with `Subsample` in either order."""
    kde = KDE()
    one = estimator_ops(kde, 1000, 64, 2)
    iv = infoplane.Intervals(kde, resamples=20, fraction=0.5)
    assert estimator_ops(iv, 1000, 64, 2) == pytest.approx(
        one + 20 * estimator_ops(kde, 500, 64, 2))
    assert estimator_ops(iv, 1000, 64, 2) > 5.9 * one  # 1 + 20/4 for an N^2 estimator
    null = infoplane.NullLabels(kde, permutations=3)
    assert estimator_ops(null, 1000, 64, 2) == pytest.approx(4 * one)
    both = infoplane.Intervals(infoplane.Subsample(null, n=400), resamples=10)
    assert estimator_ops(both, 1000, 64, 2) == pytest.approx(
        4 * estimator_ops(kde, 400, 64, 2) + 10 * 4 * estimator_ops(kde, 400, 64, 2))


def test_per_channel_sums_coincident_codes_and_keeps_the_withheld_bit():
    """`Compressed` per channel: a channel whose ReLU map is all zero on many samples
    (relative noise keeps them at one code) is withheld; n_coincident is summed."""
    from infoplane.estimators import Compressed

    rng = np.random.default_rng(0)
    n = 400
    x = rng.normal(size=(n, 6)).astype(np.float32)
    y = rng.integers(0, 2, n)
    healthy = np.tanh(x[:, :3] @ rng.normal(size=(3, 3)))
    dead = np.maximum(0.0, x[:, :3] @ rng.normal(size=(3, 3)) - 1.0)
    n_dead = int((dead == 0).all(axis=1).sum())
    assert n_dead > 5
    t = np.stack([healthy, dead], axis=-1).reshape(n, -1).astype(np.float32)  # (N, 3 * 2)
    r = infoplane.estimate(PerChannel(Compressed(x_compressor="pca"), channels=2), x, t, y)
    assert int(r.aux["n_coincident"]) == n_dead and int(r.aux["unstable"]) & 2
    assert np.isfinite(float(r.aux["channel0_i_ty"]))
