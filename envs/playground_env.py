"""MuJoCo Playground (`pip install playground`) behind the rlx env contract.

Playground ports the DeepMind Control Suite (and more) to MJX, MuJoCo's JAX
physics, so its tasks jit and vmap like any rlx env.  rlx loads them with
`impl="jax"`, pure JAX (Playground's default, the Warp kernels, is a GPU
backend); on a 2-core CPU that runs ≈2.9·10⁵ cart-pole steps/s at 256
parallel envs.  Playground's envs have no time limit of their own: rlx adds
the task's (`episode_length`, 1,000 steps as in dm_control), and ends an
episode early only where Playground says done (a NaN in the physics).

Installed by the `playground` extra (`pip install -e ".[playground]"`; the
test extra includes it).  Without it, asking for one of these envs is a one-line
error saying so.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from rlx.envs.base import Env

INSTALL_HINT = "MuJoCo Playground is not installed: pip install -e '.[playground]' (or pip install 'playground>=0.2,<0.3')"


@struct.dataclass
class PlaygroundState:
    inner: object  # mujoco_playground's mjx_env.State
    t: jax.Array


def _registry():
    """`mujoco_playground.registry`, imported quietly (mujoco and warp log their
    set-up on import)."""
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            logging.getLogger("absl").setLevel(logging.ERROR)
            from mujoco_playground import registry
    except ImportError as error:
        raise ValueError(INSTALL_HINT) from error
    return registry


class PlaygroundEnv(Env):
    """A Playground dm_control-suite task, e.g. `PlaygroundEnv("CartpoleSwingup")`.

    Observations and rewards are Playground's (the dm_control suite's);
    actions are clipped to the actuators' range [−1, 1].
    """

    family = "control"

    def __init__(self, task: str, episode_length: int = 1000):
        registry = _registry()
        if task not in registry.dm_control_suite.ALL_ENVS:
            raise ValueError(f"unknown Playground dm_control task {task!r}; choose from "
                             f"{', '.join(registry.dm_control_suite.ALL_ENVS)}")
        if int(episode_length) < 1:
            raise ValueError(f"episode_length must be at least 1, got {episode_length}")
        config = registry.get_default_config(task)
        config.impl = "jax"  # MJX in pure JAX (the default "warp" is a GPU backend)
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.env = registry.load(task, config=config)
        self.task = task
        self.name = f"playground:{task}"
        self.episode_length = int(episode_length)
        self.dt = float(self.env.dt)  # seconds of simulated time a step

    @property
    def default_params(self):
        return None

    def observation_space(self, params=None):
        return gymnasium.spaces.Box(-np.inf, np.inf, (int(self.env.observation_size),), np.float32)

    def action_space(self, params=None):
        return gymnasium.spaces.Box(-1.0, 1.0, (int(self.env.action_size),), np.float32)

    def max_steps(self, params=None) -> int:
        return self.episode_length

    def reset_env(self, key, params):
        inner = self.env.reset(key)
        return inner.obs, PlaygroundState(inner=inner, t=jnp.zeros((), jnp.int32))

    def step_env(self, key, state: PlaygroundState, action, params):
        inner = self.env.step(state.inner, jnp.clip(action, -1.0, 1.0))
        return inner.obs, PlaygroundState(inner=inner, t=state.t + 1), inner.reward, inner.done > 0.5

    def is_truncated(self, state: PlaygroundState, params):
        return state.t >= self.episode_length


class SliderConstrainedSwingUp(PlaygroundEnv):
    """PGP's cart-pole (Wolf, Fatkhullin, He 2026; their code/continuous):
    dm_control's `cartpole/swingup` (1,000 steps of 0.01 s, the slider's joint
    range ±1.8 m) with the reward replaced by minus the constraint's signed
    margin, r = −g(s′), g = |x| − `limit`: the constraint E[g] ≤ 0 bounds the
    cart's mean distance from the centre.  The official limit is 1.5 (their
    script's default; their README's 2.0 cannot bind on a ±1.8 slider)."""

    def __init__(self, limit: float = 1.5, episode_length: int = 1000):
        super().__init__("CartpoleSwingup", episode_length)
        self.name = "cartpole_swingup"
        self.limit = float(limit)

    def step_env(self, key, state: PlaygroundState, action, params):
        obs, new, _, terminated = super().step_env(key, state, action, params)
        return obs, new, -(jnp.abs(obs[0]) - self.limit), terminated  # obs[0]: the cart's position x
