"""N-PG-IGT: normalized policy gradient with implicit gradient transport.

Fatkhullin, Barakat, Kireeva, He, "Stochastic Policy Gradient Methods:
Improved Sample Complexity for Fisher-non-degenerate Policies", ICML 2023,
Algorithm N-PG-IGT.  For t = 0, 1, …:

    θ̄_t = θ_t + ((1−η_t)/η_t)(θ_t − θ_{t−1})      extrapolated point (IGT)
    τ̄_t ~ π_{θ̄_t}                                   N fresh episodes there
    d_t = (1−η_t) d_{t−1} + η_t g(τ̄_t, θ̄_t)         momentum
    θ_{t+1} = θ_t + γ_t d_t / ‖d_t‖                  normalized ascent

The extrapolation makes the momentum average of gradients taken at θ̄_s an
estimate of ∇J(θ_t) whose bias from the moving iterate cancels to second order,
so no importance sampling and no Hessian is needed.
Schedules of the official code, t from 0: γ_t = γ0·2/(t+2) (the theory's
O(1/t)) and η_t = η0·(2/(t+2))^{4/5} (the theory's (t+1)^{−4/5}); with η0 = 1,
η_0 = 1, so d_0 = g(τ̄_0, θ_0) and the initial d_{−1} = 0, θ_{−1} = θ_0 are
never used.

The paper's "trajectory" is a batch here: whole episodes until ≥
`batch_steps` valid steps, g their per-step mean (`rlx.agents.shared.pg`).
The reported `episode_return` is that of τ̄_t, sampled at θ̄_t, not at θ_t
(the runner's evaluation, `eval_every`, acts with the mean action at θ_t, as
the paper's curves do).  gradient="official" runs what the official code
computes (`rlx.agents.shared.pg.PGConfig`), with its extrapolation by η_{t−1}
and d_0 = g(τ̄_0, θ_0) for any η0.
"""

from __future__ import annotations

import jax
from flax import struct

from rlx.agents.shared import pg
# the family's State (θ_t, θ_{t−1}, d_{t−1}, t), policy, act, init and eval_horizon (rlx.agent's contract)
from rlx.agents.shared.pg import MomentumState as State  # noqa: F401
from rlx.agents.shared.pg import act, eval_horizon, policy  # noqa: F401
from rlx.agents.shared.pg import init_momentum_state as init  # noqa: F401
from rlx.schedules import harmonic_power


@struct.dataclass
class Config(pg.PGConfig):
    # the shared fields (N, H, estimator, baseline, policy, γ, …): rlx.agents.shared.pg.PGConfig
    lr: float = 0.75  # γ0 [paper's Walker tuning (Reacher: 0.2); official code default: 0.1]
    momentum: float = 1.0  # η0 [official code default]


PRESETS = {"npg_igt": {}}  # registry name -> the Config fields it sets
FAMILY_DEFAULTS = {"npg_igt": {"classic": {**pg.CLASSIC_INIT, "lr": 0.5}, "tabular": {"lr": 2.0},
                               "minatar": {**pg.CLASSIC_INIT, "lr": 0.5}}}
METRICS = ("episode_return", "episode_length", "episodes", "grad_norm", "d_norm", "lr", "momentum", "transitions")




def env_steps_per_update(env, config: Config) -> int:
    """Valid steps one `update` samples at least: B at θ̄_t."""
    return config.batch_steps


def schedules(config: Config, t):
    """(γ_t, η_t) of the official code."""
    return harmonic_power(config.lr, t, 1.0), harmonic_power(config.momentum, t, 4.0 / 5.0)


def update(key: jax.Array, state: State, env, config: Config):
    gamma_t, eta_t = schedules(config, state.t)
    # The official code extrapolates with the previous iteration's η (NIGT_optimizer: the line point is set
    # before η is updated); at t = 0 the two agree, θ_0 − θ_{−1} = 0.
    eta_bar = schedules(config, state.t - 1)[1] if config.gradient == "official" else eta_t
    transport = (1.0 - eta_bar) / eta_bar
    theta_bar = jax.tree.map(lambda p, q: p + transport * (p - q), state.params, state.prev_params)
    traj = pg.sample(key, env, config, theta_bar, state.memory)
    g = pg.gradient(env, config, theta_bar, traj, state.memory)
    d = jax.tree.map(lambda d, g: (1.0 - eta_t) * d + eta_t * g, state.d, g)
    d = pg.first_momentum(config, state.t, d, g)
    params = pg.ascent(state.params, gamma_t, pg.normalized(d))
    return pg.momentum_step(env, config, state, params, d, traj), pg.momentum_metrics(traj, g, d, gamma_t, eta_t)
