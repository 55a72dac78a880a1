"""A dependency-free progress bar for long command-line work (written to stderr)."""

from __future__ import annotations

import sys
import time


class Progress:
    """``Progress(total, label)(done)`` redraws ``label [#####.....] done/total  elapsed  eta``.

    On a terminal the line is redrawn in place at most every ``interval`` seconds; otherwise
    (a log file, CI) a plain line is printed at every 10% step. ``close()`` ends the line.
    """

    def __init__(self, total: int, label: str = "", *, stream=None, interval: float = 0.2,
                 width: int = 30):
        self.total = max(int(total), 1)
        self.label = label
        self.stream = sys.stderr if stream is None else stream
        self.interval = interval
        self.width = width
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.t0 = time.perf_counter()
        self._last = 0.0
        self._decile = -1
        self._drawn = False

    def __call__(self, done: int, total: int | None = None) -> None:
        if total is not None:
            self.total = max(int(total), 1)
        done = min(max(int(done), 0), self.total)
        now = time.perf_counter()
        if self.tty:
            if now - self._last < self.interval and done < self.total:
                return
            self._last = now
            self.stream.write("\r" + self.line(done, now))
            self._drawn = True
        else:
            decile = 10 * done // self.total
            if decile == self._decile:
                return
            self._decile = decile
            self.stream.write(self.line(done, now) + "\n")
        self.stream.flush()

    def line(self, done: int, now: float | None = None) -> str:
        now = time.perf_counter() if now is None else now
        elapsed = now - self.t0
        frac = done / self.total
        bar = "#" * int(round(frac * self.width))
        eta = elapsed * (1 - frac) / frac if frac > 0 else float("nan")
        eta_s = f"eta {eta:.0f} s" if frac < 1 and eta == eta else ""
        return (f"{self.label} [{bar:<{self.width}}] {done}/{self.total}  "
                f"{elapsed:.0f} s {eta_s}").rstrip()

    def close(self) -> None:
        if self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
