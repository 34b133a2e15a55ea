"""Orbax checkpoints of a run: every seed's carry (agent state with params
and optimiser state, RNG keys) and a JSON record of the run's progress.

Orbax writes each checkpoint to a temporary folder and renames it when
complete, so a run killed mid-save leaves the previous checkpoint as the
latest.  Nothing is unpickled: arrays are read by tensorstore, the progress
record as JSON.  Typed PRNG keys are stored as their raw key data.
"""

from __future__ import annotations

import contextlib
import logging
import os

import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp


def _is_key(x) -> bool:
    return jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _to_saveable(tree):
    """Keys as key data; an empty array (MJX's state holds some, e.g. `act` of
    a model without activations), which orbax refuses, as a [runs, 1] zero
    placeholder that `restore` turns back into the empty shape."""
    def saveable(x):
        if _is_key(x):
            return jax.random.key_data(x)
        return jnp.zeros(x.shape[:1] + (1,), x.dtype) if x.size == 0 else x
    return jax.tree.map(saveable, tree)


def _from_saved(data, like):
    if _is_key(like):
        return jax.random.wrap_key_data(data)
    return jnp.zeros((data.shape[0], *like.shape[1:]), like.dtype) if like.size == 0 else data


@contextlib.contextmanager
def _quiet():
    """Orbax's absl log lines off while it opens or reads checkpoints (errors still raise)."""
    absl = logging.getLogger("absl")
    level = absl.level
    absl.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        absl.setLevel(level)


class Checkpoints:
    """The checkpoints of one run folder, keeping the latest `keep`."""

    def __init__(self, run_folder: str, keep: int, read_only: bool = False):
        self.folder = os.path.abspath(os.path.join(run_folder, "checkpoints"))
        with _quiet():  # orbax logs that a read-only manager is read-only, and each damaged file it lists
            options = ocp.CheckpointManagerOptions(
                max_to_keep=keep,
                create=not read_only,
                read_only=read_only,
                enable_async_checkpointing=False,  # a checkpoint is on disk when save returns
                cleanup_tmp_directories=not read_only,  # the half-written one a SIGKILL left
            )
            self.manager = ocp.CheckpointManager(self.folder, options=options)

    def latest(self) -> int | None:
        """The iteration count of the newest complete checkpoint (None: none yet)."""
        return self.manager.latest_step() if os.path.isdir(self.folder) else None

    def all(self) -> list[int]:
        """The iteration counts of every complete checkpoint kept."""
        return list(self.manager.all_steps()) if os.path.isdir(self.folder) else []

    def save(self, iteration: int, carry, progress: dict) -> None:
        """Checkpoint `carry` after `iteration` iterations, with `progress`
        (JSON-ready) beside it."""
        args = ocp.args.Composite(carry=ocp.args.StandardSave(_to_saveable(carry)), progress=ocp.args.JsonSave(progress))
        self.manager.save(iteration, args=args, force=True)
        self.manager.wait_until_finished()

    def progress(self, iteration: int) -> dict:
        """The JSON progress record saved beside the checkpoint at `iteration`."""
        with _quiet():  # a damaged file: orbax logs its own line; the runner says what it skips
            return self.manager.restore(iteration, args=ocp.args.Composite(progress=ocp.args.JsonRestore())).progress

    def restore(self, iteration: int, abstract_carry, runs: int):
        """The carry of the checkpoint at `iteration`, whole on this process's
        first device; `abstract_carry` gives the structure (jax.eval_shape of
        the init program) and `runs` the length of the saved runs axis (the
        caller re-pads and re-shards it for the devices it has now)."""
        device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
        saveable = jax.eval_shape(_to_saveable, abstract_carry)
        target = jax.tree.map(lambda s: jax.ShapeDtypeStruct((runs, *s.shape[1:]), s.dtype, sharding=device), saveable)
        with _quiet():
            restored = self.manager.restore(iteration, args=ocp.args.Composite(carry=ocp.args.StandardRestore(target)))
        return jax.tree.map(_from_saved, restored.carry, abstract_carry)

    def read(self, iteration: int):
        """(arrays, progress) of a checkpoint as saved (keys as key data), for
        inspection without knowing the run's structure."""
        args = ocp.args.Composite(carry=ocp.args.StandardRestore(), progress=ocp.args.JsonRestore())
        restored = self.manager.restore(iteration, args=args)
        return restored.carry, restored.progress

    def close(self) -> None:
        self.manager.close()
