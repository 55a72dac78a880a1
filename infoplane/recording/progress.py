"""Progress of long work on stderr (`ProgressDisplay`): one bar for training (epochs) and one
for estimation, which names what runs now ("estimating kde · layers.3 · epoch 120") and
announces the XLA compilation of an estimator for a new layer shape ("compiling kde for width
10 ..."), so a silent minute is explained.

- On a terminal (or in Jupyter with ``ipywidgets``) the bars are drawn in place with `rich`
  (redrawn 4 times a second; printed lines appear above them).
- Anywhere else (a log file, CI, a notebook without ``ipywidgets``) plain lines are printed
  at a modest rate: a bar with a known total at every 10% step, one without at most every
  `PLAIN_INTERVAL` seconds, each compilation once, and a final line at `ProgressDisplay.close`.
  No carriage returns.
- Levels (`LEVELS`): ``"quiet"`` shows nothing; ``"normal"`` the bars; ``"verbose"`` also one
  line per stage with its time (each compilation, each flush's estimators).
- ETAs (`eta_seconds`): the mean time per item over the last `ETA_WINDOW` steps, leaving out
  the first step (where the training step and the estimators compile) and, for the
  estimation bar, every step that compiled something.

The estimation bar is fed by the stages of `infoplane.recording.estimation.Estimation` (its
``on_stage`` hook: ``begin``, ``dispatch``, ``collect``, ``end``, `ProgressDisplay.on_stage`);
`attach` wires a `Recorder`'s estimation to a display (`Recorder(progress=...)`).
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["ETA_WINDOW", "LEVELS", "PLAIN_INTERVAL", "ProgressDisplay", "RecorderProgress",
           "attach", "eta_seconds", "format_seconds", "in_jupyter"]

#: The display levels, least output first.
LEVELS = ("quiet", "normal", "verbose")
#: Steps averaged for an ETA (a moving average: the recent rate, not the whole run's).
ETA_WINDOW = 20
#: Seconds between the plain lines of a bar whose total is unknown (a non-terminal stream).
PLAIN_INTERVAL = 30.0
TRAINING, ESTIMATING = "training", "estimating"


def eta_seconds(steps: Sequence[tuple[float, float]], remaining: float | None, *,
                skip: int = 1, window: int = ETA_WINDOW) -> float | None:
    """Seconds left for ``remaining`` items at the recent rate: ``steps`` are ``(seconds,
    items)`` of each completed step, oldest first; the first ``skip`` are left out (they
    compile) and the mean time per item is taken over the last ``window`` of the rest. None
    when nothing is left to average or ``remaining`` is unknown."""
    if remaining is None:
        return None
    used = list(steps)[skip:][-window:] if window > 0 else []
    items = sum(n for _s, n in used)
    if items <= 0:
        return None
    return max(float(remaining), 0.0) * sum(s for s, _n in used) / items


def format_seconds(seconds: float | None) -> str:
    """``"42 s"``, ``"3 min 05 s"``, ``"2 h 07 min"``; ``"--"`` for None (not known yet)."""
    if seconds is None or not math.isfinite(seconds):
        return "--"
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def in_jupyter() -> bool:
    """Whether this process is a Jupyter kernel (IPython's ZMQ shell; IPython not imported
    means not)."""
    ipython = sys.modules.get("IPython")
    shell = getattr(ipython, "get_ipython", lambda: None)() if ipython is not None else None
    return type(shell).__name__ == "ZMQInteractiveShell"


def _epochs_text(epochs: Sequence[int]) -> str:
    epochs = sorted(set(epochs))
    if not epochs:
        return ""
    if len(epochs) == 1:
        return f"epoch {epochs[0]}"
    return f"epochs {epochs[0]}-{epochs[-1]}"


@dataclasses.dataclass
class _Bar:
    """One bar's state: ``done`` of ``total`` items (None: unknown), its ETA steps."""

    name: str
    total: float | None
    t0: float
    done: float = 0.0
    status: str = ""
    t_step: float = 0.0
    steps: list[tuple[float, float]] = dataclasses.field(default_factory=list)
    compiled: bool = False  # something compiled since the last step (left out of the ETA)
    skipped: int = 0  # steps left out (the first one; compiling ones)
    printed: tuple | None = None  # (decile or time slot) of the last plain line
    printed_done: float | None = None  # ``done`` at the last plain line
    t_printed: float = -math.inf
    task: Any = None  # the rich task id (live)

    def eta(self) -> float | None:
        remaining = None if self.total is None else self.total - self.done
        return eta_seconds(self.steps, remaining, skip=0)

    def line(self, now: float) -> str:
        count = (f"{int(self.done)}/{int(self.total)}" if self.total is not None
                 else f"{int(self.done)}")
        eta = "" if self.total is None or self.done >= self.total else \
            f"  eta {format_seconds(self.eta())}"
        status = f"  {self.status}" if self.status else ""
        return f"{self.name} {count}  {format_seconds(now - self.t0)}{eta}{status}"


