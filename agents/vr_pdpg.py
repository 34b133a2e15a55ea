"""VR-PDPG: the variance-reduced primal-dual policy gradient, the second
baseline of PGP's gridworld experiments.

Ying, Guo, Lee, Ding, Lavaei, Shen 2025 ("Policy-based primal-dual methods
for concave CMDP with variance reduction", arXiv 2205.10715), as the PGP
authors' code runs it (github Flo-Wo/penalty-based-constrained-exploration,
code/gridworld/agent.py `VRPDPG`, grid 4_VRPDPG.json).  The paper's text was
not available here; the update is read from that code, with its three bugs
fixed (docs/algorithms.md, "VR-PDPG"):

    λ_t = λ̂_t + (1 − α)(λ_{t−1} − (1/N) Σ_i w_i λ̂(τ_i)),
    d_t = ĝ(θ_t; r_{t−1}) + (1 − α)(d_{t−1} − ĝ_w(θ_{t−1}; r_{t−2})),
    θ_{t+1} = θ_t + η d_t / ‖d_t‖,     μ_{t+1} = max(0, μ_t + η_μ g(λ_t)),

on N fresh episodes τ_i of π_{θ_t} an iteration: λ̂ the discounted visitation
(`convex_utility.visitation`), w_i = Π_h π_{θ_{t−1}}(a_h|s_h) / π_{θ_t}(a_h|s_h)
the trajectory's importance weight, r_k = ∂L/∂λ at λ_k of the Lagrangian
L = H − μ_t g (PDPG's, `agents.pdpg`), ĝ the REINFORCE reward-to-go estimate
without baseline (ĝ_w: each episode's rewards weighted by w_i, the scores at
θ_{t−1}).  At t = 0 it is one PDPG step on λ̂_0 (normalised).  α = 1 is
PDPG with one-step-stale rewards and a normalised step.

The official code's bugs, fixed here: (a) the correction (1/N) Σ w_i λ̂(τ_i)
is N times too large there (every α < 1 drives λ negative and the entropy's log
to NaN within a few iterations), (b) its "previous policy" is copied after the
step, so w ≡ 1 from t = 2 on, (c) its correction gradient is taken at θ_t.
The dual step is sign-corrected as PDPG's is (the official constraint never holds).
One addition: the recursion's λ_t is not a mean of visit counts and can dip
below 0 at a rarely visited pair, where log λ is undefined; the pseudo-reward
is taken at max(λ_t, 0) + floor (the recursion itself keeps λ_t unclipped).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from rlx.agents import pdpg, pgp
from rlx.agents.shared import convex_utility, pg
from rlx.rollout import episode_discount


@struct.dataclass
class Config(pdpg.Config):
    alpha: float = 0.1  # α: the recursion's weight on the fresh estimate (1 = no variance reduction)
    #   [official grid: 0.001, 0.005, 0.01, 0.03, 0.05, 0.1, 1]


PRESETS = {"vr_pdpg": {}}
# On the PGP paper's gridworld, the official protocol (agents.pgp.OFFICIAL_GRIDWORLD) with PDPG's step sizes.
FAMILY_DEFAULTS = {"vr_pdpg": {"pgp_gridworld": {**pgp.OFFICIAL_GRIDWORLD, "lr": 0.05, "dual_lr": 0.001}}}
METRICS = (*pgp.METRICS, "multiplier")
eval_horizon = pg.eval_horizon
policy = pgp.policy
act = pgp.act
env_steps_per_update = pgp.env_steps_per_update


@struct.dataclass
class State:
    params: dict  # θ_t
    previous: dict  # θ_{t−1}
    multipliers: jax.Array  # μ_t ≥ 0
    lam: jax.Array  # λ_{t−1}, the recursion's occupancy estimate
    lam_before: jax.Array  # λ_{t−2}
    direction: dict  # d_{t−1}
    t: jax.Array


def init(key: jax.Array, env, config: Config) -> State:
    base = pdpg.init(key, env, config)
    mdp = pgp.tabular_mdp(env)
    zeros = jnp.zeros((mdp.num_states, mdp.num_actions))
    return State(params=base.params, previous=base.params, multipliers=base.multipliers, lam=zeros, lam_before=zeros,
                 direction=jax.tree.map(jnp.zeros_like, base.params), t=base.t)


def trajectory_weights(env, config: Config, params, previous, traj) -> jax.Array:
    """w_i = π_previous(τ_i) / π_params(τ_i), [N] (1 where the policies agree)."""
    pi = policy(env, config)
    log_ratio = (pi.log_prob(previous, traj.obs, traj.action) - pi.log_prob(params, traj.obs, traj.action)) * traj.mask
    return jnp.exp(jnp.sum(log_ratio, axis=-1))


def _gradient(env, config: Config, params, traj, reward_table, weights):
    """REINFORCE reward-to-go without baseline at `params`, each episode's
    pseudo-reward weighted by its w_i."""
    pseudo = traj.replace(reward=reward_table[traj.obs, traj.action] * traj.mask * weights[:, None])
    return pg.episodes_gradient(env, config, params, pseudo, "none")


def update(key: jax.Array, state: State, env, config: Config):
    mdp = pgp.tabular_mdp(env)
    constraint_list = pgp.constraints(env, config)
    traj = pg.sample_episodes(key, env, config, state.params, config.num_envs)
    discount = episode_discount(env, config.discount)
    lam_hat = convex_utility.visitation(traj, mdp.num_states, mdp.num_actions, discount)
    utility = convex_utility.lagrangian(convex_utility.entropy, constraint_list, state.multipliers)

    def reward_at(lam):  # the recursion's λ can dip below 0 at a pair few episodes visit: the log is taken at λ₊
        return convex_utility.pseudo_reward(utility, jnp.maximum(lam, 0.0) + config.occupancy_floor)

    first = state.t == 0
    weights = trajectory_weights(env, config, state.params, state.previous, traj)
    weighted = convex_utility.visitation(traj.replace(mask=traj.mask * weights[:, None]), mdp.num_states,
                                         mdp.num_actions, discount)
    lam = jnp.where(first, lam_hat, lam_hat + (1.0 - config.alpha) * (state.lam - weighted))
    ones = jnp.ones_like(weights)
    fresh = _gradient(env, config, state.params, traj, reward_at(jnp.where(first, lam_hat, state.lam)), ones)
    correction = _gradient(env, config, state.previous, traj, reward_at(state.lam_before), weights)
    direction = jax.tree.map(lambda g, d, c: jnp.where(first, g, g + (1.0 - config.alpha) * (d - c)),
                             fresh, state.direction, correction)
    values = convex_utility.constraint_values(constraint_list, lam)
    multipliers = jnp.maximum(state.multipliers + config.dual_lr * values, 0.0)
    metrics = {**pg.episode_metrics(traj),
               **pgp.occupancy_metrics(env, config, state.params, lam_hat, constraint_list),
               "multiplier": jnp.sum(state.multipliers)}
    params = pg.ascent(state.params, config.lr, pg.normalized(direction))
    return State(params=params, previous=state.params, multipliers=multipliers, lam=lam,
                 lam_before=jnp.where(first, lam, state.lam),  # at t = 1 the correction's reward is λ_0's
                 direction=direction, t=state.t + 1), metrics
