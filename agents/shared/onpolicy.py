"""What the agents that step N envs side by side share (ppo, wpo_deep, nac on
rollouts, pgp_deep; hyperagent carries one env in the same type): the envs
carried from update to update, their reset, a rollout of T steps that keeps
each env's episode return, and the epochs × minibatches loop of PPO-style
optimisation.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
from flax import struct

from rlx.fields import ConfigError
from rlx.rollout import ObsStats, Transitions, collect_steps, track_returns


@struct.dataclass
class Envs:
    """The envs an agent carries between updates (auto-resetting, so an
    episode runs on across updates)."""

    state: Any  # the envs' states
    obs: jax.Array  # their current observations
    episode_return: jax.Array  # each env's running return of its current episode
    last_return: jax.Array  # each env's last finished episode's return


@struct.dataclass
class State:
    """The state of an agent that trains networks on its envs' rollouts (ppo, wpo_deep)."""

    params: dict  # the networks' parameters, by name ({"policy", "value"} or {"policy", "q"})
    opt_state: Any  # the optimiser's state (one optax state, or one a network)
    obs_stats: ObsStats  # running observation statistics (normalisation)
    envs: Envs  # the N envs, run on across updates
    t: jax.Array  # updates so far


def reset(key: jax.Array, env, num_envs: int) -> Envs:
    """`num_envs` fresh envs, one key each."""
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(key, num_envs), env.default_params)
    zeros = jnp.zeros((num_envs,))
    return Envs(state=state, obs=obs, episode_return=zeros, last_return=zeros)


def rollout(key: jax.Array, env, act: Callable, envs: Envs, num_steps: int) -> tuple[Transitions, Envs, jax.Array]:
    """T = `num_steps` steps of every env with `act(key, obs) -> action`:
    the transitions [T, N], the envs to continue from, and the mean return of
    the episodes that ended in these steps (of the last finished ones if none did)."""
    tr, state, obs = collect_steps(key, env, env.default_params, act, envs.state, envs.obs, num_steps)
    running, last, mean_return = track_returns(envs.episode_return, envs.last_return, tr.reward,
                                               jnp.logical_or(tr.terminated, tr.truncated))
    return tr, Envs(state=state, obs=obs, episode_return=running, last_return=last), mean_return


FEISTEL_ROUNDS = 12


def _mix(x: jax.Array) -> jax.Array:
    """A 32-bit integer hash with full avalanche (C. Wellons' "lowbias32"
    constants): every output bit depends on every input bit."""
    x = x ^ (x >> 16)
    x = x * jnp.uint32(0x7FEB352D)
    x = x ^ (x >> 15)
    x = x * jnp.uint32(0x846CA68B)
    return x ^ (x >> 16)


def random_order(key: jax.Array, n: int, rounds: int = FEISTEL_ROUNDS) -> jax.Array:
    """A random permutation of 0..n−1, int32, without a sort.

    `jax.random.permutation` sorts twice (sort keys, then values); on a CPU a
    sort of 2,048 elements takes ~0.4 ms, and PPO's epochs of shuffled
    minibatches spent ~18% of an iteration there (issue 22's profile).  Here the
    order is a keyed pseudo-random permutation: a 12-round balanced Feistel
    network on the 2b-bit integers (4^b ≥ n), whose round function is a 32-bit
    hash of one half XOR a round key drawn from `key` (Luby and Rackoff 1988:
    four rounds of independent random functions already give a permutation no
    test can tell from a uniform one).  Its values below n, in order, are the
    permutation (restricting a uniform permutation of 4^b elements to n of them
    keeps it uniform).  Elementwise integer work, O(4^b) ≤ O(4n).  `rounds`
    is there for the test that shows a weaker network fails.
    """
    bits = max(1, (max(n, 2) - 1).bit_length() + 1) // 2  # b, the half width: 4^b ≥ n
    mask = jnp.uint32((1 << bits) - 1)
    round_keys = jax.random.bits(key, (rounds,), jnp.uint32)
    x = jnp.arange(1 << (2 * bits), dtype=jnp.uint32)
    left, right = x >> bits, x & mask
    for i in range(rounds):
        left, right = right, left ^ (_mix(right ^ round_keys[i]) & mask)
    values = ((left << bits) | right).astype(jnp.int32)
    if values.shape[0] == n:
        return values
    keep = values < n
    slot = jnp.where(keep, jnp.cumsum(keep) - 1, n)  # the k-th kept value goes to position k
    return jnp.zeros((n,), jnp.int32).at[slot].set(values, mode="drop")


def minibatch_epochs(key: jax.Array, carry, data, step: Callable, epochs: int, minibatches: int):
    """`epochs` passes over `data` (a pytree, leading axis = samples), each in
    `minibatches` shuffled minibatches (`random_order`): carry, info =
    step(carry, minibatch).  Returns the last carry and info stacked
    [epochs, minibatches]."""
    size = jax.tree.leaves(data)[0].shape[0]
    if size % minibatches:
        raise ConfigError(f"num_envs × num_steps = {size} must divide into {minibatches} minibatches")

    def epoch(carry, k):
        order = random_order(k, size).reshape(minibatches, -1)
        return jax.lax.scan(lambda c, idx: step(c, jax.tree.map(lambda a: a[idx], data)), carry, order)

    return jax.lax.scan(epoch, carry, jax.random.split(key, epochs))
