"""Recording overhead of the default preset (issue 5): estimating one recorded epoch vs one
training epoch, in the same process.

Workload: tishby-tanh (12-10-7-5-4-3-2 tanh, 3277 training samples, batch 256), probe = all 4096
inputs, 6 recorded layers. After warm-up (compilation excluded, it is reported separately),
``--rounds`` rounds alternate, so both sides see the same state of a shared host:
- train: median wall time of ``--epochs-timed`` training epochs (a jitted lax.scan over 13
  minibatches, each blocked on as the harness does);
- capture: the jitted forward pass that records every layer on the probe;
- estimate: a `Recorder` flush of ``--buffer`` (16) buffered epochs, divided by 16.
The printed ratio is the median over rounds of estimate / train, with its range.
``--devices K`` exposes K CPU cores as JAX devices (default: all cores, as `infoplane run`
does); the recorder then estimates several layers at once, one per device.
Target: binning + adaptive binning estimation of one epoch <= 2x one training epoch.

Usage: python benchmarks/bench_recording.py [--rounds 6] [--sets 'binning+adaptive_binning;kde']
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import jax
import jax.numpy as jnp

from infoplane.experiments import datasets, presets, training
from infoplane.experiments.runtime import use_cpu_cores as _use_cpu_cores
from infoplane.recording.recorder import Recorder


def _trainer():
    """The default preset's trainer, ``[params, opt, keys, x, y]`` after one (compiling)
    training epoch, and that epoch's wall time (compilation included)."""
    p = presets.PRESETS["tishby-tanh"]
    x, y = datasets.tishby_dataset()
    tr_idx, _ = datasets.train_test_split(len(y), p.train_fraction, 0)
    tr = training.trainer(p, x.shape, 2, len(tr_idx))
    params = tr.init(jnp.stack([jax.random.key(1)]))
    opt = jax.vmap(tr.optimizer.init)(params)
    keys = jnp.stack([jax.random.key(0)])
    xt, yt = jnp.asarray(x[tr_idx]), jnp.asarray(y[tr_idx])
    t0 = time.perf_counter()
    params, opt, keys, loss = tr.epoch(params, opt, keys, xt, yt)
    jax.block_until_ready(loss)
    return tr, [params, opt, keys, xt, yt], time.perf_counter() - t0


def _train_epochs(tr, state, n: int) -> float:
    """Median wall time of ``n`` training epochs, each blocked on as the harness does; the
    trained params, optimizer state and keys are written back into ``state``."""
    times = []
    params, opt, keys, xt, yt = state
    for _ in range(n):
        t0 = time.perf_counter()
        params, opt, keys, loss = tr.epoch(params, opt, keys, xt, yt)
        jax.block_until_ready(loss)
        times.append(time.perf_counter() - t0)
    state[:3] = params, opt, keys
    return statistics.median(times)


def _measure(estimators, tr, state, args):
    """Alternate ``args.rounds`` times: training epochs, then one flush of ``args.buffer``
    recorded epochs, so that both see the same state of a shared host. Returns per-round
    (train s/epoch, capture s/epoch, estimate s/epoch) and the first flush (with compile)."""
    x, y = datasets.tishby_dataset()
    ests = presets.default_estimators(estimators, len(y))
    rec = Recorder(x, y, ests, None, split="all", buffer=args.buffer, flush_seconds=1e9)
    model = training.seed_model(tr.graphdef, state[0], 0)
    t_first = time.perf_counter()
    for e in range(args.buffer):  # first flush: includes compilation
        rec.record(e, model)
    t_first = time.perf_counter() - t_first
    rounds, epoch = [], args.buffer
    for _ in range(args.rounds):
        train = _train_epochs(tr, state, args.epochs_timed)
        rec.seconds = {"capture": 0.0, "estimate": 0.0}
        for _ in range(args.buffer):
            rec.record(epoch, model)
            epoch += 1
        rounds.append((train, rec.seconds["capture"] / args.buffer,
                       rec.seconds["estimate"] / args.buffer))
    return rounds, t_first


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs-timed", type=int, default=50, help="training epochs per round")
    ap.add_argument("--buffer", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=6, help="timed rounds after the first flush")
    ap.add_argument("--sets", default="binning+adaptive_binning;kde;compressed(noise='absolute');"
                    "dsmi(sigma=1.0)",
                    help="';'-separated estimator sets, '+' inside a set")
    ap.add_argument("--devices", type=int, default=None,
                    help="CPU devices (default: the cores, as `infoplane run`; 1: one device)")
    args = ap.parse_args()
    if args.devices is not None:
        os.environ["INFOPLANE_CPU_DEVICES"] = str(args.devices)
    _use_cpu_cores()
    print(f"machine: {platform.machine()} {platform.processor() or ''}, "
          f"{os.cpu_count()} CPUs, jax {jax.__version__}, devices {jax.devices()}")
    tr, state, train_compile = _trainer()
    print(f"training epoch compiled in {train_compile:.1f} s; {args.rounds} rounds of "
          f"{args.epochs_timed} training epochs then {args.buffer} recorded epochs (medians)")
    for spec in args.sets.split(";"):
        names = spec.split("+")
        rounds, first = _measure(names, tr, state, args)
        train, cap, est = (statistics.median(r[i] for r in rounds) for i in range(3))
        ratios = sorted(r[2] / r[0] for r in rounds)
        ratio = statistics.median(ratios)
        target = "  target <= 2x: " + ("met" if ratio <= 2 else "NOT met") if spec == (
            "binning+adaptive_binning") else ""
        print(f"{spec:<26} training {train * 1e3:5.2f} ms, capture {cap * 1e3:6.2f} ms, "
              f"estimate {est * 1e3:8.2f} ms per recorded epoch = {ratio:6.2f}x one training "
              f"epoch (rounds {ratios[0]:.2f}-{ratios[-1]:.2f}x; first flush incl. compile "
              f"{first:.1f} s){target}", flush=True)


if __name__ == "__main__":
    main()
