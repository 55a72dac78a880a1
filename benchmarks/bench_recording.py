"""Recording overhead of the default preset (issue 5): estimating one recorded epoch vs one
training epoch, in the same process.

Workload: tishby-tanh (12-10-7-5-4-3-2 tanh, 3277 training samples, batch 256), probe = all 4096
inputs, 6 recorded layers. After warm-up (compilation excluded, it is reported separately):
- train: mean wall time of one training epoch (a jitted lax.scan over 13 minibatches).
- capture: the jitted forward pass that records every layer on the probe.
- estimate: a `Recorder` flush of 16 buffered epochs (vmap over epochs), divided by 16.
  ``--devices K`` exposes K CPU cores as JAX devices (default: all cores, as `infoplane run`
  does); the recorder then estimates several layers at once, one per device.
Target: binning + adaptive binning estimation of one epoch <= 2x one training epoch.

Usage: python benchmarks/bench_recording.py [--epochs-timed 200] [--estimators ...]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import jax
import jax.numpy as jnp

from infoplane import datasets, harness
from infoplane.cli import _use_cpu_cores
from infoplane.recorder import Recorder


def _train_epoch_seconds(n: int):
    p = harness.PRESETS["tishby-tanh"]
    x, y = datasets.tishby_dataset()
    tr_idx, _ = datasets.train_test_split(len(y), p.train_fraction, 0)
    tr = harness._trainer(p, x.shape, 2, len(tr_idx))
    params = tr.init(jnp.stack([jax.random.key(1)]))
    opt = jax.vmap(tr.optimizer.init)(params)
    keys = jnp.stack([jax.random.key(0)])
    xt, yt = jnp.asarray(x[tr_idx]), jnp.asarray(y[tr_idx])
    t0 = time.perf_counter()
    params, opt, keys, loss = tr.epoch(params, opt, keys, xt, yt)
    jax.block_until_ready(loss)
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(n):
        params, opt, keys, loss = tr.epoch(params, opt, keys, xt, yt)
        jax.block_until_ready(loss)  # as the harness does
    return (time.perf_counter() - t0) / n, compile_s, tr, params


def _estimate_seconds(estimators, tr, params, buffer=16, rounds=2):
    x, y = datasets.tishby_dataset()
    ests = harness.default_estimators(estimators, len(y))
    rec = Recorder(x, y, ests, None, split="all", buffer=buffer, flush_seconds=1e9)
    model = harness._seed_model(tr.graphdef, params, 0)
    t_first = time.perf_counter()
    for e in range(buffer):  # first flush: includes compilation
        rec.record(e, model)
    t_first = time.perf_counter() - t_first
    rec.seconds = {"capture": 0.0, "estimate": 0.0}
    for e in range(buffer, buffer * (1 + rounds)):
        rec.record(e, model)
    n = buffer * rounds
    return rec.seconds["capture"] / n, rec.seconds["estimate"] / n, t_first


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs-timed", type=int, default=200)
    ap.add_argument("--buffer", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=2, help="timed flushes after the first")
    ap.add_argument("--sets", default="binning+adaptive_binning;kde;compressed;dsmi",
                    help="';'-separated estimator sets, '+' inside a set")
    ap.add_argument("--devices", type=int, default=None,
                    help="CPU devices (default: the cores, as `infoplane run`; 1: one device)")
    args = ap.parse_args()
    if args.devices is not None:
        os.environ["INFOPLANE_CPU_DEVICES"] = str(args.devices)
    _use_cpu_cores()
    print(f"machine: {platform.machine()} {platform.processor() or ''}, "
          f"{os.cpu_count()} CPUs, jax {jax.__version__}, devices {jax.devices()}")
    train_s, train_compile, tr, params = _train_epoch_seconds(args.epochs_timed)
    print(f"training: {train_s * 1e3:.2f} ms per epoch (compile {train_compile:.1f} s)")
    for spec in args.sets.split(";"):
        names = spec.split("+")
        cap, est, first = _estimate_seconds(names, tr, params, args.buffer, args.rounds)
        ratio = est / train_s
        target = "  target <= 2x: " + ("met" if ratio <= 2 else "NOT met") if spec == (
            "binning+adaptive_binning") else ""
        print(f"{spec:<26} capture {cap * 1e3:6.2f} ms, estimate {est * 1e3:8.2f} ms per "
              f"recorded epoch = {ratio:6.2f}x one training epoch (first flush incl. compile "
              f"{first:.1f} s){target}", flush=True)


if __name__ == "__main__":
    main()
