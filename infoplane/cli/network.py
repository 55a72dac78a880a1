"""``infoplane run``'s options of the network and its training (your own network from the
command line): ``--widths 12,10,7,5,4,3`` (an MLP's hidden widths; the output layer is the
number of classes), ``--activation``, ``--lr``, ``--batch-size``, ``--optimizer`` and
``--weight-decay``, each overriding the preset's field (`infoplane.experiments.network`, which
also defines the weight decay). `add_arguments` adds them, `network_overrides` parses and
checks them (`UsageError`, exit code 2, naming the valid values) into the ``network`` mapping
of `infoplane.experiments.run.run_experiment`."""

from __future__ import annotations

import math

from infoplane.cli._common import UsageError

__all__ = ["FLAGS", "add_arguments", "network_overrides", "parse_widths"]

#: The options, and the `Preset` field each one sets.
FLAGS = {"--widths": "hidden", "--activation": "activation", "--lr": "learning_rate",
         "--batch-size": "batch_size", "--optimizer": "optimizer",
         "--weight-decay": "weight_decay"}


def add_arguments(run) -> None:
    """Add the network options to the ``run`` subparser (each default None: the preset's)."""
    from infoplane.experiments.models import ACTIVATIONS
    from infoplane.experiments.network import OPTIMIZERS

    run.add_argument("--widths", default=None, metavar="W1,W2,...",
                     help="hidden-layer widths of an MLP, e.g. 12,10,7,5,4,3 (the output layer "
                     "has one unit per class; layers are named layers.0, layers.1, ..., output); "
                     "MLP presets only (default: the preset's, 10,7,5,4,3 for tishby-*)")
    run.add_argument("--activation", default=None,
                     help=f"hidden-layer activation (jax.nn): {', '.join(ACTIVATIONS)} "
                     "(default: the preset's)")
    run.add_argument("--lr", type=float, default=None, metavar="RATE",
                     help="learning rate (default: the preset's, 4e-4 for tishby-*)")
    run.add_argument("--batch-size", type=int, default=None, metavar="N",
                     help="minibatch size (default: the preset's, 256 for tishby-*)")
    run.add_argument("--optimizer", default=None,
                     help=f"optax optimiser: {', '.join(OPTIMIZERS)} (momentum: SGD with "
                     "momentum 0.9; default: adam)")
    run.add_argument("--weight-decay", type=float, default=None, metavar="LAMBDA",
                     help="weight decay on the weights (not the biases): with adamw decoupled "
                     "(optax.adamw's weight_decay), with every other optimiser an L2 term "
                     "LAMBDA * sum ||W||^2 / 2 added to the training loss (the recorded loss "
                     "stays the cross-entropy); default 0: none, for adamw too")


def parse_widths(spec: str) -> tuple[int, ...]:
    """``"12,10,7"`` -> ``(12, 10, 7)``; `UsageError` unless one or more integers >= 1."""
    try:
        widths = tuple(int(v) for v in spec.split(","))
    except ValueError:
        widths = ()
    if not widths or min(widths) < 1:
        raise UsageError(f"--widths must be comma-separated hidden-layer widths >= 1, e.g. "
                         f"12,10,7,5,4,3; got {spec!r}")
    return widths


def network_overrides(args, preset) -> dict | None:
    """The preset fields the options in ``args`` override (None: none given), checked against
    ``preset`` (`infoplane.experiments.network.customise`): a `UsageError` names the option
    and its valid values."""
    from infoplane.experiments.network import CONV_MODELS, customise

    given = {flag: getattr(args, flag[2:].replace("-", "_"), None) for flag in FLAGS}
    given = {flag: v for flag, v in given.items() if v is not None}
    if not given:
        return None
    if "--widths" in given:
        if preset.model in CONV_MODELS:
            raise UsageError(
                f"--widths sets the hidden layers of an MLP, but --preset {preset.name} trains "
                "a conv net with fixed layers; use an MLP preset (tishby-tanh, tishby-relu, "
                "mnist1d-mlp, or data with vectors), or drop --widths")
        given["--widths"] = parse_widths(given["--widths"])
    for flag in ("--lr", "--weight-decay"):
        v = given.get(flag)
        if v is not None and (not math.isfinite(v) or v < 0 or (flag == "--lr" and v == 0)):
            raise UsageError(f"{flag} must be a finite number {'> 0' if flag == '--lr' else '>= 0'}"
                             f", got {v}")
    if given.get("--batch-size") is not None and given["--batch-size"] < 1:
        raise UsageError(f"--batch-size must be at least 1, got {given['--batch-size']}")
    from infoplane.experiments.models import ACTIVATIONS
    from infoplane.experiments.network import OPTIMIZERS

    for flag, valid in (("--activation", ACTIVATIONS), ("--optimizer", OPTIMIZERS)):
        if flag in given and given[flag] not in valid:
            raise UsageError(f"unknown {flag} {given[flag]!r}; valid: {', '.join(valid)}")
    overrides = {FLAGS[flag]: v for flag, v in given.items()}
    try:
        customise(preset, overrides)
    except ValueError as err:
        raise UsageError(str(err)) from None
    return overrides
