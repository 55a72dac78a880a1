"""The quick training loop: initialisation, the scanned epoch against a plain Python loop,
recording, and the rows `run_quick` produces."""

from __future__ import annotations

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import infoplane
from infoplane import quickrun
from infoplane.datasets import tishby_dataset, train_test_split


def test_init():
    graphdef, params = quickrun._init_params("tishby-tanh", jax.random.key(0))
    model = nnx.merge(graphdef, params)
    assert len(model.layers) == len(quickrun.mlp_widths) - 1
    for layer, d_in, d_out in zip(
        model.layers, quickrun.mlp_widths[:-1], quickrun.mlp_widths[1:], strict=True
    ):
        k = np.asarray(layer.kernel[...])
        assert k.shape == (d_in, d_out)
        np.testing.assert_array_equal(np.asarray(layer.bias[...]), 0.0)
        # truncated at 2 standard deviations of N(0, 1/fan_in)
        assert np.abs(k).max() <= 2 / math.sqrt(d_in) + 1e-6
    # pooled over layers, the scaled kernels have the std of a N(0,1) truncated at +-2 (0.88)
    z = np.concatenate(
        [
            np.asarray(lay.kernel[...]).ravel() * math.sqrt(lay.kernel.shape[0])
            for lay in model.layers
        ]
    )
    assert 0.7 < z.std() < 1.05


def test_epoch_scan_matches_python_loop():
    """One scanned epoch equals a per-batch Python loop over the same shuffled order,
    including the short last batch (3277 training samples = 12 x 256 + 205)."""
    x, y = tishby_dataset()
    tr, _ = train_test_split(len(y), 0.8, seed=0)
    xt, yt = jnp.asarray(x[tr]), jnp.asarray(y[tr])
    graphdef, params = quickrun._init_params("tishby-tanh", jax.random.key(1))
    opt = optax.adam(quickrun.LEARNING_RATE)
    state = opt.init(params)
    epoch = quickrun._make_epoch_fn(graphdef, opt, len(tr), quickrun.BATCH_SIZE)
    key = jax.random.key(2)
    p_scan, _, key_out, loss = epoch(params, state, key, xt, yt)

    _, sub = jax.random.split(key)
    perm = np.asarray(jax.random.permutation(sub, len(tr)))

    def loss_fn(p, xb, yb):
        logits = nnx.merge(graphdef, p)(xb)
        return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()

    @jax.jit  # one step per call (compiled for the full and the short batch)
    def step(p, s, xb, yb):
        lv, g = jax.value_and_grad(loss_fn)(p, xb, yb)
        u, s = opt.update(g, s, p)
        return optax.apply_updates(p, u), s, lv

    p, s, total = params, state, 0.0
    for start in range(0, len(tr), quickrun.BATCH_SIZE):
        idx = perm[start : start + quickrun.BATCH_SIZE]
        p, s, lv = step(p, s, xt[idx], yt[idx])
        total += float(lv) * len(idx)
    for a, b in zip(jax.tree.leaves(p_scan), jax.tree.leaves(p), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(float(loss), total / len(tr), rtol=1e-5)
    assert not np.array_equal(jax.random.key_data(key_out), jax.random.key_data(key))


@pytest.fixture(scope="module")
def relu_recording():
    return quickrun.train_and_record("tishby-relu", epochs=20, n_points=4, seed=3)


def test_recording(relu_recording):
    rec = relu_recording
    np.testing.assert_array_equal(rec.epochs, quickrun.log_spaced_epochs(21, 4))
    assert rec.epochs[0] == 0 and rec.epochs[-1] == 20
    e = len(rec.epochs)
    assert list(rec.activations) == list(quickrun.LAYER_NAMES)
    for name, width in zip(quickrun.LAYER_NAMES, quickrun.mlp_widths[1:], strict=True):
        a = np.asarray(rec.activations[name])
        assert a.shape == (e, 4096, width) and a.dtype == np.float32
        assert np.all(np.isfinite(a))
        if name != "output":
            assert a.min() >= 0.0  # ReLU
    out = np.asarray(rec.activations["output"])
    np.testing.assert_allclose(out.sum(-1), 1.0, atol=1e-5)
    for arr in (rec.train_acc, rec.test_acc, rec.train_loss):
        assert arr.shape == (e,)
    assert np.all((rec.train_acc >= 0) & (rec.train_acc <= 1))
    assert rec.train_loss[-1] < rec.train_loss[0]  # it learns something in 20 epochs
    assert len(rec.train_idx) + len(rec.test_idx) == 4096
    # epoch 0 is the initial network: same seed, same init
    graphdef, params = quickrun._init_params("tishby-relu", jax.random.split(jax.random.key(3))[1])
    first = nnx.merge(graphdef, params).activations(jnp.asarray(rec.x))
    np.testing.assert_allclose(np.asarray(rec.activations["layer1"][0]), first[0], atol=1e-6)


def test_estimate_recording_rows(relu_recording):
    rec = relu_recording
    seen = []
    rows = quickrun.estimate_recording(
        rec, ["binning", infoplane.estimators.Binning(n_bins=10)], run="r", on_rows=seen.append
    )
    e = len(rec.epochs)
    assert len(rows) == 2 * len(quickrun.LAYER_NAMES) * e
    assert [r for batch in seen for r in batch] == rows  # streamed in order, one batch a layer
    assert len(seen) == 2 * len(quickrun.LAYER_NAMES)
    keys = {
        "run",
        "seed",
        "split",
        "epoch",
        "layer",
        "estimator",
        "i_xt",
        "i_ty",
        "units",
        "params",
    }
    assert all(set(r) == keys for r in rows)
    params = {r["params"] for r in rows}
    assert len(params) == 2  # the two Binning configurations are told apart
    assert {json.loads(p)["n_bins"] for p in params} == {29, 10}
    # a row equals the single-layer estimate of that epoch
    r = next(r for r in rows if r["layer"] == "layer3" and r["epoch"] == rec.epochs[-1])
    one = infoplane.estimate(
        infoplane.estimators.Binning(), rec.x, rec.activations["layer3"][-1], rec.y
    )
    assert r["i_xt"] == pytest.approx(float(one.i_xt), abs=1e-5)
    assert r["i_ty"] == pytest.approx(float(one.i_ty), abs=1e-5)


def test_unknown_names():
    with pytest.raises(ValueError, match="tishby-tanh, tishby-relu"):
        quickrun.run_quick("tishby-sigmoid", epochs=1, n_points=2)
    with pytest.raises(ValueError, match="binning"):
        quickrun.run_quick(epochs=1, n_points=2, estimators=["nope"])


def test_run_quick_small():
    # same recorded shapes as relu_recording, so the binning estimator is already compiled
    res = quickrun.run_quick("tishby-tanh", epochs=20, n_points=4, seed=1, estimators=["binning"])
    assert set(res.accuracy) == {"epoch", "train", "test", "train_loss"}
    assert len(res.rows) == len(quickrun.LAYER_NAMES) * len(res.accuracy["epoch"])
    assert {r["estimator"] for r in res.rows} == {"binning"}
    assert set(res.timings) == {"train", "estimate"}
    assert res.rows[0]["run"] == "tishby-tanh"
