"""Deep WPO / SPO: a policy network fitted to the closed-form trust-region
target, advantages from a learned Q critic; discrete actions, or continuous
ones discretised per dimension.

Song, He, Ding, Zhao, "Provably Convergent Policy Optimization via
Metric-aware Trust Region Methods", TMLR 2023 — the practical on-policy
algorithm (experiments/wpo/REFERENCE.md A4); the closed forms (W3)/(S3) and
the duals are in `rlx.agents.shared.trust`.  One update:

  1. N envs × T steps with π_θ (auto-reset, as PPO).
  2. Q_φ(s, a) regressed on the TD(λ) return of the taken action: GAE with
     V(s) = Σ_a π_θ(a|s) Q_φ(s, a) (a truncation bootstraps from the final
     observation), E epochs × M minibatches.
  3. A(s, ·) = Q_φ(s, ·) − V(s) at every sampled state, divided by its batch
     standard deviation (the authors' code normalises advantages per batch).
  4. The target π*(·|s) = WPO/SPO(π_θ(·|s), A(s, ·)) with β from the dual over
     the batch's states (each weighted 1/(N T)), or fixed / decaying.
  5. π_θ fitted to stop_gradient(π*) for E epochs × M minibatches: squared
     error between the probability vectors (the authors' code; their target
     is not stop-gradiented, ours is on purpose) or KL(π*‖π_θ).

Continuous actions (a box of D dimensions) [decision: neither the paper nor
its code gives a discretisation, REFERENCE.md A4].  Each dimension gets K
evenly spaced bins over its bounds and its own categorical, π(a|s) =
Π_d π_d(a_d|s); the critic has one head per dimension, Q_d(s, k) ≈
E[G | s, a_d = bin k] (the taken bin's head regressed on the same return), so
A_d(s, ·) is the dimension's marginal advantage.  With a cost additive over
dimensions the Wasserstein distance of product policies is the sum of the
per-dimension distances, so the dual sums over (state, dimension) pairs and
each dimension takes its own closed-form step.  The default cost for bins is
|i − j| in bins (the transport distance along the axis in units of one bin);
for discrete actions 0/1.
"""

from __future__ import annotations

from typing import Literal

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from rlx.agent import env_time_limit
from rlx.agents.shared import onpolicy
from rlx.agents.shared import trust
from rlx.fields import ConfigError, static
from rlx.policies import MLP
from rlx.rollout import ObsStats, episode_discount, gae


@struct.dataclass
class Config:
    method: Literal["wpo", "spo"] = static("wpo")  # Wasserstein or Sinkhorn
    cost: Literal["auto", "zero_one", "index"] = static("auto")  # auto: 1[i≠j] for discrete, |i−j| for bins
    beta_schedule: Literal["dual", "fixed", "decay"] = static("dual")  # the dual's minimiser for δ; β; β/(k+1)²
    fit: Literal["kl", "mse"] = static("kl")  # "kl": KL(π*‖π_θ), or "mse" [authors' code] (why: experiments/wpo)
    bins: int = static(11)  # K bins per action dimension (continuous actions only) [untuned; Tang & Agrawal 2020 use 11]
    num_envs: int = static(8)  # [rlx's choice, untuned]
    num_steps: int = static(64)
    epochs: int = static(4)  # for the critic and for the policy fit
    minibatches: int = static(4)
    hidden: tuple[int, ...] = static((64, 64))  # [authors' code: 64, 64 tanh]
    normalize_obs: bool = static(False)
    delta: float = 0.02  # δ over the batch's states, summed over action dimensions [rlx's choice: experiments/wpo]
    delta_per_dimension: bool = static(False)  # True: δ is each action dimension's, the region D·δ
    beta: float = 1.0  # β for "fixed" and "decay"
    warm_start: bool = static(True)  # SPO's dual searched from the last β (16 log-bisections), not cold (40)
    lam: float = 5.0  # SPO's λ [authors' Taxi run: 5.5]
    lr: float = 1e-3  # Adam, both networks [authors' code: 1e-2]
    max_grad_norm: float = 0.5
    reward_scale: float = 1.0
    discount: float | None = None
    gae_lambda: float = 0.95


