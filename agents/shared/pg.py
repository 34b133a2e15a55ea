"""What every policy-gradient agent shares: its config fields, the policy, a
batch of fresh episodes, the gradient estimate, the Hessian-aided correction,
the normalized step and the episode metrics.  An agent module (gpomdp,
npg_igt, harpg, sharp) holds only its own recursion on top of these.

Notation of docs/algorithms.md ("Notation"): θ_t the parameters, g(τ, θ) the GPOMDP (or
REINFORCE) estimate of ∇J, B(τ, θ)·v the Hessian-vector estimate
(`rlx.estimators`).  Every "trajectory τ" of a paper is a batch here, sized
as the official code sizes it: whole episodes until ≥ `batch_steps` valid
steps (`rlx.rollout.collect_batch`), and every estimate is a per-step mean
(`step_divisor`), so the papers' step sizes γ0 carry over.

Two differences from the official code, on purpose: its advantage restarts
the discount at every step, A_h = Σ_l γ^l r_{h+l} − b(s_h), which drops the
paper's γ^h and biases g for ∇J_H; rlx keeps the paper's G_h = Σ_{t≥h} γ^t r_t
and subtracts γ^h b(s_h, h) (`rlx.estimators.score_weights`).  And its
divisor is the batch's realised step count, a ratio that depends on the
batch; rlx's is fixed before the batch is drawn (`step_divisor`).
"""

from __future__ import annotations

from typing import Literal

import math

import jax
import jax.numpy as jnp
import optax
from flax import struct

from rlx.agents.shared import baselines
from rlx.fields import static
from rlx.estimators import (
    hessian_vector_product,
    official_hessian_vector_product,
    official_policy_gradient,
    policy_gradient,
)
from rlx.policies import Policy, make_policy, obs_encoding
from rlx.rollout import Trajectories, collect_batch, collect_episodes, episode_discount, episode_horizon


# The family's start on classic control and MinAtar (FAMILY_DEFAULTS of gpomdp, npg_igt, harpg, sharp): PPO's
# near-uniform policy (orthogonal init, last layer 0.01), whose exploration acrobot's sparse reward needs;
# locomotion and continuous control keep the official Xavier init (docs/algorithms.md, "Policy-gradient
# estimators").
CLASSIC_INIT = {"weight_init": "orthogonal"}


@struct.dataclass
class PolicyConfig:
    """The policy and objective fields of every policy-gradient agent."""

    horizon: int = static(0)  # H; 0 = the env's time limit
    estimator: Literal["gpomdp", "reinforce"] = static("gpomdp")  # reward-to-go, or the whole return
    policy: Literal["auto", "tabular", "mlp"] = static("auto")  # auto: a table for finite states (make_policy)
    hidden: tuple[int, ...] = static((64, 64))  # MLP widths [official code: 64,64 tanh]
    lr: float = 0.01  # γ0, the initial step size
    discount: float | None = None  # γ; None = the env's own γ (tabular MDPs), else 0.99 [official code]
    init_log_std: float = 0.0  # Gaussian policies: initial log σ [official code: σ0 = 1]
    weight_init: Literal["xavier", "orthogonal", "torch"] = static("xavier")  # Xavier-uniform, zero biases [official
    #   code]; orthogonal is PPO's (gain √2, last layer 0.01: a near-uniform or zero-mean first policy); torch is
    #   torch.nn.Linear's default, U(±1/√fan_in) weights and biases (PGP's official one-hot linear policy:
    #   policy=mlp, hidden=())


