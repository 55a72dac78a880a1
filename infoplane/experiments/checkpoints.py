"""Orbax checkpoints of a run's training state (every seed's parameters, optimiser state and
PRNG key) in ``<run_dir>/checkpoints/`` (the newest two), and the truncation of a run
directory back to its newest checkpoint that ``--resume`` starts from.
"""

from __future__ import annotations

import os
import shutil

import jax

from infoplane.store import layout
from infoplane.store.tables import truncate_results

__all__ = ["checkpoint_manager", "restore", "save", "truncate_for_resume"]


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


def truncate_for_resume(run_dir: str) -> int:
    """Drop everything after the newest checkpoint; returns its epoch (-1: none)."""
    mgr = checkpoint_manager(run_dir)
    step = mgr.latest_step()
    last = -1 if step is None else int(step)
    for fname in layout.TABLE_FILES:
        path = os.path.join(run_dir, fname)
        if os.path.exists(path):
            truncate_results(path, lambda r, last=last: int(r["epoch"]) <= last)
    act = os.path.join(run_dir, layout.ACTIVATIONS_DIR)
    if os.path.isdir(act):
        for root, _dirs, files in os.walk(act):
            for f in files:
                if f.startswith("epoch") and int(f[5:12]) > last:
                    os.remove(os.path.join(root, f))
    if step is None:
        shutil.rmtree(os.path.join(run_dir, layout.CHECKPOINTS_DIR), ignore_errors=True)
    return last
