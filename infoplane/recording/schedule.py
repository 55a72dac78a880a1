"""Which epochs a `Recorder` records: `Schedule` (every k-th epoch or an explicit list) and
`log_spaced_epochs`, the original experiment's schedule (dense early, sparse late).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable

import numpy as np

__all__ = ["Schedule", "as_schedule", "extend_schedule", "log_spaced_epochs"]


def log_spaced_epochs(n_epochs: int, n_points: int) -> np.ndarray:
    """At most ``n_points`` log-spaced epoch indices in ``[0, n_epochs - 1]``, sorted, unique.

    ``unique(round(logspace(0, log10(n_epochs), n_points))) - 1``, the schedule of the original
    experiment (which used base 2): dense early in training, sparse late. Always includes
    0 and ``n_epochs - 1``; fewer than ``n_points`` values when rounding merges early ones.
    """
    if n_epochs < 1:
        raise ValueError(f"n_epochs must be at least 1, got {n_epochs}.")
    if n_points < 1:
        raise ValueError(f"n_points must be at least 1, got {n_points}.")
    if n_points == 1:
        return np.array([n_epochs - 1])
    pts = np.logspace(0.0, math.log10(n_epochs), n_points)
    return np.unique(np.rint(pts).astype(np.int64)) - 1


@dataclasses.dataclass(frozen=True)
class Schedule:
    """Which epochs are recorded: every ``every``-th epoch (default: every epoch), or exactly
    the epochs in ``epochs``. Build with `Schedule.log_spaced` or `Schedule.explicit`.

    ``epoch in schedule`` tells whether an epoch is recorded.
    """

    every: int = 1
    epochs: tuple[int, ...] | None = None
    kind: str = "every"

    @classmethod
    def log_spaced(cls, n_epochs: int, n_points: int) -> Schedule:
        """Log-spaced epochs in [0, n_epochs] (see `log_spaced_epochs`): 0 and n_epochs included."""
        pts = log_spaced_epochs(n_epochs + 1, n_points)
        return cls(epochs=tuple(int(e) for e in pts), kind="log")

    @classmethod
    def explicit(cls, epochs: Iterable[int]) -> Schedule:
        eps = sorted({int(e) for e in epochs})
        if not eps or eps[0] < 0:
            raise ValueError(f"a schedule needs epochs >= 0, got {list(epochs)!r}.")
        return cls(epochs=tuple(eps), kind="explicit")

    def __post_init__(self):
        if self.every < 1:
            raise ValueError(f"Schedule every must be >= 1, got {self.every}.")

    def __contains__(self, epoch: int) -> bool:
        if self.epochs is not None:
            return int(epoch) in self.epochs
        return int(epoch) % self.every == 0

    def describe(self) -> dict:
        if self.epochs is not None:
            return {"kind": self.kind, "epochs": list(self.epochs)}
        return {"kind": "every", "every": self.every}


def extend_schedule(schedule: Schedule, old_epochs: int, new_epochs: int,
                    points: int) -> Schedule:
    """``schedule`` of a run of ``old_epochs`` epochs, extended to ``new_epochs`` (a resume
    that trains longer). Every epoch up to ``old_epochs`` keeps its place (those recorded are
    never re-estimated; those not reached yet are recorded as planned); after ``old_epochs``:

    - "log": the epochs after ``old_epochs`` of ``Schedule.log_spaced(new_epochs, points)``
      (the log-spaced schedule recomputed for the new total; ``new_epochs`` always among them);
    - "explicit": ``new_epochs`` (the new last epoch) added;
    - every k-th epoch: unchanged (it has no end).
    """
    if new_epochs < old_epochs:
        raise ValueError(f"a schedule is only extended: {new_epochs} < {old_epochs} epochs.")
    if schedule.epochs is None:
        return schedule
    if schedule.kind == "log":
        later = Schedule.log_spaced(new_epochs, points).epochs
    else:
        later = (new_epochs,)
    kept = tuple(e for e in schedule.epochs if e <= old_epochs)
    return dataclasses.replace(schedule, epochs=kept + tuple(e for e in later if e > old_epochs))


def as_schedule(schedule) -> Schedule:
    if schedule is None:
        return Schedule()
    if isinstance(schedule, Schedule):
        return schedule
    if isinstance(schedule, str):
        raise ValueError(
            f"schedule {schedule!r} is not understood: pass None (every epoch), "
            "Schedule.log_spaced(n_epochs, n_points), or a list of epochs."
        )
    try:
        return Schedule.explicit(np.asarray(schedule).reshape(-1).tolist())
    except (TypeError, ValueError) as err:
        if "schedule" in str(err):
            raise
        raise TypeError(f"schedule must be None (every epoch), a Schedule or a list of epoch "
                        f"numbers (integers >= 0), got {schedule!r} ({err}).") from None
