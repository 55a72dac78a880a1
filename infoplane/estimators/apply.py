"""Applying an estimator to arrays: validate, prepare the probe once, run under ``jax.jit``.

- `estimate`: one layer, (N, d) activations;
- `estimate_epochs`: E recorded epochs of one layer at once, (E, N, d), batched with
  ``jax.vmap`` (or ``lax.map``, `Estimator.epoch_batching`) and, with several local devices,
  sharded over them with ``jax.shard_map``;
- `prepare` builds the probe context once; `dispatch_prepared` / `finish_prepared` split
  `estimate_prepared` into a non-blocking dispatch and a collection (the `Recorder` overlaps
  many layers that way);
- row-hash collisions of the binned estimators are detected on device and the affected epochs
  recomputed with other seeds (`MAX_HASH_RETRIES`), so every result is exact.
"""

from __future__ import annotations

import dataclasses
import functools
import warnings

import jax
import numpy as np
from jax import lax
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from infoplane.estimators._base import Estimate, Estimator, Probe, make_probe
from infoplane.estimators._wrapper import chain, innermost
from infoplane.estimators.validate import (
    SEED_MAX,
    check_activations,
    check_estimator,
    check_flag,
    check_inputs,
    check_labels,
)

#: How many other hash seeds to try when a layer's row hash collides (each try fails with
#: probability ~N^2 / 2^32; see `infoplane.estimators._discrete`).
MAX_HASH_RETRIES = 8


@functools.partial(jax.jit, static_argnums=0)
def _layer(estimator: Estimator, ctx, t) -> Estimate:
    return estimator.estimate_layer(ctx, t)


def _batch(estimator: Estimator, ctx, ts) -> Estimate:
    def one(t):
        return estimator.estimate_layer(ctx, t)

    if estimator.epoch_batching == "map":
        return lax.map(one, ts)
    return jax.vmap(one)(ts)


_epochs = jax.jit(_batch, static_argnums=0)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _epochs_sharded(estimator: Estimator, mesh: Mesh, ctx, ts) -> Estimate:
    """The epochs axis split over the devices of a 1-D mesh; the probe context replicated."""
    f = jax.shard_map(
        functools.partial(_batch, estimator),
        mesh=mesh,
        in_specs=(P(), P("epochs")),
        out_specs=P("epochs"),
    )
    return f(ctx, ts)


@functools.cache
def _epochs_mesh(n_devices: int) -> Mesh:
    return jax.make_mesh((n_devices,), ("epochs",), axis_types=(AxisType.Auto,))


def _run_epochs(estimator: Estimator, ctx, ts, shard: bool | None) -> Estimate:
    """Batched estimation, sharded over all local devices when there are several."""
    n_dev = jax.local_device_count()
    if shard is False or n_dev < 2:
        return _epochs(estimator, ctx, ts)
    e = ts.shape[0]
    pad = (-e) % n_dev
    ts = jax.numpy.asarray(ts)
    if pad:  # fixed shapes: pad with copies of the last epoch, dropped below
        ts = jax.numpy.concatenate([ts, jax.numpy.repeat(ts[-1:], pad, axis=0)])
    mesh = _epochs_mesh(n_dev)
    ts = jax.device_put(ts, NamedSharding(mesh, P("epochs")))
    ctx = jax.device_put(ctx, NamedSharding(mesh, P()))
    out = _epochs_sharded(estimator, mesh, ctx, ts)
    return jax.tree_util.tree_map(lambda a: a[:e], out) if pad else out


def prepare(estimator: Estimator, x, y, n: int | None = None):
    """Validate a probe set and build the estimator's context (do this once per probe set).

    x: (N, ...) inputs; y: (N,) integer labels. Returns ``(probe, ctx)``.
    """
    check_estimator(estimator)
    y = check_labels(y, n)
    x = check_inputs(x, y.shape[0])
    probe = make_probe(x, y)
    return probe, estimator.prepare(probe)


def _collisions(result: Estimate):
    c = result.aux.get("hash_collisions")
    return None if c is None else np.asarray(c)


def _retry(estimator, ctx, t) -> Estimate:
    """Recompute one layer with other hash seeds until its grouping is verified exact."""
    # wrappers (Subsample, PerChannel) hold the hashed estimator
    base = next((e for e in chain(estimator) if hasattr(e, "hash_seed")), innermost(estimator))
    for k in range(1, MAX_HASH_RETRIES + 1):
        seed = (base.hash_seed + k) % (SEED_MAX + 1)  # stays a valid seed
        if hasattr(estimator, "with_hash_seed"):
            alt = estimator.with_hash_seed(seed)
        else:
            alt = dataclasses.replace(estimator, hash_seed=seed)
        r = _layer(alt, ctx, t)
        if int(np.asarray(r.aux["hash_collisions"])) == 0:
            return dataclasses.replace(r, params=estimator.params())
    warnings.warn(
        f"{estimator.name}: row-hash collisions persisted over {MAX_HASH_RETRIES} seeds; the "
        "estimate may merge a few distinct states (see aux['hash_collisions']).",
        RuntimeWarning,
        stacklevel=3,
    )
    return r


