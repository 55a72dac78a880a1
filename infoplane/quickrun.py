"""A small, fast training-and-recording routine for the Shwartz-Ziv--Tishby network.

`run_quick` trains the 12-10-7-5-4-3-2 MLP on `infoplane.datasets.tishby_dataset`, records every
layer's activations on all 4096 probe inputs at log-spaced epochs, and estimates the
information plane of every layer with every requested estimator (all recorded epochs of a
layer in one `infoplane.estimate_epochs` call). ``infoplane run`` (`infoplane.cli`) is its
command-line front end.

Speed: one training epoch is one jit-compiled ``jax.lax.scan`` over the shuffled minibatches,
on the model's parameters as a plain pytree (``nnx.split`` / ``nnx.merge``), so there is no
Python loop over batches.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from infoplane.datasets import tishby_dataset, train_test_split

__all__ = [
    "BATCH_SIZE",
    "LAYER_NAMES",
    "LEARNING_RATE",
    "PRESETS",
    "MLP",
    "QuickResult",
    "Recording",
    "estimate_recording",
    "log_spaced_epochs",
    "mlp_widths",
    "run_quick",
    "train_and_record",
]

#: Layer widths of the Shwartz-Ziv & Tishby network: 12 inputs, hidden 10-7-5-4-3, 2 outputs.
mlp_widths = (12, 10, 7, 5, 4, 3, 2)
#: Names of the recorded layers: the 5 hidden layers (post-activation) and the softmax output.
LAYER_NAMES = tuple(f"layer{i}" for i in range(1, len(mlp_widths) - 1)) + ("output",)
#: Hidden-layer activation of each preset.
PRESETS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "tishby-tanh": jnp.tanh,
    "tishby-relu": jax.nn.relu,
}
LEARNING_RATE = 4e-4
BATCH_SIZE = 256
TRAIN_FRACTION = 0.8
#: Epochs and recorded points of ``infoplane run`` when not given.
DEFAULT_EPOCHS = 3000
DEFAULT_POINTS = 20
DEFAULT_ESTIMATORS = ("binning", "adaptive_binning", "kde")


def _check_preset(preset: str) -> None:
    if preset not in PRESETS:
        raise ValueError(f"Unknown preset {preset!r}. Valid presets: {', '.join(PRESETS)}.")


class MLP(nnx.Module):
    """Dense network ``widths[0] -> ... -> widths[-1]``; ``activation`` on the hidden layers,
    softmax output. Weights truncated-normal with standard deviation ``1/sqrt(fan_in)`` (of the
    untruncated normal, cut at +-2 standard deviations, as ``tf.truncated_normal``), biases 0.

    ``model(x)`` returns the logits; `MLP.activations` returns every recorded layer.
    """

    def __init__(self, widths: Sequence[int], activation: Callable, *, rngs: nnx.Rngs):
        self.activation = activation
        self.layers = nnx.List(
            [
                nnx.Linear(
                    d_in,
                    d_out,
                    kernel_init=jax.nn.initializers.truncated_normal(1.0 / math.sqrt(d_in)),
                    bias_init=jax.nn.initializers.zeros,
                    rngs=rngs,
                )
                for d_in, d_out in zip(widths[:-1], widths[1:], strict=True)
            ]
        )

    def activations(self, x: jax.Array) -> tuple[jax.Array, ...]:
        """(N, widths[0]) -> one (N, width) array per layer: hidden post-activations, then the
        softmax probabilities."""
        outs = []
        h = x
        for layer in self.layers[:-1]:
            h = self.activation(layer(h))
            outs.append(h)
        outs.append(jax.nn.softmax(self.layers[-1](h), axis=-1))
        return tuple(outs)

    def __call__(self, x: jax.Array) -> jax.Array:
        h = x
        for layer in self.layers[:-1]:
            h = self.activation(layer(h))
        return self.layers[-1](h)


def log_spaced_epochs(n_epochs: int, n_points: int) -> np.ndarray:
    """At most ``n_points`` log-spaced epoch indices in ``[0, n_epochs - 1]``, sorted, unique.

    ``unique(round(logspace(0, log10(n_epochs), n_points))) - 1``, the schedule of the original
    experiment (which used base 2): dense early in training, sparse late. Always includes
    0 and ``n_epochs - 1``; fewer than ``n_points`` values when rounding merges early ones.
    """
    if n_epochs < 1:
        raise ValueError(f"n_epochs must be at least 1, got {n_epochs}.")
    if n_points < 1:
        raise ValueError(f"n_points must be at least 1, got {n_points}.")
    if n_points == 1:
        return np.array([n_epochs - 1])
    pts = np.logspace(0.0, math.log10(n_epochs), n_points)
    return np.unique(np.rint(pts).astype(np.int64)) - 1


@dataclasses.dataclass
class Recording:
    """What `train_and_record` produced.

    epochs: int (E,) recorded epochs (0 = before training, k = after k training epochs).
    activations: layer name -> float32 (E, N, d) activations on the full probe set.
    x, y: the probe set (N, 12) float32 and (N,) int32 (all samples, train and test).
    train_idx, test_idx: the split.
    train_acc, test_acc, train_loss: (E,) at the recorded epochs.
    train_seconds: wall time of training and recording (including compilation).
    """

    preset: str
    seed: int
    n_epochs: int
    epochs: np.ndarray
    activations: dict[str, jax.Array]
    x: np.ndarray
    y: np.ndarray
    train_idx: np.ndarray
    test_idx: np.ndarray
    train_acc: np.ndarray
    test_acc: np.ndarray
    train_loss: np.ndarray
    train_seconds: float


@functools.cache
def _initializer(preset: str):
    """(graphdef, jitted key -> params) for a preset; cached, so it compiles once a process."""
    activation = PRESETS[preset]

    def make(k):
        return MLP(mlp_widths, activation, rngs=nnx.Rngs(params=k))

    graphdef = nnx.split(nnx.eval_shape(lambda: make(jax.random.key(0))), nnx.Param)[0]
    return graphdef, jax.jit(lambda k: nnx.split(make(k), nnx.Param)[1])


def _init_params(preset: str, key: jax.Array):
    """(graphdef, params) of a freshly initialised preset MLP (initialised under one jit)."""
    graphdef, init = _initializer(preset)
    return graphdef, init(key)


def _make_epoch_fn(graphdef, optimizer: optax.GradientTransformation, n_train: int, batch: int):
    """A jitted ``epoch(params, opt_state, key, x_train, y_train)`` running one epoch as a
    ``lax.scan`` over shuffled minibatches; returns ``(params, opt_state, key, mean_loss)``.

    The last minibatch is padded to full size and the padding masked out of the loss, so every
    training sample is used exactly once per epoch (no dropped remainder) with static shapes.
    """
    n_batches = -(-n_train // batch)
    pad = n_batches * batch - n_train

    def loss_fn(params, xb, yb, wb):
        logits = nnx.merge(graphdef, params)(xb)
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, yb)
        return jnp.sum(ce * wb) / jnp.sum(wb)

    def step(carry, batch_data):
        params, opt_state = carry
        xb, yb, wb = batch_data
        loss, grads = jax.value_and_grad(loss_fn)(params, xb, yb, wb)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        return (params, opt_state), loss * jnp.sum(wb)

    @jax.jit
    def epoch(params, opt_state, key, x_train, y_train):
        key, sub = jax.random.split(key)
        perm = jax.random.permutation(sub, n_train)
        idx = jnp.concatenate([perm, jnp.zeros((pad,), perm.dtype)])
        w = jnp.concatenate([jnp.ones((n_train,)), jnp.zeros((pad,))])
        xb = x_train[idx].reshape(n_batches, batch, -1)  # (n_batches, batch, 12)
        yb = y_train[idx].reshape(n_batches, batch)
        wb = w.reshape(n_batches, batch)  # 1 for real samples, 0 for padding
        (params, opt_state), losses = jax.lax.scan(step, (params, opt_state), (xb, yb, wb))
        return params, opt_state, key, jnp.sum(losses) / n_train

    return epoch


@functools.cache
def _adam_epoch_fn(graphdef, n_train: int, batch: int, lr: float):
    """`_make_epoch_fn` with Adam(lr), cached so repeated runs in a process reuse the compile."""
    optimizer = optax.adam(lr)
    return optimizer, _make_epoch_fn(graphdef, optimizer, n_train, batch)


@functools.cache
def _probe_fn(graphdef):
    """Jitted ``probe(params, x, y, train_mask) -> (activations, train_acc, test_acc,
    train_loss)`` on the full probe set."""

    @jax.jit
    def probe(params, x, y, train_mask):
        model = nnx.merge(graphdef, params)
        acts = model.activations(x)
        logits = model(x)
        correct = jnp.argmax(logits, -1) == y
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, y)
        n_tr = jnp.sum(train_mask)
        n_te = jnp.sum(~train_mask)
        return (
            acts,
            jnp.sum(correct & train_mask) / jnp.maximum(n_tr, 1),
            jnp.sum(correct & ~train_mask) / jnp.maximum(n_te, 1),
            jnp.sum(jnp.where(train_mask, ce, 0.0)) / jnp.maximum(n_tr, 1),
        )

    return probe


def train_and_record(
    preset: str = "tishby-tanh",
    epochs: int = DEFAULT_EPOCHS,
    n_points: int = DEFAULT_POINTS,
    seed: int = 0,
    *,
    log: Callable[[str], None] | None = None,
) -> Recording:
    """Train the preset network on `tishby_dataset` and record activations at log-spaced epochs.

    ``epochs`` training epochs (Adam lr 4e-4, batch 256, a seeded random 80/20 split); the
    recorded epochs are ``log_spaced_epochs(epochs + 1, n_points)``, from 0 (the initial
    network) to ``epochs`` (after the last epoch). At each, one jitted forward pass on all
    4096 inputs records every layer and the train/test accuracy. ``log`` receives about ten
    progress lines.
    """
    _check_preset(preset)
    if epochs < 0:
        raise ValueError(f"epochs must be non-negative, got {epochs}.")
    log = log or (lambda _msg: None)
    t0 = time.perf_counter()
    x_np, y_np = tishby_dataset()
    train_idx, test_idx = train_test_split(len(y_np), TRAIN_FRACTION, seed)
    x, y = jnp.asarray(x_np), jnp.asarray(y_np)
    x_train, y_train = x[train_idx], y[train_idx]
    train_mask = jnp.zeros(len(y_np), bool).at[train_idx].set(True)

    key = jax.random.key(seed)
    key, init_key = jax.random.split(key)
    graphdef, params = _init_params(preset, init_key)
    optimizer, epoch_fn = _adam_epoch_fn(graphdef, len(train_idx), BATCH_SIZE, LEARNING_RATE)
    opt_state = optimizer.init(params)
    probe_fn = _probe_fn(graphdef)

    def probe(params):
        return probe_fn(params, x, y, train_mask)

    schedule = log_spaced_epochs(epochs + 1, n_points)
    record_at = set(schedule.tolist())
    recorded: list[tuple] = []
    report_every = max(1, epochs // 10)
    for e in range(epochs + 1):
        if e > 0:
            params, opt_state, key, _ = epoch_fn(params, opt_state, key, x_train, y_train)
        if e in record_at:
            recorded.append(probe(params))
        if e > 0 and (e % report_every == 0 or e == epochs):
            acts, tr, te, loss = probe(params) if e not in record_at else recorded[-1]
            log(
                f"  epoch {e:>{len(str(epochs))}}/{epochs}  loss {float(loss):.3g}  "
                f"train acc {float(tr):.4f}  test acc {float(te):.4f}  "
                f"({time.perf_counter() - t0:.1f} s)"
            )
    acts = {name: jnp.stack([r[0][i] for r in recorded]) for i, name in enumerate(LAYER_NAMES)}
    jax.block_until_ready(acts)
    return Recording(
        preset=preset,
        seed=seed,
        n_epochs=epochs,
        epochs=schedule,
        activations=acts,
        x=x_np,
        y=y_np,
        train_idx=train_idx,
        test_idx=test_idx,
        train_acc=np.array([float(r[1]) for r in recorded]),
        test_acc=np.array([float(r[2]) for r in recorded]),
        train_loss=np.array([float(r[3]) for r in recorded]),
        train_seconds=time.perf_counter() - t0,
    )


def _resolve_estimators(estimators: Iterable[Any]) -> list:
    from infoplane import estimators as est_mod

    out = []
    for e in estimators:
        out.append(est_mod.by_name(e) if isinstance(e, str) else e)
    return out


def estimate_recording(
    recording: Recording,
    estimators: Iterable[Any] = DEFAULT_ESTIMATORS,
    *,
    run: str | None = None,
    on_rows: Callable[[list[dict]], None] | None = None,
    log: Callable[[str], None] | None = None,
) -> list[dict]:
    """Estimate every recorded layer with every estimator; return the result rows.

    ``estimators``: names (see ``infoplane.estimators.NAMES``) or estimator objects. For each
    (estimator, layer) one `infoplane.estimate_epochs` call covers all recorded epochs.
    ``on_rows`` is called with each batch of new rows as soon as it exists (e.g. to append them
    to a file). Rows: run, seed, split ("all"), epoch, layer, estimator, i_xt, i_ty, units,
    params (a JSON string of `Estimate.metadata`).
    """
    from infoplane import estimate_epochs

    log = log or (lambda _msg: None)
    ests = _resolve_estimators(estimators)
    run = recording.preset if run is None else run
    rows: list[dict] = []
    for est in ests:
        t0 = time.perf_counter()
        for layer in LAYER_NAMES:
            result = estimate_epochs(est, recording.x, recording.activations[layer], recording.y)
            params = json.dumps(result.metadata(), sort_keys=True)
            i_xt = np.asarray(result.i_xt, dtype=np.float64)
            i_ty = np.asarray(result.i_ty, dtype=np.float64)
            new = [
                {
                    "run": run,
                    "seed": recording.seed,
                    "split": "all",
                    "epoch": int(epoch),
                    "layer": layer,
                    "estimator": result.estimator,
                    "i_xt": float(i_xt[k]),
                    "i_ty": float(i_ty[k]),
                    "units": result.units,
                    "params": params,
                }
                for k, epoch in enumerate(recording.epochs)
            ]
            rows.extend(new)
            if on_rows is not None:
                on_rows(new)
        log(
            f"  {est.name}: {len(LAYER_NAMES)} layers x {len(recording.epochs)} epochs "
            f"in {time.perf_counter() - t0:.1f} s"
        )
    return rows


@dataclasses.dataclass
class QuickResult:
    """What `run_quick` returns.

    rows: the result rows (see `estimate_recording`).
    accuracy: {"epoch": (E,), "train": (E,), "test": (E,), "train_loss": (E,)} at the recorded
      epochs.
    recording: the `Recording` (activations included) for further analysis.
    timings: seconds spent in "train" (training + recording) and "estimate".
    """

    rows: list[dict]
    accuracy: dict[str, np.ndarray]
    recording: Recording
    timings: dict[str, float]


def run_quick(
    preset: str = "tishby-tanh",
    epochs: int = DEFAULT_EPOCHS,
    n_points: int = DEFAULT_POINTS,
    seed: int = 0,
    estimators: Iterable[Any] = DEFAULT_ESTIMATORS,
    *,
    run: str | None = None,
    on_rows: Callable[[list[dict]], None] | None = None,
    log: Callable[[str], None] | None = None,
) -> QuickResult:
    """Train, record and estimate in one call; see `train_and_record` and `estimate_recording`.

    Example::

        >>> res = run_quick("tishby-tanh", epochs=30, n_points=5, estimators=["binning"])
        >>> sorted({r["layer"] for r in res.rows})[:2], res.accuracy["test"].shape
        (['layer1', 'layer2'], (5,))
    """
    _check_preset(preset)
    ests = _resolve_estimators(estimators)  # fail on bad names before training
    rec = train_and_record(preset, epochs, n_points, seed, log=log)
    t0 = time.perf_counter()
    rows = estimate_recording(rec, ests, run=run, on_rows=on_rows, log=log)
    t_est = time.perf_counter() - t0
    accuracy = {
        "epoch": rec.epochs,
        "train": rec.train_acc,
        "test": rec.test_acc,
        "train_loss": rec.train_loss,
    }
    return QuickResult(
        rows=rows,
        accuracy=accuracy,
        recording=rec,
        timings={"train": rec.train_seconds, "estimate": t_est},
    )
