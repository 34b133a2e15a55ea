"""A replay buffer that is part of the agent's pure state: a ring of fixed
capacity over a pytree of arrays, so an agent holding one still jits, vmaps
over seeds and checkpoints like any other state.

    buf = buffer.init(example_transition, capacity)
    buf = buffer.add(buf, batch_of_transitions)      # leading axis = n items
    batch = buffer.sample(key, buf, 128)             # uniform over filled slots
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from rlx.fields import ConfigError


@struct.dataclass
class Buffer:
    data: object  # pytree of arrays [capacity, ...]
    position: jax.Array  # the next slot to write
    size: jax.Array  # filled slots (≤ capacity)

    @property
    def capacity(self) -> int:
        return jax.tree.leaves(self.data)[0].shape[0]


def init(example, capacity: int) -> Buffer:
    """An empty buffer for items shaped like `example` (one transition)."""
    if capacity < 1:
        raise ConfigError(f"capacity must be at least 1, got {capacity}")
    data = jax.tree.map(lambda x: jnp.zeros((capacity,) + jnp.shape(x), jnp.asarray(x).dtype), example)
    return Buffer(data=data, position=jnp.zeros((), jnp.int32), size=jnp.zeros((), jnp.int32))


def add(buf: Buffer, items) -> Buffer:
    """Writes n items (leading axis) in order after the last one, overwriting
    the oldest once full."""
    n = jax.tree.leaves(items)[0].shape[0]
    if n > buf.capacity:
        raise ValueError(f"cannot add {n} items to a buffer of capacity {buf.capacity}")
    slots = (buf.position + jnp.arange(n)) % buf.capacity
    data = jax.tree.map(lambda store, x: store.at[slots].set(x), buf.data, items)
    return Buffer(data=data, position=(buf.position + n) % buf.capacity, size=jnp.minimum(buf.size + n, buf.capacity))


def sample(key: jax.Array, buf: Buffer, batch_size: int):
    """`batch_size` items drawn uniformly, with replacement, from the filled
    slots (garbage if the buffer is empty: check `size` first)."""
    idx = jax.random.randint(key, (batch_size,), 0, jnp.maximum(buf.size, 1))
    return jax.tree.map(lambda store: store[idx], buf.data)


def ordered(buf: Buffer):
    """The filled items oldest first (host-side, for inspection and tests)."""
    start = (buf.position - buf.size) % buf.capacity
    idx = (start + jnp.arange(int(buf.size))) % buf.capacity
    return jax.tree.map(lambda store: store[idx], buf.data)
