"""WPO and SPO, tabular form: the policy is a table π[s, a] updated in closed
form inside a Wasserstein (WPO) or Sinkhorn (SPO) trust region, or a KL one
for comparison.

Song, He, Ding, Zhao, "Provably Convergent Policy Optimization via
Metric-aware Trust Region Methods", TMLR 2023: the trust-region problem, its
closed forms and duals are in `rlx.agents.shared.trust` (labels (W1)–(W3), (S1)–(S3) of
experiments/wpo/REFERENCE.md, and docs/algorithms.md, "WPO and SPO (tabular)").  Each iteration,
as the authors' tabular code (github efficientwpo/EfficientWPO, tabular/):

    A_k(s, a)  sampled (the default): N episodes of π_k; A_t = G_t − V̂(s_t),
               G_t the discounted return-to-go and V̂ a critic carried across
               batches (the authors' three tanh layers of 10, 7 and 5 units on
               the scalar state index, Adam, 10 epochs on this batch and the
               previous one, fitted AFTER the advantages are taken); then
               (A − mean)/(std + 1e-6) over the batch (`normalize`), averaged
               per pair; unvisited pairs get A = 0 — or exact (rlx.exact,
               `advantages="exact"`), the oracle
    w_k(s)     the unnormalised discounted visitation of π_k (discounted visit
               counts per episode, or exact)
    β_k        `beta_schedule`: "dual" (the dual's minimiser for trust region
               δ, every iteration: rlx's default), "fixed" β, "decay"
               β/(⌊e/1000⌋ + 1)² (e the episodes so far, the code's decay),
               or "dual_then_fixed" (the authors' WPO runs: the dual while
               e ≤ `dual_episodes`, then β ± `beta_jitter`)
    π_{k+1}    WPO (exact solution, mass split at the breakpoint), SPO with λ,
               or KL: π_k exp(A/β), each with its own dual's β

`OFFICIAL` holds the authors' settings per env (experiments/wpo/tabular.py).
"""

from __future__ import annotations

import math
from typing import Literal

import jax
import jax.numpy as jnp
import optax
from flax import struct

from rlx import estimators, exact
from rlx.agents.shared import trust
from rlx.fields import ConfigError, static
from rlx.rollout import collect_episodes, episode_discount, episode_horizon


@struct.dataclass
class Config:
    method: Literal["wpo", "spo", "kl"] = static("wpo")  # Wasserstein, Sinkhorn, or KL for comparison
    advantages: Literal["sampled", "exact"] = static("sampled")  # from N episodes and a critic, or the oracle's
    cost: Literal["zero_one", "index"] = static("zero_one")  # d(a_i, a_j): "zero_one" = 1[i≠j], "index" = |i−j|
    beta_schedule: Literal["dual", "fixed", "decay", "dual_then_fixed"] = static("dual")  # see the module docstring
    delta: float = 0.1  # δ, the trust region (official code 0.01; rlx's 0.1: experiments/wpo)
    beta: float = 1.0  # β for "fixed", "decay" and after the dual of "dual_then_fixed"
    beta_jitter: float = 0.0  # "dual_then_fixed": β drawn uniform in β ± this (official Taxi WPO: 2 ± 0.4)
    beta_cap: float = 0.0  # > 0: the dual searched on [0, cap] only (the official dual_annealing: [0, 4])
    dual_episodes: int = static(1000)  # "dual_then_fixed": the dual while the episodes so far are ≤ this
    decay_episodes: int = static(1000)  # "decay": β/(⌊episodes/this⌋ + 1)²
    lam: float = 5.0  # SPO's λ (inverse entropic temperature) [official Taxi run: 5.5]
    normalize: bool = static(True)  # sampled A ← (A − mean)/(std + 1e-6) over the batch, as the authors' code
    value_lr: float = 1e-2 / math.sqrt(7)  # the critic's Adam step (the authors' rule 1e-2/√(hidden 2) = 0.0038)
    value_epochs: int = static(10)  # the critic's passes over this batch and the previous one
    num_envs: int = static(10)  # N episodes an iteration (sampled advantages; also the logged return)
    horizon: int = static(0)  # H; 0 = the env's time limit
    discount: float | None = None  # γ; None = the MDP's own


