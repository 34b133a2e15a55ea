"""Brax environments behind the rlx env contract.

The physics backend is selectable (`backend=`).  Measured on a 2-core CPU at
128 parallel hopper envs: spring ≈47k steps/s, positional ≈15k, generalized
≈5.5k, mjx ≈3k.  rlx defaults to `spring`, the fastest, since CPU time is what
most runs are short of (swimmer, which only Brax's `generalized` backend runs,
defaults to that); pass `backend="generalized"` for the most faithful
contact dynamics (what Brax itself defaults to), e.g. when comparing with
published MuJoCo numbers.

Brax's reset returns `done` and some reward metrics as weakly typed floats
where step returns strong ones, so a jitted step would compile twice; the
base `Env` casts every leaf of every state to a strong dtype
(`rlx.envs.base.strong`), inside the Brax state too, so reset and step hand
out one state type.  Actions are clipped to [-1, 1] inside the env.
"""

from __future__ import annotations

import contextlib
import io
import warnings

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from rlx.envs.base import Env

DEFAULT_BACKEND = "spring"
# Brax envs that refuse the spring backend, and what they get by default.
DEFAULT_BACKEND_EXCEPTIONS = {"swimmer": "generalized"}


@struct.dataclass
class BraxState:
    inner: object  # brax.envs.State
    t: jax.Array


# Brax 0.14.2's fluid forces call jnp.clip(a_min=...), which jax 0.10 removed.
BROKEN_ON_JAX_0_10 = {
    "swimmer": "brax 0.14.2's swimmer calls jnp.clip(a_min=...), removed in jax 0.10; "
    "it runs with jax 0.9.x (pip install 'jax<0.10' 'flax<0.12.7')",
}


def _jax_version() -> tuple[int, int]:
    major, minor = jax.__version__.split(".")[:2]
    return int(major), int(minor)


def _import_brax_envs():
    """`brax.envs`, imported lazily (it is slow) and quietly: mujoco prints a
    line about its optional `warp` backend, and Brax warns that it is no longer
    actively maintained, on every import."""
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        from brax import envs as brax_envs
    return brax_envs


class BraxEnv(Env):
    family = "locomotion"
    """Wraps `brax.envs.get_environment(name, backend=...)` with a time limit."""

    def __init__(self, name: str, backend: str = "", episode_length: int = 1000, **kwargs):
        """backend "" = spring, or the env's only backend where it has one."""
        if name in BROKEN_ON_JAX_0_10 and _jax_version() >= (0, 10):
            raise ValueError(BROKEN_ON_JAX_0_10[name])
        brax_envs = _import_brax_envs()
        backend = backend or DEFAULT_BACKEND_EXCEPTIONS.get(name, DEFAULT_BACKEND)
        if backend not in ("spring", "positional", "generalized", "mjx"):
            raise ValueError(f"backend must be spring, positional, generalized or mjx, got {backend!r}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "not actively maintained"
            self.env = brax_envs.get_environment(name, backend=backend, **kwargs)
        self.name = name
        self.backend = backend
        if int(episode_length) < 1:
            raise ValueError(f"episode_length must be at least 1, got {episode_length}")
        self.episode_length = int(episode_length)
        self._observation_size = None

    @property
    def default_params(self):
        return None

    def observation_space(self, params=None):
        if self._observation_size is None:  # Brax finds it by running a reset: ~1 s of tracing each time
            self._observation_size = self.env.observation_size
        return gymnasium.spaces.Box(-np.inf, np.inf, (self._observation_size,), np.float32)

    def action_space(self, params=None):
        return gymnasium.spaces.Box(-1.0, 1.0, (self.env.action_size,), np.float32)

    def max_steps(self, params=None) -> int:
        return self.episode_length

    def reset_env(self, key, params):
        inner = self.env.reset(key)
        return inner.obs, BraxState(inner=inner, t=jnp.zeros((), jnp.int32))

    def step_env(self, key, state: BraxState, action, params):
        inner = self.env.step(state.inner, jnp.clip(action, -1.0, 1.0))
        new = BraxState(inner=inner, t=state.t + 1)
        return inner.obs, new, inner.reward, inner.done > 0.5

    def is_truncated(self, state: BraxState, params):
        return state.t >= self.episode_length
