"""The built-in training harness: presets, several seeds trained together, checkpoints, resume.

`run_experiment` trains a preset network with optax, records it with a `infoplane.Recorder` at
the scheduled epochs, and writes a run directory (see ``README.md``: config.json, results.csv,
metrics.csv, checkpoints/, optionally activations/). ``infoplane run`` (`infoplane.cli`) is its
command-line front end.

Speed: one training epoch is one jit-compiled ``jax.lax.scan`` over the shuffled minibatches,
on the parameters as a plain pytree (``nnx.split`` / ``nnx.merge``), and several seeds are
trained together by ``jax.vmap`` over their initialisations, so a Python loop runs once per
epoch, not per batch or per seed.

Resume: after every flush of the recorder (results on disk up to epoch e) the training state
(every seed's parameters, optimiser state and PRNG key) is saved with orbax at epoch e. A
resumed run restores the newest checkpoint, drops rows of later epochs from results.csv and
metrics.csv, and trains on from e + 1: deterministic, so it writes exactly what the killed run
would have.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import json
import math
import os
import platform
import shutil
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from infoplane import datasets
from infoplane import results as _results
from infoplane.estimators import from_spec, to_spec
from infoplane.estimators.subsample import Subsample
from infoplane.recorder import Recorder, Schedule, log_spaced_epochs

__all__ = [
    "CNN",
    "MLP",
    "PRESETS",
    "Preset",
    "RunSummary",
    "default_estimators",
    "load_preset_data",
    "log_spaced_epochs",
    "run_experiment",
]

#: Estimators of ``infoplane run`` when none are given: every estimator, as specs
#: (`infoplane.estimators.from_spec`). Two differ from their class defaults, for the presets'
#: tanh networks (see README, "Honesty notes"): ``compressed`` adds absolute noise (relative
#: noise leaves a saturated softmax output's near-zero coordinate almost noiseless, and its
#: I(X;T) came out near -140 bits), and ``dsmi`` uses sigma = 1, the scale of tanh
#: activations (the paper's sigma = 10 puts every pair of samples within one kernel width:
#: DSMI ~ 0 on every layer).
DEFAULT_ESTIMATORS = ("binning", "adaptive_binning", "kde", "compressed(noise='absolute')",
                      "dsmi(sigma=1.0)")
#: The default of runs made before `DEFAULT_ESTIMATORS` held every estimator (their config.json
#: has ``estimator_names: null``): what ``--resume`` continues them with.
_LEGACY_DEFAULT_ESTIMATORS = ("binning", "adaptive_binning", "kde")
#: Estimators that run on a stratified probe subsample by default, and its size. Measured on
#: the 2-core CI CPU (benchmarks/RESULTS.md): compressed ~0.1 s and dsmi ~0.4 s per layer-epoch
#: at N = 1024 (DSMI needs one N x N eigenproblem per cluster and class), so DSMI gets 512.
COSTLY = {"compressed": 1024, "dsmi": 512}


# ---- models ----------------------------------------------------------------------------------

_ACTIVATIONS: dict[str, Callable] = {"tanh": jnp.tanh, "relu": jax.nn.relu}


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
        act = _ACTIVATIONS[self.activation]
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

        act = _ACTIVATIONS[self.activation]
        for conv in self.convs:
            x = avg_pool(act(conv(x)), (2, 2), strides=(2, 2))
        x = act(self.fc(x.reshape(x.shape[0], -1)))
        return self.head(x)


# ---- presets ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Preset:
    """A built-in experiment: data, network and training settings.

    probe: "all" records every sample as one series (the original Shwartz-Ziv--Tishby setup);
    "split" records the training and the test samples as the series "train" and "test".
    """

    name: str
    description: str
    data: str  # "tishby", "digits" or "file"
    model: str  # "mlp" or "cnn"
    activation: str = "tanh"
    hidden: tuple[int, ...] = (10, 7, 5, 4, 3)
    epochs: int = 3000
    points: int = 20
    learning_rate: float = 4e-4
    batch_size: int = 256
    train_fraction: float = 0.8
    probe: str = "all"


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("tishby-tanh",
               "Shwartz-Ziv & Tishby 12-10-7-5-4-3-2 tanh network on the generated 12-bit task",
               data="tishby", model="mlp"),
        Preset("tishby-relu", "the same network with ReLU hidden layers (Saxe et al. 2018)",
               data="tishby", model="mlp", activation="relu"),
        Preset("digits-cnn",
               "small tanh conv net (conv 8, conv 16, dense 32) on scikit-learn's 8x8 digits",
               data="digits", model="cnn", epochs=300, points=20, learning_rate=1e-3,
               batch_size=64, probe="split"),
        Preset("data", "your --data file.npz: a tanh MLP 32-16-8 (vectors) or the small conv "
               "net (images (N, H, W[, C]))", data="file", model="auto", hidden=(32, 16, 8),
               epochs=300, points=20, learning_rate=1e-3, batch_size=64, probe="split"),
    )
}


def check_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; valid presets: {', '.join(PRESETS)}") from None


def load_preset_data(preset: Preset, data_path: str | None = None):
    """``(x, y)`` of a preset: x float32 (N, ...) in the model's input layout, y int32 (N,)."""
    if preset.data == "tishby":
        return datasets.tishby_dataset()
    if preset.data == "digits":
        return datasets.load_digits()
    if data_path is None:
        raise ValueError("the 'data' preset needs --data FILE.npz (arrays x and y).")
    x, y = datasets.load_npz(data_path)
    if x.ndim == 3:  # (N, H, W) greyscale images: add the channel axis
        x = x[..., None]
    return x, y


