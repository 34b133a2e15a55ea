"""A uniform-random agent: the smallest module that keeps the agent contract
(rlx.agent), as a user would add one.  Adding it to rlx is this file and one
line in agents/__init__.py's AGENTS; from your own code,
`rlx.agents.register("uniform", uniform_agent)`.

It learns nothing: every action is uniform over a Discrete space (or a Box
within ±`scale`).  `scale` is a traced field, so a sweep can vmap it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from rlx.agent import env_time_limit
from rlx.agents.shared import onpolicy
from rlx.fields import static


@struct.dataclass
class Config:
    num_envs: int = static(4)  # envs stepped side by side
    num_steps: int = static(16)  # steps of each env an update
    scale: float = 1.0  # Box actions: uniform in [−scale, scale]; reported as a metric


PRESETS = {"uniform": {}}
FAMILY_DEFAULTS: dict = {}
METRICS = ("episode_return", "transitions", "scale")
eval_horizon = env_time_limit


@struct.dataclass
class State:
    envs: onpolicy.Envs
    t: jax.Array


def env_steps_per_update(env, config: Config) -> int:
    return config.num_envs * config.num_steps


def init(key, env, config: Config) -> State:
    return State(envs=onpolicy.reset(key, env, config.num_envs), t=jnp.zeros((), jnp.int32))


def act(key, state, obs, env, config: Config, deterministic: bool = True):
    batch = jnp.shape(obs)[:1] if jnp.ndim(obs) > len(env.observation_space(env.default_params).shape) else ()
    if env.discrete_actions:
        return jax.random.randint(key, batch, 0, env.num_actions)
    shape = batch + env.action_space(env.default_params).shape
    return config.scale * jax.random.uniform(key, shape, minval=-1.0, maxval=1.0)


def update(key, state: State, env, config: Config):
    uniform = lambda k, obs: act(k, state, obs, env, config, deterministic=False)  # noqa: E731
    _, envs, episode_return = onpolicy.rollout(key, env, uniform, state.envs, config.num_steps)
    metrics = {"episode_return": episode_return, "scale": config.scale,
               "transitions": jnp.asarray(config.num_envs * config.num_steps, jnp.float32)}
    return State(envs=envs, t=state.t + 1), metrics
