"""The one env contract every rlx environment keeps.

Pure and jittable, gymnax 1.0 style:

    obs, state = env.reset(key, params)
    obs, state, reward, terminated, truncated, info = env.step(key, state, action, params)

`step` auto-resets: when an episode ends (terminated or truncated) the returned
`obs` and `state` already belong to the next episode, and the observation that
ended the episode is kept in `info["final_obs"]` so a truncated episode can
bootstrap from it.  `step_batch(keys, states, actions, params)` is
`vmap(step)` over N envs with the same outputs, computing only the resets it
keeps; rlx's rollouts step through it.  Spaces are `gymnasium.spaces`; env
params are a pytree, so they can be vmapped like keys and states.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium
import jax
import jax.numpy as jnp

from rlx.policies import tanh_log_det


def strong(tree):
    """Every leaf as a strongly typed array.  Envs often hand out weakly typed
    scalars from reset (a Python 0 or 0.0) and strong ones from step, and a
    jitted step would then compile twice; after this they are one type."""
    return jax.tree.map(lambda x: jnp.asarray(x, dtype=jnp.asarray(x).dtype), tree)


class Env:
    """Base class: subclasses write `reset_env`, `step_env` and `is_truncated`.

    `step_env` is one transition without any reset; `is_truncated` says whether
    the state reached after it hit the time limit.  The base class adds the
    auto-reset and the `info` dict, the same for every env.
    """

    name: str = "env"
    # The family an agent's env-aware defaults key on (an agent's FAMILY_DEFAULTS, rlx.agent):
    # "classic" (classic control, discrete actions), "control" (continuous actions:
    # pendulum, mountaincar_continuous), "locomotion" (Brax, MuJoCo), "tabular", "minatar".
    family: str = "classic"
    # Capabilities an agent may need, declared here and read one way:
    host_stepped: bool = False  # True: stepped on the host (the gymnasium bridge), so one process and one device

    def tabular_mdp(self, params: Any = None):
        """The `rlx.exact.TabularMDP` this env samples (tabular envs; what
        the exact oracle solves), else None."""
        return None

    @property
    def discrete_actions(self) -> bool:
        """Whether the actions are `gymnasium.spaces.Discrete` (else a Box)."""
        return isinstance(self.action_space(self.default_params), gymnasium.spaces.Discrete)

    @property
    def num_actions(self) -> int:
        """gymnax's name: the number of discrete actions, or a Box's size."""
        space = self.action_space(self.default_params)
        return int(space.n) if self.discrete_actions else int(math.prod(space.shape))

    @property
    def default_params(self) -> Any:
        raise NotImplementedError

    def observation_space(self, params: Any):
        raise NotImplementedError

    def action_space(self, params: Any):
        raise NotImplementedError

    def reset_env(self, key: jax.Array, params: Any) -> tuple[Any, Any]:
        raise NotImplementedError

    def step_env(self, key: jax.Array, state: Any, action: Any, params: Any):
        """Returns (obs, state, reward, terminated) of one transition."""
        raise NotImplementedError

    def is_truncated(self, state: Any, params: Any) -> jax.Array:
        raise NotImplementedError

    def max_steps(self, params: Any = None) -> int:
        """The time limit, as a Python int (the default horizon of an episode)."""
        raise NotImplementedError

    def discount(self, params: Any = None):
        """The env's own discount γ where it defines one (tabular MDPs), else None."""
        return None

    # -- the contract ------------------------------------------------------
    def reset(self, key: jax.Array, params: Any = None) -> tuple[Any, Any]:
        params = self.default_params if params is None else params
        return strong(self.reset_env(key, params))

    def step(self, key: jax.Array, state: Any, action: Any, params: Any = None):
        params = self.default_params if params is None else params
        key_step, key_reset = jax.random.split(key)
        obs_t, state_t, reward, terminated, truncated = self._transition(key_step, state, action, params)
        done = jnp.logical_or(terminated, truncated)
        obs_r, state_r = strong(self.reset_env(key_reset, params))
        state = jax.tree.map(lambda r, s: jnp.where(done, r, s), state_r, state_t)
        obs = jax.tree.map(lambda r, s: jnp.where(done, r, s), obs_r, obs_t)
        info = {"final_obs": obs_t}
        return obs, state, reward, terminated, truncated, info

    def step_batch(self, keys: jax.Array, state: Any, action: Any, params: Any = None):
        """`jax.vmap(self.step)` over N envs (keys [N], states and actions
        with a leading N axis, one `params`): the same outputs, bit for bit, but
        a reset is computed only for the envs whose episode ended.

        `step` computes a fresh reset at every step and keeps it only where the
        episode ended: for Brax's hopper a third of a step's cost (issue 22).
        Here `reset_where` resets only the ended envs, each from the key
        `step` would give it.  Envs that override `step` (the host bridge) are
        vmapped as they are.
        """
        params = self.default_params if params is None else params
        if type(self).step is not Env.step:
            return jax.vmap(self.step, in_axes=(0, 0, 0, None))(keys, state, action, params)
        key_step, key_reset = jnp.moveaxis(jax.vmap(jax.random.split)(keys), 1, 0)  # step's own split
        obs_t, state_t, reward, terminated, truncated = jax.vmap(self._transition, in_axes=(0, 0, 0, None))(
            key_step, state, action, params)
        obs, state = self.reset_where(key_reset, jnp.logical_or(terminated, truncated), obs_t, state_t, params)
        return obs, state, reward, terminated, truncated, {"final_obs": obs_t}

    def reset_where(self, keys: jax.Array, mask: jax.Array, obs: Any, state: Any, params: Any = None):
        """(obs, state) of N envs with those where `mask` [N] replaced by a
        fresh reset from their own key of `keys` [N]; the others untouched.

        A `while_loop` resets the masked envs in chunks of max(1, N/16): no
        chunk when none is masked, more when many are (under an outer `vmap`
        over seeds, as many as the seed that needs most), instead of N resets
        of which most are thrown away.
        """
        params = self.default_params if params is None else params
        n = keys.shape[0]
        chunk = max(1, n // 16)
        rank = jnp.cumsum(mask) - 1  # a masked env's place among the masked ones
        count = jnp.sum(mask)

        def select(where, new, old):
            return jax.tree.map(lambda a, b: jnp.where(where.reshape(where.shape + (1,) * (a.ndim - 1)), a, b), new, old)

        def reset_chunk(carry):
            """Reset masked envs j·chunk … (j+1)·chunk − 1 and put them in place."""
            j, placed = carry
            mine = mask & (rank // chunk == j)
            picked = jnp.nonzero(mine, size=chunk, fill_value=0)[0]
            fresh = jax.vmap(lambda k: strong(self.reset_env(k, params)))(keys[picked])
            slot = jnp.clip(rank - j * chunk, 0, chunk - 1)
            return j + 1, select(mine, jax.tree.map(lambda x: x[slot], fresh), placed)

        _, placed = jax.lax.while_loop(lambda c: c[0] * chunk < count, reset_chunk,
                                       (jnp.zeros((), jnp.int32), (obs, state)))
        return placed

    def _transition(self, key, state, action, params):
        """One step without reset: (obs, state, reward f32, terminated, truncated)."""
        obs, state, reward, terminated = strong(self.step_env(key, state, action, params))
        terminated = jnp.asarray(terminated, dtype=bool)
        truncated = jnp.logical_and(self.is_truncated(state, params), ~terminated)
        return obs, state, jnp.asarray(reward, jnp.float32), terminated, truncated

    def __repr__(self) -> str:
        return f"<rlx env {self.name}>"


class TanhActions(Env):
    """`env` stepped with a = center + half·tanh(u) (its Box's midpoint and
    half-width): an agent's Gaussian over the pre-squash u becomes a
    tanh-squashed policy on any bounded Box, and the u it stores keeps the
    executed action's log-density exact (`log_det`) where a stored a would have
    rounded to a bound.  Everything else is `env`'s."""

    def __init__(self, env: Env):
        space = env.action_space(env.default_params)
        if not (isinstance(space, gymnasium.spaces.Box) and space.is_bounded()):
            raise ValueError(f"tanh-squashed actions need a bounded Box, {env.name} has {space}")
        self.env = env
        self.name, self.family = env.name, env.family
        self.center = jnp.asarray((space.high + space.low) / 2, jnp.float32)
        self.half = jnp.asarray((space.high - space.low) / 2, jnp.float32)

    def executed(self, u):
        """The action the env receives for the pre-squash u."""
        return self.center + self.half * jnp.tanh(u)

    def log_det(self, u):
        """log |da/du| summed over the action's dimensions: log π(a|s) = log N(u) − log_det(u)."""
        return tanh_log_det(u) + jnp.sum(jnp.log(self.half))

    @property
    def default_params(self):
        return self.env.default_params

    def observation_space(self, params=None):
        return self.env.observation_space(params)

    def action_space(self, params=None):
        space = self.env.action_space(params)
        return gymnasium.spaces.Box(-math.inf, math.inf, space.shape, space.dtype)

    def max_steps(self, params=None) -> int:
        return self.env.max_steps(params)

    def discount(self, params=None):
        return self.env.discount(params)

    def reset_env(self, key, params):
        return self.env.reset_env(key, params)

    def step_env(self, key, state, action, params):
        return self.env.step_env(key, state, self.executed(action), params)

    def is_truncated(self, state, params):
        return self.env.is_truncated(state, params)
