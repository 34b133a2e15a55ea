"""Trajectory collection (`lax.scan` over time, `vmap` over envs) and the
pieces every on-policy agent shares: GAE, episode-return tracking across
auto-resets, running observation statistics.

The policy-gradient theory samples whole episodes of horizon H from the start
distribution, so `collect_episodes` resets every env and runs H steps.  The env
auto-resets after an episode ends; `mask[n, t]` is 1 while step t still belongs
to env n's first episode, and every estimator weights by it.
"""

from __future__ import annotations

from typing import Any, Callable

import chex
import jax
import jax.numpy as jnp
from flax import struct


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
    """A batch of episodes, every field [N, T, ...].

    Two layouts share it.  Episode-major (`collect_episodes`): row n is one
    episode from its start, `time` and `last` left None.  Stream
    (`collect_batch`): row n is one env slot that ran whole episodes back to
    back; `time[n, t]` is the step's index inside its episode and `last[n, t]`
    marks an episode's final step.  Steps with mask 0 belong to no episode.
    """

    obs: Any
    action: jax.Array
    reward: jax.Array
    mask: jax.Array  # 1.0 while the step belongs to an episode of the batch
    terminated: jax.Array
    truncated: jax.Array
    time: Any = None  # [N, T] int32 step index inside its episode (None: episode-major, = t)
    last: Any = None  # [N, T] 1.0 at an episode's last step (None: episode-major, from mask)

    @property
    def step_time(self) -> jax.Array:
        """h, the index of every step inside its episode, [N, T]."""
        if self.time is not None:
            return self.time
        return jnp.broadcast_to(jnp.arange(self.mask.shape[-1], dtype=jnp.int32), self.mask.shape)

    @property
    def step_last(self) -> jax.Array:
        """1.0 at each episode's last step, [N, T]."""
        if self.last is not None:
            return self.last
        after = jnp.concatenate([self.mask[..., 1:], jnp.zeros_like(self.mask[..., :1])], -1)
        return self.mask * (1.0 - after)

    @property
    def num_episodes(self) -> jax.Array:
        """K, the episodes in the batch."""
        return jnp.sum(self.mask * (self.step_time == 0))

    @property
    def num_steps(self) -> jax.Array:
        """M, the valid steps (transitions) in the batch."""
        return jnp.sum(self.mask)

    @property
    def mean_episode_return(self) -> jax.Array:
        """Mean undiscounted return over the batch's K episodes."""
        return jnp.sum(self.reward * self.mask) / jnp.maximum(self.num_episodes, 1.0)

    @property
    def mean_episode_length(self) -> jax.Array:
        return self.num_steps / jnp.maximum(self.num_episodes, 1.0)

    @property
    def episode_return(self) -> jax.Array:
        """Undiscounted return of each row's episode, [N] (episode-major layout)."""
        return jnp.sum(self.reward * self.mask, axis=-1)

    @property
    def episode_length(self) -> jax.Array:
        return jnp.sum(self.mask, axis=-1)


def collect_episodes(
    key: jax.Array,
    env,
    env_params,
    act: Callable,
    num_envs: int,
    horizon: int,
) -> Trajectories:
    """N fresh episodes of `act(key, obs) -> action` (a batch of observations
    in, a batch of actions out; e.g. `policy.actor(params)`), each cut at
    `horizon` steps."""
    if num_envs < 1 or horizon < 1:
        raise ValueError(f"num_envs and horizon must be at least 1, got {num_envs} and {horizon}")
    reset_keys = jax.random.split(jax.random.fold_in(key, 0), num_envs)
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(reset_keys, env_params)
    alive = jnp.ones((num_envs,), jnp.float32)

    def step(carry, step_key):
        obs, state, alive = carry
        act_key, env_key = jax.random.split(step_key)
        action = act(act_key, obs)
        env_keys = jax.random.split(env_key, num_envs)
        next_obs, state, reward, terminated, truncated, _ = env.step_batch(env_keys, state, action, env_params)
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


