"""What a `Recorder` is given, checked once: its estimators, probe sets, epochs and seeds, and
each recorded epoch's activations (every message says what was wrong and how to fix it).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from infoplane.estimators import from_spec
from infoplane.estimators._base import Estimator
from infoplane.estimators.validate import check_inputs, check_labels

__all__ = ["DEFAULT_ESTIMATORS", "check_int", "check_numeric", "check_options",
           "check_run_name", "default_hparams", "describe",
           "flat_activations", "probe_sets", "resolve_estimators"]

#: Estimators a `Recorder` uses when none are given.
DEFAULT_ESTIMATORS = ("binning", "adaptive_binning", "kde")


def resolve_estimators(estimators: Iterable[Any], allow_empty: bool = False,
                       null: int = 0, intervals: int = 0) -> list[Estimator]:
    """Names (``infoplane.estimators.NAMES``), specs such as ``"dsmi(sigma=1.0)"``
    (`infoplane.estimators.from_spec`) or estimator instances -> instances; with ``null``
    = P > 0 each gets the label-permutation null of P permutations
    (`infoplane.estimators.null.with_null`; one that has it already keeps its own), with
    ``intervals`` = B > 0 the confidence interval of B subsets
    (`infoplane.estimators.intervals.with_intervals`, likewise).

    Two estimators with the same name and parameters would write identical rows: an error.
    An empty list is an error unless ``allow_empty``.
    """
    from infoplane.estimators.intervals import with_intervals
    from infoplane.estimators.null import with_null

    if isinstance(estimators, str | Estimator):
        estimators = [estimators]
    out = []
    for e in estimators:
        est = from_spec(e) if isinstance(e, str) else e
        if isinstance(est, type) or not isinstance(est, Estimator):
            raise TypeError(
                f"estimators must be names or estimator instances such as Binning(), got {e!r}."
            )
        out.append(with_intervals(with_null(est, null), intervals))
    keys = [(e.name, e.params()) for e in out]
    if len(set(keys)) != len(keys):
        raise ValueError("the same estimator (name and parameters) is listed twice.")
    if not out and not allow_empty:
        raise ValueError(
            "no estimator given: pass e.g. estimators=['binning'] (an empty list is allowed "
            "with store_activations=True, to estimate later with `infoplane estimate`)."
        )
    return out


def check_int(v, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 0:
        raise ValueError(f"{what} must be a non-negative integer, got {v!r}.")
    return int(v)


def check_probe(x, y, split: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        check_numeric(x, "x")
        y = check_labels(y)
        x = check_inputs(x, y.shape[0])
    except (ValueError, TypeError) as err:
        raise type(err)(f"probe set {split!r}: {err}") from None
    x, y = np.asarray(x), np.asarray(y)
    if y.shape[0] < 2:
        raise ValueError(
            f"probe set {split!r} has {y.shape[0]} sample(s); information needs at least 2 "
            "(a few hundred for meaningful estimates): pass more probe samples."
        )
    if x.dtype.kind == "f" and not np.all(np.isfinite(x)):
        bad = int(np.sum(~np.isfinite(x)))
        raise ValueError(
            f"probe set {split!r}: x has {bad} NaN or infinite value(s); clean or drop those "
            "samples before recording."
        )
    return x, y


def check_numeric(v, what: str) -> None:
    """A TypeError unless ``v`` is a real (bool, integer or float) array."""
    kind = getattr(v, "dtype", None)
    kind = kind.kind if kind is not None else np.asarray(v).dtype.kind
    if kind not in "biuf":
        raise TypeError(
            f"{what} must be a real-valued numeric array (bool, int or float), got dtype "
            f"{getattr(v, 'dtype', None) or np.asarray(v).dtype} (complex, string and object "
            "arrays are not activations); convert it, e.g. np.asarray(v, dtype=np.float32)."
        )


def probe_sets(x, y, split: str, test) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{split: (x, y)}`` and, with ``test = (x_test, y_test)``, ``"test"`` after it."""
    probes = {split: check_probe(x, y, split)}
    if test is not None:
        if split == "test":
            raise ValueError("split='test' clashes with the test probe set; rename split.")
        if not isinstance(test, tuple | list) or len(test) != 2:
            raise TypeError("test must be a pair (x_test, y_test).")
        probes["test"] = check_probe(test[0], test[1], "test")
    return probes


