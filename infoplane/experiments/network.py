"""A preset's network and training settings overridden (``infoplane run --widths 12,10,7
--activation relu --lr 1e-3 --batch-size 64 --optimizer sgd --weight-decay 1e-4``):
`customise` checks the overrides and returns the changed `Preset`; `make_optimizer` builds
the optax optimiser a `Preset` names and `l2_penalty` its weight-decay term.

Weight decay (``weight_decay`` = lambda >= 0, default 0: none) acts on the *weights* only:
every ``kernel`` of the network (dense and conv), never the biases. With ``optimizer="adamw"``
it is decoupled (Loshchilov & Hutter): ``optax.adamw(lr, weight_decay=lambda)`` on the
kernels, each step subtracting ``lr * lambda * W``. With every other optimiser it is an L2
penalty added to the training loss, ``lambda * sum_W ||W||_F^2 / 2`` (gradient ``lambda * W``;
Chelombiev et al. 2019's "compression increases with L2"). The recorded metrics
(``train_loss``, ``test_loss``) stay the cross-entropy alone. optax's own default decays of
adamw (1e-4), lion (1e-3) and lamb are never used: ``weight_decay=0`` means no decay.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import optax

from infoplane.experiments.models import ACTIVATIONS

__all__ = ["CONV_MODELS", "FIELDS", "OPTIMIZERS", "check_network", "customise", "l2_penalty",
           "loss_decay", "make_optimizer", "recorded_network"]

#: The optimisers a preset may name (optax's functions; "momentum": SGD with momentum 0.9).
OPTIMIZERS = ("sgd", "momentum", "adam", "adamw", "rmsprop", "adagrad", "lamb", "nadam", "lion")
#: The `Preset` fields `customise` overrides.
FIELDS = ("hidden", "activation", "learning_rate", "batch_size", "optimizer", "weight_decay")
#: Preset models whose layers are fixed conv nets: ``hidden`` (the MLP's widths) has no
#: meaning for them.
CONV_MODELS = ("cnn", "butakov", "vgg")


def customise(preset, overrides: Mapping[str, Any] | None):
    """``preset`` with the fields in ``overrides`` (a subset of `FIELDS`; None or {}: the
    preset itself) replaced, after checking each: ``hidden`` a sequence of widths >= 1 (an
    MLP's hidden layers; refused for a conv-net preset), ``activation`` a name in
    `infoplane.experiments.models.ACTIVATIONS`, ``learning_rate`` > 0, ``batch_size`` >= 1,
    ``optimizer`` one of `OPTIMIZERS`, ``weight_decay`` >= 0. Raises ValueError naming the
    field and the valid values."""
    if not overrides:
        return preset
    unknown = sorted(set(overrides) - set(FIELDS))
    if unknown:
        raise ValueError(f"unknown network settings {unknown}; valid: {', '.join(FIELDS)}.")
    out = dict(overrides)
    if "hidden" in out:
        if preset.model in CONV_MODELS:
            raise ValueError(
                f"widths set the hidden layers of an MLP, but preset {preset.name!r} trains a "
                "conv net with fixed layers; use an MLP preset (tishby-tanh, tishby-relu, "
                "mnist1d-mlp, or data with vectors).")
        widths = out["hidden"]
        if isinstance(widths, (str, bytes)) or not all(
                isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in widths) \
                or not len(widths):
            raise ValueError(f"widths must be one or more layer widths >= 1, e.g. (12, 10, 7), "
                             f"got {widths!r}.")
        out["hidden"] = tuple(int(w) for w in widths)
    if "activation" in out and out["activation"] not in ACTIVATIONS:
        raise ValueError(f"unknown activation {out['activation']!r}; valid: "
                         f"{', '.join(ACTIVATIONS)}.")
    if "optimizer" in out and out["optimizer"] not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {out['optimizer']!r}; valid: "
                         f"{', '.join(OPTIMIZERS)}.")
    for key, low, strict in (("learning_rate", 0.0, True), ("weight_decay", 0.0, False)):
        if key in out:
            v = out[key]
            if (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)
                    or (v <= low if strict else v < low)):
                raise ValueError(f"{key} must be a finite number {'>' if strict else '>='} 0, "
                                 f"got {v!r}.")
            out[key] = float(v)
    if "batch_size" in out:
        b = out["batch_size"]
        if isinstance(b, bool) or not isinstance(b, int) or b < 1:
            raise ValueError(f"batch_size must be an integer >= 1, got {b!r}.")
    return dataclasses.replace(preset, **out)


def check_network(preset, overrides: Mapping[str, Any] | None, x, data) -> None:
    """Refuse widths for the "data" preset (model "auto") when its inputs ``x`` (from the
    file ``data``) are images, which it trains with the conv net (fixed layers)."""
    if overrides and "hidden" in overrides and preset.model == "auto" and x.ndim == 4:
        raise ValueError(f"widths set the hidden layers of an MLP, but {data!r} holds images, "
                         "which the data preset trains with its conv net (fixed layers); pass "
                         "vectors (N, d) to train an MLP of your widths.")


def recorded_network(preset, overrides: Mapping[str, Any] | None) -> dict | None:
    """The overridden fields of ``preset`` (after `customise`) as JSON data for config.json's
    ``network`` entry (None: none overridden)."""
    if not overrides:
        return None
    return {k: list(v) if isinstance(v, tuple) else v
            for k, v in dataclasses.asdict(preset).items() if k in overrides}


def _kernels(params):
    """A pytree of bools like ``params``: True at every ``kernel`` (the weights), False at the
    biases."""
    def is_kernel(path, _leaf):
        return any(getattr(k, "key", getattr(k, "name", None)) == "kernel" for k in path)
    return jax.tree_util.tree_map_with_path(is_kernel, params)


def l2_penalty(params, weight_decay: float) -> jax.Array:
    """``weight_decay * sum_W ||W||_F^2 / 2`` over the kernels of ``params`` (a scalar)."""
    leaves = jax.tree_util.tree_leaves(jax.tree_util.tree_map(
        lambda w, k: jnp.sum(jnp.square(w)) if k else jnp.zeros((), w.dtype),
        params, _kernels(params)))
    return 0.5 * weight_decay * sum(leaves, jnp.zeros(()))


def make_optimizer(preset) -> optax.GradientTransformation:
    """The optax optimiser of ``preset.optimizer`` at ``preset.learning_rate``; for "adamw"
    with ``preset.weight_decay`` decoupled on the kernels (the others: see `l2_penalty`)."""
    name = getattr(preset, "optimizer", "adam")
    lr = preset.learning_rate
    if name == "adamw":
        return optax.adamw(lr, weight_decay=float(getattr(preset, "weight_decay", 0.0)),
                           mask=_kernels)
    if name == "momentum":
        return optax.sgd(lr, momentum=0.9)
    if name in ("lamb", "lion"):  # their decay is the L2 penalty, not optax's default
        return getattr(optax, name)(lr, weight_decay=0.0)
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; valid: {', '.join(OPTIMIZERS)}.")
    return getattr(optax, name)(lr)


def loss_decay(preset) -> float:
    """The L2 strength added to the training loss (`l2_penalty`): ``preset.weight_decay``,
    except 0 for "adamw" (decoupled there)."""
    if getattr(preset, "optimizer", "adam") == "adamw":
        return 0.0
    return float(getattr(preset, "weight_decay", 0.0))