def collect_batch(
    key: jax.Array,
    env,
    env_params,
    act: Callable,
    num_slots: int,
    min_steps: int,
    horizon: int,
    expected_length=0.0,
) -> Trajectories:
    """Whole episodes of π_params until the batch holds at least `min_steps`
    valid steps, as the official code of Fatkhullin et al. (a garage sampler)
    collects them; the stream layout of `Trajectories`, [num_slots, T].

    `num_slots` envs run side by side, each playing episodes back to back.  A
    slot that is free (its episode ended, or at the start) starts another
    episode iff  steps so far + (episodes running + free slots ahead of it)
    · `expected_length` < `min_steps`,  else it retires.  With
    expected_length = 0 (or one slot) that is the sampler's rule "until ≥
    min_steps"; a positive one (the mean length of the last batch) stops
    slots from each starting an episode that the batch will not need.

    The rule decides whether an episode is in the batch before the episode
    starts, from earlier steps only, so the episodes are i.i.d. draws of
    π_params and Wald's identity holds: E[Σ_{k≤K} f(τ_k)] = E[K]·E[f(τ)] for
    the random number K of episodes.  Every episode is played to its end (or
    cut at `horizon`); a slot only starts an episode while the batch is short
    of `min_steps`, so T = min_steps + horizon steps hold every slot.  The
    loop stops as soon as every slot has retired (a host env runs all T).
    """
    if num_slots < 1 or min_steps < 1 or horizon < 1:
        raise ValueError(f"num_envs, batch steps and horizon must be at least 1, got {num_slots}, {min_steps}, {horizon}")
    force_cut = horizon < env.max_steps(env_params)
    if force_cut and env.host_stepped:
        raise ValueError(f"horizon {horizon} is shorter than the host env's time limit; set env.max_steps={horizon} instead")
    length = min_steps + horizon
    reset_key, loop_key = jax.random.split(key)
    obs, env_state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(reset_key, num_slots), env_params)
    action_shape = jax.eval_shape(lambda o: act(loop_key, o), obs)

    def buffer(x):
        return jnp.zeros((num_slots, length) + x.shape[1:], x.dtype)

    bufs = {
        "obs": jax.tree.map(buffer, obs),
        "action": buffer(action_shape),
        "reward": jnp.zeros((num_slots, length)),
        "mask": jnp.zeros((num_slots, length)),
        "terminated": jnp.zeros((num_slots, length), bool),
        "truncated": jnp.zeros((num_slots, length), bool),
        "time": jnp.zeros((num_slots, length), jnp.int32),
        "last": jnp.zeros((num_slots, length)),
    }
    false = jnp.zeros((num_slots,), bool)
    init = (jnp.zeros((), jnp.int32), env_state, obs, jnp.zeros((num_slots,), jnp.int32), false, false,
            jnp.zeros((), jnp.float32), bufs)

    def cond(carry):
        t, _, _, _, active, retired, _, _ = carry
        return jnp.logical_and(t < length, jnp.any(active | ~retired))

    def body(carry):
        t, env_state, obs, ep_time, active, retired, steps, bufs = carry
        free = ~active & ~retired
        ahead = jnp.sum(active) + jnp.cumsum(free) - 1  # running episodes + free slots before this one
        start = free & (steps + ahead * expected_length < min_steps)
        retired = retired | (free & ~start)
        active = active | start
        ep_time = jnp.where(start, 0, ep_time)
        step_key = jax.random.fold_in(loop_key, t)
        act_key, env_key, cut_key = jax.random.split(step_key, 3)
        action = act(act_key, obs)
        next_obs, next_state, reward, terminated, truncated, _ = env.step_batch(
            jax.random.split(env_key, num_slots), env_state, action, env_params)
        ended = jnp.logical_or(terminated, truncated)
        cut = active & (ep_time + 1 >= horizon) & ~ended
        end = active & (ended | cut)
        alive = active.astype(jnp.float32)
        row = {
            "obs": obs, "action": action, "reward": reward * alive, "mask": alive,
            "terminated": terminated & active, "truncated": (truncated | cut) & active,
            "time": jnp.where(active, ep_time, 0), "last": end.astype(jnp.float32),
        }
        bufs = jax.tree.map(lambda b, x: b.at[:, t].set(x), bufs, row)
        if force_cut:  # an episode cut at the horizon restarts from the env's start distribution
            next_obs, next_state = env.reset_where(jax.random.split(cut_key, num_slots), cut, next_obs, next_state,
                                                   env_params)
        steps = steps + jnp.sum(alive)
        return (t + 1, next_state, next_obs, ep_time + 1, active & ~end, retired, steps, bufs)

    if env.host_stepped:
        # A host env must step every state it handed out exactly once, and a vmapped
        # while_loop steps finished elements and then drops the result: scan all T steps.
        *_, bufs = jax.lax.scan(lambda carry, _: (body(carry), None), init, None, length=length)[0]
    else:
        *_, bufs = jax.lax.while_loop(cond, body, init)
    return Trajectories(**bufs)


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
    `act(key, obs) -> action`; auto-reset envs carry on into new episodes.
    Returns (transitions, env_state, obs) to continue from."""

    def step(carry, step_key):
        env_state, obs = carry
        act_key, env_key = jax.random.split(step_key)
        action = act(act_key, obs)
        env_keys = jax.random.split(env_key, action.shape[0])
        next_obs, env_state, reward, terminated, truncated, info = env.step_batch(env_keys, env_state, action, env_params)
        out = Transitions(obs=obs, action=action, reward=reward, terminated=terminated, truncated=truncated,
                          next_obs=info["final_obs"])
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
        return cls(mean=jnp.zeros(shape), var=jnp.ones(shape), count=jnp.asarray(1e-4))

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
        return ObsStats(mean=new_mean, var=m2 / total, count=total)


def gae(reward, value, next_value, terminated, truncated, discount, lam):
    """Generalised advantage estimation (Schulman et al. 2016, eq. 16) over
    [T, N] steps of auto-resetting envs: Â_t and the value targets
    R_t = Â_t + V(s_t).  `next_value` is V of the step's next observation (the
    final one at a truncation, which bootstraps); a termination cuts it."""
    chex.assert_rank(reward, 2)  # [T, N]
    chex.assert_equal_shape([reward, value, next_value, terminated, truncated])
    delta = reward + discount * next_value * (1.0 - terminated) - value
    done = jnp.logical_or(terminated, truncated).astype(jnp.float32)

    def back(adv_next, x):
        delta_t, done_t = x
        adv = delta_t + discount * lam * (1.0 - done_t) * adv_next
        return adv, adv

    _, adv = jax.lax.scan(back, jnp.zeros_like(delta[0]), (delta, done), reverse=True)
    return adv, adv + value
