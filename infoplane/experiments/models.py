"""The built-in networks of the presets (flax nnx): `MLP`, the small conv net `CNN` of
digits-cnn, and `ConvNet` (conv blocks with max pooling, then dense layers), which builds the
mnist-cnn (`butakov_cnn`) and cifar-cnn (`vgg_small`) networks."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

__all__ = ["ACTIVATIONS", "CNN", "ConvNet", "MLP", "butakov_cnn", "vgg_small"]

#: Hidden-layer activations by name (``infoplane run --activation``), the jax.nn functions.
#: ``leaky_relu``: slope 0.01 below 0 (``jax.nn.leaky_relu``'s and PyTorch's default); ``gelu``:
#: jax.nn's default tanh approximation; ``elu``: alpha 1; ``silu``: x * sigmoid(x).
ACTIVATIONS: dict[str, Callable] = {"tanh": jnp.tanh, "relu": jax.nn.relu,
                                    "leaky_relu": jax.nn.leaky_relu, "sigmoid": jax.nn.sigmoid,
                                    "gelu": jax.nn.gelu, "elu": jax.nn.elu,
                                    "softplus": jax.nn.softplus, "silu": jax.nn.silu}


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



class ConvNet(nnx.Module):
    """Conv blocks, then dense layers, for (N, H, W, C) images (channels last).

    Each entry of ``blocks`` is one block: the channel counts of its ``kernel`` x ``kernel``
    convolutions (stride 1, ``padding`` "SAME" or "VALID"), each followed by the activation,
    then a 2 x 2 max pool with stride 2 (odd sizes rounded down). The map is flattened and
    goes through dense layers of ``dense`` units (activation after each), then a linear head
    of ``n_classes`` logits. Flax's default initialisation (LeCun normal kernels, zero biases).

    Layer names (what a `Recorder` records, the input of each next linear layer): ``convs.i``
    for the i-th convolution (its map after the activation and, at the end of a block, the
    pooling), ``dense.j``, and ``output``.
    """

    def __init__(self, in_shape: Sequence[int], n_classes: int, activation: str, *,
                 blocks: Sequence[Sequence[int]], dense: Sequence[int], padding: str = "SAME",
                 kernel: int = 3, rngs: nnx.Rngs):
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; valid: {', '.join(ACTIVATIONS)}")
        h, w, c = (int(s) for s in in_shape)
        self.activation = activation
        self.pool_after = tuple(sum(len(b) for b in blocks[:i + 1]) - 1 for i in range(len(blocks)))
        convs = []
        for block in blocks:
            for ch in block:
                convs.append(nnx.Conv(c, ch, kernel_size=(kernel, kernel), padding=padding,
                                      rngs=rngs))
                c = ch
                if padding == "VALID":
                    h, w = h - kernel + 1, w - kernel + 1
            h, w = h // 2, w // 2
            if h < 1 or w < 1:
                raise ValueError(
                    f"images of shape {tuple(in_shape)} are too small for this network: "
                    f"{len(blocks)} blocks of {kernel}x{kernel} {padding} convolutions and "
                    "2x2 pooling shrink them to nothing.")
        self.convs = nnx.List(convs)
        widths = (c * h * w, *dense)
        self.dense = nnx.List([nnx.Linear(a, b, rngs=rngs)
                               for a, b in zip(widths[:-1], widths[1:], strict=True)])
        self.head = nnx.Linear(widths[-1], n_classes, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        act = ACTIVATIONS[self.activation]
        for i, conv in enumerate(self.convs):
            x = act(conv(x))
            if i in self.pool_after:
                x = nnx.max_pool(x, (2, 2), strides=(2, 2))
        x = x.reshape(x.shape[0], -1)
        for layer in self.dense:
            x = act(layer(x))
        return self.head(x)


def butakov_cnn(in_shape: Sequence[int], n_classes: int, activation: str = "leaky_relu", *,
                rngs: nnx.Rngs) -> ConvNet:
    """The MNIST network of Butakov et al. (ICLR 2024): conv 1 -> 8 -> 16 -> 32, dense
    32 -> 32 -> 10, LeakyReLU.

    The paper gives the channel and unit counts and the activation; the rest is our
    reconstruction, chosen so that those counts fit together: 3 x 3 convolutions without
    padding ("VALID"), each followed by a 2 x 2 max pool, so a 28 x 28 image shrinks
    28 -> 26 -> 13 -> 11 -> 5 -> 3 -> 1 and the last map is 1 x 1 x 32 = the 32 inputs of the
    first dense layer. Recorded layers: convs.0 (13 x 13 x 8 = 1352 values), convs.1
    (5 x 5 x 16 = 400), convs.2 (32), dense.0 (32), output (10).
    """
    return ConvNet(in_shape, n_classes, activation, blocks=((8,), (16,), (32,)), dense=(32,),
                   padding="VALID", rngs=rngs)


def vgg_small(in_shape: Sequence[int], n_classes: int, activation: str = "relu", *,
              rngs: nnx.Rngs) -> ConvNet:
    """A small VGG-style net (Simonyan & Zisserman 2015's pattern, scaled down) for 32 x 32
    RGB images: three blocks of two 3 x 3 "SAME" convolutions (16, 16 | 32, 32 | 64, 64
    channels), each block ending in a 2 x 2 max pool, then dense 1024 -> 128 -> 10. Recorded
    layers on CIFAR-10: convs.0 (32 x 32 x 16 = 16 384 values), convs.1 (pooled, 4096),
    convs.2 (8192), convs.3 (2048), convs.4 (4096), convs.5 (1024), dense.0 (128), output."""
    return ConvNet(in_shape, n_classes, activation, blocks=((16, 16), (32, 32), (64, 64)),
                   dense=(128,), padding="SAME", rngs=rngs)