PRESETS = {"wpo": {}, "spo": {"method": "spo"}}  # registry name -> the Config fields it sets
FAMILY_DEFAULTS: dict = {}
METRICS = ("episode_return", "episode_length", "J", "beta", "transitions")

# The authors' tabular runs (efficientwpo/EfficientWPO tabular/: train_drpo_tabular.ipynb, dr_policy.py;
# SPO's and the step counts from kadysongbb/efficient-wpo, the authors' copy with the logs behind the
# figures): γ 0.9, episodes run to their time limit (Taxi-v3 200, NChain-v0 1000, CliffWalking-v0 none).
OFFICIAL = {
    "taxi": {"num_envs": 60, "episodes": 5040,
             "wpo": {"beta_schedule": "dual_then_fixed", "delta": 0.01, "beta_cap": 4.0, "beta": 2.0,
                     "beta_jitter": 0.4},
             "spo": {"method": "spo", "beta_schedule": "fixed", "beta": 3.0, "lam": 5.5},
             "kl": {"method": "kl", "beta_schedule": "fixed", "beta": 1.0}},
    "nchain": {"num_envs": 1, "episodes": 1000,
               "wpo": {"beta_schedule": "dual_then_fixed", "delta": 0.01, "beta_cap": 4.0, "beta": 0.5},
               "spo": {"method": "spo", "beta_schedule": "fixed", "beta": 0.8, "lam": 50.0},
               "kl": {"method": "kl", "beta_schedule": "fixed", "beta": 1.0}},
    "cliffwalking": {"num_envs": 3, "episodes": 3000,
                     "wpo": {"beta_schedule": "dual_then_fixed", "delta": 0.01, "beta_cap": 4.0, "beta": 0.5},
                     "kl": {"method": "kl", "beta_schedule": "fixed", "beta": 1.0}},
}


def official(method: str, env_name: str) -> "Config":
    """The authors' Config for `method` ("wpo", "spo", "kl") on `env_name`."""
    row = OFFICIAL[env_name]
    if method not in row:
        raise ConfigError(f"the authors ran no tabular {method} on {env_name}")
    return Config(num_envs=row["num_envs"], discount=0.9, **row[method])


def eval_horizon(env, config: Config) -> int:
    return episode_horizon(env, config.horizon)


VALUE_LAYERS = (10, 7, 5)  # the authors' critic on a 1-d input: 10·1, ⌊√(10·5)⌋, 5 tanh units
VALUE_WINDOW = 512  # the widest minibatch: the authors' size n // max(n // 256, 1) is below 512


@struct.dataclass
class State:
    probs: jax.Array  # π[s, a]
    t: jax.Array
    value: tuple  # V̂'s ((kernel, bias), …)
    value_opt: optax.OptState
    previous: tuple  # the last batch (states, returns-to-go, mask), flat: V̂ is fitted on it too


def env_steps_per_update(env, config: Config) -> int:
    return config.num_envs * episode_horizon(env, config.horizon)


def _value_optimizer(config: Config) -> optax.GradientTransformation:
    return optax.adam(config.value_lr, eps=1e-7)  # Keras' Adam, as the authors' critic


def value_init(key: jax.Array) -> tuple:
    """Glorot-uniform kernels and zero biases (Keras' Dense defaults)."""
    sizes = (1, *VALUE_LAYERS, 1)
    keys = jax.random.split(key, len(sizes) - 1)
    init = jax.nn.initializers.glorot_uniform()
    return tuple((init(k, (n_in, n_out)), jnp.zeros(n_out)) for k, n_in, n_out in zip(keys, sizes[:-1], sizes[1:]))


def value_apply(params: tuple, states: jax.Array) -> jax.Array:
    x = states.astype(jnp.float32)[..., None]  # the raw state index, as the authors' critic reads it
    for kernel, bias in params[:-1]:
        x = jnp.tanh(x @ kernel + bias)
    kernel, bias = params[-1]
    return (x @ kernel + bias)[..., 0]