def check_options(source: str, output: str | None, buffer: int, name: str | None = None
                  ) -> None:
    """The capture options, the buffer size and the run name of a `Recorder`."""
    if source not in ("inputs", "outputs"):
        raise ValueError(f"source must be 'inputs' or 'outputs', got {source!r}.")
    if output not in ("softmax", "logits", None):
        raise ValueError(f"output must be 'softmax', 'logits' or None, got {output!r}.")
    if isinstance(buffer, bool) or not isinstance(buffer, int | np.integer):
        raise TypeError(f"buffer must be an integer >= 1 (recorded epochs estimated together), "
                        f"got {buffer!r} ({type(buffer).__name__}).")
    if buffer < 1:
        raise ValueError(f"buffer must be at least 1, got {buffer}.")
    if name is not None:
        check_run_name(name, "name")


#: The `Recorder` keywords `check_settings` checks.
SETTINGS = ("split", "flush_seconds", "image_every", "layers", "store_activations", "resume",
            "tensorboard", "shard", "write_ahead", "apply_kwargs", "config", "hparams",
            "probe_batch", "per_channel", "null", "intervals")


def check_settings(*, split, flush_seconds, image_every, layers, store_activations, resume,
                   tensorboard, shard, write_ahead, apply_kwargs, config, hparams,
                   probe_batch=None, per_channel=False, null=0, intervals=0) -> None:
    """The other keyword settings of a `Recorder`, each by name: ``split`` a plain name (it
    becomes part of TensorBoard tags and file rows), ``flush_seconds`` > 0 (inf: never by
    time), ``image_every`` and ``null`` integers >= 0, ``probe_batch`` None or an integer >= 1,
    ``layers`` None, a predicate or a sequence of
    layer names; the flags True / False (``shard`` also None; ``write_ahead`` is checked by
    `infoplane.recording.write_ahead`), the
    mappings (``apply_kwargs``, ``config``, ``hparams``) a mapping or None. Raises a
    TypeError / ValueError naming the setting."""
    flags = dict(store_activations=store_activations, resume=resume, tensorboard=tensorboard)
    maybe_flags = dict(shard=shard)  # write_ahead: write_ahead.check_write_ahead (TypeError)
    mappings = dict(apply_kwargs=apply_kwargs, config=config, hparams=hparams)
    from infoplane.estimators.validate import check_flag, check_int

    if not isinstance(split, str) or not split.strip() or "/" in split or "\0" in split:
        raise ValueError(f"split must be a plain name such as 'train' or 'test' (no '/'), got "
                         f"{split!r}.")
    if isinstance(flush_seconds, bool) or not isinstance(flush_seconds, int | float | np.integer
                                                         | np.floating):
        raise TypeError(f"flush_seconds must be a number of seconds > 0 (inf: flush only when "
                        f"the buffer is full), got {flush_seconds!r}.")
    if not flush_seconds > 0:  # NaN too
        raise ValueError(f"flush_seconds must be > 0 (inf: flush only when the buffer is "
                         f"full), got {flush_seconds!r}.")
    check_per_channel(per_channel)
    check_int(image_every, "image_every", lo=0, hint="It counts recorded epochs between "
              "information-plane images (default 10; 0: only at the end).")
    check_int(null, "null", lo=0, hint="It is the number of label permutations of the "
              "I(T;Y) null baseline (0: off; each costs one more estimate).")
    check_int(intervals, "intervals", lo=0, hint="It is the number of subsets of the "
              "confidence intervals (0: off; 20 or more for a 95 % interval).")
    if probe_batch is not None:
        check_int(probe_batch, "probe_batch", lo=1, hint="It is the number of probe rows per "
                  "forward pass (None: the whole probe set up to 8192 rows, else 2048).")
    if not (layers is None or callable(layers) or (
            isinstance(layers, list | tuple) and all(isinstance(v, str) for v in layers))):
        raise TypeError(f"layers must be None (every layer), a predicate name -> bool or a "
                        f"list of layer names, got {layers!r}.")
    for key, value in flags.items():
        check_flag(value, key)
    for key, value in maybe_flags.items():
        check_flag(value, key, none=True)
    for key, value in mappings.items():
        if value is not None and not isinstance(value, Mapping):
            raise TypeError(f"{key} must be a mapping (a dict) or None, got {value!r} "
                            f"({type(value).__name__}).")


