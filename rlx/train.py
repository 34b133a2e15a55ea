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
import jax.numpy as jnp
from flax import struct

from rlx.fields import validate
from rlx.rollout import collect_episodes


@struct.dataclass
class Carry:
    """What one seed carries from iteration to iteration."""

    state: Any  # the agent's State
    key: jax.Array


def init_carry(agent: ModuleType, env, config, key: jax.Array) -> Carry:
    init_key, loop_key = jax.random.split(key)
    return Carry(state=agent.init(init_key, env, config), key=loop_key)


def run_updates(agent: ModuleType, env, config, carry: Carry, num_iterations: int, check_finite: bool = False):
    """`num_iterations` updates by `lax.scan`; metrics stacked on a leading axis.
    With `check_finite`, metrics["state_finite"] says whether every float in
    the agent's state is finite after each update (the runner's NaN guard)."""

    def body(carry: Carry, _):
        key, update_key = jax.random.split(carry.key)
        state, metrics = agent.update(update_key, carry.state, env, config)
        if check_finite:
            metrics = {**metrics, "state_finite": all_finite(state)}
        return Carry(state=state, key=key), metrics

    return jax.lax.scan(body, carry, None, length=num_iterations)


def all_finite(tree) -> jax.Array:
    """True when no float leaf of `tree` holds a NaN or an Inf."""
    leaves = [x for x in jax.tree.leaves(tree) if jnp.issubdtype(jnp.result_type(x), jnp.inexact)]
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves])) if leaves else jnp.array(True)


def evaluate(agent: ModuleType, env, config, state, key: jax.Array, num_episodes: int, horizon: int,
             deterministic: bool = True) -> dict:
    """Mean return and length of `num_episodes` fresh episodes of the agent's
    greedy (discrete) or mean (continuous) action, `agent.act(...,
    deterministic=True)` (or of its sampled action).  An agent whose paper
    evaluates otherwise defines `eval_act(key, state, env, config,
    num_episodes) -> act(k, obs)`, played instead when `deterministic`
    (HyperAgent: one sampled index an episode).  A fixed `key` makes it a
    deterministic function of the state: the runner evaluates every seed with
    its own fixed key."""
    def act(k, obs):
        return agent.act(k, state, obs, env, config, deterministic)

    if deterministic and hasattr(agent, "eval_act"):
        act = agent.eval_act(jax.random.fold_in(key, 2), state, env, config, num_episodes)

    traj = collect_episodes(key, env, env.default_params, act, num_episodes, horizon)
    return {"eval_return": jnp.mean(traj.episode_return), "eval_length": jnp.mean(traj.episode_length)}


def make_train(agent: ModuleType, env, config, num_iterations: int) -> Callable:
    """`train(key) -> (state, metrics)`, metrics[name] of shape [num_iterations].
    The config is checked against its declaration first (rlx.fields.validate:
    Literal choices, numeric ranges), as the runner checks it at parse time."""
    validate(config)

    def train(key: jax.Array):
        carry, metrics = run_updates(agent, env, config, init_carry(agent, env, config, key), num_iterations)
        return carry.state, metrics

    return train
