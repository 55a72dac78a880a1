"""Training a preset's network for several seeds at once: one epoch is one jit-compiled
``jax.lax.scan`` over the shuffled minibatches, on the parameters as a plain pytree
(``nnx.split`` / ``nnx.merge``), and the seeds are trained together by ``jax.vmap`` over
their initialisations, so a Python loop runs once per epoch, not per batch or per seed.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from infoplane.experiments.network import l2_penalty, loss_decay, make_optimizer
from infoplane.experiments.presets import Preset, model_factory

__all__ = ["Trainer", "make_epoch_fn", "seed_model", "trainer"]


def make_epoch_fn(graphdef, optimizer: optax.GradientTransformation, n_train: int, batch: int,
                  l2: float = 0.0):
    """``epoch(params, opt_state, key, x_train, y_train) -> (params, opt_state, key, loss)``:
    one epoch as a ``lax.scan`` over shuffled minibatches (not jitted; see `trainer`). ``l2``
    > 0 adds `infoplane.experiments.network.l2_penalty` to each minibatch's loss (the returned
    loss is the cross-entropy alone).

    The last minibatch is padded to full size and the padding masked out of the loss, so every
    training sample is used exactly once per epoch (no dropped remainder) with static shapes.
    """
    n_batches = -(-n_train // batch)
    pad = n_batches * batch - n_train

    def loss_fn(params, xb, yb, wb):
        logits = nnx.merge(graphdef, params)(xb)
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, yb)
        ce = jnp.sum(ce * wb) / jnp.sum(wb)
        return (ce + l2_penalty(params, l2) if l2 else ce), ce

    def step(carry, batch_data):
        params, opt_state = carry
        xb, yb, wb = batch_data
        (_, loss), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, xb, yb, wb)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        return (params, opt_state), loss * jnp.sum(wb)

    def epoch(params, opt_state, key, x_train, y_train):
        key, sub = jax.random.split(key)
        perm = jax.random.permutation(sub, n_train)
        idx = jnp.concatenate([perm, jnp.zeros((pad,), perm.dtype)])
        w = jnp.concatenate([jnp.ones((n_train,)), jnp.zeros((pad,))])
        xb = x_train[idx].reshape(n_batches, batch, *x_train.shape[1:])
        yb = y_train[idx].reshape(n_batches, batch)
        wb = w.reshape(n_batches, batch)  # 1 for real samples, 0 for padding
        (params, opt_state), losses = jax.lax.scan(step, (params, opt_state), (xb, yb, wb))
        return params, opt_state, key, jnp.sum(losses) / n_train

    return epoch


@dataclasses.dataclass(frozen=True)
class Trainer:
    """Jitted, seed-vmapped pieces of one experiment (built once per process and shape)."""

    graphdef: Any
    init: Callable  # keys (S,) -> params (stacked over seeds)
    epoch: Callable  # (params, opt_state, keys, x_train, y_train) -> (..., loss (S,))
    evaluate: Callable  # (params, x, y) -> (accuracy (S,), loss (S,))
    optimizer: optax.GradientTransformation


@functools.cache
def trainer(preset: Preset, x_shape: tuple, n_classes: int, n_train: int) -> Trainer:
    make = model_factory(preset, np.zeros((1, *x_shape[1:]), np.float32), n_classes)

    def init_one(k):
        return nnx.split(make(rngs=nnx.Rngs(params=k)), nnx.Param)[1]

    graphdef = nnx.split(nnx.eval_shape(lambda: make(rngs=nnx.Rngs(params=0))), nnx.Param)[0]
    optimizer = make_optimizer(preset)
    epoch_one = make_epoch_fn(graphdef, optimizer, n_train, preset.batch_size, loss_decay(preset))

    def evaluate_one(params, x, y):
        logits = nnx.merge(graphdef, params)(x)
        acc = jnp.mean(jnp.argmax(logits, -1) == y)
        return acc, jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, y))

    return Trainer(
        graphdef=graphdef,
        init=jax.jit(jax.vmap(init_one)),
        epoch=jax.jit(jax.vmap(epoch_one, in_axes=(0, 0, 0, None, None))),
        evaluate=jax.jit(jax.vmap(evaluate_one, in_axes=(0, None, None))),
        optimizer=optimizer,
    )


def seed_model(graphdef, params, s: int):
    return nnx.merge(graphdef, jax.tree_util.tree_map(lambda a: a[s], params))