def check_run_name(name, what: str = "name") -> str:
    """``name`` if it is a plain directory name (no path separator, not '.' or '..'), so the
    run directory ``logdir/name`` stays inside ``logdir``; else a ValueError."""
    seps = {os.sep, "/"} | ({os.altsep} if os.altsep else set())
    if (not isinstance(name, str) or not name.strip() or name in (".", "..")
            or any(s in name for s in seps) or "\0" in name):
        raise ValueError(
            f"{what} must be a plain directory name inside the logdir (no '/', not '.' or "
            f"'..'), got {name!r}; e.g. {what}='relu-run1'."
        )
    if len(name.encode("utf-8", "surrogatepass")) > 200:
        raise ValueError(f"{what} is {len(name.encode('utf-8', 'surrogatepass'))} bytes long; a "
                         f"run directory name must stay under 200 bytes (file systems allow "
                         f"255 per name). Use a shorter {what}.")
    return name


def flat_activations(activations: Mapping[str, Any], n: int) -> dict[str, jax.Array]:
    """``{layer: (N, d) float32}`` of one probe set's activations ``{layer: (N, ...)}``."""
    acts = {}
    if not isinstance(activations, Mapping):
        raise TypeError(f"activations must be a mapping {{layer name: (N, ...) array}}, got "
                        f"{type(activations).__name__}.")
    for k, v in activations.items():
        check_numeric(v, f"layer {k!r}")
        v = jnp.asarray(v)
        if v.ndim < 2 or v.shape[0] != n:
            raise ValueError(
                f"layer {k!r}: activations must have shape (N, ...) with N = {n} probe "
                f"samples, got {tuple(v.shape)}."
            )
        if v.ndim != 2:  # conv maps etc.; (N, d) float32 arrays pass without a device op
            v = v.reshape(n, -1)
        acts[k] = v if v.dtype == jnp.float32 else v.astype(jnp.float32)
    return acts


#: Per-channel runs: ``{layer: C}`` of the layers estimated channel by channel, written once
#: the first epoch's shapes are known, so a resume (and its write-ahead recovery, whose files
#: hold flattened maps) estimates them the same way.
CHANNELS_FILE = "channels.json"


#: The values of a `Recorder`'s ``per_channel``: off, channels last (True, "last": flax and
#: JAX's (N, H, W, C)) or channels first ("first": PyTorch's (N, C, H, W)).
PER_CHANNEL = (False, True, "last", "first")


def check_per_channel(per_channel) -> None:
    """``per_channel`` one of `PER_CHANNEL` (a TypeError naming them otherwise)."""
    if not any(per_channel is v or (isinstance(v, str) and per_channel == v)
               for v in PER_CHANNEL):
        raise TypeError(f"per_channel must be False, True / 'last' (conv maps (N, H, W, C), "
                        f"flax and JAX) or 'first' ((N, C, H, W), PyTorch), got "
                        f"{per_channel!r}.")


def channels_last(per_channel) -> bool:
    """Whether a `Recorder`'s ``per_channel`` setting lays the channels last."""
    return per_channel != "first"


def channel_counts(shapes: Mapping[str, Sequence[int]], last: bool = True) -> dict[str, int]:
    """``{layer: C}`` of the layers whose per-sample ``shapes`` have more than one axis:
    (..., C) channels last, as flax and JAX lay out conv maps, or (C, ...) with ``last``
    False (PyTorch). Dense layers (d,) and maps of one channel are left out."""
    axis = -1 if last else 0
    return {k: int(v[axis]) for k, v in shapes.items() if len(v) > 1 and int(v[axis]) > 1}


