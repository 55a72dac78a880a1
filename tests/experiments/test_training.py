"""`infoplane.experiments.training`: the initialisation and the scanned epoch."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from infoplane.experiments import presets, training
from infoplane.experiments.datasets import tishby_dataset, train_test_split

TANH = presets.PRESETS["tishby-tanh"]


def test_init_is_truncated_normal():
    x, y = tishby_dataset()
    tr = training.trainer(TANH, x.shape, 2, 3277)
    params = tr.init(jnp.stack([jax.random.key(0)]))
    model = training.seed_model(tr.graphdef, params, 0)
    widths = (12, *TANH.hidden, 2)
    assert len(model.layers) == len(widths) - 1
    for layer, d_in, d_out in zip(model.layers, widths[:-1], widths[1:], strict=True):
        k = np.asarray(layer.kernel[...])
        assert k.shape == (d_in, d_out)
        np.testing.assert_array_equal(np.asarray(layer.bias[...]), 0.0)
        assert np.abs(k).max() <= 2 / math.sqrt(d_in) + 1e-6  # cut at 2 standard deviations


def test_epoch_scan_matches_python_loop():
    """One scanned epoch equals a per-batch Python loop over the same shuffled order,
    including the short last batch (3277 training samples = 12 x 256 + 205)."""
    x, y = tishby_dataset()
    tr_idx, _ = train_test_split(len(y), 0.8, seed=0)
    xt, yt = jnp.asarray(x[tr_idx]), jnp.asarray(y[tr_idx])
    tr = training.trainer(TANH, x.shape, 2, len(tr_idx))
    params = jax.tree_util.tree_map(lambda a: a[0], tr.init(jnp.stack([jax.random.key(1)])))
    opt = optax.adam(TANH.learning_rate)
    state = opt.init(params)
    epoch = jax.jit(training.make_epoch_fn(tr.graphdef, opt, len(tr_idx), TANH.batch_size))
    key = jax.random.key(2)
    p_scan, _, key_out, loss = epoch(params, state, key, xt, yt)

    _, sub = jax.random.split(key)
    perm = np.asarray(jax.random.permutation(sub, len(tr_idx)))

    def loss_fn(p, xb, yb):
        logits = nnx.merge(tr.graphdef, p)(xb)
        return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()

    @jax.jit
    def step(p, s, xb, yb):
        lv, g = jax.value_and_grad(loss_fn)(p, xb, yb)
        u, s = opt.update(g, s, p)
        return optax.apply_updates(p, u), s, lv

    p, s, total = params, state, 0.0
    for start in range(0, len(tr_idx), TANH.batch_size):
        idx = perm[start : start + TANH.batch_size]
        p, s, lv = step(p, s, xt[idx], yt[idx])
        total += float(lv) * len(idx)
    for a, b in zip(jax.tree.leaves(p_scan), jax.tree.leaves(p), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(float(loss), total / len(tr_idx), rtol=1e-5)
    assert not np.array_equal(jax.random.key_data(key_out), jax.random.key_data(key))


