"""What every policy-gradient agent shares: its config fields, the policy, a
batch of fresh episodes, the gradient estimate, the Hessian-aided correction,
the normalized step and the episode metrics.  An agent module (gpomdp,
npg_igt, harpg, sharp) holds only its own recursion on top of these.

Notation of ALGORITHMS.md: θ_t the parameters, g(τ, θ) the GPOMDP (or
REINFORCE) estimate of ∇J, B(τ, θ)·v the Hessian-vector estimate
(`rlx.estimators`).  Every "trajectory τ" of a paper is a batch of N episodes
here, averaged; N = 1 is the paper's single trajectory.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from flax import struct

from rlx.config import static
from rlx.estimators import hessian_vector_product, policy_gradient
from rlx.policies import Policy, make_policy
from rlx.rollout import Trajectories, collect_episodes, episode_discount, episode_horizon


@struct.dataclass
class PGConfig:
    """The fields every policy-gradient agent has; an agent's `Config`
    subclasses it, adds its own and may change a default (with its source)."""

    # -- shape-defining (static) --
    num_envs: int = static(10)  # N, episodes in each gradient batch
    horizon: int = static(0)  # H; 0 = the env's time limit
    estimator: str = static("gpomdp")  # "gpomdp" (reward-to-go) or "reinforce"
    baseline: str = static("loo")  # "none" or "loo": leave-one-out batch mean, unbiased
    #   [official code: a linear feature baseline fitted on the same batch, slightly biased]
    policy: str = static("auto")  # "auto", "tabular" or "mlp" (rlx.policies.make_policy)
    hidden: tuple[int, ...] = static((64, 64))  # MLP widths [official code: 64,64 tanh]
    # -- numeric (traced, can be swept) --
    lr: float = 0.01  # γ0, the initial step size.  Scale: the official code builds on garage,
    #   whose VPG loss is a mean over all the batch's time steps; rlx's g is the paper's sum over
    #   each episode, so a paper's γ0 for an UNnormalized step is about (batch steps)× too large
    #   here (experiments/vr_pg/reproduce.py divides by 1,000).  Normalized steps are unaffected.
    discount: float | None = None  # γ; None = the env's own γ (tabular MDPs), else 0.99 [official code]
    init_log_std: float = 0.0  # Gaussian policies: initial log σ


@struct.dataclass
class MomentumState:
    """The state of the momentum agents (npg_igt, harpg, sharp)."""

    params: dict  # θ_t
    prev_params: dict  # θ_{t−1}
    d: dict  # d_{t−1}, the momentum direction (SHARP's v_{t−1})
    t: jax.Array  # iterations done


def init_momentum_state(key: jax.Array, env, config: PGConfig) -> MomentumState:
    """θ_0 from the policy's initialiser, θ_{−1} = θ_0 and d_{−1} = 0."""
    params = policy(env, config).init(key)
    zeros = jax.tree.map(jnp.zeros_like, params)
    return MomentumState(params=params, prev_params=params, d=zeros, t=jnp.zeros((), jnp.int32))


def policy(env, config: PGConfig) -> Policy:
    return make_policy(env, config.policy, config.hidden, init_log_std=config.init_log_std)


def episodes_steps(env, config: PGConfig, num_episodes: int) -> int:
    """Env steps simulated by `num_episodes` episodes of horizon H."""
    return num_episodes * episode_horizon(env, config.horizon)


def sample(key: jax.Array, env, config: PGConfig, params, num_envs: int | None = None) -> Trajectories:
    """A batch of fresh episodes of π_params (N = config.num_envs by default)."""
    num_envs = config.num_envs if num_envs is None else num_envs
    horizon = episode_horizon(env, config.horizon)
    return collect_episodes(key, env, env.default_params, policy(env, config), params, num_envs, horizon)


def _logp_fn(env, config: PGConfig, traj: Trajectories):
    pi = policy(env, config)
    return lambda p: pi.log_prob(p, traj.obs, traj.action)


def gradient(env, config: PGConfig, params, traj: Trajectories):
    """g(τ, θ): the batch-mean GPOMDP/REINFORCE estimate of ∇J at `params`,
    which must be the parameters `traj` was sampled with."""
    discount = episode_discount(env, config.discount)
    return policy_gradient(_logp_fn(env, config, traj), params, traj, discount, config.estimator, config.baseline)


def hessian_correction(
    key: jax.Array, env, config: PGConfig, params, prev_params, num_envs: int, hvp=hessian_vector_product
):
    """v_t = B(τ̂_t, θ̂_t)(θ_t − θ_{t−1}) at a uniformly random point of the
    segment, θ̂_t = q θ_t + (1−q) θ_{t−1}, q ~ U[0, 1], with τ̂_t ~ π_{θ̂_t}
    (Fatkhullin et al. 2023, HARPG lines 4–6; SHARP's θ^b_t).  Since
    E_q[∇²J(θ̂)](θ_t − θ_{t−1}) = ∇J(θ_t) − ∇J(θ_{t−1}), v_t is an unbiased
    estimate of the gradient difference.  Returns (v_t, τ̂_t).
    `hvp` is the B·v estimator (`rlx.estimators.hessian_vector_product`'s
    signature); tests plant a faulty one through it."""
    q_key, traj_key = jax.random.split(key)
    q = jax.random.uniform(q_key)
    point = jax.tree.map(lambda a, b: q * a + (1.0 - q) * b, params, prev_params)
    traj = sample(traj_key, env, config, point, num_envs)
    delta = jax.tree.map(jnp.subtract, params, prev_params)
    discount = episode_discount(env, config.discount)
    return hvp(_logp_fn(env, config, traj), point, traj, discount, delta, config.baseline), traj


def normalized(tree):
    """tree / ‖tree‖ (global Euclidean norm); the zero tree stays zero."""
    norm = optax.global_norm(tree)
    return jax.tree.map(lambda x: x / jnp.maximum(norm, 1e-12), tree)


def ascent(params, step_size, direction):
    """θ + γ·direction (J is maximised)."""
    return jax.tree.map(lambda p, d: p + step_size * d, params, direction)


def episode_metrics(traj: Trajectories, *other: Trajectories) -> dict:
    """The metrics every agent reports: returns and lengths of `traj` (the
    batch at θ_t), and `transitions`, the steps inside episodes of every batch
    the update sampled (e.g. also HARPG's τ̂_t): the samples it used."""
    return {
        "episode_return": jnp.mean(traj.episode_return),
        "episode_length": jnp.mean(traj.episode_length),
        "transitions": sum(jnp.sum(t.mask) for t in (traj, *other)),
    }


def act(key: jax.Array, state, obs, env, config: PGConfig, deterministic: bool = True):
    """The greedy (or mean) action of π_{state.params}, or a sampled one with
    deterministic=False."""
    pi = policy(env, config)
    return pi.mode(state.params, obs) if deterministic else pi.sample(state.params, obs, key)