PRESETS = {"wpo_deep": {}, "spo_deep": {"method": "spo", "delta": 0.05}}  # registry name -> the fields it sets
# On locomotion: PPO's locomotion batch, discount and observation normalisation (rlx.agents.ppo.LOCOMOTION),
# 11 bins an action dimension.
LOCOMOTION = {"num_envs": 128, "num_steps": 32, "minibatches": 8, "lr": 3e-4, "discount": 0.97,
              "normalize_obs": True}
# WPO's δ on locomotion: 0.5 (halfcheetah 1,056 ± 159 against −30 ± 8 at 0.02; hopper 322 ± 131 and walker2d
# 210 ± 31, level with 0.02's 309 ± 22 and 225 ± 63: experiments/wpo/results/delta_sweep_<env>.md).
FAMILY_DEFAULTS = {"wpo_deep": {"locomotion": {**LOCOMOTION, "delta": 0.5}},
                   "spo_deep": {"locomotion": {**LOCOMOTION, "delta": 0.05}}}
METRICS = ("episode_return", "actor_loss", "critic_loss", "entropy", "beta", "transport", "transitions")
eval_horizon = env_time_limit


@struct.dataclass
class State(onpolicy.State):
    """onpolicy.State (params {"policy", "q"}, opt_state {"policy", "q"},
    obs_stats, envs, t) and the last iteration's β (0 before the first)."""

    beta: jax.Array


@struct.dataclass
class Actions:
    """The action space as D independent categoricals of K choices.
    `bins` [D, K] maps choices to a box's values; None for a discrete space."""

    dims: int = struct.field(pytree_node=False)
    choices: int = struct.field(pytree_node=False)
    bins: jax.Array | None = None

    def to_env(self, idx):  # [..., D] choices -> the env's action
        if self.bins is None:
            return idx[..., 0]
        return jnp.take_along_axis(jnp.broadcast_to(self.bins, idx.shape + (self.choices,)), idx[..., None], -1)[..., 0]

    def from_env(self, action):  # the env's action -> [..., D] choices
        if self.bins is None:
            return action[..., None].astype(jnp.int32)
        return jnp.argmin(jnp.abs(action[..., None] - self.bins), -1).astype(jnp.int32)


def actions(env, config: Config) -> Actions:
    space = env.action_space(env.default_params)
    if isinstance(space, gymnasium.spaces.Discrete):
        return Actions(dims=1, choices=int(space.n))
    if not isinstance(space, gymnasium.spaces.Box):
        raise ConfigError(f"deep WPO/SPO needs a discrete or box action space, got {space}")
    if len(space.shape) != 1:
        raise ConfigError(f"deep WPO/SPO discretises a one-dimensional box of actions, got shape {space.shape}")
    if config.bins < 2:
        raise ConfigError(f"bins must be at least 2, got {config.bins}")
    low = np.broadcast_to(np.asarray(space.low, np.float32), space.shape).reshape(-1)
    high = np.broadcast_to(np.asarray(space.high, np.float32), space.shape).reshape(-1)
    if not np.all(np.isfinite(low) & np.isfinite(high)):
        raise ConfigError("deep WPO/SPO discretises a box with finite bounds only")
    steps = np.linspace(0.0, 1.0, config.bins, dtype=np.float32)
    return Actions(dims=int(low.shape[0]), choices=config.bins,
                   bins=jnp.asarray(low[:, None] + (high - low)[:, None] * steps))


def _obs_shape(env):
    space = env.observation_space(env.default_params)
    return tuple(space.shape), jnp.dtype(getattr(space, "dtype", jnp.float32))


