"""SHARP: stochastic Hessian-aided recursive policy gradient with momentum and
normalized, time-varying steps.

Salehkaleybar, Khorasani, Kiyavash, He, Thiran, "Momentum-Based Policy
Gradient with Second-Order Information", 2022 (arXiv:2205.08253), Algorithm 1
(SHARP).  For t = 0, 1, …:

    b_t ~ U(0, 1);  θ^b_t = b_t θ_t + (1−b_t) θ_{t−1}
    τ_t ~ π_{θ_t},  τ^b_t ~ π_{θ^b_t}
    v_t = (1−α_t)[v_{t−1} + B(τ^b_t, θ^b_t)(θ_t − θ_{t−1})] + α_t g(τ_t, θ_t)
    θ_{t+1} = θ_t + η_t v_t / ‖v_t‖

with η_t = η0·(t+1)^{−2/3} and α_t = α0·(t+1)^{−2/3}; α0 = 1 makes α_0 = 1, so
v_0 = g(τ_0, θ_0), the algorithm's initial gradient.

Where each piece comes from.  The paper's abstract (checked): momentum with
Hessian-aided correction, no importance sampling, a normalized "parameter-free"
time-varying step, O(1) batch an iteration, estimation-error variance
O(t^{−2/3}), O(ε^{−3}) trajectories.  The recursion above and the (t+1)^{−2/3}
exponents of η_t and α_t are ALGORITHMS.md's reconstruction, which matches those
rates (a step and a momentum weight of order t^{−2/3} give the t^{−2/3} error
variance); the paper's text itself was not reachable from this workplace, so
the exact constants are not verified and η0 = 0.1 is rlx's choice (the value
of the same group's N-HARPG code), not the paper's.
The recursion is N-HARPG's (`rlx.agents.harpg`) with SHARP's schedules.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from flax import struct

from rlx import pg
from rlx.config import static
from rlx.schedules import inverse_power


@struct.dataclass
class Config(pg.PGConfig):
    # the shared fields (N, H, estimator, baseline, policy, γ, …): rlx.pg.PGConfig
    hessian_envs: int = static(10)  # episodes in τ^b_t; the paper's two trajectories an iteration
    #   become two equal batches (official code: a Hessian batch of about one trajectory;
    #   rlx needs ≥ 2 for the leave-one-out baseline in B)
    lr: float = 0.1  # η0 [rlx's choice, see the module docstring]
    momentum: float = 1.0  # α0, so that v_0 = g(τ_0, θ_0)


State = pg.MomentumState  # θ_t, θ_{t−1}, d_{t−1} (the paper's v_{t−1}), t
policy = pg.policy  # (env, config) -> rlx.policies.Policy
act = pg.act  # (key, state, obs, env, config, deterministic=True) -> action
init = pg.init_momentum_state  # (key, env, config) -> State


def env_steps_per_update(env, config: Config) -> int:
    """Env steps one `update` simulates: N episodes at θ_t and `hessian_envs` at θ^b_t."""
    return pg.episodes_steps(env, config, config.num_envs + config.hessian_envs)


def schedules(config: Config, t):
    """(η_t, α_t) = (η0, α0)·(t+1)^{−2/3}."""
    return inverse_power(config.lr, t, 2.0 / 3.0), inverse_power(config.momentum, t, 2.0 / 3.0)


def update(key: jax.Array, state: State, env, config: Config):
    eta_t, alpha_t = schedules(config, state.t)
    traj_key, hess_key = jax.random.split(key)
    traj = pg.sample(traj_key, env, config, state.params)
    g = pg.gradient(env, config, state.params, traj)
    correction, traj_b = pg.hessian_correction(
        hess_key, env, config, state.params, state.prev_params, config.hessian_envs
    )
    v = jax.tree.map(lambda v, c, g: (1.0 - alpha_t) * (v + c) + alpha_t * g, state.d, correction, g)
    params = pg.ascent(state.params, eta_t, pg.normalized(v))
    metrics = {
        **pg.episode_metrics(traj),
        "transitions": jnp.sum(traj.mask) + jnp.sum(traj_b.mask),  # both batches
        "grad_norm": optax.global_norm(g),
        "correction_norm": optax.global_norm(correction),
        "v_norm": optax.global_norm(v),
        "lr": eta_t,
        "momentum": alpha_t,
    }
    return State(params=params, prev_params=state.params, d=v, t=state.t + 1), metrics
