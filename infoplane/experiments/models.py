"""The built-in networks of the presets (flax nnx): `MLP` and the small conv net `CNN`."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

__all__ = ["ACTIVATIONS", "CNN", "MLP"]

#: Hidden-layer activations by name.
ACTIVATIONS: dict[str, Callable] = {"tanh": jnp.tanh, "relu": jax.nn.relu}


class MLP(nnx.Module):
    """Dense network ``widths[0] -> ... -> widths[-1]``, ``activation`` on hidden layers, logits
    out. Weights truncated-normal with standard deviation ``1/sqrt(fan_in)`` (cut at +-2
    standard deviations, as ``tf.truncated_normal``), biases 0. Inputs are flattened."""

    def __init__(self, widths: Sequence[int], activation: str, *, rngs: nnx.Rngs):
        self.activation = activation
        self.layers = nnx.List([
            nnx.Linear(d_in, d_out,
                       kernel_init=jax.nn.initializers.truncated_normal(1.0 / math.sqrt(d_in)),
                       bias_init=jax.nn.initializers.zeros, rngs=rngs)
            for d_in, d_out in zip(widths[:-1], widths[1:], strict=True)
        ])

    def __call__(self, x: jax.Array) -> jax.Array:
        act = ACTIVATIONS[self.activation]
        h = x.reshape(x.shape[0], -1)
        for layer in self.layers[:-1]:
            h = act(layer(h))
        return self.layers[-1](h)


class CNN(nnx.Module):
    """A small conv net for (N, H, W, C) images: [3x3 conv -> activation -> 2x2 average pool]
    per entry of ``channels``, flatten, one hidden dense layer of ``hidden`` units, logits."""

    def __init__(self, in_shape: Sequence[int], n_classes: int, activation: str = "tanh", *,
                 channels: Sequence[int] = (8, 16), hidden: int = 32, rngs: nnx.Rngs):
        h, w, c = in_shape
        self.activation = activation
        convs = []
        for ch in channels:
            convs.append(nnx.Conv(c, ch, kernel_size=(3, 3), padding="SAME", rngs=rngs))
            c, h, w = ch, h // 2, w // 2
        self.convs = nnx.List(convs)
        self.fc = nnx.Linear(c * h * w, hidden, rngs=rngs)
        self.head = nnx.Linear(hidden, n_classes, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        from flax.linen import avg_pool

        act = ACTIVATIONS[self.activation]
        for conv in self.convs:
            x = avg_pool(act(conv(x)), (2, 2), strides=(2, 2))
        x = act(self.fc(x.reshape(x.shape[0], -1)))
        return self.head(x)

