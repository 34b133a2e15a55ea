"""PPO: the clipped surrogate objective with GAE, the baseline of every
reproduction.

Schulman, Wolski, Dhariwal, Radford, Klimov, "Proximal Policy Optimization
Algorithms", 2017, eq. (7) (clipped objective) and eq. (9) (combined loss);
Schulman et al., "High-Dimensional Continuous Control Using Generalized
Advantage Estimation", ICLR 2016, eq. (16) (GAE(γ, λ)).

    r_t(θ) = π_θ(a_t|s_t) / π_old(a_t|s_t)
    L = −E[min(r_t Â_t, clip(r_t, 1−ε, 1+ε) Â_t)] + c_v L_V − c_e E[H(π(·|s_t))]
    L_V = E[max((V(s_t) − R_t)², (V_old(s_t) + clip(V(s_t) − V_old(s_t), −ε, ε) − R_t)²)] / 2
    δ_t = r_t + γ V(s'_t)(1 − terminated_t) − V(s_t),   Â_t = δ_t + γλ(1 − done_t) Â_{t+1},   R_t = Â_t + V(s_t)

s'_t is the observation after step t — the final one where an episode ended —
so a time-limit truncation bootstraps from V(s'_t) and only a true
termination cuts the value.  Â is normalised per minibatch.  The clipped value
loss is not in the paper; it is OpenAI baselines' ppo2 (kept by PureJaxRL and
CleanRL) and `clip_value=False` drops it (on cartpole it matters: experiments/README.md,
"Measured notes behind the defaults").

Defaults are the classic-control ones (PureJaxRL's CartPole: 4 envs × 128
steps, 4 epochs of 4 minibatches, Adam 2.5e-4 with ε 1e-5, global gradient norm
0.5, γ 0.99, λ 0.95, ε 0.2, c_v 0.5, c_e 0.01, separate tanh actor and critic of
64×64, orthogonal init with gains √2 / 0.01 / 1.0, no observation
normalisation).  On locomotion envs the defaults are Brax's own PPO
(observation normalisation, γ 0.97, reward × 10, lr 3e-4) at a CPU-sized batch
— see its `FAMILY_DEFAULTS`.  `lr_decay_iterations=K` anneals the step size
linearly to 0 over K updates (PureJaxRL anneals over the whole run: K = total
steps ÷ (num_envs × num_steps)).

Observations are normalised (`normalize_obs`) by a running mean and variance
updated after each batch, clipped to ±10.  Actions are sampled unclipped from
the Gaussian; the env clips them to its bounds.
"""

from __future__ import annotations

from typing import Literal

import jax
import jax.numpy as jnp
import optax
from flax import struct

from rlx.agent import env_time_limit
from rlx.agents.shared import onpolicy
from rlx.fields import static
from rlx.policies import MLP, make_policy
from rlx.rollout import ObsStats, episode_discount, gae


@struct.dataclass
class Config:
    num_envs: int = static(4)  # N parallel envs
    num_steps: int = static(128)  # T steps each an update
    epochs: int = static(4)
    minibatches: int = static(4)
    hidden: tuple[int, ...] = static((64, 64))
    policy: Literal["auto", "tabular", "mlp"] = static("auto")
    normalize_obs: bool = static(False)
    lr: float = 2.5e-4
    lr_decay_iterations: float = 0.0  # K > 0: lr falls linearly to 0 over K updates; 0: constant
    discount: float | None = None  # γ; None = the env's own, else 0.99
    gae_lambda: float = 0.95
    clip: float = 0.2  # ε
    reward_scale: float = 1.0  # rewards are multiplied by this before GAE (Brax's reward_scaling)
    value_coef: float = 0.5  # c_v
    entropy_coef: float = 0.01  # c_e
    clip_value: bool = static(True)  # also clip V to V_old ± ε in the value loss (ppo2, PureJaxRL, CleanRL)
    max_grad_norm: float = 0.5
    init_log_std: float = 0.0


PRESETS = {"ppo": {}}  # registry name -> the Config fields it sets
# On locomotion: Brax's own PPO trainer (brax/training/agents/ppo with its published hopper settings: γ 0.97,
# lr 3e-4, reward × 10, obs normalisation, 4 epochs), with 128 envs × 32 steps in 8 minibatches for a CPU.
LOCOMOTION = {"num_envs": 128, "num_steps": 32, "minibatches": 8, "lr": 3e-4, "discount": 0.97,
              "reward_scale": 10.0, "normalize_obs": True}
FAMILY_DEFAULTS = {"ppo": {"locomotion": LOCOMOTION}}
METRICS = ("episode_return", "entropy", "value_loss", "clip_fraction", "transitions")
eval_horizon = env_time_limit


State = onpolicy.State  # params {"policy", "value"}, opt_state, obs_stats, envs, t


@struct.dataclass
class Batch:
    """The optimisation's data, one row a step (a minibatch is rows of it)."""

    obs: jax.Array  # normalised s_t
    action: jax.Array
    logp_old: jax.Array  # log π_old(a_t|s_t)
    advantage: jax.Array  # GAE Â_t
    target: jax.Array  # the value target Â_t + V_old(s_t)
    value_old: jax.Array  # V_old(s_t)


def env_steps_per_update(env, config: Config) -> int:
    return config.num_envs * config.num_steps