def fit_value(key, params, opt_state, states, targets, mask, batch_count, config: Config):
    """Squared-error Adam on the valid (mask 1) entries: `value_epochs` ×
    ⌈count/b⌉ minibatches of b = n // max(n // 256, 1), n = `batch_count`
    (this batch's size), as the authors' Keras `fit`, except that each
    minibatch is drawn with replacement instead of from a shuffled pass (no
    sort of a padded batch of up to 10⁵ entries an epoch)."""
    optimizer = _value_optimizer(config)
    size = states.shape[0]
    count = jnp.sum(mask).astype(jnp.int32)
    valid = jnp.zeros(size, jnp.int32).at[jnp.where(mask > 0, jnp.cumsum(mask > 0) - 1, size)].set(
        jnp.arange(size), mode="drop")  # the valid entries' indices first
    batch = jnp.maximum(batch_count // jnp.maximum(batch_count // 256, 1), 1)
    steps = config.value_epochs * ((count + batch - 1) // batch)
    window = max(min(VALUE_WINDOW, size // 2), 1)  # batch ≤ this batch's size, half of `size`
    weight = (jnp.arange(window) < batch).astype(jnp.float32)

    def loss(p, idx):
        err = value_apply(p, states[idx]) - targets[idx]
        return jnp.sum(weight * err**2) / jnp.sum(weight)

    def minibatch(i, c):
        p, o = c
        idx = valid[jax.random.randint(jax.random.fold_in(key, i), (window,), 0, jnp.maximum(count, 1))]
        updates, o = optimizer.update(jax.grad(loss)(p, idx), o, p)
        return optax.apply_updates(p, updates), o

    return jax.lax.fori_loop(0, steps, minibatch, (params, opt_state))


def init(key: jax.Array, env, config: Config) -> State:
    mdp = env.tabular_mdp()
    if mdp is None:
        raise ConfigError("wpo/spo keep a policy table and need a tabular MDP (nchain, cliffwalking, taxi, …); "
                         "for other envs use wpo_deep or spo_deep")
    value = value_init(key)
    size = config.num_envs * episode_horizon(env, config.horizon)
    previous = (jnp.zeros(size, jnp.int32), jnp.zeros(size), jnp.zeros(size))  # mask 0: no previous batch yet
    return State(probs=jnp.full((mdp.num_states, mdp.num_actions), 1.0 / mdp.num_actions),
                 t=jnp.zeros((), jnp.int32), value=value, value_opt=_value_optimizer(config).init(value),
                 previous=previous)


def act(key, state: State, obs, env, config: Config, deterministic: bool = True):
    if deterministic:
        return jnp.argmax(state.probs[obs], axis=-1).astype(jnp.int32)
    return jax.random.categorical(key, jnp.log(state.probs[obs])).astype(jnp.int32)


def sampled_advantages(traj, values, num_states: int, num_actions: int, discount, normalize: bool = True):
    """A(s, a) and w(s) from episodes: A_t = G_t − V̂(s_t) (`values` [N, H]),
    standardised over the batch, averaged per (s, a) (0 where unvisited);
    w = discounted visits per episode."""
    mask = traj.mask.reshape(-1)
    sample_adv = (estimators.restarted_returns(traj, discount) - values).reshape(-1)
    if normalize:  # (A − mean)/(std + 1e-6) over the batch's steps
        count = jnp.maximum(jnp.sum(mask), 1.0)
        mean = jnp.sum(mask * sample_adv) / count
        std = jnp.sqrt(jnp.sum(mask * (sample_adv - mean) ** 2) / count)
        sample_adv = (sample_adv - mean) / (std + 1e-6)
    s, a = traj.obs.reshape(-1), traj.action.reshape(-1)
    pair_visits = jnp.zeros((num_states, num_actions)).at[s, a].add(mask)
    adv = jnp.zeros((num_states, num_actions)).at[s, a].add(mask * sample_adv) / jnp.maximum(pair_visits, 1.0)
    powers = discount ** jnp.arange(traj.mask.shape[-1], dtype=jnp.float32)
    weights = jnp.zeros(num_states).at[s].add(mask * jnp.broadcast_to(powers, traj.mask.shape).reshape(-1))
    return adv, weights / traj.mask.shape[0]


def _dual_step(probs, adv, cost, weights, config: Config):
    new, beta = trust.step(probs, adv, cost, weights, config.replace(beta_schedule="dual"), 0)
    if config.beta_cap > 0:  # the dual searched on [0, cap] (convex in β: its minimiser there is min(β*, cap))
        capped, _ = trust.step(probs, adv, cost, weights, config.replace(beta_schedule="fixed", beta=config.beta_cap), 0)
        new, beta = jnp.where(beta > config.beta_cap, capped, new), jnp.minimum(beta, config.beta_cap)
    return new, beta


def _beta_step(key, probs, adv, cost, weights, config: Config, episodes):
    """(π_{k+1}, β) by `config.beta_schedule`; `episodes` counts this batch's too."""
    if config.beta_schedule == "dual":
        return _dual_step(probs, adv, cost, weights, config)
    if config.beta_schedule == "dual_then_fixed":
        beta = config.beta + config.beta_jitter * jax.random.uniform(key, minval=-1.0, maxval=1.0)
        fixed = trust.step(probs, adv, cost, weights, config.replace(beta_schedule="fixed", beta=beta), 0)
        dual = _dual_step(probs, adv, cost, weights, config)
        return jax.tree.map(lambda d, f: jnp.where(episodes <= config.dual_episodes, d, f), dual, fixed)
    return trust.step(probs, adv, cost, weights, config, episodes // config.decay_episodes)  # "fixed", "decay"


def update(key: jax.Array, state: State, env, config: Config):
    mdp = env.default_params
    discount = episode_discount(env, config.discount)
    horizon = episode_horizon(env, config.horizon)
    rollout_key, value_key, beta_key = jax.random.split(key, 3)
    probs = state.probs
    traj = collect_episodes(rollout_key, env, mdp, lambda k, obs: act(k, state, obs, env, config, deterministic=False),
                            config.num_envs, horizon)
    value, value_opt, previous = state.value, state.value_opt, state.previous
    if config.advantages == "exact":
        q = exact.q_values(mdp.replace(discount=jnp.asarray(discount, jnp.float32)), probs)
        adv = q - jnp.sum(probs * q, -1, keepdims=True)
        weights = exact.occupancy(mdp.replace(discount=jnp.asarray(discount, jnp.float32)), probs,
                                  horizon=None).sum(-1)
    else:  # "sampled": V̂ as it stands, then fitted on this batch and the previous one
        adv, weights = sampled_advantages(traj, value_apply(value, traj.obs), mdp.num_states, mdp.num_actions,
                                          discount, config.normalize)
        batch = (traj.obs.reshape(-1), estimators.restarted_returns(traj, discount).reshape(-1), traj.mask.reshape(-1))
        both = jax.tree.map(lambda x, y: jnp.concatenate([x, y]), batch, previous)
        value, value_opt = fit_value(value_key, value, value_opt, *both, jnp.sum(batch[2]).astype(jnp.int32),
                                     config)
        previous = batch
    episodes = (state.t + 1) * config.num_envs  # the authors' count after this batch
    new, beta = _beta_step(beta_key, probs, adv, trust.cost_matrix(config.cost, mdp.num_actions), weights, config,
                           episodes)

    metrics = {
        "episode_return": jnp.mean(traj.episode_return),
        "episode_length": jnp.mean(traj.episode_length),
        "transitions": jnp.sum(traj.mask),
        "beta": beta,
        "J": exact.J(mdp, new),  # the new policy's exact J at the MDP's own γ and horizon
    }
    return State(probs=new, t=state.t + 1, value=value, value_opt=value_opt, previous=previous), metrics