class ProgressDisplay:
    """The bars of one command or recorder on ``stream`` (default: stderr).

    ``level``: one of `LEVELS`. ``live``: draw in place with rich (None: when ``stream`` is a
    terminal, or in Jupyter with ``ipywidgets``). ``clock``: seconds (tests pass a fake).
    ``display(epoch, total)`` updates the training bar (``run_experiment(progress=...)``).
    """

    def __init__(self, level: str = "normal", *, stream=None, live: bool | None = None,
                 clock: Callable[[], float] = time.perf_counter):
        if level not in LEVELS:
            raise ValueError(f"progress level must be one of {', '.join(LEVELS)}, got "
                             f"{level!r}")
        self.level = level
        self.stream = sys.stderr if stream is None else stream
        self.clock = clock
        self.bars: dict[str, _Bar] = {}
        self._live_wanted = live
        self._rich = None  # rich.progress.Progress once a live bar is drawn
        self._closed = False
        self._seen: set[tuple] = set()  # (estimator, params, per-sample shape) compiled
        self._flush: dict[str, Any] = {}  # the estimation flush in progress (`on_stage`)

    @property
    def quiet(self) -> bool:
        return self.level == "quiet"

    @property
    def verbose(self) -> bool:
        return self.level == "verbose"

    @property
    def live(self) -> bool:
        if self._live_wanted is None:
            tty = bool(getattr(self.stream, "isatty", lambda: False)())
            self._live_wanted = tty or (in_jupyter() and _has_ipywidgets())
        return self._live_wanted

    # ---- bars ------------------------------------------------------------------------------

    def __call__(self, done: float, total: float | None = None) -> None:
        self.update(TRAINING, done, total)

    def expect(self, name: str, total: float | None) -> None:
        """Show bar ``name`` now, with ``total`` items (None: unknown)."""
        self.update(name, self.bars[name].done if name in self.bars else 0, total)

    def update(self, name: str, done: float, total: float | None = None,
               status: str | None = None) -> None:
        """Bar ``name`` has ``done`` items (of ``total`` when given); ``status``: its text."""
        if self.quiet or self._closed:
            return
        now = self.clock()
        bar = self.bars.get(name)
        if bar is None:
            bar = self.bars[name] = _Bar(name, total, now, t_step=now)
        if total is not None:
            bar.total = float(max(total, 1))
        if status is not None:
            bar.status = status
        if done > bar.done:
            if bar.skipped == 0 or bar.compiled:  # the first step, or one that compiled
                bar.skipped += 1
            else:
                bar.steps.append((now - bar.t_step, done - bar.done))
            bar.t_step, bar.compiled, bar.done = now, False, float(done)
        self._draw(bar, now)

    def status(self, name: str, text: str, *, announce: bool = False) -> None:
        """Set bar ``name``'s status text; ``announce``: also a plain line (not on a live
        display, where the status is seen)."""
        if self.quiet or self._closed:
            return
        self.update(name, self.bars[name].done if name in self.bars else 0, status=text)
        if announce and not self.live:
            self._write(text)

    def log(self, message: str) -> None:
        """A stage's line, shown at the verbose level only (above live bars)."""
        if self.verbose and not self._closed:
            self.print(message)

    def print(self, message: str) -> None:
        """A line above the bars (or a plain line); nothing when quiet."""
        if self.quiet:
            return
        if self._rich is not None:
            from rich.text import Text

            self._rich.console.print(Text(message))
        else:
            self._write(message)

    def close(self) -> None:
        """Stop drawing; a plain stream gets each bar's final line if not printed yet.
        Idempotent."""
        if self._closed:
            return
        self._closed = True
        now = self.clock()
        if self._rich is not None:
            for bar in self.bars.values():
                self._draw_live(bar, now)
            self._rich.stop()
            self._rich = None
            return
        for bar in self.bars.values():
            if bar.printed_done != bar.done:
                self._write(bar.line(now))

    def __enter__(self) -> ProgressDisplay:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- drawing ---------------------------------------------------------------------------

    def _write(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def _draw(self, bar: _Bar, now: float) -> None:
        if self.live:
            self._draw_live(bar, now)
            return
        if bar.total is not None:
            slot = ("decile", min(10, int(10 * bar.done / bar.total)))
        else:
            slot = ("time", int((now - bar.t0) // PLAIN_INTERVAL))
        if bar.done <= 0 and bar.printed is None:  # nothing to say before the first item
            return
        if slot != bar.printed:
            bar.printed, bar.printed_done = slot, bar.done
            self._write(bar.line(now))

    def _draw_live(self, bar: _Bar, now: float) -> None:
        if self._rich is None:
            self._rich = _rich_progress(self.stream)
            self._rich.start()
        count = (f"{int(bar.done)}/{int(bar.total)}" if bar.total is not None
                 else f"{int(bar.done)}")
        eta = "" if bar.total is None or bar.done >= bar.total else \
            f"eta {format_seconds(bar.eta())}"
        fields = {"label": bar.name, "count": count, "eta": eta, "status": bar.status}
        if bar.task is None:
            bar.task = self._rich.add_task(bar.name, total=bar.total, completed=bar.done,
                                           **fields)
        else:
            self._rich.update(bar.task, total=bar.total, completed=bar.done, **fields)

    # ---- the estimation's events (`Estimation.on_stage`) -----------------------------------

    def on_stage(self, kind: str, info: dict) -> None:
        """One event of a flush (`infoplane.recording.estimation._stage`): ``begin``
        (entries, epochs), ``dispatch`` (estimator, layer, shape: the (E, N, d) stack,
        buffer), ``collect`` (estimator, layer, epochs), ``end``. The bar advances by each
        collected estimate's share of the flush's entries."""
        if self.quiet or self._closed:
            return
        now = self.clock()
        f = self._flush
        self._end_stage(now)
        if kind == "begin":
            bar = self.bars.get(ESTIMATING)
            base = 0.0 if bar is None else bar.done
            self._flush = {"t0": now, "base": base, "n": info["entries"], "jobs": 0,
                           "done": 0, "times": {}, "epochs": info["epochs"]}
            self.update(ESTIMATING, base, status=f"estimating {_epochs_text(info['epochs'])}")
        elif kind == "dispatch" and f:
            est, layer, shape = info["estimator"], info["layer"], tuple(info["shape"])
            f["jobs"] += 1  # every dispatch comes before the first collect
            keys = {(est.name, _params(est), shape[1:], c)
                    for c in _chunks(shape[0], info.get("buffer", shape[0]), est)}
            new = not keys <= self._seen
            self._seen |= keys
            if new:
                self.bars[ESTIMATING].compiled = True
                text = f"compiling {est.name} for width {shape[-1]} ..."
                self.status(ESTIMATING, text, announce=True)
            else:
                self.status(ESTIMATING, f"preparing {est.name} · {layer}")
            f["stage"] = ("compile" if new else "dispatch", est.name, layer, shape, now)
        elif kind == "collect" and f:
            est, layer = info["estimator"], info["layer"]
            self.status(ESTIMATING, f"estimating {est.name} · {layer} · "
                        f"{_epochs_text(info['epochs'])}")
            f["stage"] = ("collect", est.name, layer, None, now)
        elif kind == "end" and f:
            self.update(ESTIMATING, f["base"] + f["n"], status="")
            if self.verbose:
                times = ", ".join(f"{k} {v:.2f} s" for k, v in f["times"].items())
                self.log(f"estimated {f['n']} entries ({_epochs_text(f['epochs'])}) in "
                         f"{now - f['t0']:.2f} s" + (f": {times}" if times else ""))
            self._flush = {}

    def _end_stage(self, now: float) -> None:
        """Close the flush's current stage: a collect advances the bar by its share; a
        compile is timed (verbose)."""
        f = self._flush
        stage = f.pop("stage", None) if f else None
        if stage is None:
            return
        what, name, layer, shape, t = stage
        if what == "collect":
            f["done"] += 1
            f["times"][name] = f["times"].get(name, 0.0) + now - t
            share = f["n"] * min(f["done"], f["jobs"]) / max(f["jobs"], 1)
            self.update(ESTIMATING, f["base"] + share)
        elif what == "compile":
            self.log(f"compiled {name} for {layer} (width {shape[-1]}) in {now - t:.2f} s")


def _chunks(n_epochs: int, buffer: int, est) -> set[int]:
    """The epoch-batch sizes a stack of ``n_epochs`` is dispatched in (chunks of ``buffer``,
    then single epochs; single epochs only for ``lax.map`` estimators): each compiles once
    (`infoplane.recording.estimation.Estimation._dispatch_stack`)."""
    if getattr(est, "epoch_batching", None) == "map":
        return {1}
    buffer = max(int(buffer), 1)
    return ({buffer} if n_epochs >= buffer else set()) | ({1} if n_epochs % buffer else set())


def _params(est) -> str:
    try:
        from infoplane.recording.estimation import params_json

        return params_json(est)
    except Exception:  # an estimator whose params cannot be listed: its name alone
        return ""


def _has_ipywidgets() -> bool:
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


def _rich_progress(stream):
    """A rich progress display on ``stream``: label, bar, count, elapsed, eta, status."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Column

    def fixed(width):  # never squeezed: the status text gives way instead
        return Column(min_width=width, no_wrap=True)

    console = Console(file=stream, highlight=False)
    return Progress(
        TextColumn("{task.fields[label]}", markup=False, table_column=fixed(10)),
        BarColumn(bar_width=20), TextColumn("{task.fields[count]:>9}", markup=False,
                                            table_column=fixed(9)),
        TimeElapsedColumn(table_column=fixed(7)),
        TextColumn("{task.fields[eta]}", markup=False, table_column=fixed(6)),
        TextColumn("{task.fields[status]}", markup=False,
                   table_column=Column(no_wrap=True, overflow="ellipsis", ratio=1)),
        console=console, refresh_per_second=4, transient=False,
    )


class RecorderProgress:
    """What `attach` gives a `Recorder`: ``close()`` closes the display if the recorder
    made it (a display passed in belongs to its caller)."""

    def __init__(self, display: ProgressDisplay | None, owned: bool):
        self.display, self.owned = display, owned

    def close(self) -> None:
        if self.owned and self.display is not None:
            self.display.close()


def attach(progress, estimation) -> RecorderProgress:
    """Wire ``estimation`` (an `Estimation`) to the display chosen by a Recorder's
    ``progress``: None (auto: on in a Jupyter kernel, off otherwise), True / False, or a
    `ProgressDisplay` (shared with its caller, e.g. ``infoplane run``'s training bar)."""
    if isinstance(progress, ProgressDisplay):
        display, owned = progress, False
    elif progress is None or isinstance(progress, bool):
        on = in_jupyter() if progress is None else progress
        display, owned = (ProgressDisplay() if on else None), True
    else:
        raise TypeError(f"progress must be None (auto: on in Jupyter), True, False or a "
                        f"ProgressDisplay, got {progress!r}")
    if display is not None:
        estimation.on_stage = display.on_stage
    return RecorderProgress(display, owned)
