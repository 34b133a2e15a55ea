"""General utilities: objectives and convex constraints of the state-action
occupancy measure, and the pseudo-reward that turns them into a reward.

λ[s, a] = Σ_t γ^t Pr(s_t = s, a_t = a) is the unnormalised discounted
occupancy of `rlx.exact.occupancy`, so a linear reward r gives J = Σ λ r.  For
a general utility F(λ) the chain rule gives

    ∇_θ F(λ^{π_θ}) = Σ_{s,a} ∂F/∂λ(s, a) · ∇_θ λ^{π_θ}(s, a),

the policy gradient of the pseudo-reward r = ∂F/∂λ held fixed at λ^{π_θ}
(Zhang et al. 2020, "Variational policy gradient"; Wolf, Fatkhullin, He
2026, PGP).  Objectives are maximised; constraints read g(λ) ≤ 0.  Every
function here is pure jnp, so objectives compose and `jax.grad` gives the
pseudo-reward of any of them.
"""

from __future__ import annotations

from typing import Callable, Sequence

import jax
import jax.numpy as jnp
from jax.scipy.special import xlogy

from rlx.rollout import Trajectories

Utility = Callable[[jax.Array], jax.Array]  # λ[S, A] -> scalar


# -- objectives F(λ), maximised --


def entropy(lam: jax.Array) -> jax.Array:
    """H(λ) = −Σ λ log λ (0 log 0 = 0); ∂H/∂λ = −log λ − 1."""
    return -jnp.sum(xlogy(lam, lam))


def kl(reference: jax.Array) -> Utility:
    """λ ↦ KL(λ ‖ reference) = Σ λ log(λ / reference), for measures of equal mass."""
    return lambda lam: jnp.sum(xlogy(lam, lam) - xlogy(lam, reference))


def linear(reward: jax.Array) -> Utility:
    """λ ↦ Σ λ r: the ordinary expected discounted return of reward r[s, a]."""
    return lambda lam: jnp.sum(lam * reward)


# -- convex constraints g(λ) ≤ 0 --


def cost_constraint(cost: jax.Array, budget) -> Utility:
    """Safety: the expected discounted cost Σ λ c must stay at most `budget`."""
    return lambda lam: jnp.sum(lam * cost) - budget


def distance_constraint(reference: jax.Array, radius) -> Utility:
    """Imitation: ‖λ − reference‖₂ ≤ radius."""
    return lambda lam: jnp.sqrt(jnp.sum((lam - reference) ** 2)) - radius


def kl_constraint(reference: jax.Array, radius) -> Utility:
    """KL(λ ‖ reference) ≤ radius."""
    divergence = kl(reference)
    return lambda lam: divergence(lam) - radius


# -- combining them --


def penalized(objective: Utility, constraints: Sequence[Utility], penalty) -> Utility:
    """F(λ) = objective(λ) − ρ Σ_j max(0, g_j(λ))²  (PGP's quadratic penalty)."""
    return lambda lam: objective(lam) - penalty * sum(jnp.maximum(g(lam), 0.0) ** 2 for g in constraints)


def lagrangian(objective: Utility, constraints: Sequence[Utility], multipliers: jax.Array) -> Utility:
    """L(λ, μ) = objective(λ) − Σ_j μ_j g_j(λ), μ ≥ 0 (the primal-dual baseline)."""
    return lambda lam: objective(lam) - sum(mu * g(lam) for mu, g in zip(multipliers, constraints))


def constraint_values(constraints: Sequence[Utility], lam: jax.Array) -> jax.Array:
    """g_j(λ) for each constraint, shape [J]."""
    return jnp.stack([g(lam) for g in constraints]) if constraints else jnp.zeros((0,))


def violations(constraints: Sequence[Utility], lam: jax.Array) -> jax.Array:
    """max(0, g_j(λ)) for each constraint, shape [J]."""
    return jnp.maximum(constraint_values(constraints, lam), 0.0)


def pseudo_reward(utility: Utility, lam: jax.Array) -> jax.Array:
    """r[s, a] = ∂F/∂λ(s, a) at λ, by autodiff."""
    return jax.grad(utility)(lam)


# -- the sampled occupancy --


def visitation(traj: Trajectories, num_states: int, num_actions: int, discount) -> jax.Array:
    """λ̂[s, a] = (1/N) Σ_n Σ_t γ^t 1[s_t = s, a_t = a] over the N episodes of a
    batch (steps after an episode ended are masked out): an unbiased
    estimate of the occupancy cut at the batch's horizon."""
    num_episodes, horizon = traj.mask.shape
    weights = traj.mask * discount ** jnp.arange(horizon, dtype=traj.mask.dtype)  # [N, H]
    flat = traj.obs * num_actions + traj.action
    counts = jnp.zeros(num_states * num_actions, weights.dtype).at[flat.reshape(-1)].add(weights.reshape(-1))
    return counts.reshape(num_states, num_actions) / num_episodes
