"""Training a run longer (``infoplane run --resume RUN_DIR --epochs N``): `extension` gives
the extended schedule and the config.json entries a resume to N epochs writes.

The rule (`infoplane.recording.schedule.extend_schedule`): every epoch up to the run's old
total keeps its place in the schedule (recorded ones are never re-estimated, those not reached
yet by an interrupted run are recorded as planned); after it a log-spaced schedule takes the
epochs of ``Schedule.log_spaced(N, points)`` beyond the old total, an explicit list gains N,
and every-k-th-epoch stays as it is. config.json gets the new ``epochs``, ``schedule`` and
``schedule_object``, and a note ``{"from": old, "to": N, "at": ISO time}`` appended to
``extensions``. A smaller N is refused (a run is never shortened).
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping

from infoplane.recording.schedule import Schedule, extend_schedule

__all__ = ["extension"]


def extension(config: Mapping, sched: Schedule, epochs: int | None, run_dir: str
              ) -> tuple[Schedule, dict | None]:
    """``(schedule, update)`` of a resume of the run ``config`` (its config.json; ``sched``
    its schedule) to ``epochs`` in all: the schedule to record and the entries of config.json
    to replace (None: ``epochs`` is None or the run's own total, nothing changes). Raises
    ValueError for fewer epochs than the run's total."""
    old = int(config["epochs"])
    if epochs is None or int(epochs) == old:
        return sched, None
    if isinstance(epochs, bool) or int(epochs) != epochs or epochs < old:
        raise ValueError(f"--epochs {epochs}: {run_dir} trains {old} epochs and a resume only "
                         f"extends a run; pass --epochs above {old}, or none to continue it "
                         "as it was set.")
    epochs = int(epochs)
    new = extend_schedule(sched, old, epochs, int(config["points"]))
    note = {"from": old, "to": epochs,
            "at": datetime.datetime.now().isoformat(timespec="seconds")}
    return new, {"epochs": epochs, "schedule_object": dataclasses.asdict(new),
                 "schedule": new.describe(),
                 "extensions": [*config.get("extensions", []), note]}