def _nets(env, config: Config):
    acts = actions(env, config)
    obs_ndim = len(_obs_shape(env)[0])
    out = acts.dims * acts.choices
    return MLP(config.hidden, out, obs_ndim=obs_ndim), MLP(config.hidden, out, obs_ndim=obs_ndim, out_scale=1.0)


def _cost_kind(config: Config, acts: Actions) -> str:
    return config.cost if config.cost != "auto" else ("zero_one" if acts.bins is None else "index")


def _cost(config: Config, acts: Actions):
    return trust.cost_matrix(_cost_kind(config, acts), acts.choices)


def env_steps_per_update(env, config: Config) -> int:
    return config.num_envs * config.num_steps


def _optimizer(config: Config):
    return optax.chain(optax.clip_by_global_norm(config.max_grad_norm), optax.adam(config.lr))


def init(key, env, config: Config) -> State:
    policy_net, q_net = _nets(env, config)
    shape, dtype = _obs_shape(env)
    k_pi, k_q, k_env = jax.random.split(key, 3)
    dummy = jnp.zeros(shape, dtype)
    params = {"policy": policy_net.init(k_pi, dummy), "q": q_net.init(k_q, dummy)}
    opt = _optimizer(config)
    opt_state = {name: opt.init(p) for name, p in params.items()}  # one Adam a network: no momentum leaks across
    return State(params=params, opt_state=opt_state, obs_stats=ObsStats.create(shape, dtype),
                 envs=onpolicy.reset(k_env, env, config.num_envs), t=jnp.zeros((), jnp.int32),
                 beta=jnp.zeros((), jnp.float32))


def _heads(env, config: Config, net: str, params, obs):
    """The policy's logits or the critic's Q, [..., D, K]."""
    acts = actions(env, config)
    module = _nets(env, config)[0 if net == "policy" else 1]
    out = module.apply(params[net], obs)
    return out.reshape(out.shape[:-1] + (acts.dims, acts.choices))


def _logits(env, config: Config, params, obs):
    return _heads(env, config, "policy", params, obs)


def act(key, state: State, obs, env, config: Config, deterministic: bool = True):
    logits = _logits(env, config, state.params, state.obs_stats.normalize(obs, config.normalize_obs))
    idx = jnp.argmax(logits, -1) if deterministic else jax.random.categorical(key, logits)
    return actions(env, config).to_env(idx.astype(jnp.int32))


def _minibatch_epochs(key, params, opt_state, name, data, loss, config: Config):
    """E epochs of M shuffled minibatches of `data` (leading axis = samples),
    training params[name] with its own optimiser state opt_state[name]."""
    opt = _optimizer(config)

    def step(carry, batch):
        sub, sub_state = carry
        value, grads = jax.value_and_grad(lambda p: loss({**params, name: p}, batch))(sub)
        updates, sub_state = opt.update(grads, sub_state, sub)
        return (optax.apply_updates(sub, updates), sub_state), value

    (sub, sub_state), losses = onpolicy.minibatch_epochs(key, (params[name], opt_state[name]), data, step,
                                                         config.epochs, config.minibatches)
    return {**params, name: sub}, {**opt_state, name: sub_state}, jnp.mean(losses)


def target(probs, adv, cost, config: Config, t, warm_beta=None):
    """The closed-form trust-region step of probs/adv [B, D, K] and its β.

    The dual weights every (state, dimension) row by 1/B, so the trust region
    bounds the batch mean over states of the sum over dimensions (δ, or D·δ
    with `delta_per_dimension`)."""
    batch, dims, choices = probs.shape
    if config.delta_per_dimension:
        config = config.replace(delta=config.delta * dims)
    goal, beta = trust.step(probs.reshape(-1, choices), adv.reshape(-1, choices), cost,
                            jnp.full((batch * dims,), 1.0 / batch), config, t, warm_beta)
    return goal.reshape(probs.shape), beta


