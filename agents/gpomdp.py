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

from rlx.config import static
from rlx.estimators import policy_gradient
from rlx.policies import Policy, make_policy
from rlx.rollout import collect_episodes, episode_discount, episode_horizon
from rlx.schedules import harmonic_power


@struct.dataclass
class Config:
    # -- shape-defining (static) --
    num_envs: int = static(10)  # N, episodes an iteration
    horizon: int = static(0)  # H; 0 = the env's time limit
    estimator: str = static("gpomdp")  # "gpomdp" (reward-to-go) or "reinforce"
    baseline: str = static("loo")  # "none" or "loo": leave-one-out batch mean, unbiased
    #   [official code: a linear feature baseline fitted on the same batch, slightly biased]
    optimizer: str = static("sgd")  # "sgd" (the paper's plain step) or "adam"
    lr_schedule: str = static("pg")  # "pg": γ0·(2/(t+2))^{2/3} [official code]; "constant": γ0
    policy: str = static("auto")  # "auto", "tabular" or "mlp" (rlx.policies.make_policy)
    hidden: tuple[int, ...] = static((64, 64))  # MLP widths [official code: 64,64 tanh]
    # -- numeric (traced, can be swept) --
    lr: float = 0.01  # γ0, initial step size [paper's Walker tuning: 0.02; see above]
    discount: float | None = None  # γ; None = the env's own γ (tabular MDPs), else 0.99 [official code]
    init_log_std: float = 0.0  # Gaussian policies: initial log σ


@struct.dataclass
class State:
    params: dict
    opt_state: optax.OptState
    t: jax.Array  # iterations done


def env_steps_per_update(env, config: Config) -> int:
    """Env steps one `update` simulates: N episodes of H steps."""
    return config.num_envs * episode_horizon(env, config.horizon)


def policy(env, config: Config) -> Policy:
    return make_policy(env, config.policy, config.hidden, init_log_std=config.init_log_std)


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
    pi = policy(env, config)
    traj = collect_episodes(
        key, env, env.default_params, pi, state.params, config.num_envs, episode_horizon(env, config.horizon)
    )
    logp_fn = lambda p: pi.log_prob(p, traj.obs, traj.action)
    discount = episode_discount(env, config.discount)
    g = policy_gradient(logp_fn, state.params, traj, discount, config.estimator, config.baseline)
    direction, opt_state = _optimizer(config).update(g, state.opt_state)
    lr = step_size(config, state.t)
    params = jax.tree.map(lambda p, d: p + lr * d, state.params, direction)  # ascent
    metrics = {
        "episode_return": jnp.mean(traj.episode_return),
        "episode_length": jnp.mean(traj.episode_length),
        "transitions": jnp.sum(traj.mask),  # used by this update: inside episodes, ≤ N·H
        "grad_norm": optax.global_norm(g),
        "lr": lr,
    }
    return State(params=params, opt_state=opt_state, t=state.t + 1), metrics


def act(key: jax.Array, state: State, obs, env, config: Config, deterministic: bool = True):
    """The greedy (or mean) action, or a sampled one with deterministic=False."""
    pi = policy(env, config)
    return pi.mode(state.params, obs) if deterministic else pi.sample(state.params, obs, key)
