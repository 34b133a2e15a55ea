"""PDPG: the primal-dual policy gradient baseline of PGP's experiments.

Ying et al. 2025 (docs/algorithms.md, "PGP and PDPG (tabular)"): the Lagrangian of the same
constrained exploration problem,

    L(λ, μ) = H(λ) − Σ_j μ_j g_j(λ),   μ ≥ 0,

a policy-gradient step on the pseudo-reward ∂L/∂λ at λ̂ (as PGP's, `agents.pgp`)
and projected dual ascent on the constraint, μ ← max(0, μ + η_μ g(λ̂)).  With
constraints written g ≤ 0 this is the reference's "μ ← max(0, μ − η_μ g)" for a
constraint written g ≥ 0: μ grows while the constraint is violated.  The
variance-reduced version of Ying et al. is `agents.vr_pdpg`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from rlx.agents.shared import convex_utility, pg
from rlx.agents import pgp


@struct.dataclass
class Config(pgp.Config):
    dual_lr: float = 1.0  # η_μ


PRESETS = {"pdpg": {}}  # registry name -> the Config fields it sets
# On the PGP paper's gridworld, the official protocol (agents.pgp.OFFICIAL_GRIDWORLD) and, from the official 7 × 7
# grid of step sizes at 24 episodes an iteration, the best setting that ends feasible on every seed
# (experiments/pgp/results/gridworld.md): lr 0.05, η_μ 0.001.
FAMILY_DEFAULTS = {"pdpg": {"pgp_gridworld": {**pgp.OFFICIAL_GRIDWORLD, "lr": 0.05, "dual_lr": 0.001}}}
METRICS = (*pgp.METRICS, "multiplier")
eval_horizon = pg.eval_horizon


@struct.dataclass
class State:
    params: dict
    multipliers: jax.Array  # μ_j ≥ 0, one per constraint
    t: jax.Array


policy = pgp.policy
act = pgp.act
env_steps_per_update = pgp.env_steps_per_update


def init(key: jax.Array, env, config: Config) -> State:
    base = pgp.init(key, env, config)
    return State(params=base.params, multipliers=jnp.zeros((len(pgp.constraints(env, config)),)), t=base.t)


def update(key: jax.Array, state: State, env, config: Config):
    constraint_list = pgp.constraints(env, config)
    traj = pg.sample_episodes(key, env, config, state.params, config.num_envs)
    utility = convex_utility.lagrangian(convex_utility.entropy, constraint_list, state.multipliers)
    lam_hat, g = pgp.pseudo_reward_step(env, config, state.params, traj, utility)
    values = convex_utility.constraint_values(constraint_list, lam_hat)
    multipliers = jnp.maximum(state.multipliers + config.dual_lr * values, 0.0)
    metrics = {**pg.episode_metrics(traj),
               **pgp.occupancy_metrics(env, config, state.params, lam_hat, constraint_list),
               "multiplier": jnp.sum(state.multipliers)}
    return State(params=pg.ascent(state.params, config.lr, g), multipliers=multipliers, t=state.t + 1), metrics