def transport(new, old, cost_kind: str):
    """The batch mean over states of Σ_d W(new_d, old_d) [B, D, K]: for the
    cost |i − j| the 1-d Wasserstein distance Σ_k |F_new(k) − F_old(k)| (F the
    CDFs), for 1[i ≠ j] the total variation."""
    if cost_kind == "index":
        per_row = jnp.sum(jnp.abs(jnp.cumsum(new - old, -1)), -1)
    else:
        per_row = 0.5 * jnp.sum(jnp.abs(new - old), -1)
    return jnp.mean(jnp.sum(per_row, -1))


def update(key, state: State, env, config: Config):
    acts = actions(env, config)
    discount = episode_discount(env, config.discount)
    k_roll, k_q, k_pi = jax.random.split(key, 3)
    stats = state.obs_stats
    norm = lambda o: stats.normalize(o, config.normalize_obs)

    def sample(k, obs):
        idx = jax.random.categorical(k, _logits(env, config, state.params, norm(obs)))
        return acts.to_env(idx.astype(jnp.int32))

    tr, envs, episode_return = onpolicy.rollout(k_roll, env, sample, state.envs, config.num_steps)
    probs_of = lambda p, o: jax.nn.softmax(_logits(env, config, p, o))
    q_of = lambda p, o: _heads(env, config, "q", p, o)
    value_of = lambda p, o: jnp.mean(jnp.sum(probs_of(p, o) * q_of(p, o), -1), -1)

    # 2. the critic: Q(s_t, a_t) (every dimension's head at its taken bin) on the TD(λ) return
    x, next_x = norm(tr.obs), norm(tr.next_obs)
    _, returns = gae(config.reward_scale * tr.reward, value_of(state.params, x), value_of(state.params, next_x),
                     tr.terminated.astype(jnp.float32), tr.truncated, discount, config.gae_lambda)
    flat = lambda a: a.reshape(-1, *a.shape[2:])
    x, idx, returns = flat(x), flat(acts.from_env(tr.action)), flat(returns)

    def q_loss(params, batch):
        o, i, y = batch
        q = jnp.take_along_axis(q_of(params, o), i[..., None], -1)[..., 0]  # [B, D]
        return 0.5 * jnp.mean((q - y[:, None]) ** 2)

    params, opt_state, critic_loss = _minibatch_epochs(k_q, state.params, state.opt_state, "q",
                                                       (x, idx, returns), q_loss, config)

    # 3–4. advantages of every choice and the closed-form target, per (state, dimension)
    probs = probs_of(state.params, x)  # [B, D, K]
    q = q_of(params, x)
    adv = q - jnp.sum(probs * q, -1, keepdims=True)
    adv = adv / (jnp.std(adv) + 1e-8)
    goal, beta = target(probs, adv, _cost(config, acts), config, state.t, state.beta if config.warm_start else None)
    goal = jax.lax.stop_gradient(goal)

    # 5. fit π_θ to the target
    def pi_loss(params, batch):
        o, g = batch
        p = probs_of(params, o)
        if config.fit == "mse":
            return jnp.mean(jnp.sum((p - g) ** 2, -1))
        return -jnp.mean(jnp.sum(g * jax.nn.log_softmax(_logits(env, config, params, o)), -1))  # "kl"

    params, opt_state, actor_loss = _minibatch_epochs(k_pi, params, opt_state, "policy", (x, goal), pi_loss, config)

    entropy = -jnp.mean(jnp.sum(probs * jnp.log(probs + 1e-12), -1))
    metrics = {"episode_return": episode_return, "beta": beta, "critic_loss": critic_loss,
               # what the fitted policy moved at the batch's states, in cost units (bins for |i − j|)
               "transport": transport(probs_of(params, x), probs, _cost_kind(config, acts)),
               "actor_loss": actor_loss, "entropy": entropy, "transitions": jnp.asarray(x.shape[0], jnp.float32)}
    return State(params=params, opt_state=opt_state, obs_stats=stats.update(tr.obs, config.normalize_obs), envs=envs,
                 t=state.t + 1, beta=jnp.asarray(beta, jnp.float32)), metrics