def _model_factory(preset: Preset, x: np.ndarray, n_classes: int) -> Callable[[nnx.Rngs], Any]:
    kind = preset.model
    if kind == "auto":
        kind = "cnn" if x.ndim == 4 else "mlp"
    if kind == "cnn":
        if x.ndim != 4:
            raise ValueError(f"the conv net needs images (N, H, W, C); got inputs {x.shape}.")
        in_shape = tuple(int(s) for s in x.shape[1:])
        return functools.partial(CNN, in_shape, n_classes, preset.activation)
    widths = (int(np.prod(x.shape[1:])), *preset.hidden, n_classes)
    return functools.partial(MLP, widths, preset.activation)


def default_estimators(specs: Sequence[str], n_probe: int, subsample: int | None = None):
    """Estimator instances for ``specs`` (names or specs such as ``"dsmi(sigma=1.0)"``, see
    `infoplane.estimators.from_spec`); the costly ones (`COSTLY`) wrapped in `Subsample` when
    the probe is larger than their subset size: ``COSTLY[name]`` when ``subsample`` is None,
    else ``subsample`` (0: never subsample)."""
    out = []
    for spec in specs:
        est = from_spec(spec)
        name = est.name
        size = COSTLY.get(name) if subsample is None else (subsample if name in COSTLY else 0)
        if isinstance(est, Subsample):  # the spec chose its subset itself
            size = 0
        if size and n_probe > size:
            est = Subsample(est, n=int(size))
        out.append(est)
    return out


# ---- training --------------------------------------------------------------------------------