def estimate(estimator: Estimator, x, t, y) -> Estimate:
    """Estimate I(X;T) and I(T;Y) for one layer.

    Args:
      estimator: e.g. ``infoplane.estimators.Binning()``.
      x: (N, ...) probe inputs (used to find repeated inputs, and by estimators that need X).
      t: (N, d) the layer's activations on the probe inputs (flatten conv maps first).
      y: (N,) integer labels.

    Returns an `Estimate` with scalar ``i_xt``, ``i_ty`` in the estimator's units (bits by
    default), ``aux`` diagnostics, and ``metadata()`` holding every parameter.

    The per-layer computation is jit-compiled once per (estimator, shape); later calls with the
    same shapes reuse it.
    """
    check_estimator(estimator)
    n = check_activations(t, batched=False)[0]
    t = t if hasattr(t, "dtype") else np.asarray(t)  # a nested list works too
    _, ctx = prepare(estimator, x, y, n)
    result = _layer(estimator, ctx, t)
    c = _collisions(result)
    if c is not None and c > 0:
        result = _retry(estimator, ctx, t)
    return result


def estimate_epochs(estimator: Estimator, x, ts, y, *, ctx=None, shard=None) -> Estimate:
    """Estimate the information plane of one layer at E recorded epochs at once.

    ts: (E, N, d) activations stacked over epochs. The estimator is mapped over the epochs
    axis with ``jax.vmap`` (or ``lax.map`` for estimators with O(N^2) temporaries); results
    equal a Python loop over `estimate`. Returns an `Estimate` whose arrays have shape (E,).
    ``ctx``: an already prepared context (from `prepare`) to skip re-preparing the probe.
    ``shard``: with several local devices (GPUs, or CPU cores exposed as devices with
    ``XLA_FLAGS=--xla_force_host_platform_device_count=K``), the epochs axis is split over them
    with ``jax.shard_map`` (the default, ``None``); results are identical to one device.
    ``False`` keeps everything on one device.
    """
    check_estimator(estimator)
    n = check_activations(ts, batched=True)[1]
    ts = ts if hasattr(ts, "dtype") else np.asarray(ts)
    check_flag(shard, "shard", none=True)
    if ctx is None:
        _, ctx = prepare(estimator, x, y, n)
    return estimate_prepared(estimator, ctx, ts, shard=shard)


def estimate_prepared(estimator: Estimator, ctx, ts, *, shard=None) -> Estimate:
    """`estimate_epochs` without input checks: ``ctx`` from `prepare`, ``ts`` (E, N, d)
    already known to be finite (the `infoplane.Recorder` checks each layer once on device)."""
    return finish_prepared(estimator, ctx, ts, dispatch_prepared(estimator, ctx, ts,
                                                                 shard=shard))


def dispatch_prepared(estimator: Estimator, ctx, ts, *, shard=None) -> Estimate:
    """Start `estimate_prepared` without waiting for the device: the returned arrays may still
    be computing (JAX's asynchronous dispatch), so several layers, on several devices, run
    at once. Pass the result to `finish_prepared` to get the final `Estimate`."""
    return _run_epochs(estimator, ctx, ts, shard)


def finish_prepared(estimator: Estimator, ctx, ts, result: Estimate) -> Estimate:
    """Second half of `estimate_prepared`: waits for ``result`` and recomputes the epochs whose
    row hash collided (`_retry`), so the returned estimate is exact."""
    c = _collisions(result)
    if c is not None and c.any():
        fixed = [(int(e), _retry(estimator, ctx, ts[e])) for e in np.flatnonzero(c)]
        result = jax.tree_util.tree_map(np.asarray, result)
        for e, r in fixed:
            result = jax.tree_util.tree_map(
                lambda a, v, e=e: _set(a, e, v), result, r
            )
    return result


def _set(a, index, value):
    a = np.array(a)
    a[index] = np.asarray(value)
    return a


__all__ = [
    "Probe",
    "dispatch_prepared",
    "estimate",
    "estimate_epochs",
    "estimate_prepared",
    "finish_prepared",
    "prepare",
]
