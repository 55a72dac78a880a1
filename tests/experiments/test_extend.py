"""`infoplane.experiments.extend` and `infoplane.recording.schedule.extend_schedule`: a run
trained longer keeps every epoch of its schedule up to the old total and gains the new
total's log-spaced epochs after it; config.json's entries and the refusal to shorten."""

from __future__ import annotations

import pytest

from infoplane.experiments import run as harness
from infoplane.experiments.extend import extension
from infoplane.recording.schedule import Schedule, extend_schedule


def test_log_schedule_is_extended_after_the_old_total():
    old = Schedule.log_spaced(3000, 20)
    new = extend_schedule(old, 3000, 6000, 20)
    assert new.kind == "log"
    assert [e for e in new.epochs if e <= 3000] == list(old.epochs)  # kept, none moved
    later = [e for e in new.epochs if e > 3000]
    assert later == [e for e in Schedule.log_spaced(6000, 20).epochs if e > 3000]
    assert later[-1] == 6000 and list(new.epochs) == sorted(set(new.epochs))


def test_explicit_and_every_schedules():
    assert extend_schedule(Schedule.explicit([0, 5, 10]), 10, 20, 20).epochs == (0, 5, 10, 20)
    every = Schedule(every=2)
    assert extend_schedule(every, 10, 20, 20) is every
    with pytest.raises(ValueError, match="only extended"):
        extend_schedule(every, 10, 5, 20)


def test_extension_entries_and_refusals():
    sched = Schedule.log_spaced(3, 3)
    config = {"epochs": 3, "points": 3}
    assert extension(config, sched, None, "r") == (sched, None)
    assert extension(config, sched, 3, "r") == (sched, None)
    new, update = extension({**config, "extensions": [{"from": 1, "to": 3}]}, sched, 6, "r")
    assert new.epochs == (0, 1, 3, 6)
    assert update["epochs"] == 6 and update["schedule"] == {"kind": "log",
                                                            "epochs": [0, 1, 3, 6]}
    assert update["schedule_object"]["epochs"] == (0, 1, 3, 6)
    assert [(n["from"], n["to"]) for n in update["extensions"]] == [(1, 3), (3, 6)]
    with pytest.raises(ValueError, match="only extends"):
        extension(config, sched, 2, "r")


def test_resume_extends_an_interrupted_run(tmp_path):
    """A run stopped after epoch 1 of 3, resumed to 6 epochs: the old schedule up to 3, then
    the new one; each epoch once."""
    import shutil

    from infoplane.experiments.checkpoints import truncate_for_resume
    from infoplane.store.results import load_results

    harness.run_experiment("tishby-tanh", epochs=3, points=3, estimators=["binning"],
                           logdir=str(tmp_path), name="i", tensorboard=False,
                           network={"hidden": (4, 3)})
    run_dir = tmp_path / "i"
    for d in (run_dir / "checkpoints").iterdir():
        if d.name.isdigit() and int(d.name) > 1:
            shutil.rmtree(d)
    assert truncate_for_resume(str(run_dir)) == 1
    s = harness.resume_experiment(str(run_dir), epochs=6)
    assert s.resumed_from == 1 and s.config["epochs"] == 6
    res = load_results(str(run_dir))
    keys = [(r["epoch"], r["layer"]) for r in res.rows()]
    assert len(keys) == len(set(keys))
    assert sorted({e for e, _ in keys}) == [0, 1, 3, 6]
    assert sorted({layer for _, layer in keys}) == ["layers.0", "layers.1", "output"]
