"""Orbax checkpoints of a run: every seed's carry (agent state with params
and optimiser state, RNG keys) and a JSON record of the run's progress.

Orbax writes each checkpoint to a temporary folder and renames it when
complete, so a run killed mid-save leaves the previous checkpoint as the
latest.  Nothing is unpickled: arrays are read by tensorstore, the progress
record as JSON.  Typed PRNG keys are stored as their raw key data.
"""

from __future__ import annotations

import os

import jax
import orbax.checkpoint as ocp


def _is_key(x) -> bool:
    return jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _to_saveable(tree):
    return jax.tree.map(lambda x: jax.random.key_data(x) if _is_key(x) else x, tree)


class Checkpoints:
    """The checkpoints of one run folder, keeping the latest `keep`."""

    def __init__(self, run_folder: str, keep: int):
        options = ocp.CheckpointManagerOptions(
            max_to_keep=max(1, keep),
            create=True,
            enable_async_checkpointing=False,  # a checkpoint is on disk when save returns
            cleanup_tmp_directories=True,  # the half-written one a SIGKILL left
        )
        self.manager = ocp.CheckpointManager(os.path.abspath(os.path.join(run_folder, "checkpoints")), options=options)

    def latest(self) -> int | None:
        return self.manager.latest_step()

    def save(self, iteration: int, carry, progress: dict) -> None:
        """Checkpoint `carry` after `iteration` iterations, with `progress`
        (JSON-ready) beside it."""
        args = ocp.args.Composite(carry=ocp.args.StandardSave(_to_saveable(carry)), progress=ocp.args.JsonSave(progress))
        self.manager.save(iteration, args=args, force=True)
        self.manager.wait_until_finished()

    def restore(self, iteration: int, abstract_carry, sharding):
        """(carry, progress) of the checkpoint at `iteration`; `abstract_carry`
        gives the structure (jax.eval_shape of the init program), `sharding`
        where the arrays go."""
        saveable = jax.eval_shape(_to_saveable, abstract_carry)
        target = jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sharding), saveable)
        args = ocp.args.Composite(carry=ocp.args.StandardRestore(target), progress=ocp.args.JsonRestore())
        restored = self.manager.restore(iteration, args=args)
        carry = jax.tree.map(
            lambda data, like: jax.random.wrap_key_data(data) if _is_key(like) else data, restored.carry, abstract_carry
        )
        return carry, restored.progress

    def read(self, iteration: int):
        """(arrays, progress) of a checkpoint as saved (keys as key data), for
        inspection without knowing the run's structure."""
        args = ocp.args.Composite(carry=ocp.args.StandardRestore(), progress=ocp.args.JsonRestore())
        restored = self.manager.restore(iteration, args=args)
        return restored.carry, restored.progress

    def close(self) -> None:
        self.manager.close()