def policy(env, config: Config):
    return make_policy(env, config.policy, config.hidden, init_log_std=config.init_log_std)


def _value_net(env, config: Config):
    pi = policy(env, config)
    return MLP(config.hidden, 1, obs_ndim=len(pi.obs_shape), out_scale=1.0)


def _optimizer(config: Config) -> optax.GradientTransformation:
    # optax.flatten: the clip and Adam act on one vector of all parameters, a few fused
    # kernels a minibatch instead of a few per parameter array (the same arithmetic).
    return optax.flatten(optax.chain(optax.clip_by_global_norm(config.max_grad_norm), optax.scale_by_adam(eps=1e-5)))


def _normalize(stats: ObsStats, obs, config: Config):
    return stats.normalize(obs, config.normalize_obs)


def init(key: jax.Array, env, config: Config) -> State:
    pi = policy(env, config)
    policy_key, value_key, env_key = jax.random.split(key, 3)
    dummy = jnp.zeros(pi.obs_shape, pi.obs_dtype)
    params = {"policy": pi.init(policy_key), "value": _value_net(env, config).init(value_key, dummy)}
    return State(params=params, opt_state=_optimizer(config).init(params),
                 obs_stats=ObsStats.create(pi.obs_shape, pi.obs_dtype),
                 envs=onpolicy.reset(env_key, env, config.num_envs), t=jnp.zeros((), jnp.int32))


def act(key, state: State, obs, env, config: Config, deterministic: bool = True):
    pi = policy(env, config)
    x = _normalize(state.obs_stats, obs, config)
    return pi.mode(state.params["policy"], x) if deterministic else pi.sample(key, state.params["policy"], x)


def _loss(params, batch: Batch, env, config: Config):
    pi = policy(env, config)
    value_net = _value_net(env, config)
    obs, target, value_old = batch.obs, batch.target, batch.value_old
    logp, entropy = pi.log_prob_entropy(params["policy"], obs, batch.action)
    ratio = jnp.exp(logp - batch.logp_old)
    adv = (batch.advantage - batch.advantage.mean()) / (batch.advantage.std() + 1e-8)
    surrogate = jnp.minimum(ratio * adv, jnp.clip(ratio, 1.0 - config.clip, 1.0 + config.clip) * adv)
    value = value_net.apply(params["value"], obs)[..., 0]
    value_loss = (value - target) ** 2
    if config.clip_value:
        clipped = value_old + jnp.clip(value - value_old, -config.clip, config.clip)
        value_loss = jnp.maximum(value_loss, (clipped - target) ** 2)
    value_loss = 0.5 * jnp.mean(value_loss)
    entropy = jnp.mean(entropy)
    loss = -jnp.mean(surrogate) + config.value_coef * value_loss - config.entropy_coef * entropy
    clip_fraction = jnp.mean(jnp.abs(ratio - 1) > config.clip)
    return loss, {"value_loss": value_loss, "entropy": entropy, "clip_fraction": clip_fraction}


def update(key: jax.Array, state: State, env, config: Config):
    pi = policy(env, config)
    value_net = _value_net(env, config)
    discount = episode_discount(env, config.discount)
    rollout_key, shuffle_key = jax.random.split(key)
    stats = state.obs_stats

    def sample(k, obs):
        return pi.sample(k, state.params["policy"], _normalize(stats, obs, config))

    tr, envs, episode_return = onpolicy.rollout(rollout_key, env, sample, state.envs, config.num_steps)
    x, next_x = _normalize(stats, tr.obs, config), _normalize(stats, tr.next_obs, config)
    v = lambda o: value_net.apply(state.params["value"], o)[..., 0]
    value_old = v(x)
    adv, target = gae(config.reward_scale * tr.reward, value_old, v(next_x), tr.terminated.astype(jnp.float32),
                      tr.truncated, discount, config.gae_lambda)
    logp_old = pi.log_prob(state.params["policy"], x, tr.action)

    data = jax.tree.map(lambda a: a.reshape(-1, *a.shape[2:]),
                        Batch(obs=x, action=tr.action, logp_old=logp_old, advantage=adv, target=target,
                              value_old=value_old))
    opt = _optimizer(config)
    decay = config.lr_decay_iterations
    lr = config.lr * jnp.where(decay > 0, jnp.clip(1.0 - state.t / jnp.maximum(decay, 1.0), 0.0, 1.0), 1.0)

    def minibatch(carry, batch: Batch):
        params, opt_state = carry
        grads, info = jax.grad(_loss, has_aux=True)(params, batch, env, config)
        direction, opt_state = opt.update(grads, opt_state)
        params = jax.tree.map(lambda p, d: p - lr * d, params, direction)
        return (params, opt_state), info

    (params, opt_state), info = onpolicy.minibatch_epochs(shuffle_key, (state.params, state.opt_state), data,
                                                          minibatch, config.epochs, config.minibatches)
    state = State(params=params, opt_state=opt_state, obs_stats=stats.update(tr.obs, config.normalize_obs), envs=envs,
                  t=state.t + 1)
    metrics = {
        "episode_return": episode_return,
        "transitions": jnp.asarray(config.num_envs * config.num_steps, jnp.float32),
        **jax.tree.map(jnp.mean, info),
    }
    return state, metrics
