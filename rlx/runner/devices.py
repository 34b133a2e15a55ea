"""Devices: the CPU split, multi-host start-up, and the run axis sharded over
every device with a `Mesh` and a `NamedSharding` (no pmap).

The runner lays all its runs (sweep points × seeds) along one axis, "runs",
and shards that axis over the devices.  Every run is independent, so the
partitioned program needs no communication; each device computes its slice.
"""

from __future__ import annotations

import os
import sys

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from rlx.runner.config import ConfigError, RunConfig

AXIS = "runs"


def configure(run: RunConfig) -> None:
    """Before anything touches a JAX backend: join a multi-host job, and split
    a CPU host into `run.devices` XLA devices (0 = one a core).  A backend that
    is already up (a second run in one Python process) keeps its devices; an
    explicit `devices=` that cannot be honoured is an error."""
    if run.num_processes > 1:
        if not run.coordinator:
            raise ConfigError("num_processes > 1 needs coordinator=<host:port> (the address of process 0)")
        if not 0 <= run.process_id < run.num_processes:
            raise ConfigError(f"process_id must lie in [0, {run.num_processes}), got {run.process_id}")
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        try:
            jax.distributed.initialize(run.coordinator, run.num_processes, run.process_id)
        except RuntimeError as err:
            raise ConfigError(f"jax.distributed could not start: {str(err).splitlines()[0]}") from None
    if "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", ""):
        if run.devices:
            raise ConfigError("devices= and XLA_FLAGS=--xla_force_host_platform_device_count both split the host; give one")
        return
    cores = len(os.sched_getaffinity(0))
    wanted = run.devices or cores
    if run.devices > cores:
        print(f"rlx.run: warning: devices={run.devices} splits {cores} cores; more devices than cores runs no faster",
              file=sys.stderr)
    try:
        jax.config.update("jax_num_cpu_devices", wanted)
    except RuntimeError:
        have = jax.local_devices(backend="cpu")
        if run.devices and len(have) != run.devices:
            raise ConfigError(
                f"devices={run.devices}: this Python process already started JAX with {len(have)} CPU devices"
            ) from None


def run_mesh(num_runs: int, single_device: bool = False) -> Mesh:
    """A 1-D mesh over every device of every process; in one process, no
    more devices than runs (and only the first, for envs stepped on the host)."""
    devices = jax.devices()
    if jax.process_count() == 1:
        devices = devices[: 1 if single_device else min(len(devices), num_runs)]
    return Mesh(np.array(devices), (AXIS,))


def run_sharding(mesh: Mesh) -> NamedSharding:
    """Leading (runs) axis split over the mesh, the rest replicated."""
    return NamedSharding(mesh, PartitionSpec(AXIS))


def put(tree, sharding: NamedSharding):
    """Arrays that every process holds whole (host arrays, or arrays on one
    local device; typed PRNG keys too) as global arrays sharded along their
    leading axis."""

    def one(x):
        if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            return jax.random.wrap_key_data(one(jax.random.key_data(x)))
        x = np.asarray(x)
        return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])

    return jax.tree.map(one, tree)


def gather(tree):
    """Global arrays as host numpy arrays, on every process."""
    if jax.process_count() == 1:
        return jax.device_get(tree)
    return multihost_utils.process_allgather(tree, tiled=True)


def any_process(flag: bool) -> bool:
    """Whether `flag` holds on any process (itself with one process)."""
    if jax.process_count() == 1:
        return flag
    return bool(np.any(multihost_utils.process_allgather(np.int32(flag))))


def agree(failed: bool) -> bool:
    """Process 0's `failed`, on every process (itself with one process)."""
    if jax.process_count() == 1:
        return failed
    return bool(multihost_utils.broadcast_one_to_all(np.int32(failed)))
