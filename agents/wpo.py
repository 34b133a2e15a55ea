"""WPO and SPO, tabular form: the policy is a table π[s, a] updated in closed
form inside a Wasserstein (WPO) or Sinkhorn (SPO) trust region, or a KL one
for comparison.

Song, He, Ding, Zhao, "Provably Convergent Policy Optimization via
Metric-aware Trust Region Methods", TMLR 2023: the trust-region problem, its
closed forms and duals are in `rlx.agents.shared.trust` (labels (W1)–(W3), (S1)–(S3) of
experiments/wpo/REFERENCE.md, and docs/algorithms.md, "WPO and SPO (tabular)").  Each iteration:

    A_k(s, a)  sampled (the default, as the authors' tabular runs): Monte Carlo
               returns-to-go of N episodes minus the mean return at the state,
               scaled to std 1 over the batch (`normalize`), averaged per pair;
               unvisited pairs get A = 0 (as the authors' code) — or exact
               (rlx.exact, `advantages="exact"`), the oracle
    w_k(s)     the unnormalised discounted visitation of π_k (discounted visit
               counts per episode, or exact)
    β_k        the dual's minimiser for trust region δ (`beta_schedule="dual"`),
               or a fixed β, or β/(k+1)² (the code's decaying schedule, per
               iteration rather than per 1000 episodes)
    π_{k+1}    WPO (exact solution, mass split at the breakpoint), SPO with λ,
               or KL: π_k exp(A/β), each with its own dual's β
"""

from __future__ import annotations

from typing import Literal

import jax
import jax.numpy as jnp
from flax import struct

from rlx import exact
from rlx.agents.shared import trust
from rlx.fields import ConfigError, static
from rlx.rollout import collect_episodes, episode_discount, episode_horizon


@struct.dataclass
class Config:
    method: Literal["wpo", "spo", "kl"] = static("wpo")  # Wasserstein, Sinkhorn, or KL for comparison
    advantages: Literal["sampled", "exact"] = static("sampled")  # from N episodes, or the oracle's (rlx.exact)
    cost: Literal["zero_one", "index"] = static("zero_one")  # d(a_i, a_j): "zero_one" = 1[i≠j], "index" = |i−j|
    beta_schedule: Literal["dual", "fixed", "decay"] = static("dual")  # the dual's minimiser for δ; β; β/(k+1)²
    delta: float = 0.1  # δ, the trust region (official code 0.01; rlx's 0.1: experiments/wpo)
    beta: float = 1.0  # β for "fixed" and "decay"
    lam: float = 5.0  # SPO's λ (inverse entropic temperature) [official Taxi run: 5.5]
    normalize: bool = static(True)  # sampled A divided by its batch std [authors' code: mean 0, std 1]
    num_envs: int = static(10)  # N episodes an iteration (sampled advantages; also the logged return)
    horizon: int = static(0)  # H; 0 = the env's time limit
    discount: float | None = None  # γ; None = the MDP's own


PRESETS = {"wpo": {}, "spo": {"method": "spo"}}  # registry name -> the Config fields it sets
FAMILY_DEFAULTS: dict = {}
METRICS = ("episode_return", "episode_length", "J", "beta", "transitions")


def eval_horizon(env, config: Config) -> int:
    return episode_horizon(env, config.horizon)


@struct.dataclass
class State:
    probs: jax.Array  # π[s, a]
    t: jax.Array


def env_steps_per_update(env, config: Config) -> int:
    return config.num_envs * episode_horizon(env, config.horizon)


def init(key: jax.Array, env, config: Config) -> State:
    mdp = env.tabular_mdp()
    if mdp is None:
        raise ConfigError("wpo/spo keep a policy table and need a tabular MDP (nchain, cliffwalking, taxi, …); "
                         "for other envs use wpo_deep or spo_deep")
    return State(probs=jnp.full((mdp.num_states, mdp.num_actions), 1.0 / mdp.num_actions), t=jnp.zeros((), jnp.int32))


def act(key, state: State, obs, env, config: Config, deterministic: bool = True):
    if deterministic:
        return jnp.argmax(state.probs[obs], axis=-1).astype(jnp.int32)
    return jax.random.categorical(key, jnp.log(state.probs[obs])).astype(jnp.int32)


def sampled_advantages(traj, num_states: int, num_actions: int, discount, normalize: bool = False):
    """A(s, a) and w(s) from episodes: returns-to-go G_t minus their mean over
    the visits to s_t, averaged per (s, a); w = discounted visits per episode."""
    mask = traj.mask

    def back(g_next, x):  # G_t = r_t + γ G_{t+1} inside the episode
        reward, m = x
        g = m * (reward + discount * g_next)
        return g, g

    _, g = jax.lax.scan(back, jnp.zeros(mask.shape[0]), (traj.reward.T, mask.T), reverse=True)
    g = g.T
    powers = discount ** jnp.arange(mask.shape[-1], dtype=jnp.float32)
    s, a = traj.obs.reshape(-1), traj.action.reshape(-1)
    m, g = mask.reshape(-1), g.reshape(-1)
    visits = jnp.zeros(num_states).at[s].add(m)
    value = jnp.zeros(num_states).at[s].add(m * g) / jnp.maximum(visits, 1.0)
    sample_adv = g - value[s]
    if normalize:  # per-sample advantages of the batch scaled to std 1 (they have mean 0 already)
        count = jnp.maximum(jnp.sum(m), 1.0)
        sample_adv = sample_adv / (jnp.sqrt(jnp.sum(m * sample_adv**2) / count) + 1e-8)
    pair_visits = jnp.zeros((num_states, num_actions)).at[s, a].add(m)
    adv = jnp.zeros((num_states, num_actions)).at[s, a].add(m * sample_adv) / jnp.maximum(pair_visits, 1.0)
    weights = jnp.zeros(num_states).at[s].add(m * jnp.broadcast_to(powers, mask.shape).reshape(-1))
    return adv, weights / mask.shape[0]


def update(key: jax.Array, state: State, env, config: Config):
    mdp = env.default_params
    discount = episode_discount(env, config.discount)
    horizon = episode_horizon(env, config.horizon)
    probs = state.probs
    traj = collect_episodes(key, env, mdp, lambda k, obs: act(k, state, obs, env, config, deterministic=False),
                            config.num_envs, horizon)
    if config.advantages == "exact":
        q = exact.q_values(mdp.replace(discount=jnp.asarray(discount, jnp.float32)), probs)
        adv = q - jnp.sum(probs * q, -1, keepdims=True)
        weights = exact.occupancy(mdp.replace(discount=jnp.asarray(discount, jnp.float32)), probs,
                                  horizon=None).sum(-1)
    else:  # "sampled"
        adv, weights = sampled_advantages(traj, mdp.num_states, mdp.num_actions, discount, config.normalize)
    new, beta = trust.step(probs, adv, trust.cost_matrix(config.cost, mdp.num_actions), weights, config, state.t)

    metrics = {
        "episode_return": jnp.mean(traj.episode_return),
        "episode_length": jnp.mean(traj.episode_length),
        "transitions": jnp.sum(traj.mask),
        "beta": beta,
        "J": exact.J(mdp, new),  # the new policy's exact J at the MDP's own γ and horizon
    }
    return State(probs=new, t=state.t + 1), metrics
