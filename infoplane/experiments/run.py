"""Running an experiment: `run_experiment` trains a preset network with optax (several seeds
together), records it with a `infoplane.Recorder` at the scheduled epochs, checkpoints the
training state and writes a run directory (`infoplane.store.layout`); `resume_experiment`
continues one. ``infoplane run`` (`infoplane.cli.run`) is its command-line front end.

Resume: after every flush of the recorder (results on disk up to epoch e) the training state
(every seed's parameters, optimiser state and PRNG key) is saved with orbax at epoch e. A
resumed run restores the newest checkpoint, drops rows of later epochs from results.csv and
metrics.csv, and trains on from e + 1: deterministic, so it writes exactly what the killed run
would have.

A resume is the run directory's only writer (`infoplane.store.lock`; a second one is refused
naming the holder's pid), restores the newest *readable* checkpoint (an unreadable one is moved
aside and reported, `checkpoints.restore_readable`) and never deletes data it cannot read:
tables damaged up to the checkpoint are kept aside and their lost epochs re-estimated from
``activations/``, or the resume is refused with what is missing (`infoplane.experiments.repair`).
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import platform
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from infoplane.estimators import from_spec, to_spec
from infoplane.estimators.null import with_null
from infoplane.experiments.checkpoints import (
    checkpoint_manager,
    prepare_resume,
    restore_readable,
)
from infoplane.experiments.checkpoints import save as save_checkpoint
from infoplane.experiments.extend import extension
from infoplane.experiments.network import check_network, customise, recorded_network
from infoplane.experiments.presets import (
    LEGACY_DEFAULT_ESTIMATORS,
    Preset,
    PresetData,
    check_preset,
    default_estimators,
    preset_data,
    preset_estimators,
    with_run_intervals,
)
from infoplane.experiments.training import seed_model
from infoplane.experiments.training import trainer as make_trainer
from infoplane.recording.progress import ProgressDisplay
from infoplane.recording.recorder import Recorder
from infoplane.recording.schedule import Schedule
from infoplane.store import layout
from infoplane.store.activations import ActivationStore
from infoplane.store.config import read_config, write_config
from infoplane.store.lock import LOCK_FILE
from infoplane.store.lock import acquire as acquire_lock

__all__ = ["RunSummary", "resume_experiment", "run_experiment"]


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
    """Seeds as a tuple: an int N means N seeds 0..N-1 (as ``--seeds N``), a sequence the seeds
    themselves."""
    if (isinstance(seeds, (bool, str)) or
            not isinstance(seeds, (int, np.integer, Sequence, np.ndarray))):
        raise ValueError(
            f"seeds must be a count (e.g. 3: seeds 0, 1, 2) or a list of seeds (e.g. [5]), got "
            f"{seeds!r}."
        )
    if isinstance(seeds, (int, np.integer)):
        if seeds < 1:
            raise ValueError(
                f"seeds={seeds}: a count must be at least 1 (seeds=3 trains seeds 0, 1, 2; "
                "seeds=[3] trains the single seed 3)."
            )
        return tuple(range(int(seeds)))
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
    seeds: Sequence[int] | int = 1,
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
    limit: int | None = None,
    per_channel: bool = False,
    probe_batch: int | None = None,
    null: int = 0,
    shuffle_labels: bool = False,
    intervals: int | None = None,
    network: Mapping[str, Any] | None = None,
) -> RunSummary:
    """Train a preset for every seed (together, vmapped) and record its information plane.

    Args:
      preset: a name in `PRESETS`. epochs/points: training epochs and recorded log-spaced
        points (preset defaults when None). schedule: "log", "every" (every epoch), or an
        explicit list of epochs in [0, epochs] (0 = before training); None: the preset's
        (``"every"`` for mnist-cnn, else ``"log"``).
      estimators: names or instances (default: the preset's, `preset_estimators`, for most
        presets `DEFAULT_ESTIMATORS`); the costly ones named
        here are subsampled (``subsample`` rows; None: `COSTLY` sizes; 0: never), see
        `default_estimators`.
      seeds: a count N (seeds 0..N-1, the meaning of ``--seeds N``; default 1: seed 0) or a
        list of seeds (``[3]``: the single seed 3): seeds of the initialisation and the
        minibatch order, trained together. The train/test split is drawn once with the first
        seed (all seeds see the same data).
      data: a data file. For the "data" preset (required): an ``.npz`` with arrays x and y.
        For the ``tishby-*`` presets (optional): the original ``var_u.mat`` of Shwartz-Ziv &
        Tishby (your own copy, `infoplane.datasets.load_var_u`) or an ``.npz`` of vectors,
        trained with the preset's own 12-10-7-5-4-3-2 network instead of the generated task.
        For mnist-cnn (required): the directory of the four MNIST / Fashion-MNIST IDX files
        (gzipped or not) or mnist.npz; for cifar-cnn (required): the directory of the CIFAR-10
        python batches (`infoplane.experiments.loaders`). mnist1d-mlp and digits-cnn take none.
      limit: use only the first ``limit`` training and ``limit`` test samples (None: all), a
        reduced run (e.g. mnist-cnn on a CPU); recorded in config.json, kept by a resume.
      per_channel: conv maps estimated channel by channel (`infoplane.PerChannel`: the mean
        in results, every channel in aux) instead of flattened; probe_batch: probe rows per
        forward pass (None: `infoplane.Recorder`'s default). Both kept by a resume.
      null: P > 0 adds the label-permutation null of I(T;Y) to every estimator
        (`infoplane.NullLabels`, ``i_ty_null`` in aux.csv; P more estimates per layer-epoch);
        kept by a resume (in the estimators' specs).
      intervals: B resamples of a 95 % confidence interval on every estimate
        (`infoplane.Intervals`; the i_xt_lo .. i_ty_hi columns of results.csv; 0: none).
        None (default): B = 20 for binning and KDE given by name or spec (the CLI, the
        presets' defaults), none for the others nor for estimator instances
        (`infoplane.experiments.presets.with_run_intervals`). Kept by a resume (specs).
      shuffle_labels: train (and record) on labels permuted at random once (the first seed;
        `infoplane.experiments.presets.preset_data`): a network fitting noise. Kept by a
        resume.
      network: preset fields overridden (``--widths``, ``--activation``, ...): a mapping of
        `infoplane.experiments.network.FIELDS`, checked by its `customise`; recorded in
        config.json (``preset_settings``, which a resume rebuilds, and ``network``).
      logdir/name: the run directory (logdir None: nothing written, no checkpoints).
      store_activations: keep the recorded activations for ``infoplane estimate``.
      tensorboard: write TensorBoard event files into the run directory; image_every: the
        information-plane image is redrawn after this many recorded epochs (0: at the end).
      buffer: recorded epochs estimated together. None: 1 (each recorded epoch is estimated,
        written and checkpointed before training goes on) unless ``schedule="every"``, where
        16 (batched, about twice the throughput). Either way a killed run loses at most the
        epoch in flight: buffered epochs are in the Recorder's write-ahead log (``pending/``)
        and ``--resume`` estimates them first.
      log: receives progress lines; progress(epoch, total) is called after every epoch (a
        `infoplane.recording.progress.ProgressDisplay` also shows the estimation's stages).
    """
    p = customise(check_preset(preset), network)
    epochs = p.epochs if epochs is None else int(epochs)
    points = p.points if points is None else int(points)
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}.")
    if points < 2:
        raise ValueError(f"points must be at least 2, got {points}.")
    if isinstance(null, bool) or not isinstance(null, int) or not 0 <= null <= 1000:
        raise ValueError(f"null must be a number of label permutations from 0 (off) to 1000, "
                         f"got {null!r}.")
    if intervals is not None and (isinstance(intervals, bool) or not isinstance(intervals, int)
                                  or (intervals != 0 and not 2 <= intervals <= 10_000)):
        raise ValueError(f"intervals must be a number of resamples from 2 to 10000, 0 (off) "
                         f"or None (the default: 20 for binning and KDE), got {intervals!r}.")
    seeds = _parse_seeds(seeds)
    schedule = p.schedule if schedule is None else schedule
    if schedule == "log":
        sched = Schedule.log_spaced(epochs, points)
    elif schedule == "every":
        sched = Schedule()
    else:
        sched = Schedule.explicit(schedule)
        if sched.epochs[-1] > epochs:
            raise ValueError(f"schedule epochs must lie in [0, {epochs}], got {sched.epochs[-1]}.")
    if buffer is None:
        buffer = 16 if schedule == "every" else 1
    if not isinstance(shuffle_labels, bool):
        raise TypeError(f"shuffle_labels must be True or False, got {shuffle_labels!r}.")
    pdata = preset_data(p, data, seed=seeds[0], limit=limit, shuffle_labels=shuffle_labels)
    check_network(p, network, pdata.train[0], data)
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
        "limit": None if limit is None else int(limit),
        "per_channel": bool(per_channel),
        "probe_batch": None if probe_batch is None else int(probe_batch),
        "null": int(null),
        "intervals": intervals,
        "shuffle_labels": shuffle_labels,
        "network": recorded_network(p, network),
        "estimator_names": None if estimators is None else _estimator_specs(estimators),
        "versions": _versions(),
        "argv": list(argv or []),
        "started": datetime.datetime.now().isoformat(timespec="seconds"),
    }
    return _run(p, pdata, sched, epochs, seeds, estimators, logdir, name, store_activations,
                subsample, buffer, config, log, progress, on_results, on_metrics, resume=False)


def _estimator_specs(estimators) -> list[str] | None:
    """Specs of estimators given as names, specs or instances (None: one has no spec)."""
    try:
        return [e if isinstance(e, str) else to_spec(e) for e in estimators]
    except ValueError:
        return None


def resume_experiment(run_dir: str, *, epochs: int | None = None, log=None, progress=None,
                      on_results=None, on_metrics=None) -> RunSummary:
    """Continue a killed (or finished) run directory from its newest checkpoint, with the
    settings of its config.json (the network included).

    ``epochs`` (``--resume RUN_DIR --epochs N``): train to N epochs in all (None or the run's
    total: just continue); a larger N extends the run, finished or not, from its newest
    checkpoint, with the schedule and config.json extended (`infoplane.experiments.extend`)."""
    if not os.path.isfile(os.path.join(run_dir, layout.CONFIG_FILE)):
        contents = set(os.listdir(run_dir)) - {LOCK_FILE} if os.path.isdir(run_dir) else None
        if contents is not None and not contents:
            raise FileNotFoundError(
                f"{run_dir!r} holds no run yet (it is empty: no config.json), so there is "
                "nothing to resume; start a run in it with `infoplane run --logdir "
                f"{os.path.dirname(os.path.normpath(run_dir)) or '.'} --name "
                f"{os.path.basename(os.path.normpath(run_dir))}` (an empty directory is used), "
                "or remove it."
            )
        raise FileNotFoundError(
            f"{run_dir!r} is not a run directory (no config.json): pass the directory "
            "`infoplane run` created, e.g. runs/tishby-tanh-20261124-101500."
        )
    config = read_config(run_dir)
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
    pdata = preset_data(p, config.get("data"), seed=int(config["seeds"][0]),
                        shuffle_labels=bool(config.get("shuffle_labels", False)),
                        limit=config.get("limit"))
    sched = Schedule(**{k: tuple(v) if isinstance(v, list) else v
                        for k, v in config["schedule_object"].items()})
    sched, update = extension(config, sched, epochs, run_dir)
    config = {**config, **(update or {})}
    logdir, name = os.path.split(os.path.normpath(run_dir))
    specs = config.get("estimator_specs")
    # exactly the first run's estimators (subsample wrappers included): instances, which _run
    # uses as they are; runs made before estimator_specs existed go by their names
    estimators = ([from_spec(s) for s in specs] if specs else
                  config["estimator_names"] or LEGACY_DEFAULT_ESTIMATORS)
    return _run(p, pdata, sched, config["epochs"], tuple(config["seeds"]), estimators, logdir,
                name, config["store_activations"],
                config["subsample"], config["buffer"], config, log, progress, on_results,
                on_metrics, resume=True, config_update=update)


def _hparams(p: Preset, config: dict, ests) -> dict:
    """The run's hyper-parameters for TensorBoard's HPARAMS tab (scalars only)."""
    return {"preset": p.name, "model": p.model, "activation": p.activation,
            "hidden": "-".join(map(str, p.hidden)), "learning_rate": p.learning_rate,
            "batch_size": p.batch_size, "optimizer": p.optimizer,
            "weight_decay": p.weight_decay, "epochs": int(config["epochs"]),
            "seeds": len(config["seeds"]), "estimators": ",".join(e.name for e in ests)}


def _versions() -> dict:
    import flax

    from infoplane import __version__

    return {"infoplane": __version__, "jax": jax.__version__, "flax": flax.__version__,
            "optax": optax.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


def _run(p: Preset, data: PresetData, sched: Schedule, epochs: int, seeds: tuple[int, ...],
         estimators, logdir, name, store_activations, subsample, buffer, config, log, progress,
         on_results, on_metrics, *, resume: bool, config_update=None) -> RunSummary:
    log = log or (lambda _m: None)
    t_start = time.perf_counter()
    probes = {"x": data.probe[0], "y": data.probe[1], "split": data.split,
              "test": data.probe_test}
    n_probe = len(probes["y"])
    # with the label-permutation null and the intervals (a resume's specs hold them already)
    null, intervals = (0, 0) if resume else (config["null"], config["intervals"])
    ests = [  # instances given in Python get intervals only when asked (no default)
        with_run_intervals(with_null(default_estimators([e], n_probe, subsample)[0]
                                     if isinstance(e, str) else e, null),
                           intervals if isinstance(e, str) else intervals or 0)
        for e in (preset_estimators(p) if estimators is None else estimators)
    ]
    # the resolved estimators, as specs: what --resume rebuilds (None: one has no spec)
    config = {**config, "estimator_specs": _estimator_specs(ests)}
    n_classes = data.n_classes
    name = name or f"{p.name}-{datetime.datetime.now():%Y%m%d-%H%M%S}"
    config = {**config, "run": name, "schedule_object": dataclasses.asdict(sched),
              "buffer": buffer, "n_classes": n_classes, "train_size": int(len(data.train[1])),
              "test_size": int(len(data.test[1]))}
    n_train = len(data.train[1])
    # a training set smaller than one minibatch (a --limit run) is one batch of its own size:
    # the same updates as the padded batch (padding is masked out), without computing the
    # padding (1024 - 20 images of mnist-cnn)
    p_train = p if n_train >= p.batch_size else dataclasses.replace(p, batch_size=n_train)
    trainer = make_trainer(p_train, tuple(data.train[0].shape), n_classes, n_train)
    pairs = [jax.random.split(jax.random.key(s)) for s in seeds]  # (shuffling, init) per seed
    keys, init_keys = jnp.stack([k[0] for k in pairs]), jnp.stack([k[1] for k in pairs])
    params = trainer.init(init_keys)
    opt_state = jax.vmap(trainer.optimizer.init)(params)
    state = {"params": params, "opt_state": opt_state, "keys": jax.random.key_data(keys)}
    run_dir = None if logdir is None else os.path.join(logdir, name)
    # one writer per run directory (infoplane.store.lock); a new run's Recorder takes it
    lock = acquire_lock(run_dir, share=True) if resume and run_dir is not None else None
    try:
        resumed_from, lost = None, []
        if lock is not None:
            if config_update:  # a resume that trains longer (resume_experiment's epochs)
                write_config(run_dir, {**read_config(run_dir), **config_update})
                log(f"extending {run_dir} to {config['epochs']} epochs")
            restored = restore_readable(run_dir, state, _warn)
            if restored is not None:
                resumed_from, state = restored
            lost = prepare_resume(
                run_dir, -1 if resumed_from is None else resumed_from,
                _scheduled(sched, seeds, probes, resumed_from),
                lambda k: os.path.isfile(ActivationStore(run_dir).path(*k)), _warn)
        recorder = Recorder(
            probes["x"], probes["y"], ests, logdir, name=name, split=probes["split"],
            test=probes["test"], schedule=sched, buffer=buffer,
            store_activations=store_activations, config=config, on_results=on_results,
            on_metrics=on_metrics, resume=resume, tensorboard=config.get("tensorboard", True),
            image_every=config.get("image_every", 5), hparams=_hparams(p, config, ests),
            per_channel=config.get("per_channel", False), probe_batch=config.get("probe_batch"),
            # a ProgressDisplay (infoplane run) also shows the estimation; None: auto (Jupyter)
            progress=progress if progress is None or isinstance(progress, ProgressDisplay)
            else False,
        )
        if resume and run_dir is not None:
            log(f"resuming {run_dir} after epoch {resumed_from}" if resumed_from is not None
                else f"no checkpoint in {run_dir}: starting from epoch 0")
        elif run_dir is not None:  # announced once the data has loaded and the Recorder made it
            log(f"run directory: {run_dir}")
        _reestimate_lost(recorder, run_dir, lost, log)
        return _train(data, trainer, state, recorder, sched, epochs, seeds, resumed_from,
                      config, log, progress, t_start)
    finally:
        if lock is not None:
            lock.release()


def _scheduled(sched: Schedule, seeds, probes, last: int | None) -> list[tuple[int, str, int]]:
    """The (seed, split, epoch) entries the schedule records up to epoch ``last``."""
    splits = [probes["split"]] + (["test"] if probes["test"] is not None else [])
    if last is None:
        return []
    return [(s, sp, e) for e in range(last + 1) if e in sched for s in seeds for sp in splits]


def _warn(msg: str) -> None:
    """A resume's loud note (a damaged file kept aside, a checkpoint skipped): on stderr."""
    print(f"infoplane: warning: {msg}", file=sys.stderr, flush=True)


def _reestimate_lost(recorder: Recorder, run_dir, lost, log) -> None:
    """Estimate the (seed, split, epoch) entries a damaged table lost from their stored
    activations, one epoch per flush (as the run estimated them)."""
    if not lost:
        return
    store = ActivationStore(run_dir)
    log(f"re-estimating {len(lost)} lost entries from {store.root}")
    for epoch in sorted({e for _s, _sp, e in lost}):
        for seed, split, e in lost:
            if e == epoch:
                recorder.add(epoch, store.read(seed, split, epoch), split=split, seed=seed)
        recorder.flush()


def _train(data: PresetData, trainer, state, recorder, sched, epochs, seeds, resumed_from,
           config, log, progress, t_start) -> RunSummary:
    """Train from the epoch after ``resumed_from`` (None: from 0) to ``epochs``, recording the
    scheduled epochs and checkpointing once their rows are on disk."""
    x_train, y_train = jnp.asarray(data.train[0]), jnp.asarray(data.train[1])
    x_test, y_test = jnp.asarray(data.test[0]), jnp.asarray(data.test[1])
    mgr = checkpoint_manager(recorder.run_dir) if recorder.run_dir else None
    start = 0 if resumed_from is None else resumed_from + 1
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
        save_checkpoint(mgr, epoch, {"params": params, "opt_state": opt_state,
                           "keys": jax.random.key_data(keys)})
        t_ckpt += time.perf_counter() - t0

    if start == 0:  # sizes and rough cost, before training (Recorder.plan)
        plan = recorder.plan(seed_model(trainer.graphdef, params, 0), epochs=epochs + 1)
        log(str(plan) + (f"\n  (each of the {len(seeds)} seeds records as much)"
                         if len(seeds) > 1 else ""))
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
            te = trainer.evaluate(params, x_test, y_test) if len(data.test[1]) else None
            for s_i, s in enumerate(seeds):
                m = {"train_acc": float(tr[0][s_i]), "train_loss": float(tr[1][s_i])}
                if te is not None:
                    m.update(test_acc=float(te[0][s_i]), test_loss=float(te[1][s_i]))
                final[s] = m
                if e in sched:
                    recorder.log_metrics(e, m, seed=s)
                    recorder.record(e, seed_model(trainer.graphdef, params, s_i), seed=s)
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

