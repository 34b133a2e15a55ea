"""PGP: constrained exploration over occupancy measures by a quadratic penalty.

Wolf, Fatkhullin, He 2026, "Global Optimality for Constrained Exploration via
Penalty Regularization" (Policy Gradient Penalty), as docs/algorithms.md
("PGP and PDPG (tabular)") gives it; the paper's own equation numbers are
not cited.  Maximise the entropy of the state-action occupancy
λ^{π_θ} subject to convex constraints g_j(λ) ≤ 0 through the penalised
objective

    F(λ) = H(λ) − ρ Σ_j max(0, g_j(λ))²,

with one loop and no dual variable: every iteration samples N episodes of
horizon H, estimates λ̂(s, a) = (1/N) Σ_n Σ_t γ^t 1[s_t = s, a_t = a], takes
the pseudo-reward r = ∂F/∂λ at λ̂ by autodiff (`rlx.agents.shared.convex_utility`) and makes one
plain policy-gradient step on r (GPOMDP with the leave-one-out baseline,
`rlx.agents.shared.pg.episodes_gradient`).

Constraints (`constraint=`): "cost" is the env's safety cost,
c[s, a] = −r[s, a] of the env's own reward, and g(λ) = Σ λ c − budget: on
`constrained_gridworld` (rlx's map) the steps from a hole cell; on
`pgp_gridworld` (the paper's map and cost, budget 0) 50 on a move into a hole
and −0.1 on every other move.  The sign is derived from that definition (the
official gridworld scripts' sign never lets the constraint bind:
envs/tabular.py, `pgp_gridworld`).  "path" is the paper's imitation-style constraint
‖λ − λ_path‖₂ ≤ shift, λ_path the exact occupancy of the policy that walks
`path` from the start; "both" imposes the two; "none" is unconstrained
entropy maximisation.

rlx's defaults, and where they differ from the official code: the entropy's
log is taken at λ̂ + `occupancy_floor` (1e-3; official 1e-18, in effect none:
the pseudo-reward is only read at pairs the batch visited, where λ̂ > 0), GPOMDP with the leave-one-out baseline
(official: the same reward-to-go, Σ_{k≥t} γ^k r_k, without a baseline), a
tabular softmax that starts uniform (official: a linear layer on the one-hot
state, i.e. a logit table plus a bias shared by the states, torch's init:
`policy=mlp hidden=() weight_init=torch`), penalty ρ[g]₊² (official
(ρ/2)[g]₊²: rlx's ρ is the official ρ/2); plain SGD at a constant step size
as the official code.  On `pgp_gridworld` the defaults are the official
protocol (FAMILY_DEFAULTS below; experiments/pgp/gridworld.py runs its grids).
Tabular MDPs; `agents.pgp_deep` is the continuous version.
"""

from __future__ import annotations

from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from rlx import exact
from rlx.agents.shared import convex_utility, pg
from rlx.fields import ConfigError, static
from rlx.rollout import Trajectories, episode_discount, episode_horizon


@struct.dataclass
class Config(pg.PolicyConfig):
    num_envs: int = static(24)  # N, episodes an iteration [paper's sweep: 8, 24, 72]
    baseline: Literal["loo", "none"] = static("loo")  # "loo" (leave-one-out batch mean, unbiased) or "none"
    lr: float = 0.1  # constant step size [paper's sweep: 1e-3, 1e-2, 1e-1]
    constraint: Literal["cost", "path", "both", "none"] = static("cost")  # "both": cost and path (module docstring)
    budget: float = 0.2  # "cost": Σ λ c ≤ budget, c = −(env reward): the discounted hole occupancy allowed
    path: str = static("DDDDRRDRRR")  # "path": moves from the start (U R D L) of the reference path
    shift: float = 2.0  # "path": ‖λ − λ_path‖₂ ≤ shift
    penalty: float = 10.0  # ρ
    occupancy_floor: float = 1e-3  # the entropy's log is taken at λ̂ + floor


PRESETS = {"pgp": {}}  # registry name -> the Config fields it sets
# On the paper's own gridworld, the official code's protocol (experiments/pgp/gridworld.py): its one-hot linear
# policy with torch's init, REINFORCE reward-to-go without a baseline, log(λ̂ + 1e-18), the constraint "return ≥ 0"
# (budget 0), and from its grids the step size 0.01 and ρ_official = 0.01 (rlx's penalty is ρ_official / 2).
OFFICIAL_GRIDWORLD = {"policy": "mlp", "hidden": (), "weight_init": "torch", "estimator": "gpomdp", "baseline": "none",
                      "occupancy_floor": 1e-18, "budget": 0.0, "lr": 0.01}
