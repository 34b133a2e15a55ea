"""Vanilla policy gradient: GPOMDP (and REINFORCE), the baseline of the
variance-reduced family.

Baxter & Bartlett, "Infinite-horizon policy-gradient estimation", JAIR 2001
(GPOMDP); Williams, Machine Learning 1992 (REINFORCE).  The estimators are
those of ALGORITHMS.md ("Notation"), implemented in `rlx.estimators`:

    g(τ, θ) = Σ_h (Σ_{t≥h} γ^t r_t) ∇log π_θ(a_h|s_h)          (GPOMDP)
    θ_{t+1} = θ_t + γ_t · mean_{i≤N} g(τ_i, θ_t)

Every iteration samples N fresh episodes of horizon H.  The default step size
is the vanilla-PG schedule of the official code of Fatkhullin et al. (ICML
2023): γ_t = γ0·(2/(t+2))^{2/3}.  Their tuned Walker value γ0 = 0.02 let one
of 8 cartpole seeds collapse to a degenerate policy here, so the default is
γ0 = 0.01 (all 8 above 470 after 5·10^5 steps).
`optimizer="adam"` puts Adam's preconditioning between g and the step.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from flax import struct

from rlx import pg
from rlx.config import static
from rlx.schedules import harmonic_power


@struct.dataclass
class Config(pg.PGConfig):
    # the shared fields (N, H, estimator, baseline, policy, γ0 = lr, γ, …): rlx.pg.PGConfig
    optimizer: str = static("sgd")  # "sgd" (the paper's plain step) or "adam"
    lr_schedule: str = static("pg")  # "pg": γ0·(2/(t+2))^{2/3} [official code]; "constant": γ0
    lr: float = 0.01  # γ0 [paper's Walker tuning: 0.02; see the module docstring]


@struct.dataclass
class State:
    params: dict
    opt_state: optax.OptState
    t: jax.Array  # iterations done


def env_steps_per_update(env, config: Config) -> int:
    """Env steps one `update` simulates: N episodes of H steps."""
    return pg.episodes_steps(env, config, config.num_envs)


policy = pg.policy  # (env, config) -> rlx.policies.Policy
act = pg.act  # (key, state, obs, env, config, deterministic=True) -> action


def _optimizer(config: Config) -> optax.GradientTransformation:
    if config.optimizer == "sgd":
        return optax.identity()
    if config.optimizer == "adam":
        return optax.scale_by_adam()
    raise ValueError(f"optimizer must be 'sgd' or 'adam', got {config.optimizer!r}")


def step_size(config: Config, t) -> jax.Array:
    if config.lr_schedule == "pg":
        return harmonic_power(config.lr, t, 2.0 / 3.0)
    if config.lr_schedule == "constant":
        return jnp.asarray(config.lr, jnp.float32)
    raise ValueError(f"lr_schedule must be 'pg' or 'constant', got {config.lr_schedule!r}")


def init(key: jax.Array, env, config: Config) -> State:
    params = policy(env, config).init(key)
    return State(params=params, opt_state=_optimizer(config).init(params), t=jnp.zeros((), jnp.int32))


def update(key: jax.Array, state: State, env, config: Config):
    traj = pg.sample(key, env, config, state.params)
    g = pg.gradient(env, config, state.params, traj)
    direction, opt_state = _optimizer(config).update(g, state.opt_state)
    lr = step_size(config, state.t)
    metrics = {**pg.episode_metrics(traj), "grad_norm": optax.global_norm(g), "lr": lr}
    return State(params=pg.ascent(state.params, lr, direction), opt_state=opt_state, t=state.t + 1), metrics
