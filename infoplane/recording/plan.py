"""What a recording will cost, before training starts (`RecordingPlan`, `Recorder.plan`).

Sizes are exact: every probe set's captured layers (their shapes from an abstract trace of
the model, nothing computed), float32 bytes per recorded epoch, what the buffer holds in
memory and what the write-ahead log and ``activations/`` write to disk. Times are a rough
model, to tell a 2-second epoch from a 2-hour one: each estimator's operation count in N
(probe rows, or its subsample) and d (layer width), the leading terms of the complexities
its docstring states, in units of one float32 matrix-product FLOP, divided by this machine's
measured matrix-product rate. The constants of binning, adaptive binning, KDE and Compressed
were fitted to their measured times on a 2-core AMD EPYC CPU at N = 2 500 and 10 000, d = 32
and 1 352 (within ~2x of them; sorting, hashing and exp run far below the matrix-product
rate); those of DSE/DSMI and MatrixRenyi are the complexities' leading terms only. Real times
differ by a small factor either way (other devices, memory-bound steps, compilation on first
use: ``Recorder.seconds`` has the measured ones). `Compressed`'s autoencoder is trained once,
in `prepare`, and is not counted per epoch.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["LayerPlan", "RecordingPlan", "estimator_ops", "matmul_rate", "plan", "recorder_plan"]

_MB = 1024 * 1024


@dataclasses.dataclass(frozen=True)
class LayerPlan:
    """One captured layer of one probe set: per-sample ``shape`` before flattening, width d,
    rows N, and float32 bytes per recorded epoch."""

    split: str
    layer: str
    shape: tuple[int, ...]
    n: int
    width: int
    channels: int | None

    @property
    def nbytes(self) -> int:
        return 4 * self.n * self.width


@dataclasses.dataclass(frozen=True)
class RecordingPlan:
    """The sizes and estimated times of a recording (module docstring). ``seconds``:
    estimated seconds of estimation per recorded epoch, per estimator (None: no cost model
    for it); ``epochs``: recorded epochs of the schedule (None: unknown, e.g. every epoch);
    ``write_ahead``: whether the epochs are written to ``pending/`` before `record` returns,
    and ``note`` why not."""

    layers: tuple[LayerPlan, ...]
    buffer: int
    epochs: int | None
    write_ahead: bool
    store_activations: bool
    seconds: tuple[tuple[str, float | None], ...]
    rate: float
    note: str = ""

    @property
    def bytes_per_epoch(self) -> int:
        return sum(lp.nbytes for lp in self.layers)

    @property
    def seconds_per_epoch(self) -> float | None:
        known = [s for _, s in self.seconds if s is not None]
        return sum(known) if known else None

    def __str__(self) -> str:
        lines = ["recording plan:"]
        for lp in self.layers:
            ch = f", {lp.channels} channels" if lp.channels else ""
            lines.append(f"  {lp.split:<6} {lp.layer:<24} {str(lp.shape):<16} d={lp.width:<7} "
                         f"{lp.nbytes / _MB:9.2f} MB{ch}")
        per = self.bytes_per_epoch / _MB
        lines.append(f"  {per:.1f} MB per recorded epoch; the buffer holds up to "
                     f"{self.buffer} epochs ({self.buffer * per:.1f} MB) between estimates")
        if self.epochs is not None:
            lines.append(f"  {self.epochs} recorded epochs")
        wal = ("write-ahead on: each epoch is on disk (pending/) before record() returns"
               if self.write_ahead else "write-ahead OFF: a killed run loses the buffered "
               "epochs not yet estimated")
        lines.append(f"  {wal}{'; ' + self.note if self.note else ''}")
        if self.store_activations and self.epochs is not None:
            lines.append(f"  activations/: {self.epochs * per / 1024:.2f} GB in all")
        parts = [f"{name} ~{_fmt(s)}" if s is not None else f"{name} (no cost model)"
                 for name, s in self.seconds]
        total = self.seconds_per_epoch
        lines.append(f"  estimation per recorded epoch (rough, this machine at "
                     f"{self.rate / 1e9:.0f} GFLOP/s): " + ", ".join(parts))
        if total is not None and self.epochs is not None:
            lines.append(f"  whole run: ~{_fmt(total * self.epochs)} of estimation")
        return "\n".join(lines)


def _fmt(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def estimator_ops(est, n: int, d: int, n_classes: int) -> float | None:
    """Leading operation count of one estimate of a (n, d) layer by ``est`` (module
    docstring), through its wrappers: `Subsample` (its rows), `PerChannel` (C estimates at
    width d / C), `Intervals` (the estimate plus B more on subsets of fraction·n rows) and
    `NullLabels` (1 + P estimates: each permutation is one more, an upper bound for those
    whose I(X;T) part is shared). None for an estimator without a cost model."""
    from infoplane.estimators import Intervals, NullLabels, PerChannel, Subsample

    if isinstance(est, Subsample):
        return estimator_ops(est.estimator, min(n, int(est.n)), d, n_classes)
    if isinstance(est, PerChannel):
        one = estimator_ops(est.estimator, n, max(1, d // est.channels), n_classes)
        return None if one is None else est.channels * one
    if isinstance(est, Intervals | NullLabels):
        whole = estimator_ops(est.estimator, n, d, n_classes)
        if whole is None:
            return None
        if isinstance(est, NullLabels):
            return (1 + est.permutations) * whole
        m = max(2, int(round(est.fraction * n)))
        return whole + est.resamples * estimator_ops(est.estimator, m, d, n_classes)
    if hasattr(est, "estimator"):  # another wrapper: the wrapped estimator's cost
        return estimator_ops(est.estimator, n, d, n_classes)
    return _base_ops(est, n, d, n_classes)


def _base_ops(inner, n: int, d: int, n_classes: int) -> float | None:
    """`estimator_ops` of an estimator that wraps none."""
    name = getattr(inner, "name", "")
    p = dict(inner.params())
    log_n = math.log2(max(n, 2))
    if name == "binning":
        return 800.0 * n * d + 1000.0 * n * log_n
    if name == "adaptive_binning":
        return 1700.0 * n * d * log_n + 1000.0 * n * log_n
    if name == "kde":  # explicit differences (exact at any width), then C per-class sums
        return 23.0 * n * n * d + 220.0 * n * n * max(1, n_classes)
    if name == "compressed":  # the layer's PCA (`_pca`'s three routes), then the kNN pass
        dim = int(p.get("dim", 4))
        if d <= min(n, 2048):
            pca = n * d * d + d ** 3
        elif n <= 2048:
            pca = n * n * d + n ** 3
        else:
            pca = 6.0 * n * d * (dim + 10)
        return 340.0 * n * n * (dim + int(p.get("k", 5))) + 12.0 * pca
    if name in ("dsmi", "dse"):
        m = max(1, n_classes)
        return 3.0 * n * n * d + 10.0 * n ** 3 * (1 + 1 / m)
    if name == "matrix_renyi":  # three Grams (T, T o X, T o Y); float64 eigenvalues or SLQ
        exact = p.get("mode") == "exact" or (p.get("mode") == "auto" and n <= 4096)
        solve = 3 * 40.0 * n ** 3 if exact else 3 * 2.0 * n * n * int(p.get("steps", 20)) * int(
            p.get("probes", 32))
        return 8.0 * n * n * d + solve
    return None


def matmul_rate() -> float:
    """This machine's float32 matrix-product rate (FLOP/s) on JAX's default device: the best
    of three timed 1024 x 1024 products after a warm-up."""
    import jax
    import jax.numpy as jnp

    a = jnp.ones((1024, 1024), jnp.float32)
    f = jax.jit(lambda m: m @ m)
    f(a).block_until_ready()
    best = math.inf
    for _ in range(3):
        t0 = time.perf_counter()
        f(a).block_until_ready()
        best = min(best, time.perf_counter() - t0)
    return 2.0 * 1024 ** 3 / max(best, 1e-9)


def plan(shapes: Mapping[str, Mapping[str, Sequence[int]]], probes: Mapping[str, Any],
         estimators: Sequence[Any], *, buffer: int, epochs: int | None, write_ahead: bool,
         store_activations: bool, channels: Mapping[str, int], note: str = "",
         rate: float | None = None) -> RecordingPlan:
    """A `RecordingPlan` from each probe set's layer ``shapes`` ``{split: {layer: shape}}``,
    the probe sets ``{split: (x, y)}`` and the estimators; ``rate`` (FLOP/s) is measured
    (`matmul_rate`) when not given."""
    import numpy as np

    rate = matmul_rate() if rate is None else float(rate)
    layers = []
    for split, by_layer in shapes.items():
        n = int(probes[split][1].shape[0])
        for layer, shape in by_layer.items():
            shape = tuple(int(s) for s in shape)
            layers.append(LayerPlan(split, layer, shape, n, int(math.prod(shape)),
                                    channels.get(layer)))
    classes = {split: int(np.unique(np.asarray(y)).size) for split, (_, y) in probes.items()}
    seconds = []
    for est in estimators:
        total: float | None = 0.0
        for lp in layers:
            width = lp.width // lp.channels if lp.channels else lp.width
            ops = estimator_ops(est, lp.n, width, classes[lp.split])
            if ops is None:
                total = None
                break
            total += ops * (lp.channels or 1) / rate
        seconds.append((est.name, total))
    return RecordingPlan(tuple(layers), int(buffer), epochs, bool(write_ahead),
                         bool(store_activations), tuple(seconds), rate, note)


def recorder_plan(rec, model, params=None, *, epochs: int | None = None,
                  rate: float | None = None) -> RecordingPlan:
    """`Recorder.plan`: what recording ``model`` (nnx; linen: module and ``params``) with the
    `Recorder` ``rec`` will cost, before training: every layer's shape and size per recorded
    epoch, the buffer's memory, the write-ahead setting, and a rough estimation time per
    recorded epoch and, given the run's training ``epochs`` (or with an explicit schedule),
    for the whole run. Computes no layer: the shapes come from an abstract trace; ``rate``
    (FLOP/s) skips the short timing of a matrix product (`matmul_rate`)."""
    from infoplane.recording import write_ahead as _wal
    from infoplane.recording.inputs import channel_counts, channels_last

    x0 = next(iter(rec.probes.values()))[0]
    shapes = rec._capture.shapes(model, params, x0)
    channels = channel_counts(shapes, channels_last(rec.per_channel)) if rec.per_channel else {}
    schedule = rec.schedule
    n_epochs = (len(schedule.epochs) if schedule.epochs is not None else
                None if epochs is None else sum(e in schedule for e in range(epochs)))
    mb = max(4 * int(y.shape[0]) * sum(math.prod(v) for v in shapes.values())
             for _, y in rec.probes.values()) / 2**20
    wal_on = rec._wal is not None
    on = wal_on and not (rec._write_ahead_auto and rec._store is None
                         and mb > _wal.WRITE_AHEAD_MAX_MB)
    note = (f"{mb:.0f} MB per probe set and epoch is over the default write-ahead's "
            f"{_wal.WRITE_AHEAD_MAX_MB} MB (write_ahead=True writes it anyway)"
            if wal_on and not on else "")
    return plan({s: shapes for s in rec.probes}, rec.probes, rec.estimators,
                buffer=rec.buffer, epochs=n_epochs, write_ahead=on,
                store_activations=rec._store is not None, channels=channels, note=note,
                rate=rate)
