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
exponents of η_t and α_t are the reconstruction in docs/algorithms.md
("SHARP"), which matches those rates (a step and a momentum weight of order
t^{−2/3} give the t^{−2/3} error variance).  The paper's Algorithm 1 could
not be read (the stored arXiv copy holds only its abstract; no official code
was found), so these constants are rlx's: η0 = 0.1 (N-HARPG's tuned γ0 from
the same group), α0 = 1 and the offset t+1 in both schedules.
The recursion is N-HARPG's, so `update` calls `rlx.agents.harpg.hessian_aided_step`
with SHARP's schedules (and, as there, the baseline in B's Φ).
"""

from __future__ import annotations

import jax
from flax import struct

from rlx.agents.shared import pg
# the family's State (θ_t, θ_{t−1}, d_{t−1}, t), policy, act, init and eval_horizon (rlx.agent's contract)
from rlx.agents.shared.pg import MomentumState as State  # noqa: F401
from rlx.agents.shared.pg import act, eval_horizon, policy  # noqa: F401
from rlx.agents.shared.pg import init_momentum_state as init  # noqa: F401
from rlx.agents import harpg
from rlx.fields import static
from rlx.schedules import inverse_power


@struct.dataclass
class Config(pg.PGConfig):
    # the shared fields (N, H, estimator, baseline, policy, γ, …): rlx.agents.shared.pg.PGConfig
    hessian_steps: int = static(32)  # τ^b_t: whole episodes until ≥ this many valid steps [as harpg]
    lr: float = 0.1  # η0 [rlx's choice, see the module docstring]
    momentum: float = 1.0  # α0, so that v_0 = g(τ_0, θ_0)


PRESETS = {"sharp": {}}  # registry name -> the Config fields it sets
FAMILY_DEFAULTS = {"sharp": {"classic": {**pg.CLASSIC_INIT, "lr": 0.1}, "tabular": {"lr": 1.0},
                             "minatar": {**pg.CLASSIC_INIT, "lr": 0.1}}}
METRICS = harpg.METRICS




env_steps_per_update = harpg.env_steps_per_update  # B at θ_t, `hessian_steps` at θ^b_t


def schedules(config: Config, t):
    """(η_t, α_t) = (η0, α0)·(t+1)^{−2/3}."""
    return inverse_power(config.lr, t, 2.0 / 3.0), inverse_power(config.momentum, t, 2.0 / 3.0)


def update(key: jax.Array, state: State, env, config: Config):
    eta_t, alpha_t = schedules(config, state.t)
    return harpg.hessian_aided_step(key, state, env, config, eta_t, alpha_t, normalize=True)
