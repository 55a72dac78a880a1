"""`infoplane.experiments.network`: overriding a preset's network and training settings, the
optimisers by name and the weight decay (decoupled for adamw, an L2 term in the loss for the
others, on the kernels only)."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from infoplane.experiments import network, presets, training
from infoplane.experiments.models import ACTIVATIONS

TANH = presets.PRESETS["tishby-tanh"]


def test_customise_replaces_the_fields():
    p = network.customise(TANH, {"hidden": [6, 4], "activation": "gelu", "learning_rate": 1,
                                 "batch_size": 32, "optimizer": "lion", "weight_decay": 0})
    assert (p.hidden, p.activation, p.learning_rate, p.batch_size, p.optimizer,
            p.weight_decay) == ((6, 4), "gelu", 1.0, 32, "lion", 0.0)
    assert network.customise(TANH, None) is TANH and p.name == TANH.name


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [({"hidden": ()}, "widths"), ({"hidden": (3, 0)}, "widths"), ({"hidden": "3"}, "widths"),
     ({"activation": "swish"}, "valid: tanh"), ({"optimizer": "bfgs"}, "valid: sgd"),
     ({"learning_rate": 0.0}, "learning_rate"), ({"weight_decay": float("inf")}, "weight_decay"),
     ({"batch_size": 0}, "batch_size"), ({"depth": 3}, "unknown network settings")],
)
def test_customise_refuses_bad_values(overrides, needle):
    with pytest.raises(ValueError, match=needle):
        network.customise(TANH, overrides)


def test_widths_of_a_conv_preset_are_refused():
    with pytest.raises(ValueError, match="conv net"):
        network.customise(presets.PRESETS["mnist-cnn"], {"hidden": (8,)})


@pytest.mark.parametrize("name", network.OPTIMIZERS)
def test_every_optimizer_trains(name):
    """Each named optimiser builds and takes a step that changes the weights (finite)."""
    p = dataclasses.replace(TANH, optimizer=name, hidden=(4,), learning_rate=1e-2)
    params = {"w": {"kernel": jnp.ones((3, 2)), "bias": jnp.zeros(2)}}
    opt = network.make_optimizer(p)
    grads = jax.tree_util.tree_map(lambda a: jnp.full_like(a, 0.5), params)
    updates, _ = opt.update(grads, opt.init(params), params)
    new = optax.apply_updates(params, updates)
    assert np.all(np.isfinite(new["w"]["kernel"]))
    assert not np.allclose(new["w"]["kernel"], params["w"]["kernel"])


def test_every_activation_runs():
    x = jnp.linspace(-2, 2, 9)
    for name, f in ACTIVATIONS.items():
        assert np.all(np.isfinite(f(x))), name
    assert float(ACTIVATIONS["sigmoid"](jnp.zeros(()))) == 0.5


def test_l2_penalty_counts_kernels_only():
    params = {"a": {"kernel": jnp.full((2, 3), 2.0), "bias": jnp.full(3, 100.0)},
              "b": {"kernel": jnp.ones((3,))}}
    # 0.1 * (6 * 4 + 3 * 1) / 2 = 1.35; the biases are not decayed
    assert float(network.l2_penalty(params, 0.1)) == pytest.approx(1.35)
    assert network.loss_decay(dataclasses.replace(TANH, weight_decay=0.1)) == 0.1
    assert network.loss_decay(dataclasses.replace(TANH, optimizer="adamw",
                                                  weight_decay=0.1)) == 0.0


def test_adamw_decays_kernels_not_biases():
    p = dataclasses.replace(TANH, optimizer="adamw", learning_rate=0.1, weight_decay=0.5)
    params = {"l": {"kernel": jnp.ones((2, 2)), "bias": jnp.ones(2)}}
    opt = network.make_optimizer(p)
    zero = jax.tree_util.tree_map(jnp.zeros_like, params)
    updates, _ = opt.update(zero, opt.init(params), params)  # zero gradient: decay alone
    np.testing.assert_allclose(updates["l"]["kernel"], -0.1 * 0.5, rtol=1e-6)
    np.testing.assert_allclose(updates["l"]["bias"], 0.0)


def test_weight_decay_shrinks_the_weights():
    """Training with a strong L2 term (SGD) ends with smaller kernels than without."""
    from infoplane.experiments.datasets import tishby_dataset, train_test_split

    x, y = tishby_dataset()
    idx, _ = train_test_split(len(y), 0.8, seed=0)
    xt, yt = jnp.asarray(x[idx]), jnp.asarray(y[idx])
    norms = {}
    for wd in (0.0, 1.0):
        p = dataclasses.replace(TANH, hidden=(6,), optimizer="sgd", learning_rate=0.2,
                                batch_size=1024, weight_decay=wd)
        tr = training.trainer(p, x.shape, 2, len(idx))
        params = tr.init(jnp.stack([jax.random.key(0)]))
        opt_state = jax.vmap(tr.optimizer.init)(params)
        keys = jnp.stack([jax.random.key(1)])
        for _ in range(2):
            params, opt_state, keys, _loss = tr.epoch(params, opt_state, keys, xt, yt)
        norms[wd] = float(sum(jnp.sum(jnp.square(k)) for path, k in
                              jax.tree_util.tree_leaves_with_path(params)
                              if "kernel" in jax.tree_util.keystr(path)))
    assert norms[1.0] < 0.7 * norms[0.0]


def test_hparams_name_the_network():
    """TensorBoard's HPARAMS get the overridden settings (`infoplane.experiments.run`)."""
    from infoplane.experiments import run as harness

    p = network.customise(TANH, {"hidden": (5, 3), "activation": "relu", "optimizer": "sgd",
                                 "weight_decay": 0.01, "learning_rate": 0.1, "batch_size": 32})
    hp = harness._hparams(p, {"epochs": 4, "seeds": [0]}, [])
    assert (hp["hidden"], hp["activation"], hp["optimizer"], hp["weight_decay"],
            hp["learning_rate"], hp["batch_size"]) == ("5-3", "relu", "sgd", 0.01, 0.1, 32)
