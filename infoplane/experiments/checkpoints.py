"""Orbax checkpoints of a run's training state (every seed's parameters, optimiser state and
PRNG key) in ``<run_dir>/checkpoints/`` (the newest two), and the truncation of a run
directory back to its newest checkpoint that ``--resume`` starts from.

A resume never deletes data it cannot read: `restore_readable` falls back to the newest
checkpoint that restores (an unreadable newer one is moved to ``checkpoints-damaged-<UTC>/``
and reported), and `truncate_for_resume` checks the tables against the schedule
(`infoplane.experiments.repair`): a torn last line (a kill mid-write) is dropped as always;
real damage (rows missing up to the checkpoint, unreadable lines, a deleted file) keeps the
damaged file aside as ``<file>.damaged-<UTC>``, says what was kept and returns the lost
epochs, which the harness re-estimates from ``activations/`` (or refuses, naming them).
"""

from __future__ import annotations

import datetime
import os
import shutil
from collections.abc import Callable, Iterable

import jax

from infoplane.experiments import repair
from infoplane.store import layout
from infoplane.store.tables import truncate_results

__all__ = ["checkpoint_manager", "prepare_resume", "restore", "restore_readable", "save",
           "truncate_for_resume"]


def checkpoint_manager(run_dir: str):
    """The orbax manager of ``<run_dir>/checkpoints/``: synchronous, keeps the newest two."""
    import orbax.checkpoint as ocp

    return ocp.CheckpointManager(
        os.path.abspath(os.path.join(run_dir, layout.CHECKPOINTS_DIR)),
        options=ocp.CheckpointManagerOptions(max_to_keep=2, enable_async_checkpointing=False),
    )


def save(mgr, epoch: int, state: dict) -> None:
    """Save ``state`` (a pytree) as the checkpoint of ``epoch`` and wait until it is written."""
    import orbax.checkpoint as ocp

    mgr.save(epoch, args=ocp.args.StandardSave(state))
    mgr.wait_until_finished()


def restore(mgr, target: dict) -> tuple[int, dict] | None:
    """``(epoch, state)`` of the newest checkpoint, shaped like ``target``; None if none."""
    import orbax.checkpoint as ocp

    step = mgr.latest_step()
    if step is None:
        return None
    abstract = jax.eval_shape(lambda: target)
    return int(step), mgr.restore(step, args=ocp.args.StandardRestore(abstract))


def restore_readable(run_dir: str, target: dict, warn: Callable[[str], None]
                     ) -> tuple[int, dict] | None:
    """``(epoch, state)`` of the newest checkpoint of ``run_dir`` that can be read, shaped
    like ``target``; None if there is none. Each newer checkpoint that fails to restore (cut
    short, overwritten) is moved to ``<run_dir>/checkpoints-damaged-<UTC>/`` and reported
    through ``warn`` (which one, why, and which one is used instead)."""
    import orbax.checkpoint as ocp

    mgr = checkpoint_manager(run_dir)
    abstract = jax.eval_shape(lambda: target)
    found, skipped = None, []
    for step in sorted(mgr.all_steps(), reverse=True):
        try:
            found = int(step), mgr.restore(step, args=ocp.args.StandardRestore(abstract))
            break
        except Exception as err:  # noqa: BLE001 - orbax/tensorstore raise many kinds
            skipped.append((int(step), err))
    mgr.close()
    if skipped:
        aside = os.path.join(run_dir, f"checkpoints-damaged-{_utc()}")
        os.makedirs(aside, exist_ok=True)
        for step, err in skipped:
            shutil.move(os.path.join(run_dir, layout.CHECKPOINTS_DIR, str(step)),
                        os.path.join(aside, str(step)))
            why = str(err).splitlines()[0][:300] if str(err) else type(err).__name__
            use = (f"falling back to the checkpoint of epoch {found[0]}" if found else
                   "no older readable checkpoint: training starts again from epoch 0")
            warn(f"the checkpoint of epoch {step} cannot be read ({why}); moved it to {aside}, "
                 f"{use}")
    return found


def _utc() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")


def truncate_for_resume(run_dir: str) -> int:
    """Drop everything after the newest checkpoint; returns its epoch (-1: none). (No damage
    check: `prepare_resume` is what ``--resume`` uses.)"""
    step = checkpoint_manager(run_dir).latest_step()
    last = -1 if step is None else int(step)
    for fname in layout.TABLE_FILES:
        path = os.path.join(run_dir, fname)
        if os.path.exists(path):
            truncate_results(path, lambda r, last=last: int(r["epoch"]) <= last)
    _drop_after(run_dir, last)
    return last


def prepare_resume(run_dir: str, last: int, expected: Iterable[tuple[int, str, int]],
                   can_reestimate: Callable[[tuple[int, str, int]], bool],
                   warn: Callable[[str], None]) -> list[tuple[int, str, int]]:
    """Bring ``run_dir`` back to the checkpoint of epoch ``last`` (-1: none) for a resume.

    ``expected``: the scheduled (seed, split, epoch) entries up to ``last``, which the tables
    must hold. Damage is checked first (`infoplane.experiments.repair.assess`); then every
    table is cut back to ``last``. A damaged table is kept aside (``<file>.damaged-<UTC>``)
    and ``warn`` says what was kept and what will be re-estimated. Returns the lost entries
    (empty: none), which the caller re-estimates from ``activations/``. Lost entries that
    ``can_reestimate`` rejects raise `repair.DamagedRunError` before anything is changed.
    """
    plan = repair.assess(run_dir, last, expected)
    lost = repair.apply(plan, can_reestimate, warn, _utc())
    _drop_after(run_dir, last)
    return lost


def _drop_after(run_dir: str, last: int) -> None:
    """Delete stored activations of epochs after ``last`` and, without a checkpoint, the
    checkpoints directory."""
    act = os.path.join(run_dir, layout.ACTIVATIONS_DIR)
    if os.path.isdir(act):
        for root, _dirs, files in os.walk(act):
            for f in files:
                if f.startswith("epoch") and int(f[5:12]) > last:
                    os.remove(os.path.join(root, f))
    if last < 0:
        shutil.rmtree(os.path.join(run_dir, layout.CHECKPOINTS_DIR), ignore_errors=True)
