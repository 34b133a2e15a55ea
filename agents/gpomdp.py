"""Vanilla policy gradient: GPOMDP (and REINFORCE), the baseline of the
variance-reduced family.

Baxter & Bartlett, "Infinite-horizon policy-gradient estimation", JAIR 2001
(GPOMDP); Williams, Machine Learning 1992 (REINFORCE).  The estimators are
those of docs/algorithms.md ("Notation"), implemented in `rlx.estimators`:

    g(τ, θ) = Σ_h (Σ_{t≥h} γ^t r_t) ∇log π_θ(a_h|s_h)          (GPOMDP)
    θ_{t+1} = θ_t + γ_t · mean_{i≤N} g(τ_i, θ_t)

Every iteration samples whole episodes until ≥ B = `batch_steps` valid steps
and takes g as their per-step mean (`rlx.agents.shared.pg.step_divisor`), with the linear
feature baseline fitted on the previous batch, as the official code of
Fatkhullin et al. (ICML 2023) does.  The step-size schedule is that code's
vanilla PG one, γ_t = γ0·(2/(t+2))^{2/3}, and γ0 = 0.02 their Walker tuning
(per env family in `the agent's FAMILY_DEFAULTS`).
`optimizer="adam"` puts Adam's preconditioning between g and the step;
gradient="official" takes the official code's g instead
(`rlx.estimators.official_policy_gradient`: discount restarted at each step).
"""

from __future__ import annotations

from typing import Literal

import jax
import jax.numpy as jnp
import optax
from flax import struct

from rlx.agents.shared import pg
from rlx.fields import static
from rlx.schedules import harmonic_power


@struct.dataclass
class Config(pg.PGConfig):
    # the shared fields (N, H, estimator, baseline, policy, γ0 = lr, γ, …): rlx.agents.shared.pg.PGConfig
    optimizer: Literal["sgd", "adam"] = static("sgd")  # "sgd" (the paper's plain step) or "adam"
    lr_schedule: Literal["pg", "constant"] = static("pg")  # "pg": γ0·(2/(t+2))^{2/3} [official code]; "constant": γ0
    lr: float = 0.02  # γ0 [paper's Walker tuning]


# registry name -> the Config fields it sets; env family -> the defaults that change there (gamma0 from
# experiments/vr_pg/tune_defaults.py; why each: docs/algorithms.md, "Policy-gradient estimators").
PRESETS = {"gpomdp": {}}
FAMILY_DEFAULTS = {"gpomdp": {"classic": {**pg.CLASSIC_INIT, "lr": 0.5}, "control": {"lr": 0.01},
                              "tabular": {"lr": 10.0}, "minatar": {**pg.CLASSIC_INIT, "lr": 0.5}}}
METRICS = ("episode_return", "episode_length", "episodes", "grad_norm", "lr", "transitions")
eval_horizon = pg.eval_horizon  # (env, config) -> the agent's horizon H, or the env's time limit


@struct.dataclass
class State:
    params: dict
    opt_state: optax.OptState
    t: jax.Array  # iterations done
    memory: pg.BatchMemory  # the previous batch's baseline and mean episode length


def env_steps_per_update(env, config: Config) -> int:
    """Valid steps one `update` samples at least: B (whole episodes until ≥ B)."""
    return config.batch_steps


policy = pg.policy  # (env, config) -> rlx.policies.Policy
act = pg.act  # (key, state, obs, env, config, deterministic=True) -> action


def _optimizer(config: Config) -> optax.GradientTransformation:
    return optax.identity() if config.optimizer == "sgd" else optax.scale_by_adam()


def step_size(config: Config, t) -> jax.Array:
    if config.lr_schedule == "pg":
        return harmonic_power(config.lr, t, 2.0 / 3.0)
    return jnp.asarray(config.lr, jnp.float32)  # "constant"


def init(key: jax.Array, env, config: Config) -> State:
    params = policy(env, config).init(key)
    return State(params=params, opt_state=_optimizer(config).init(params), t=jnp.zeros((), jnp.int32),
                 memory=pg.init_memory(env))


def update(key: jax.Array, state: State, env, config: Config):
    traj = pg.sample(key, env, config, state.params, state.memory)
    g = pg.gradient(env, config, state.params, traj, state.memory)
    direction, opt_state = _optimizer(config).update(g, state.opt_state)
    lr = step_size(config, state.t)
    metrics = {**pg.episode_metrics(traj), "grad_norm": optax.global_norm(g), "lr": lr}
    return State(params=pg.ascent(state.params, lr, direction), opt_state=opt_state, t=state.t + 1,
                 memory=pg.remember(env, config, traj)), metrics