@struct.dataclass
class PGConfig(PolicyConfig):
    """The fields of the agents of Fatkhullin et al.'s family (gpomdp,
    npg_igt, harpg, sharp); an agent's `Config` subclasses it, adds its own
    and may change a default (with its source).  γ0 = `lr` is on the official
    code's per-step scale (`step_divisor`)."""

    batch_steps: int = static(1000)  # B: whole episodes until ≥ B valid steps [official code: 1000]
    num_envs: int = static(1)  # env slots that play the batch's episodes side by side (speed only;
    #   1 = the official sequential sampler)
    baseline: Literal["linear", "none"] = static("linear")  # linear: the official code's feature baseline,
    #   fitted on the previous batch (rlx.agents.shared.baselines; unbiased)
    gradient: Literal["paper", "official"] = static("paper")  # paper: the paper's estimators (unbiased for ∇J_H);
    #   official: what the official code computes (discount restarted at each step, divided by the batch's realised
    #   steps, HARPG's cross term with the code's sign and 1/M, IGT's extrapolation by η_{t−1}; biased, see
    #   rlx.estimators.official_policy_gradient); `estimator` is then unused


@struct.dataclass
class BatchMemory:
    """What an iteration keeps from the previous batch: the baseline fitted
    on it and its mean episode length L̄."""

    baseline: jax.Array  # c of rlx.agents.shared.baselines, [features]
    mean_length: jax.Array  # L̄_{t−1}; 0 before the first batch


@struct.dataclass
class MomentumState:
    """The state of the momentum agents (npg_igt, harpg, sharp)."""

    params: dict  # θ_t
    prev_params: dict  # θ_{t−1}
    d: dict  # d_{t−1}, the momentum direction (SHARP's v_{t−1})
    t: jax.Array  # iterations done
    memory: BatchMemory


def _num_features(env) -> int:
    num_states, obs_ndim = obs_encoding(env)
    return baselines.num_features(_obs_size(env), squares=obs_ndim == 1 and not num_states)


def init_memory(env) -> BatchMemory:
    return BatchMemory(baseline=jnp.zeros((_num_features(env),)), mean_length=jnp.zeros(()))


def init_momentum_state(key: jax.Array, env, config: PGConfig) -> MomentumState:
    """θ_0 from the policy's initialiser, θ_{−1} = θ_0 and d_{−1} = 0."""
    params = policy(env, config).init(key)
    zeros = jax.tree.map(jnp.zeros_like, params)
    return MomentumState(params=params, prev_params=params, d=zeros, t=jnp.zeros((), jnp.int32),
                         memory=init_memory(env))


def policy(env, config: PolicyConfig) -> Policy:
    return make_policy(env, config.policy, config.hidden, init_log_std=config.init_log_std,
                       weight_init=config.weight_init)


def _obs_size(env) -> int:
    num_states, _ = obs_encoding(env)
    return num_states or int(math.prod(env.observation_space(env.default_params).shape))


def sample(key: jax.Array, env, config: PGConfig, params, memory: BatchMemory, min_steps: int | None = None):
    """A batch of whole episodes of π_params until ≥ `min_steps` valid steps
    (B = config.batch_steps by default), `rlx.rollout.collect_batch`."""
    min_steps = config.batch_steps if min_steps is None else min_steps
    horizon = episode_horizon(env, config.horizon)
    return collect_batch(key, env, env.default_params, policy(env, config).actor(params), config.num_envs, min_steps,
                         horizon, memory.mean_length)


def step_divisor(memory: BatchMemory, min_steps: int):
    """D = max(min_steps, L̄_{t−1}): the valid steps a batch of whole episodes
    until ≥ min_steps is expected to hold, known before it is sampled.

    Every estimate is Σ over the batch's episodes / D.  That is the official
    code's per-step mean (garage minimises minus the MEAN over all valid steps
    of log π·A), so the papers' tuned γ0 mean here what they mean there —
    rlx's per-episode g would make an unnormalised step about (episode
    length)× larger.  The official code divides by the batch's realised step
    count M, which depends on the batch (a ratio estimator); D does not, so by
    Wald's identity E[Σ_{k≤K} g(τ_k)] / D = (E[K]/D)·∇J exactly: the
    estimate points along ∇J, its length ∇J/L̄ as the official code's.  The
    same rule for the Hessian batch (min_steps = hessian_steps, about one
    episode) keeps v_t on g's scale.  Normalised steps are unaffected.
    """
    return jnp.maximum(jnp.asarray(min_steps, jnp.float32), memory.mean_length)


