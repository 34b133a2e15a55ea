"""Trajectory collection (`lax.scan` over time, `vmap` over envs) and the
pieces every on-policy agent shares: GAE, episode-return tracking across
auto-resets, running observation statistics.

The policy-gradient theory samples whole episodes of horizon H from the start
distribution, so `collect_episodes` resets every env and runs H steps.  The env
auto-resets after an episode ends; `mask[n, t]` is 1 while step t still belongs
to env n's first episode, and every estimator weights by it.
"""

from __future__ import annotations

from typing import Any

import chex
import jax
import jax.numpy as jnp
from flax import struct

from rlx.policies import Policy

DEFAULT_DISCOUNT = 0.99  # γ where neither the config nor the env sets one


def episode_horizon(env, horizon: int) -> int:
    """H: the configured horizon, or (0) the env's time limit."""
    if horizon < 0:
        raise ValueError(f"horizon must be 0 (the env's time limit) or positive, got {horizon}")
    return horizon or env.max_steps()


def episode_discount(env, discount):
    """γ: the configured one, or (None) the env's own (tabular MDPs), or 0.99."""
    if discount is not None:
        return discount
    own = env.discount(env.default_params)
    return DEFAULT_DISCOUNT if own is None else own


@struct.dataclass
class Trajectories:
    """A batch of N episodes of horizon H; every field is [N, H, ...]."""

    obs: Any
    action: jax.Array
    reward: jax.Array
    mask: jax.Array  # 1.0 while the step belongs to the first episode
    terminated: jax.Array
    truncated: jax.Array

    @property
    def episode_return(self) -> jax.Array:
        """Undiscounted return of each episode, [N]."""
        return jnp.sum(self.reward * self.mask, axis=-1)

    @property
    def episode_length(self) -> jax.Array:
        return jnp.sum(self.mask, axis=-1)


def collect_episodes(
    key: jax.Array,
    env,
    env_params,
    policy: Policy,
    params,
    num_envs: int,
    horizon: int,
) -> Trajectories:
    """N fresh episodes of π_params, each cut at `horizon` steps."""
    if num_envs < 1 or horizon < 1:
        raise ValueError(f"num_envs and horizon must be at least 1, got {num_envs} and {horizon}")
    reset_keys = jax.random.split(jax.random.fold_in(key, 0), num_envs)
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(reset_keys, env_params)
    alive = jnp.ones((num_envs,), jnp.float32)

    def step(carry, step_key):
        obs, state, alive = carry
        act_key, env_key = jax.random.split(step_key)
        action = policy.sample(params, obs, act_key)
        env_keys = jax.random.split(env_key, num_envs)
        next_obs, state, reward, terminated, truncated, _ = jax.vmap(
            env.step, in_axes=(0, 0, 0, None)
        )(env_keys, state, action, env_params)
        out = (obs, action, reward * alive, alive, terminated, truncated)
        alive = alive * (1.0 - jnp.logical_or(terminated, truncated).astype(jnp.float32))
        return (next_obs, state, alive), out

    step_keys = jax.random.split(jax.random.fold_in(key, 1), horizon)
    _, (obs, action, reward, mask, terminated, truncated) = jax.lax.scan(
        step, (obs, state, alive), step_keys
    )
    # scan stacks time first; the batch is [N, H, ...].
    swap = lambda x: jnp.swapaxes(x, 0, 1)
    traj = Trajectories(
        obs=jax.tree.map(swap, obs),
        action=swap(action),
        reward=swap(reward),
        mask=swap(mask),
        terminated=swap(terminated),
        truncated=swap(truncated),
    )
    chex.assert_shape([traj.reward, traj.mask], (num_envs, horizon))
    return traj


@struct.dataclass
class Transitions:
    """T steps of N envs that carry on from where the last batch stopped;
    every field is [T, N, ...] (time first, as the GAE scan wants it)."""

    obs: Any
    action: jax.Array
    reward: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    next_obs: Any  # the observation after the step, the final one when an episode ended there


