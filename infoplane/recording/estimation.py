"""Estimating a `Recorder`'s buffered epochs (`Estimation`): every (probe set, layer,
estimator) computation is dispatched before any is waited for, so they overlap on the
available devices (`infoplane.recording.placement`); then the results are collected in order
into rows (hash collisions recomputed, a failing estimator reported and skipped).

Epochs are batched with ``vmap`` / ``lax.map`` (`infoplane.estimate_epochs`) in chunks of
``buffer`` epochs and then single epochs, so each layer width compiles at most twice, never
once per epoch.

Rows (`infoplane.store.tables`): one result row per (seed, split, epoch, layer, estimator),
the saturation statistics of each layer (`infoplane.report.diagnostics`) and every
auxiliary scalar of an estimate (`aux_scalars`).

Channel counts (`Estimation.layer_estimator`): an estimator that needs the layer's channel
count -- `MatrixRenyi` with ``conv="multivariate"`` and ``channels=0``, anywhere in a chain of
wrappers (`Subsample`) -- gets it per layer (`with_layer_channels`): from the layer's
per-sample shape before flattening (``shapes``, (H, W, C) channels last, or (C, H, W) with
``channels_last=False``), else from the per-channel counts (``channels``). It is not also
wrapped in `PerChannel` (its multivariate kernel already treats the channels one by one). Its
rows keep the estimator's own ``params`` (``channels: 0``, one curve over every layer); the
count used is in aux ``n_channels``. A flat layer (shape (d,)) or one whose shape is not known
fails for that estimator with a message saying so (a failure row, the others go on).
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from infoplane.estimators._base import Estimator
from infoplane.estimators._wrapper import chain as _chain
from infoplane.estimators.apply import dispatch_prepared, finish_prepared, prepare
from infoplane.estimators.channels import PerChannel
from infoplane.estimators.validate import check_activations
from infoplane.recording.buffer import Entry
from infoplane.recording.placement import stack_epochs
from infoplane.report import diagnostics as _diagnostics
from infoplane.store.tables import INTERVAL_COLUMNS

__all__ = ["Estimation", "NonFiniteEstimateWarning", "aux_scalars", "merged_shapes",
           "needs_layer_channels", "params_json", "row_estimator", "with_layer_channels"]


class NonFiniteEstimateWarning(RuntimeWarning):
    """An estimator returned NaN or ±inf for I(X;T) or I(T;Y) (warned once per estimator and
    quantity; `Compressed`'s deliberately withheld unstable estimates get a note instead)."""


def params_json(est: Estimator) -> str:
    """The ``params`` column of an estimator's result rows: `Estimate.metadata` (name, units,
    every parameter) as JSON with sorted keys."""
    meta = {"estimator": est.name, "units": est.units, **dict(est.params())}
    return json.dumps(meta, sort_keys=True, default=str)


def aux_scalars(result, n_epochs: int) -> dict[str, np.ndarray]:
    """The auxiliary values of a batched `Estimate` that are one number per epoch:
    ``{name: (E,) float64}``, names sorted; other shapes (per-unit or per-class arrays) are
    left out."""
    out = {}
    for name in sorted(result.aux):
        a = np.asarray(result.aux[name])
        if a.shape == (n_epochs,) and (a.dtype.kind in "fiub"):
            out[name] = a.astype(np.float64)
    return out


def row_estimator(est: Estimator, channels: int | None, last: bool = True) -> Estimator:
    """The estimator whose name and ``params`` the rows of ``est`` carry on a layer of
    ``channels`` channels estimated channel by channel (None: flattened): `PerChannel`-wrapped,
    except one that takes the layer's channel count itself (`needs_layer_channels`: its own
    params, one curve over every layer)."""
    if channels is None or needs_layer_channels(est):
        return est
    return PerChannel(est, channels, channels_last=last)


def needs_layer_channels(est) -> bool:
    """Whether ``est`` (or an estimator it wraps) needs the layer's channel count: a
    multivariate `MatrixRenyi` with ``channels=0``."""
    while est is not None:
        if getattr(est, "conv", None) == "multivariate" and getattr(est, "channels", None) == 0:
            return True
        est = getattr(est, "estimator", None)
    return False


def with_layer_channels(est, layer: str, shape: tuple[int, ...] | None,
                        counted: int | None = None, counts_known: bool = False):
    """``est`` with the layer's channel count given to the estimator that needs it
    (`needs_layer_channels`; wrappers rebuilt with `dataclasses.replace`). ``shape``: the
    layer's per-sample shape before flattening (None: unknown); ``counted``: its channel
    count from the per-channel counts (channels last), used when the shape is unknown;
    ``counts_known``: those counts cover every multi-channel layer (so a layer without one is
    flat). ValueError, naming the layer, for a flat layer or an unknown shape."""
    inner = getattr(est, "estimator", None)
    if inner is not None:  # a wrapper (Subsample): rebuilt around the filled estimator
        return dataclasses.replace(est, estimator=with_layer_channels(
            inner, layer, shape, counted, counts_known))
    if not needs_layer_channels(est):
        return est
    last = bool(getattr(est, "channels_last", True))
    if shape is not None and len(shape) >= 2:
        c = int(shape[-1] if last else shape[0])
    elif shape is None and counted is not None and last:
        c = int(counted)
    else:
        what = (f"is flat (per-sample shape {tuple(shape)}), it has no channels" if shape
                is not None else "is flat or has one channel (per the per-channel counts)"
                if counts_known and last else "has no known per-sample shape (its activations "
                "arrived flattened)")
        raise ValueError(
            f"{est.name} conv='multivariate' with channels=0 takes the layer's channel count "
            f"from its shape, but layer {layer!r} {what}. Use conv='tensor' for it, or give "
            "channels=C explicitly."
        )
    return dataclasses.replace(est, channels=c)


def merged_shapes(known: Mapping, shapes: Mapping) -> dict[str, tuple[int, ...]]:
    """The per-sample shapes to keep: ``shapes`` unless ``known`` already has a multi-axis
    one (the first call that gives any multi-axis shape wins; flat shapes, e.g. of activations
    that arrive flattened, never replace known ones)."""
    shapes = {str(k): tuple(int(s) for s in v) for k, v in shapes.items()}
    if not known or (any(len(v) > 1 for v in shapes.values())
                     and not any(len(v) > 1 for v in known.values())):
        return shapes
    return dict(known)


def _count_in_aux(result, est, row, n_epochs: int):
    """``result`` with aux ``n_channels`` (the layer's channel count that ``est`` was given)
    when its rows carry ``row``'s parameters, which do not say it (`with_layer_channels`)."""
    if row is est or not needs_layer_channels(row):
        return result
    c = next(e.channels for e in _chain(est) if getattr(e, "conv", None))
    return dataclasses.replace(result, aux={**result.aux, "n_channels": np.full(
        n_epochs, c, np.float64)})


def _withheld_why(result, k: int) -> str:
    """Why estimate ``k`` of ``result`` was withheld: coincident noisy codes (aux
    ``n_coincident``, `Compressed`) or a standard error above ``flag_stderr``."""
    n = result.aux.get("n_coincident") if isinstance(result.aux, Mapping) else None
    n = 0 if n is None else int(np.asarray(n).reshape(-1)[k])
    if n > 0:
        return (f"{n} samples share their noisy code with another, e.g. dead ReLU units under "
                "relative noise; Compressed(noise='absolute') avoids it")
    return "its standard error is too large"


def _stage(estimation, kind: str, value, layer: str | None = None, about=None):
    """Tell ``estimation.on_stage(kind, info)`` (an attribute set by
    `infoplane.recording.progress.attach`; none: nothing) that a stage of its work begins, and
    return ``value`` (so a call wraps an expression of that stage). ``kind`` and ``value``:
    ``"begin"`` (``{split: entries}`` of a flush; info: entries, epochs), ``"dispatch"`` (the
    row estimator, dispatched on ``layer``; ``about``: the (E, N, d) stack's shape; info:
    estimator, layer, shape, buffer), ``"collect"`` (the entries whose estimate of ``layer``
    by ``about`` is waited for; info: estimator, layer, epochs), ``"end"`` (the flush's rows)."""
    hook = getattr(estimation, "on_stage", None)
    if hook is None:
        return value
    if kind == "begin":
        info = {"entries": sum(len(g) for g in value.values()),
                "epochs": [e.epoch for g in value.values() for e in g]}
    elif kind == "dispatch":
        info = {"estimator": value, "layer": layer, "shape": tuple(about),
                "buffer": estimation.buffer}
    elif kind == "collect":
        info = {"estimator": about, "layer": layer, "epochs": [e.epoch for e in value]}
    else:
        info = {}
    hook(kind, info)
    return value


#: A binning estimate warns when more than this fraction of a layer's values lie outside its
#: fixed range (aux ``clipped``, `infoplane.Binning`).
CLIP_WARNING = 0.01


def _warn_clipped(warned: set, result, params: str, layer: str, group: list[Entry],
                  clipped: np.ndarray | None) -> None:
    """Warn, once per estimator instance and layer, when a binning estimate put more than
    `CLIP_WARNING` of a layer's values into its edge bins (aux ``clipped``: outside the fixed
    range), naming the worst epoch and what to use instead."""
    if clipped is None or not np.nanmax(clipped, initial=0.0) > CLIP_WARNING:
        return
    key = ("clipped", result.estimator, params, layer)
    if key in warned:
        return
    warned.add(key)
    k = int(np.nanargmax(clipped))
    rng = json.loads(params).get("range")
    warnings.warn(
        f"{result.estimator}: {100 * float(clipped[k]):.0f}% of layer {layer!r}'s values lie "
        f"outside the bin range {tuple(rng) if isinstance(rng, list) else rng} at epoch "
        f"{group[k].epoch} (seed {group[k].seed}) and were clipped into the edge bins, which "
        "merges states the layer tells apart (a ReLU or unbounded layer on (-1, 1)); use "
        "range='data' (binning(range=data): the layer's own range) or a fixed width "
        "(binning(width=0.07), Saxe et al.). aux.csv 'clipped' has the fraction at every "
        "epoch; later epochs are not reported again", RuntimeWarning, stacklevel=2)


@jax.jit
def _layer_summary(ts):
    """Saturation statistics and finiteness of one layer's (E, N, d) epochs, in one call."""
    return _diagnostics.activation_stats(ts), jnp.isfinite(ts).all()


class Estimation:
    """The estimation of one recorder: its probe sets ``{split: (x, y)}``, estimators,
    ``buffer`` (the batch size of the first compiled shape), ``shard`` (as the `Recorder`) and
    run name (the rows' ``run``). Probe contexts are prepared once per (probe set,
    estimator, device). Failures are listed in ``errors`` (each warned about once).
    ``channels``: ``{layer: C}`` of the layers estimated channel by channel (`PerChannel`;
    ``channels_last``: their maps' layout, (N, H, W, C) or (N, C, H, W)).
    ``shapes``: ``{layer: per-sample shape before flattening}`` (`learn_shapes`), for the
    estimators that take the layer's channel count (module docstring)."""

    def __init__(self, probes: Mapping[str, tuple[np.ndarray, np.ndarray]],
                 estimators: Sequence[Estimator], buffer: int, shard: bool | None, run: str):
        self.probes = probes
        self.estimators = list(estimators)
        self.buffer = int(buffer)
        self.shard = shard
        self.run = run
        self.errors: list[str] = []
        self._warned: set[tuple] = set()  # (estimator, quantity, unstable), clipped layers
        self._failed_kinds: set[tuple[str, str, str, str]] = set()  # warned about (`_fail`)
        self._contexts: dict[tuple[str, int, Any], Any] = {}
        self.channels: dict[str, int] = {}
        self.channels_last = True
        self.shapes: dict[str, tuple[int, ...]] = {}

    @property
    def needs_shapes(self) -> bool:
        """Whether an estimator takes the layers' channel counts (`needs_layer_channels`)."""
        return any(needs_layer_channels(e) for e in self.estimators)

    def learn_shapes(self, shapes) -> None:
        """Keep the layers' per-sample shapes ``{layer: shape}`` (`merged_shapes`)."""
        self.shapes = merged_shapes(self.shapes, shapes)

    def row_estimator(self, i: int, layer: str) -> Estimator:
        """The estimator whose name and ``params`` the rows of estimator ``i`` on ``layer``
        carry: `PerChannel`-wrapped as `layer_estimator`, but without the layer's channel
        count (one curve over every layer; the count is in aux ``n_channels``)."""
        return row_estimator(self.estimators[i], self.channels.get(layer), self.channels_last)

    def layer_estimator(self, i: int, layer: str) -> Estimator:
        """Estimator ``i`` as applied to ``layer``: wrapped in `PerChannel` for the layers of
        ``channels`` (its probe context is the wrapped estimator's); one that takes the layer's
        channel count gets it instead (`with_layer_channels`; ValueError when it cannot)."""
        est, c = self.estimators[i], self.channels.get(layer)
        if needs_layer_channels(est):
            return with_layer_channels(est, layer, self.shapes.get(layer), c,
                                       counts_known=bool(self.channels))
        return est if c is None else PerChannel(est, c, channels_last=self.channels_last)

    def context(self, split: str, i: int, device=None):
        """The prepared context of estimator ``i`` on probe set ``split`` (on ``device``)."""
        key = (split, i, device)
        if key not in self._contexts:
            if device is None:
                px, py = self.probes[split]
                self._contexts[key] = prepare(self.estimators[i], px, py)[1]
            else:
                self._contexts[key] = jax.device_put(self.context(split, i), device)
        return self._contexts[key]

    def run_rows(self, entries: list[Entry], layer_names: Sequence[str],
                 place: Mapping[str, Any]
                 ) -> tuple[list[dict], list[dict], list[dict], list[dict]]:
        """``(results, diagnostics, aux, failures)`` rows of the buffered ``entries``, each
        sorted by seed, epoch, split, layer (and estimator), as the files keep them; a
        failure row (`infoplane.store.tables.FAILURE_COLUMNS`) stands for one (entry, layer,
        estimator) whose estimate failed and was skipped."""
        groups = {split: [e for e in entries if e.split == split] for split in self.probes}
        groups = _stage(self, "begin", {split: group for split, group in groups.items() if group})
        # every stack first: a stack queued on a device behind estimation work would hold up
        # the layers placed on the other devices
        stacks = {split: stack_epochs(group, layer_names, place)
                  for split, group in groups.items()}
        jobs = []
        for split, group in groups.items():
            jobs.extend(self._dispatch_group(split, group, stacks[split], layer_names, place))
        rows: list[dict] = []
        diag: list[dict] = []
        aux: list[dict] = []
        failed: list[dict] = []
        for job in jobs:
            rows.extend(self._collect(job, diag, aux, failed))
        order = {name: i for i, name in enumerate(layer_names)}
        est_order = {e.name: i for i, e in enumerate(self.estimators)}
        rows.sort(key=lambda r: (r["seed"], r["epoch"], r["split"], order[r["layer"]],
                                 est_order[r["estimator"]]))
        diag.sort(key=lambda r: (r["seed"], r["epoch"], r["split"], order[r["layer"]]))
        for table in (aux, failed):
            table.sort(key=lambda r: (r["seed"], r["epoch"], r["split"], order[r["layer"]],
                                      est_order[r["estimator"]]))
        return _stage(self, "end", (rows, diag, aux, failed))

    def _dispatch_group(self, split: str, group: list[Entry], stacks: dict[str, jax.Array],
                        layer_names: Sequence[str], place) -> list[dict]:
        """Start the diagnostics, the finiteness check and every estimator on each layer of
        one probe set's buffered epochs (``stacks``: (E, N, d) per layer, on its device);
        nothing here waits for a device."""
        jobs = []
        for layer in layer_names:
            stacked = stacks[layer]
            device = place.get(layer)
            stats, finite = _layer_summary(stacked)
            job = {"split": split, "group": group, "layer": layer, "stacked": stacked,
                   "stats": stats, "finite": finite, "estimates": []}
            for i in range(len(self.estimators)):
                row = _stage(self, "dispatch", self.row_estimator(i, layer), layer, stacked.shape)
                try:
                    est = self.layer_estimator(i, layer)
                    ctx = self.context(split, i, device)
                    parts = self._dispatch_stack(est, ctx, stacked, sharded=device is None)
                except Exception as err:  # e.g. a shape the estimator rejects at trace time
                    job["estimates"].append((row, row, None, None, err))
                    continue
                job["estimates"].append((est, row, ctx, parts, None))
            jobs.append(job)
        return jobs

    def _dispatch_stack(self, est, ctx, stacked, sharded: bool):
        """Dispatch `infoplane.estimate_epochs` over (E, N, d) in chunks of ``buffer`` epochs,
        then single epochs, so each layer shape compiles at most twice and nothing is padded.
        Estimators batched with ``lax.map`` (the costly ones) go one epoch at a time (one
        compile). Returns ``[(epochs slice, in-flight result)]``.
        """
        e = stacked.shape[0]
        sizes = [1] if est.epoch_batching == "map" else sorted({self.buffer, 1}, reverse=True)
        parts, start = [], 0
        for size in sizes:
            while e - start >= size:
                part = stacked[start:start + size]
                shard = False if (size == 1 or not sharded) else self.shard
                parts.append((part, dispatch_prepared(est, ctx, part, shard=shard)))
                start += size
        return parts

    def _collect(self, job: dict, diag: list[dict], aux: list[dict],
                 failed: list[dict]) -> list[dict]:
        """Wait for one layer's dispatched work; its diagnostic rows go to ``diag``, the
        estimates' auxiliary scalars to ``aux``, its result rows are returned. A failing
        estimator is warned about once, skipped, and its epochs go to ``failed``. Epochs with
        non-finite activations fail alone: the finite epochs of the same buffer are estimated
        again one at a time (a layer that diverges mid-buffer loses only its diverged epochs).
        """
        split, group, layer = job["split"], job["group"], job["layer"]
        stats = {k: np.asarray(v, dtype=np.float64) for k, v in job["stats"].items()}
        for k, e in enumerate(group):
            diag.extend({"run": self.run, "seed": e.seed, "split": split,
                         "epoch": e.epoch, "layer": layer, "name": name,
                         "value": float(stats[name][k])} for name in _diagnostics.STAT_NAMES)
        bad: dict[int, Exception] = {}
        if not bool(job["finite"]):
            stacked = np.asarray(job["stacked"])
            for k in range(len(group)):
                try:
                    check_activations(stacked[k], batched=False)
                except ValueError as err:
                    bad[k] = err
        rows = []
        for est, row, ctx, parts, err in job["estimates"]:
            sub = _stage(self, "collect", group, layer, row)
            for k, problem in bad.items():
                self._fail(row, layer, split, [group[k]], problem, failed)
            if bad:
                good = [k for k in range(len(group)) if k not in bad]
                sub = [group[k] for k in good]
                if err is not None or not sub:
                    continue
                parts = [(job["stacked"][k:k + 1],
                          dispatch_prepared(est, ctx, job["stacked"][k:k + 1], shard=False))
                         for k in good]
            try:
                if err is not None:
                    raise err
                done = [finish_prepared(est, ctx, part, r) for part, r in parts]
                result = done[0] if len(done) == 1 else jax.tree_util.tree_map(
                    lambda *a: np.concatenate([np.asarray(v) for v in a]), *done)
            except Exception as failure:  # one failing estimator must not lose the others
                self._fail(row, layer, split, sub, failure, failed)
                continue
            result = _count_in_aux(result, est, row, len(sub))
            rows.extend(self._result_rows(row, result, split, layer, sub, aux))
        return rows

    def _fail(self, est, layer: str, split: str, entries: list[Entry], failure: Exception,
              failed: list[dict]) -> None:
        """Record that ``est`` failed on ``layer`` at ``entries``: one row per entry in
        ``failed``, and a warning (and an ``errors`` line) once per estimator, layer, split
        and kind of error."""
        error = " ".join(f"{type(failure).__name__}: {failure}".split())[:500]
        failed.extend({"run": self.run, "seed": e.seed, "split": split, "epoch": e.epoch,
                       "layer": layer, "estimator": est.name, "params": params_json(est),
                       "error": error} for e in entries)
        kind = (est.name, layer, split, type(failure).__name__)
        if kind not in self._failed_kinds:
            self._failed_kinds.add(kind)
            msg = f"{est.name} on layer {layer!r} ({split}): {error}"
            self.errors.append(msg)
            epochs = ", ".join(str(e.epoch) for e in entries[:8])
            more = ", ..." if len(entries) > 8 else ""
            warnings.warn(f"estimation failed, skipped: {msg} (epoch {epochs}{more}; each "
                          "failed estimate is in failures.csv / Recorder.failures())",
                          RuntimeWarning, stacklevel=5)

    def _result_rows(self, est, result, split: str, layer: str, group: list[Entry],
                     aux: list[dict]) -> list[dict]:
        """The result rows of one estimate of one layer (E epochs); its auxiliary scalars are
        appended to ``aux``."""
        params = params_json(est)
        i_xt = np.asarray(result.i_xt, dtype=np.float64)
        i_ty = np.asarray(result.i_ty, dtype=np.float64)
        extra = aux_scalars(result, len(group))
        self._warn_non_finite(result, layer, group, i_xt, i_ty, extra.get("unstable"))
        _warn_clipped(self._warned, result, params, layer, group, extra.get("clipped"))
        nan = np.full(len(group), np.nan)
        bounds = {c: extra.pop(c, nan) for c in INTERVAL_COLUMNS}  # results.csv, not aux.csv
        rows = []
        for k, e in enumerate(group):
            rows.append({
                "run": self.run, "seed": e.seed, "split": split, "epoch": e.epoch,
                "layer": layer, "estimator": result.estimator,
                "i_xt": float(i_xt[k]), "i_ty": float(i_ty[k]),
                "units": result.units, "params": params,
                **{c: float(v[k]) for c, v in bounds.items()},
            })
            aux.extend({"run": self.run, "seed": e.seed, "split": split, "epoch": e.epoch,
                        "layer": layer, "estimator": result.estimator, "params": params,
                        "name": name, "value": float(v[k])} for name, v in extra.items())
        return rows

    def _warn_non_finite(self, result, layer: str, group: list[Entry], i_xt: np.ndarray,
                         i_ty: np.ndarray, unstable: np.ndarray | None) -> None:
        """Warn (once per estimator and quantity) about a NaN or ±inf estimate, naming the
        estimator, layer, epoch and value. A NaN the estimator withheld on purpose (aux
        ``unstable``: bit 1 I(X;T), bit 2 I(T;Y), `Compressed`'s ``flag_stderr``) gets a short
        note instead."""
        for q, bit, values in (("i_xt", 1, i_xt), ("i_ty", 2, i_ty)):
            for k in np.flatnonzero(~np.isfinite(values)):
                withheld = (unstable is not None and np.isnan(values[k])
                            and int(unstable[k]) & bit != 0)
                key = (result.estimator, q, bool(withheld))
                if key in self._warned:
                    break
                self._warned.add(key)
                e = group[k]
                if withheld:
                    msg = (f"{result.estimator}: {q} of layer {layer!r} at epoch {e.epoch} "
                           f"(seed {e.seed}, {e.split}) withheld as unstable (NaN, "
                           f"{_withheld_why(result, k)}; the raw value is in aux.csv); later "
                           "ones are not reported again")
                else:
                    value = float(values[k])
                    msg = (f"{result.estimator} returned a non-finite {q} = {value!r} for "
                           f"layer {layer!r} at epoch {e.epoch} (seed {e.seed}, {e.split}): "
                           "the estimate is meaningless (check the estimator's parameters, e.g. "
                           "its noise or bandwidth, and the layer's activations); later ones of "
                           f"{result.estimator} {q} are not reported again")
                warnings.warn(msg, NonFiniteEstimateWarning, stacklevel=2)
                break