def _make_epoch_fn(graphdef, optimizer: optax.GradientTransformation, n_train: int, batch: int):
    """``epoch(params, opt_state, key, x_train, y_train) -> (params, opt_state, key, loss)``:
    one epoch as a ``lax.scan`` over shuffled minibatches (not jitted; see `_trainer`).

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
class _Trainer:
    """Jitted, seed-vmapped pieces of one experiment (built once per process and shape)."""

    graphdef: Any
    init: Callable  # keys (S,) -> params (stacked over seeds)
    epoch: Callable  # (params, opt_state, keys, x_train, y_train) -> (..., loss (S,))
    evaluate: Callable  # (params, x, y) -> (accuracy (S,), loss (S,))
    optimizer: optax.GradientTransformation


@functools.cache
def _trainer(preset: Preset, x_shape: tuple, n_classes: int, n_train: int) -> _Trainer:
    make = _model_factory(preset, np.zeros((1, *x_shape[1:]), np.float32), n_classes)

    def init_one(k):
        return nnx.split(make(rngs=nnx.Rngs(params=k)), nnx.Param)[1]

    graphdef = nnx.split(nnx.eval_shape(lambda: make(rngs=nnx.Rngs(params=0))), nnx.Param)[0]
    optimizer = optax.adam(preset.learning_rate)
    epoch_one = _make_epoch_fn(graphdef, optimizer, n_train, preset.batch_size)

    def evaluate_one(params, x, y):
        logits = nnx.merge(graphdef, params)(x)
        acc = jnp.mean(jnp.argmax(logits, -1) == y)
        return acc, jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, y))

    return _Trainer(
        graphdef=graphdef,
        init=jax.jit(jax.vmap(init_one)),
        epoch=jax.jit(jax.vmap(epoch_one, in_axes=(0, 0, 0, None, None))),
        evaluate=jax.jit(jax.vmap(evaluate_one, in_axes=(0, None, None))),
        optimizer=optimizer,
    )


def _seed_model(graphdef, params, s: int):
    return nnx.merge(graphdef, jax.tree_util.tree_map(lambda a: a[s], params))


# ---- checkpoints -----------------------------------------------------------------------------


def _checkpoint_manager(run_dir: str):
    import orbax.checkpoint as ocp

    return ocp.CheckpointManager(
        os.path.abspath(os.path.join(run_dir, "checkpoints")),
        options=ocp.CheckpointManagerOptions(max_to_keep=2, enable_async_checkpointing=False),
    )


def _save(mgr, epoch: int, state: dict) -> None:
    import orbax.checkpoint as ocp

    mgr.save(epoch, args=ocp.args.StandardSave(state))
    mgr.wait_until_finished()


def _restore(mgr, target: dict) -> tuple[int, dict] | None:
    import orbax.checkpoint as ocp

    step = mgr.latest_step()
    if step is None:
        return None
    abstract = jax.eval_shape(lambda: target)
    return int(step), mgr.restore(step, args=ocp.args.StandardRestore(abstract))


# ---- the experiment --------------------------------------------------------------------------


@dataclasses.dataclass
class RunSummary:
    """What `run_experiment` returns: the run directory (None in memory), the recorder (its
    `results()` hold every row of this process), final metrics per seed, timings (seconds:
    "train", "capture", "estimate", "checkpoint", "total") and the epoch it resumed from."""

    run_dir: str | None
    recorder: Recorder
    final: dict[int, dict[str, float]]
    timings: dict[str, float]
    resumed_from: int | None = None
    config: dict = dataclasses.field(default_factory=dict)


def _parse_seeds(seeds) -> tuple[int, ...]:
    if isinstance(seeds, int):
        seeds = (seeds,)
    seeds = tuple(int(s) for s in seeds)
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise ValueError(f"seeds must be distinct non-negative integers, got {seeds}.")
    return seeds


def run_experiment(
    preset: str = "tishby-tanh",
    *,
    epochs: int | None = None,
    points: int | None = None,
    schedule: Sequence[int] | str | None = None,
    estimators: Sequence[Any] | None = None,
    seeds: Sequence[int] | int = (0,),
    data: str | None = None,
    logdir: str | None = "runs",
    name: str | None = None,
    store_activations: bool = False,
    subsample: int | None = None,
    buffer: int | None = None,
    log: Callable[[str], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
    on_results: Callable[[list[dict]], None] | None = None,
    on_metrics: Callable[[list[dict]], None] | None = None,
    argv: Sequence[str] | None = None,
    tensorboard: bool = True,
    image_every: int = 5,
) -> RunSummary:
    """Train a preset for every seed (together, vmapped) and record its information plane.

    Args:
      preset: a name in `PRESETS`. epochs/points: training epochs and recorded log-spaced
        points (preset defaults when None). schedule: "log" (default), "every" (every epoch),
        or an explicit list of epochs in [0, epochs] (0 = before training).
      estimators: names or instances (default: `DEFAULT_ESTIMATORS`); the costly ones named
        here are subsampled (``subsample`` rows; None: `COSTLY` sizes; 0: never), see
        `default_estimators`.
      seeds: seeds of the initialisation and the minibatch order, trained together. The
        train/test split is drawn once with the first seed (all seeds see the same data).
      data: the ``.npz`` file of the "data" preset. logdir/name: the run directory
        (logdir None: nothing written, no checkpoints).
      store_activations: keep the recorded activations for ``infoplane estimate``.
      tensorboard: write TensorBoard event files into the run directory; image_every: the
        information-plane image is redrawn after this many recorded epochs (0: at the end).
      buffer: recorded epochs estimated together. None: 1 (each recorded epoch is estimated,
        written and checkpointed before training goes on) unless ``schedule="every"``, where
        16 (batched, about twice the throughput). Either way a killed run loses at most the
        epoch in flight: buffered epochs are in the Recorder's write-ahead log (``pending/``)
        and ``--resume`` estimates them first.
      log: receives progress lines; progress(epoch, total) is called after every epoch.
    """
    p = check_preset(preset)
    epochs = p.epochs if epochs is None else int(epochs)
    points = p.points if points is None else int(points)
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}.")
    if points < 2:
        raise ValueError(f"points must be at least 2, got {points}.")
    seeds = _parse_seeds(seeds)
    if schedule is None or schedule == "log":
        sched = Schedule.log_spaced(epochs, points)
    elif schedule == "every":
        sched = Schedule()
    else:
        sched = Schedule.explicit(schedule)
        if sched.epochs[-1] > epochs:
            raise ValueError(f"schedule epochs must lie in [0, {epochs}], got {sched.epochs[-1]}.")
    if buffer is None:
        buffer = 16 if schedule == "every" else 1
    x, y = load_preset_data(p, data)
    config = {
        "command": "run",
        "preset": p.name,
        "preset_settings": dataclasses.asdict(p),
        "data": None if data is None else os.path.abspath(data),
        "epochs": epochs,
        "points": points,
        "seeds": list(seeds),
        "subsample": subsample,
        "store_activations": bool(store_activations),
        "tensorboard": bool(tensorboard),
        "image_every": int(image_every),
        "estimator_names": None if estimators is None else _estimator_specs(estimators),
        "versions": _versions(),
        "argv": list(argv or []),
        "started": datetime.datetime.now().isoformat(timespec="seconds"),
    }
    return _run(p, x, y, sched, epochs, seeds, estimators, logdir, name, store_activations,
                subsample, buffer, config, log, progress, on_results, on_metrics, resume=False)


def _estimator_specs(estimators) -> list[str] | None:
    """Specs of estimators given as names, specs or instances (None: one has no spec)."""
    try:
        return [e if isinstance(e, str) else to_spec(e) for e in estimators]
    except ValueError:
        return None


def resume_experiment(run_dir: str, *, log=None, progress=None, on_results=None,
                      on_metrics=None) -> RunSummary:
    """Continue a killed (or finished) run directory from its newest checkpoint."""
    config_path = os.path.join(run_dir, "config.json")
    if not os.path.isfile(config_path):
        raise FileNotFoundError(
            f"{run_dir!r} is not a run directory (no config.json): pass the directory "
            "`infoplane run` created, e.g. runs/tishby-tanh-20261124-101500."
        )
    with open(config_path) as f:
        config = json.load(f)
    if config.get("command") != "run":
        raise ValueError(f"{run_dir!r} was not made by `infoplane run`; it cannot be resumed.")
    if "estimator_specs" in config and config["estimator_specs"] is None:
        raise ValueError(
            f"{run_dir!r} was recorded with an estimator that has no spec string (a class "
            "outside infoplane.estimators.NAMES), so its estimators cannot be rebuilt; record "
            "the rest with a Recorder(..., resume=True) given the same estimator instances."
        )
    p = Preset(**{k: tuple(v) if isinstance(v, list) else v
                  for k, v in config["preset_settings"].items()})
    x, y = load_preset_data(p, config.get("data"))
    sched = Schedule(**{k: tuple(v) if isinstance(v, list) else v
                        for k, v in config["schedule_object"].items()})
    logdir, name = os.path.split(os.path.normpath(run_dir))
    specs = config.get("estimator_specs")
    # exactly the first run's estimators (subsample wrappers included): instances, which _run
    # uses as they are; runs made before estimator_specs existed go by their names
    estimators = ([from_spec(s) for s in specs] if specs else
                  config["estimator_names"] or _LEGACY_DEFAULT_ESTIMATORS)
    return _run(p, x, y, sched, config["epochs"], tuple(config["seeds"]), estimators, logdir,
                name, config["store_activations"],
                config["subsample"], config["buffer"], config, log, progress, on_results,
                on_metrics, resume=True)


def _hparams(p: Preset, config: dict, ests) -> dict:
    """The run's hyper-parameters for TensorBoard's HPARAMS tab (scalars only)."""
    return {"preset": p.name, "model": p.model, "activation": p.activation,
            "hidden": "-".join(map(str, p.hidden)), "learning_rate": p.learning_rate,
            "batch_size": p.batch_size, "epochs": int(config["epochs"]),
            "seeds": len(config["seeds"]), "estimators": ",".join(e.name for e in ests)}


def _versions() -> dict:
    import flax

    from infoplane import __version__

    return {"infoplane": __version__, "jax": jax.__version__, "flax": flax.__version__,
            "optax": optax.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


def _run(p: Preset, x, y, sched: Schedule, epochs: int, seeds: tuple[int, ...], estimators,
         logdir, name, store_activations, subsample, buffer, config, log, progress,
         on_results, on_metrics, *, resume: bool) -> RunSummary:
    log = log or (lambda _m: None)
    t_start = time.perf_counter()
    train_idx, test_idx = datasets.train_test_split(len(y), p.train_fraction, seeds[0])
    if p.probe == "all":
        probes = {"x": x, "y": y, "split": "all", "test": None}
    else:
        probes = {"x": x[train_idx], "y": y[train_idx], "split": "train",
                  "test": (x[test_idx], y[test_idx])}
    n_probe = len(probes["y"])
    ests = [
        default_estimators([e], n_probe, subsample)[0] if isinstance(e, str) else e
        for e in (DEFAULT_ESTIMATORS if estimators is None else estimators)
    ]
    # the resolved estimators, as specs: what --resume rebuilds (None: one has no spec)
    config = {**config, "estimator_specs": _estimator_specs(ests)}
    n_classes = int(np.max(y)) + 1
    name = name or f"{p.name}-{datetime.datetime.now():%Y%m%d-%H%M%S}"
    config = {**config, "run": name, "schedule_object": dataclasses.asdict(sched),
              "buffer": buffer, "n_classes": n_classes, "train_size": int(len(train_idx)),
              "test_size": int(len(test_idx))}
    if resume and logdir is not None:
        run_dir = os.path.join(logdir, name)
        ckpt_epoch = _truncate_for_resume(run_dir)
    recorder = Recorder(
        probes["x"], probes["y"], ests, logdir, name=name, split=probes["split"],
        test=probes["test"], schedule=sched, buffer=buffer,
        store_activations=store_activations, config=config, on_results=on_results,
        on_metrics=on_metrics, resume=resume, tensorboard=config.get("tensorboard", True),
        image_every=config.get("image_every", 5), hparams=_hparams(p, config, ests),
    )
    trainer = _trainer(p, tuple(x.shape), n_classes, len(train_idx))
    x_train, y_train = jnp.asarray(x[train_idx]), jnp.asarray(y[train_idx])
    x_test, y_test = jnp.asarray(x[test_idx]), jnp.asarray(y[test_idx])
    pairs = [jax.random.split(jax.random.key(s)) for s in seeds]  # (shuffling, init) per seed
    keys, init_keys = jnp.stack([k[0] for k in pairs]), jnp.stack([k[1] for k in pairs])
    params = trainer.init(init_keys)
    opt_state = jax.vmap(trainer.optimizer.init)(params)
    state = {"params": params, "opt_state": opt_state, "keys": jax.random.key_data(keys)}
    start = 0
    mgr = _checkpoint_manager(recorder.run_dir) if recorder.run_dir else None
    resumed_from = None
    if resume and mgr is not None:
        restored = _restore(mgr, state)
        if restored is not None and restored[0] == ckpt_epoch:
            resumed_from, state = restored
            start = resumed_from + 1
            log(f"resuming {recorder.run_dir} after epoch {resumed_from}")
        else:
            log(f"no checkpoint in {recorder.run_dir}: starting from epoch 0")
    params, opt_state = state["params"], state["opt_state"]
    keys = jax.random.wrap_key_data(state["keys"])

    t_ckpt = 0.0
    t_train = 0.0
    final: dict[int, dict[str, float]] = {}

    saved = [resumed_from]

    def checkpoint(epoch):
        nonlocal t_ckpt
        if mgr is None or saved[-1] == epoch:
            return
        saved.append(epoch)
        t0 = time.perf_counter()
        _save(mgr, epoch, {"params": params, "opt_state": opt_state,
                           "keys": jax.random.key_data(keys)})
        t_ckpt += time.perf_counter() - t0

    report_every = max(1, epochs // 10)
    for e in range(start, epochs + 1):
        if e > 0:
            t0 = time.perf_counter()
            params, opt_state, keys, loss = trainer.epoch(params, opt_state, keys, x_train,
                                                          y_train)
            jax.block_until_ready(loss)  # honest timings: the epoch is done here
            t_train += time.perf_counter() - t0
        report = e > 0 and (e % report_every == 0 or e == epochs)
        if e in sched or report:
            tr = trainer.evaluate(params, x_train, y_train)
            te = trainer.evaluate(params, x_test, y_test) if len(test_idx) else None
            for s_i, s in enumerate(seeds):
                m = {"train_acc": float(tr[0][s_i]), "train_loss": float(tr[1][s_i])}
                if te is not None:
                    m.update(test_acc=float(te[0][s_i]), test_loss=float(te[1][s_i]))
                final[s] = m
                if e in sched:
                    recorder.log_metrics(e, m, seed=s)
                    recorder.record(e, _seed_model(trainer.graphdef, params, s_i), seed=s)
            if e in sched and recorder.pending == 0:  # results on disk up to e: state safe
                checkpoint(e)
        if progress is not None:
            progress(e, epochs)
        if report:
            m = final[seeds[0]]
            log(f"  epoch {e:>{len(str(epochs))}}/{epochs}  loss {m['train_loss']:.3g}  "
                f"train acc {m['train_acc']:.4f}  test acc {m.get('test_acc', float('nan')):.4f}"
                f"  ({time.perf_counter() - t_start:.1f} s)")
    recorder.flush()
    checkpoint(epochs)
    recorder.close()
    timings = {"train": t_train, **recorder.seconds, "checkpoint": t_ckpt,
               "total": time.perf_counter() - t_start}
    return RunSummary(recorder.run_dir, recorder, final, timings, resumed_from, config)


def _truncate_for_resume(run_dir: str) -> int:
    """Drop everything after the newest checkpoint; returns its epoch (-1: none)."""
    mgr = _checkpoint_manager(run_dir)
    step = mgr.latest_step()
    last = -1 if step is None else int(step)
    for fname in ("results.csv", "metrics.csv", "diagnostics.csv", "aux.csv"):
        path = os.path.join(run_dir, fname)
        if os.path.exists(path):
            _results.truncate_results(path, lambda r, last=last: int(r["epoch"]) <= last)
    act = os.path.join(run_dir, "activations")
    if os.path.isdir(act):
        for root, _dirs, files in os.walk(act):
            for f in files:
                if f.startswith("epoch") and int(f[5:12]) > last:
                    os.remove(os.path.join(root, f))
    if step is None:
        shutil.rmtree(os.path.join(run_dir, "checkpoints"), ignore_errors=True)
    return last