def _logp_fn(env, config: PolicyConfig, traj: Trajectories):
    pi = policy(env, config)
    return lambda p: pi.log_prob(p, traj.obs, traj.action)


def _baseline(env, config: PGConfig, memory: BatchMemory, traj: Trajectories):
    if config.baseline == "none":
        return "none"
    return baselines.predict(memory.baseline, _features(env, traj))  # "linear"


def _features(env, traj: Trajectories):
    num_states, obs_ndim = obs_encoding(env)
    return baselines.features(traj.obs, traj.step_time, num_states, obs_ndim)


def gradient(env, config: PGConfig, params, traj: Trajectories, memory: BatchMemory):
    """g(τ, θ): Σ over the batch's episodes of the GPOMDP/REINFORCE estimate
    of ∇J at `params` (which `traj` was sampled with) / D (`step_divisor`),
    with the baseline fitted on the previous batch.  gradient="official":
    the official code's estimate instead (`rlx.estimators.official_policy_gradient`)."""
    discount = episode_discount(env, config.discount)
    if config.gradient == "official":
        return official_policy_gradient(_logp_fn(env, config, traj), params, traj, discount,
                                        _baseline(env, config, memory, traj))
    return policy_gradient(_logp_fn(env, config, traj), params, traj, discount, config.estimator,
                           _baseline(env, config, memory, traj), step_divisor(memory, config.batch_steps))


def remember(env, config: PGConfig, traj: Trajectories) -> BatchMemory:
    """What the next iteration keeps of this batch: the baseline refitted on
    it and its mean episode length."""
    coef = jnp.zeros((_num_features(env),))
    if config.baseline == "linear":
        coef = baselines.fit(_features(env, traj), traj, episode_discount(env, config.discount))
    return BatchMemory(baseline=coef, mean_length=traj.mean_episode_length)


def hessian_correction(
    key: jax.Array, env, config: PGConfig, params, prev_params, memory: BatchMemory, min_steps: int,
    hvp=hessian_vector_product,
):
    """v_t = B(τ̂_t, θ̂_t)(θ_t − θ_{t−1}) at a uniformly random point of the
    segment, θ̂_t = q θ_t + (1−q) θ_{t−1}, q ~ U[0, 1], with τ̂_t ~ π_{θ̂_t}
    whole episodes until ≥ `min_steps` steps (Fatkhullin et al. 2023, HARPG
    lines 4–6; SHARP's θ^b_t).  Since E_q[∇²J(θ̂)](θ_t − θ_{t−1}) =
    ∇J(θ_t) − ∇J(θ_{t−1}), v_t estimates the gradient difference, on g's
    scale (Σ over episodes / `step_divisor`).  Returns (v_t, τ̂_t).
    `hvp` is the B·v estimator (`rlx.estimators.hessian_vector_product`'s
    signature); tests plant a faulty one through it.  gradient="official":
    the official code's correction instead
    (`rlx.estimators.official_hessian_vector_product`)."""
    q_key, traj_key = jax.random.split(key)
    q = jax.random.uniform(q_key)
    point = jax.tree.map(lambda a, b: q * a + (1.0 - q) * b, params, prev_params)
    traj = sample(traj_key, env, config, point, memory, min_steps)
    delta = jax.tree.map(jnp.subtract, params, prev_params)
    discount = episode_discount(env, config.discount)
    if config.gradient == "official":
        v = official_hessian_vector_product(_logp_fn(env, config, traj), point, traj, discount, delta,
                                            _baseline(env, config, memory, traj))
        return v, traj
    v = hvp(_logp_fn(env, config, traj), point, traj, discount, delta, _baseline(env, config, memory, traj),
            step_divisor(memory, min_steps))
    return v, traj