FAMILY_DEFAULTS = {"pgp": {"pgp_gridworld": {**OFFICIAL_GRIDWORLD, "penalty": 0.005}}}
METRICS = ("episode_return", "episode_length", "episodes", "entropy", "violation", "exact_entropy", "exact_violation",
           "transitions")
eval_horizon = pg.eval_horizon


@struct.dataclass
class State:
    params: dict
    t: jax.Array


policy = pg.policy
act = pg.act


def env_steps_per_update(env, config: Config) -> int:
    return pg.episodes_steps(env, config, config.num_envs)


def tabular_mdp(env) -> exact.TabularMDP:
    mdp = env.tabular_mdp()
    if mdp is None:
        raise ConfigError(f"PGP estimates occupancies by visitation counts and needs a tabular MDP, got "
                          f"{env.name}; try env=constrained_gridworld")
    return mdp


def path_policy(mdp: exact.TabularMDP, moves: str) -> jax.Array:
    """The policy table that walks `moves` (U R D L = actions 0 1 2 3) from the
    start cell of a deterministic gridworld and then keeps making the last
    move; uniform off the path."""
    probs = np.full((mdp.num_states, mdp.num_actions), 1.0 / mdp.num_actions)
    P = np.asarray(mdp.P)
    state, seen = int(np.argmax(np.asarray(mdp.init))), set()
    for move in moves:
        action = "URDL".index(move)
        if state not in seen:
            probs[state] = np.eye(mdp.num_actions)[action]
            seen.add(state)
        state = int(np.argmax(P[state, action]))
    if moves and state not in seen:
        probs[state] = np.eye(mdp.num_actions)["URDL".index(moves[-1])]
    return jnp.asarray(probs, jnp.float32)


def constraints(env, config: Config) -> list:
    """The constraints g_j(λ) ≤ 0 that `config.constraint` names."""
    if any(m not in "URDL" for m in config.path):
        raise ConfigError(f"path is a string of moves U R D L, got {config.path!r}")
    mdp, out = tabular_mdp(env), []
    if config.constraint in ("cost", "both"):
        out.append(convex_utility.cost_constraint(-exact.expected_reward(mdp), config.budget))
    if config.constraint in ("path", "both"):
        reference = exact.occupancy(mdp, path_policy(mdp, config.path), episode_horizon(env, config.horizon))
        out.append(convex_utility.distance_constraint(reference, config.shift))
    return out


def init(key: jax.Array, env, config: Config) -> State:
    tabular_mdp(env)
    constraints(env, config)
    return State(params=policy(env, config).init(key), t=jnp.zeros((), jnp.int32))


def pseudo_reward_step(env, config: Config, params, traj: Trajectories, utility):
    """λ̂ of the batch, the pseudo-reward r = ∂utility/∂λ at λ̂ + floor, and
    the policy gradient of Σ λ r estimated on the same batch."""
    mdp = tabular_mdp(env)
    lam_hat = convex_utility.visitation(traj, mdp.num_states, mdp.num_actions, episode_discount(env, config.discount))
    reward = convex_utility.pseudo_reward(utility, lam_hat + config.occupancy_floor)
    pseudo = traj.replace(reward=reward[traj.obs, traj.action] * traj.mask)
    return lam_hat, pg.episodes_gradient(env, config, params, pseudo, config.baseline)


def occupancy_metrics(env, config: Config, params, lam_hat, constraint_list) -> dict:
    """Entropy and violation of the sampled λ̂ and of the exact occupancy of
    π_θ at the same horizon (rlx.exact)."""
    mdp = tabular_mdp(env)
    probs = policy(env, config).probs_table(params, mdp.num_states)
    lam = exact.occupancy(mdp, probs, episode_horizon(env, config.horizon))
    return {"entropy": convex_utility.entropy(lam_hat), "violation": jnp.sum(convex_utility.violations(constraint_list, lam_hat)),
            "exact_entropy": convex_utility.entropy(lam),
            "exact_violation": jnp.sum(convex_utility.violations(constraint_list, lam))}


def update(key: jax.Array, state: State, env, config: Config):
    constraint_list = constraints(env, config)
    traj = pg.sample_episodes(key, env, config, state.params, config.num_envs)
    utility = convex_utility.penalized(convex_utility.entropy, constraint_list, config.penalty)
    lam_hat, g = pseudo_reward_step(env, config, state.params, traj, utility)
    metrics = {**pg.episode_metrics(traj), **occupancy_metrics(env, config, state.params, lam_hat, constraint_list)}
    return State(params=pg.ascent(state.params, config.lr, g), t=state.t + 1), metrics
