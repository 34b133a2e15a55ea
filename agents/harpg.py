"""HARPG and N-HARPG: Hessian-aided recursive policy gradient, plain or
normalized (one flag apart).

Fatkhullin, Barakat, Kireeva, He, "Stochastic Policy Gradient Methods:
Improved Sample Complexity for Fisher-non-degenerate Policies", ICML 2023,
Algorithm (N)-HARPG.  For t = 0, 1, …:

    q_t ~ U[0, 1];  θ̂_t = q_t θ_t + (1−q_t) θ_{t−1}      random point of the segment
    τ_t ~ π_{θ_t},  τ̂_t ~ π_{θ̂_t}                          two fresh batches
    v_t = B(τ̂_t, θ̂_t)(θ_t − θ_{t−1})                      Hessian-aided correction
    d_t = (1−η_t)(d_{t−1} + v_t) + η_t g(τ_t, θ_t)         recursive momentum (STORM)
    HARPG:   θ_{t+1} = θ_t + γ_t d_t
    N-HARPG: θ_{t+1} = θ_t + γ_t d_t / ‖d_t‖

v_t is an unbiased estimate of ∇J(θ_t) − ∇J(θ_{t−1}) (B is Shen et al.'s
unbiased Hessian estimate, `rlx.estimators.hessian_vector_product`, with the
paper's sign; docs/algorithms.md, "HARPG and N-HARPG", has the official code's sign pitfall), so d_t
tracks ∇J(θ_t) without importance sampling.  One addition to the paper: B's
Φ uses the same baseline as g (`baseline="linear"`, fitted on the previous
batch), which keeps B unbiased and removes the common part of the returns
from its cross term; `baseline="none"` is the paper's B.
Schedules of the official code, t from 0: η_t = η0·2/(t+2) (the theory's
1/(t+1)); γ_t = γ0·(2/(t+2))^{1/2} for HARPG (the theory's O(t^{−1/2})) and
γ0·2/(t+2) for N-HARPG (O(1/t)).  With η0 = 1, η_0 = 1 and d_0 = g(τ_0, θ_0).

The paper's "trajectory" is a batch here, as the official code sizes it:
whole episodes until ≥ `batch_steps` (1,000) valid steps for g, and until ≥
`hessian_steps` (32, about one episode) for B, which is not sampled at t = 0
(there θ_t − θ_{t−1} = 0 and v_0 = 0).  Both are per-step means on one scale
(`rlx.agents.shared.pg.step_divisor`), so the paper's γ0 carry over.
gradient="official" runs what the official code computes instead
(`rlx.agents.shared.pg.PGConfig`; its cross term has the opposite sign and a
1/M, `rlx.estimators.official_hessian_vector_product`; d_0 = g(τ_0, θ_0) for
any η0).  SHARP, which has no official code, takes the same estimators with
its own schedules under that flag.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from flax import struct

from rlx.agents.shared import pg
# the family's State (θ_t, θ_{t−1}, d_{t−1}, t), policy, act, init and eval_horizon (rlx.agent's contract)
from rlx.agents.shared.pg import MomentumState as State  # noqa: F401
from rlx.agents.shared.pg import act, eval_horizon, policy  # noqa: F401
from rlx.agents.shared.pg import init_momentum_state as init  # noqa: F401
from rlx.fields import static
from rlx.schedules import harmonic_power


@struct.dataclass
class Config(pg.PGConfig):
    # the shared fields (N, H, estimator, baseline, policy, γ, …): rlx.agents.shared.pg.PGConfig
    normalized: bool = static(False)  # False: HARPG; True: N-HARPG
    hessian_steps: int = static(32)  # τ̂_t: whole episodes until ≥ this many valid steps [official code]
    lr: float = 0.002  # γ0 [paper's Walker tuning for HARPG; N-HARPG's is 0.1, the `n_harpg` preset]
    momentum: float = 1.0  # η0 [official code default]


# registry name -> the Config fields it sets: N-HARPG is HARPG with normalized steps at the paper's γ0.
PRESETS = {"harpg": {}, "n_harpg": {"normalized": True, "lr": 0.1}}
# On locomotion HARPG takes half the paper's Walker γ0 (at 0.002 hopper seeds fell apart: experiments/README.md).
FAMILY_DEFAULTS = {
    "harpg": {"classic": {**pg.CLASSIC_INIT, "lr": 0.05}, "control": {"lr": 0.001}, "locomotion": {"lr": 0.001},
              "tabular": {"lr": 10.0}, "minatar": {**pg.CLASSIC_INIT, "lr": 0.05}},
    "n_harpg": {"classic": {**pg.CLASSIC_INIT, "lr": 0.2}, "tabular": {"lr": 1.0},
                "minatar": {**pg.CLASSIC_INIT, "lr": 0.2}},
}
METRICS = ("episode_return", "episode_length", "episodes", "grad_norm", "correction_norm", "d_norm", "lr", "momentum",
           "transitions")




def env_steps_per_update(env, config: Config) -> int:
    """Valid steps one `update` samples at least: B at θ_t and `hessian_steps` at θ̂_t."""
    return config.batch_steps + config.hessian_steps


def schedules(config: Config, t):
    """(γ_t, η_t) of the official code."""
    power = 1.0 if config.normalized else 0.5
    return harmonic_power(config.lr, t, power), harmonic_power(config.momentum, t, 1.0)


def update(key: jax.Array, state: State, env, config: Config):
    gamma_t, eta_t = schedules(config, state.t)
    return hessian_aided_step(key, state, env, config, gamma_t, eta_t, config.normalized)


def hessian_aided_step(key: jax.Array, state: State, env, config, step_size, momentum, normalize: bool):
    """One iteration of the recursion above with the given γ_t and η_t (SHARP
    runs the same recursion with its own schedules, `rlx.agents.sharp`)."""
    traj_key, hess_key = jax.random.split(key)
    traj = pg.sample(traj_key, env, config, state.params, state.memory)
    g = pg.gradient(env, config, state.params, traj, state.memory)

    def correction(_):
        v, traj_hat = pg.hessian_correction(hess_key, env, config, state.params, state.prev_params, state.memory,
                                            config.hessian_steps)
        return v, traj_hat.num_steps

    def none_at_t0(_):  # θ_0 − θ_{−1} = 0: no Hessian batch is sampled
        return jax.tree.map(jnp.zeros_like, state.params), jnp.zeros(())

    v, hessian_samples = jax.lax.cond(state.t > 0, correction, none_at_t0, None)
    d = jax.tree.map(lambda d, v, g: (1.0 - momentum) * (d + v) + momentum * g, state.d, v, g)
    d = pg.first_momentum(config, state.t, d, g)
    params = pg.ascent(state.params, step_size, pg.normalized(d) if normalize else d)
    metrics = {**pg.momentum_metrics(traj, g, d, step_size, momentum, hessian_samples),
               "correction_norm": optax.global_norm(v)}
    return pg.momentum_step(env, config, state, params, d, traj), metrics
