"""Recorded epochs waiting to be estimated: `Entry` (one epoch of one probe set) and `Buffer`
(estimated together once ``size`` entries wait, or the oldest is ``flush_seconds`` old).
"""

from __future__ import annotations

import dataclasses
import time

import jax

__all__ = ["Buffer", "Entry"]


@dataclasses.dataclass
class Entry:
    """One recorded epoch of one probe set: ``acts`` maps layer -> (N, d) float32 (on device)."""

    seed: int
    split: str
    epoch: int
    acts: dict[str, jax.Array]
    pending: str | None = None  # its write-ahead file, deleted once its rows are written


class Buffer:
    """Entries in the order they were recorded. `add` says when they are due: ``size``
    entries, or the oldest added ``seconds`` ago (checked at each `add`)."""

    def __init__(self, size: int):
        self.size = int(size)
        self.entries: list[Entry] = []
        self._t0: float | None = None

    def add(self, entry: Entry, seconds: float) -> bool:
        """Append ``entry``; True when the buffer is due for estimation: ``size`` entries, or
        the oldest one added at least ``seconds`` ago."""
        self.entries.append(entry)
        if self._t0 is None:
            self._t0 = time.perf_counter()
        return (len(self.entries) >= self.size
                or time.perf_counter() - self._t0 >= seconds)

    def take(self) -> list[Entry]:
        """Every entry, emptying the buffer."""
        entries, self.entries, self._t0 = self.entries, [], None
        return entries

    def __len__(self) -> int:
        return len(self.entries)