def collect_steps(key: jax.Array, env, env_params, act, env_state, obs, num_steps: int):
    """`num_steps` steps of every env from (env_state, obs), with
    `act(obs, key) -> action`; auto-reset envs carry on into new episodes.
    Returns (transitions, env_state, obs) to continue from."""

    def step(carry, step_key):
        env_state, obs = carry
        act_key, env_key = jax.random.split(step_key)
        action = act(obs, act_key)
        env_keys = jax.random.split(env_key, action.shape[0])
        next_obs, env_state, reward, terminated, truncated, info = jax.vmap(
            env.step, in_axes=(0, 0, 0, None)
        )(env_keys, env_state, action, env_params)
        out = Transitions(obs, action, reward, terminated, truncated, info["final_obs"])
        return (env_state, next_obs), out

    (env_state, obs), transitions = jax.lax.scan(step, (env_state, obs), jax.random.split(key, num_steps))
    return transitions, env_state, obs


def track_returns(running, last, reward, done):
    """Episode returns over a batch of steps [T, N] of auto-resetting envs.

    `running` [N] is each env's return so far, `last` [N] its last finished
    episode's.  Returns the updated (running, last) and the mean return of
    the episodes that ended in this batch (the mean of `last` if none did).
    """

    def step(carry, x):
        running, last, total, count = carry
        r, d = x
        running = running + r
        last = jnp.where(d, running, last)
        total, count = total + jnp.sum(jnp.where(d, running, 0.0)), count + jnp.sum(d)
        return (jnp.where(d, 0.0, running), last, total, count), None

    (running, last, total, count), _ = jax.lax.scan(
        step, (running, last, jnp.zeros(()), jnp.zeros((), jnp.int32)), (reward, done))
    return running, last, jnp.where(count > 0, total / jnp.maximum(count, 1), jnp.mean(last))


@struct.dataclass
class ObsStats:
    """Running mean and variance of observations (parallel-merge updates)."""

    mean: jax.Array
    var: jax.Array
    count: jax.Array

    @classmethod
    def create(cls, obs_shape, obs_dtype) -> ObsStats:
        shape = tuple(obs_shape) if jnp.issubdtype(jnp.dtype(obs_dtype), jnp.floating) else ()
        return cls(jnp.zeros(shape), jnp.ones(shape), jnp.asarray(1e-4))

    def normalize(self, obs, enabled: bool = True):
        """(obs − mean)/std clipped to ±10; integer observations pass through."""
        if not enabled or not jnp.issubdtype(obs.dtype, jnp.floating):
            return obs
        return jnp.clip((obs - self.mean) / jnp.sqrt(self.var + 1e-8), -10.0, 10.0)

    def update(self, batch, enabled: bool = True) -> ObsStats:
        if not enabled or not self.mean.ndim:
            return self
        batch = batch.reshape(-1, *self.mean.shape)
        n = batch.shape[0]
        mean, var = jnp.mean(batch, 0), jnp.var(batch, 0)
        total = self.count + n
        delta = mean - self.mean
        new_mean = self.mean + delta * n / total
        m2 = self.var * self.count + var * n + delta**2 * self.count * n / total
        return ObsStats(new_mean, m2 / total, total)


def gae(reward, value, next_value, terminated, truncated, discount, lam):
    """Generalised advantage estimation (Schulman et al. 2016, eq. 16) over
    [T, N] steps of auto-resetting envs: Â_t and the value targets
    R_t = Â_t + V(s_t).  `next_value` is V of the step's next observation (the
    final one at a truncation, which bootstraps); a termination cuts it."""
    delta = reward + discount * next_value * (1.0 - terminated) - value
    done = jnp.logical_or(terminated, truncated).astype(jnp.float32)

    def back(adv_next, x):
        delta_t, done_t = x
        adv = delta_t + discount * lam * (1.0 - done_t) * adv_next
        return adv, adv

    _, adv = jax.lax.scan(back, jnp.zeros_like(delta[0]), (delta, done), reverse=True)
    return adv, adv + value