def save_channels(run_dir: str | None, counts: dict[str, int]) -> dict[str, int]:
    """Write a per-channel run's channel ``counts`` (`CHANNELS_FILE`, when there is a run
    directory) and return them."""
    if run_dir is not None:
        from infoplane.store.atomic import write_json

        write_json(os.path.join(run_dir, CHANNELS_FILE), counts)
    return counts


def load_channels(run_dir: str) -> dict[str, int] | None:
    """The channel counts a per-channel run wrote (`CHANNELS_FILE`), or None."""
    import json

    path = os.path.join(run_dir, CHANNELS_FILE)
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        if not isinstance(data, dict) or not all(
                isinstance(v, int) and not isinstance(v, bool) and v >= 1
                for v in data.values()):
            raise ValueError("not a mapping layer -> channel count")
    except (ValueError, OSError) as err:
        raise ValueError(f"{path}: unreadable channel counts of the per-channel run ({err}); "
                         "delete the file to have them read again from the next recorded "
                         "epoch (epochs recovered from pending/ are then estimated flat)."
                         ) from None
    return {str(k): int(v) for k, v in data.items()}


def default_hparams(estimators: Sequence[Estimator], source: str, output: str | None,
                    config: Mapping[str, Any] | None) -> dict:
    """A recorder's TensorBoard hparams: its settings, then the scalar entries of ``config``."""
    own = {"estimators": ",".join(e.name for e in estimators), "source": source,
           "output": str(output)}
    return {k: v for k, v in {**own, **dict(config or {})}.items()
            if isinstance(v, bool | int | float | str)}


def describe(name: str, estimators: Sequence[Estimator],
             probes: Mapping[str, tuple[np.ndarray, np.ndarray]],
             ceilings: Mapping[str, Mapping[str, float]],
             layers: Sequence[str] | Callable[[str], bool] | None, source: str,
             output: str | None, schedule, buffer: int) -> dict:
    """A recorder's settings as JSON-serialisable data (its part of ``config.json``)."""
    return {
        "run": name,
        "estimators": [e.name for e in estimators],
        "estimator_params": [dict(e.params()) for e in estimators],
        "probes": {k: {"n": int(v[1].shape[0]), "x_shape": list(v[0].shape[1:]),
                       "h_x_bits": ceilings[k]["i_xt"],
                       "h_y_bits": ceilings[k]["i_ty"]}
                   for k, v in probes.items()},
        "layers": list(layers) if isinstance(layers, tuple) else
        (None if layers is None else getattr(layers, "__name__", "filter")),
        "source": source,
        "output": output,
        "schedule": schedule.describe(),
        "buffer": buffer,
        "units": sorted({e.units for e in estimators}),
        "null_labels": [_null_of(e) for e in estimators],
        "intervals": [_intervals_of(e) for e in estimators],
    }


def _wrapper_in(est, cls):
    """The first wrapper of type ``cls`` in ``est``'s chain of wrappers, or None."""
    from infoplane.estimators._wrapper import chain

    return next((e for e in chain(est) if isinstance(e, cls)), None)


def _null_of(est) -> dict | None:
    """The label-permutation null of ``est`` (`infoplane.NullLabels` in its chain of
    wrappers) as ``{"permutations": P, "seed": s}``; None without one."""
    from infoplane.estimators.null import NullLabels

    null = _wrapper_in(est, NullLabels)
    return None if null is None else {"permutations": null.permutations, "seed": null.seed}


def _intervals_of(est) -> dict | None:
    """The `infoplane.Intervals` of ``est`` (in its chain of wrappers) as ``{"resamples": B,
    "method", "fraction", "level", "kind", "seed"}``; None without one."""
    from infoplane.estimators.intervals import METHOD, Intervals

    iv = _wrapper_in(est, Intervals)
    return None if iv is None else {"resamples": iv.resamples, "method": METHOD,
                                    "fraction": iv.fraction, "level": iv.level,
                                    "kind": iv.kind, "seed": iv.seed}