def sample_episodes(key: jax.Array, env, config: PolicyConfig, params, num_episodes: int) -> Trajectories:
    """N fresh episodes of π_params of horizon H, one a row (episode-major),
    for agents whose paper samples a fixed number of episodes (PGP)."""
    horizon = episode_horizon(env, config.horizon)
    return collect_episodes(key, env, env.default_params, policy(env, config).actor(params), num_episodes, horizon)


def episodes_gradient(env, config: PolicyConfig, params, traj: Trajectories, baseline: str = "loo"):
    """The mean over an episode-major batch's N episodes of the
    GPOMDP/REINFORCE estimate of ∇J (leave-one-out baseline by default)."""
    discount = episode_discount(env, config.discount)
    return policy_gradient(_logp_fn(env, config, traj), params, traj, discount, config.estimator, baseline)


def episodes_steps(env, config: PolicyConfig, num_episodes: int) -> int:
    """Env steps simulated by `num_episodes` episodes of horizon H."""
    return num_episodes * episode_horizon(env, config.horizon)


def normalized(tree):
    """tree / ‖tree‖ (global Euclidean norm); the zero tree stays zero."""
    norm = optax.global_norm(tree)
    return jax.tree.map(lambda x: x / jnp.maximum(norm, 1e-12), tree)


def ascent(params, step_size, direction):
    """θ + γ·direction (J is maximised)."""
    return jax.tree.map(lambda p, d: p + step_size * d, params, direction)


def first_momentum(config: PGConfig, t, d, g):
    """d_t as the agent's recursion gave it, except under gradient="official"
    at t = 0, where the official code's first momentum buffer is g itself
    whatever η0 is (SGDM/STORMHess optimizers); the paper's d_0 = η_0·g_0 is
    the same at the default η0 = 1."""
    if config.gradient != "official":
        return d
    return jax.tree.map(lambda d, g: jnp.where(t == 0, g, d), d, g)


def momentum_step(env, config, state: MomentumState, params, d, traj: Trajectories) -> MomentumState:
    """The momentum agents' next state: θ_{t+1} = params, θ_t, d_t, t + 1 and
    the memory of the batch τ_t."""
    return MomentumState(params=params, prev_params=state.params, d=d, t=state.t + 1,
                         memory=remember(env, config, traj))


def momentum_metrics(traj: Trajectories, g, d, step_size, momentum, *other) -> dict:
    """`episode_metrics` and the momentum agents' own: ‖g‖, ‖d_t‖, the step
    size and momentum weight of this iteration."""
    return {**episode_metrics(traj, *other), "grad_norm": optax.global_norm(g), "d_norm": optax.global_norm(d),
            "lr": step_size, "momentum": momentum}


def episode_metrics(traj: Trajectories, *other) -> dict:
    """The metrics every agent reports: mean return and length of the
    episodes of `traj` (the batch at θ_t), their number, and `transitions`,
    the valid steps of every batch the update sampled (also the step counts
    in `other`, e.g. HARPG's τ̂_t): the samples it used."""
    return {
        "episode_return": traj.mean_episode_return,
        "episode_length": traj.mean_episode_length,
        "episodes": traj.num_episodes,
        "transitions": traj.num_steps + sum(other),
    }


def eval_horizon(env, config: PolicyConfig) -> int:
    """The agent's horizon H (`config.horizon`), or the env's time limit when 0."""
    return episode_horizon(env, config.horizon)


def act(key: jax.Array, state, obs, env, config: PolicyConfig, deterministic: bool = True):
    """The greedy (or mean) action of π_{state.params}, or a sampled one with
    deterministic=False."""
    pi = policy(env, config)
    return pi.mode(state.params, obs) if deterministic else pi.sample(key, state.params, obs)
