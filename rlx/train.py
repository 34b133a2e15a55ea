"""Any agent as a pure `train(key) -> (state, metrics)`: one `lax.scan` over
`agent.update`, PureJaxRL's shape with typed pytrees.

    train = make_train(gpomdp, env, gpomdp.Config(), num_iterations=100)
    state, metrics = jax.jit(jax.vmap(train))(jax.random.split(key, 8))

The runner uses the same two pieces, `init_carry` and `run_updates`, in chunks,
so a run of k chunks of n iterations computes what `train` computes in one.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, Callable

import jax
from flax import struct


@struct.dataclass
class Carry:
    """What one seed carries from iteration to iteration."""

    state: Any  # the agent's State
    key: jax.Array


def init_carry(agent: ModuleType, env, config, key: jax.Array) -> Carry:
    init_key, loop_key = jax.random.split(key)
    return Carry(state=agent.init(init_key, env, config), key=loop_key)


def run_updates(agent: ModuleType, env, config, carry: Carry, num_iterations: int):
    """`num_iterations` updates by `lax.scan`; metrics stacked on a leading axis."""

    def body(carry: Carry, _):
        key, update_key = jax.random.split(carry.key)
        state, metrics = agent.update(update_key, carry.state, env, config)
        return Carry(state=state, key=key), metrics

    return jax.lax.scan(body, carry, None, length=num_iterations)


def make_train(agent: ModuleType, env, config, num_iterations: int) -> Callable:
    """`train(key) -> (state, metrics)`, metrics[name] of shape [num_iterations]."""

    def train(key: jax.Array):
        carry, metrics = run_updates(agent, env, config, init_carry(agent, env, config, key), num_iterations)
        return carry.state, metrics

    return train
