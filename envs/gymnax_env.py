"""gymnax environments behind the rlx env contract.

gymnax 1.0 already separates terminated from truncated; the adapter keeps its
dynamics and time limit and converts its spaces to `gymnasium.spaces`.
Continuous actions are clipped to the action box inside the env, so a
Gaussian policy's log-probability stays that of the action it sampled.
"""

from __future__ import annotations

import gymnasium
import gymnax
import jax.numpy as jnp
import numpy as np

from rlx.envs.base import Env


def to_gymnasium_space(space):
    """A gymnax Discrete or Box as the matching gymnasium space."""
    if isinstance(space, gymnax.environments.spaces.Discrete):
        return gymnasium.spaces.Discrete(int(space.n))
    if isinstance(space, gymnax.environments.spaces.Box):
        shape = tuple(space.shape)
        low = np.broadcast_to(np.asarray(space.low, np.float32), shape)
        high = np.broadcast_to(np.asarray(space.high, np.float32), shape)
        return gymnasium.spaces.Box(low, high, shape, np.dtype(space.dtype))
    raise ValueError(f"no gymnasium equivalent for gymnax space {space!r}")


class GymnaxEnv(Env):
    """Wraps `gymnax.make(env_id)`; `max_steps` overrides its time limit."""

    def __init__(self, env_id: str, max_steps: int | None = None, **env_kwargs):
        self.env, params = gymnax.make(env_id, **env_kwargs)
        if max_steps is not None:
            if int(max_steps) < 1:
                raise ValueError(f"max_steps must be at least 1, got {max_steps}")
            params = params.replace(max_steps_in_episode=int(max_steps))
        self._params = params
        self.name = env_id
        box = isinstance(self.env.action_space(params), gymnax.environments.spaces.Box)
        self.family = "minatar" if env_id.endswith("-MinAtar") else "control" if box else "classic"
        # Spaces are host objects: build them once, outside any trace.
        self._observation_space = to_gymnasium_space(self.env.observation_space(params))
        self._action_space = to_gymnasium_space(self.env.action_space(params))

    @property
    def default_params(self):
        return self._params

    def observation_space(self, params=None):
        return self._observation_space

    def action_space(self, params=None):
        return self._action_space

    def max_steps(self, params=None) -> int:
        return int((self._params if params is None else params).max_steps_in_episode)

    def reset_env(self, key, params):
        return self.env.reset_env(key, params)

    def step_env(self, key, state, action, params):
        if isinstance(self._action_space, gymnasium.spaces.Box):
            action = jnp.clip(action, self._action_space.low, self._action_space.high)
        obs, state, reward, terminated, _ = self.env.step_env(key, state, action, params)
        return obs, state, reward, terminated

    def is_truncated(self, state, params):
        return self.env.is_truncated(state, params)
