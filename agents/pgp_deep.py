"""PGP on continuous tasks: the occupancy's density by a Gaussian mixture.

Wolf, Fatkhullin, He 2026 (docs/algorithms.md, "Deep PGP"): the state
density d̂ is a 16-component diagonal Gaussian mixture (`rlx.agents.shared.density`), so

    log λ̂(s, a) = log d̂(s) + log π(a|s),

the entropy's pseudo-reward is −log λ̂(s, a) − 1, and the penalty adds
−2ρ max(0, ĝ) ∂g/∂λ:

- `constraint="cost"`: g = E_λ[c] − budget with c = −(env reward) (the
  swing-up's |x| > 2 steps), ∂g/∂λ = c;
- `constraint="kl"`: g = KL(λ ‖ λ_ref) − kl_radius, ∂g/∂λ = log λ̂ − log λ_ref + 1,
  λ_ref the occupancy of a zero-mean Gaussian reference policy
  (`reference_std`), its state density fitted once at init.

Each iteration collects `num_envs × num_steps` steps (4096), refits the
mixture from the last one (`em_steps` EM steps), and takes one Adam step on
the policy gradient of the pseudo-reward with a learned value baseline (GAE)
and on the value regression; γ 0.99, 256 × 256 networks.  Step size and
penalty are 1e-3 and 100 (the paper: 3e-4 and 10; why: experiments/README.md,
"Measured notes behind the defaults").

Decisions: λ̂ weighs the visited states uniformly (the on-policy
visitation of the rollouts, not γ^t: an auto-resetting batch does not know
each step's time index); the policy is rlx's Gaussian with the env clipping
the action (the paper: tanh-Gaussian).
"""

from __future__ import annotations

from typing import Literal

import jax
import jax.numpy as jnp
import optax
from flax import struct

from rlx.agent import env_time_limit
from rlx.agents.shared import density, onpolicy
from rlx.fields import ConfigError, static
from rlx.policies import MLP, make_policy
from rlx.rollout import gae


@struct.dataclass
class Config:
    num_envs: int = static(16)
    num_steps: int = static(256)  # 16 × 256 = 4096 steps an iteration [paper]
    hidden: tuple[int, ...] = static((256, 256))  # [paper]
    lr: float = 1e-3  # Adam [paper: 3e-4; with it and ρ 10 the swing-up's violation did not fall in 4·10⁶ steps]
    discount: float = 0.99  # [paper]
    gae_lambda: float = 0.95
    constraint: Literal["cost", "kl", "none"] = static("cost")  # the env's cost, KL(λ ‖ λ_ref), or unconstrained
    budget: float = 0.0  # "cost": E_λ[c] ≤ budget
    kl_radius: float = 1.0  # "kl": KL(λ ‖ λ_ref) ≤ radius
    reference_std: float = static(0.3)  # "kl": the reference policy's action std
    penalty: float = 100.0  # ρ [paper: 10]
    components: int = static(16)  # mixture components [paper]
    em_steps: int = static(5)
    init_log_std: float = 0.0


PRESETS = {"pgp_deep": {}}  # registry name -> the Config fields it sets
FAMILY_DEFAULTS: dict = {}
METRICS = ("episode_return", "entropy", "constraint", "violation", "transitions")
eval_horizon = env_time_limit


@struct.dataclass
class State:
    params: dict
    opt_state: optax.OptState
    mixture: density.Mixture
    reference: density.Mixture  # the reference policy's state density ("kl")
    envs: onpolicy.Envs  # the N envs, run on across updates
    t: jax.Array


def env_steps_per_update(env, config: Config) -> int:
    return config.num_envs * config.num_steps


def policy(env, config: Config):
    return make_policy(env, "mlp", config.hidden, init_log_std=config.init_log_std)


def _value_net(env, config: Config):
    return MLP(config.hidden, 1, activation="relu", out_scale=1.0)


def _reference_log_prob(action, config: Config):
    z = action / config.reference_std
    return jnp.sum(-0.5 * z**2 - jnp.log(config.reference_std) - 0.5 * jnp.log(2 * jnp.pi), -1)


def _flat(x):
    return x.reshape(-1, *x.shape[2:])


def init(key: jax.Array, env, config: Config) -> State:
    if env.discrete_actions:
        raise ConfigError("pgp_deep needs a continuous (Box) action space; use pgp on tabular MDPs")
    pi = policy(env, config)
    k_pi, k_v, k_env, k_ref, k_mix, k_ref_mix = jax.random.split(key, 6)
    dummy = jnp.zeros(pi.obs_shape, pi.obs_dtype)
    params = {"policy": pi.init(k_pi), "value": _value_net(env, config).init(k_v, dummy)}
    envs = onpolicy.reset(k_env, env, config.num_envs)
    action_shape = env.action_space(env.default_params).shape

    def reference_act(k, o):
        return config.reference_std * jax.random.normal(k, o.shape[:1] + action_shape)

    ref, _, _ = onpolicy.rollout(k_ref, env, reference_act, envs, config.num_steps)
    ref_obs = _flat(ref.obs)
    reference = density.fit(density.init(k_ref_mix, ref_obs, config.components), ref_obs, iterations=50)
    mixture = density.init(k_mix, ref_obs, config.components)
    opt = optax.adam(config.lr)
    return State(params=params, opt_state=opt.init(params), mixture=mixture, reference=reference, envs=envs,
                 t=jnp.zeros((), jnp.int32))


def act(key, state: State, obs, env, config: Config, deterministic: bool = True):
    pi = policy(env, config)
    return pi.mode(state.params["policy"], obs) if deterministic else pi.sample(key, state.params["policy"], obs)


def update(key: jax.Array, state: State, env, config: Config):
    pi = policy(env, config)
    value_net = _value_net(env, config)
    tr, envs, _ = onpolicy.rollout(key, env, pi.actor(state.params["policy"]), state.envs, config.num_steps)
    mixture = density.fit(state.mixture, _flat(tr.obs), iterations=config.em_steps)
    log_d = density.log_density(mixture, _flat(tr.obs)).reshape(tr.reward.shape)
    log_pi = pi.log_prob(state.params["policy"], tr.obs, tr.action)
    log_lam = log_d + log_pi  # log λ̂(s, a), [T, N]
    reward = -log_lam - 1.0  # ∂H/∂λ
    cost = -tr.reward
    if config.constraint == "cost":
        g = jnp.mean(cost) - config.budget
        reward = reward - 2 * config.penalty * jnp.maximum(g, 0.0) * cost
    elif config.constraint == "kl":
        log_ref = density.log_density(state.reference, _flat(tr.obs)).reshape(tr.reward.shape) \
            + _reference_log_prob(tr.action, config)
        g = jnp.mean(log_lam - log_ref) - config.kl_radius
        reward = reward - 2 * config.penalty * jnp.maximum(g, 0.0) * (log_lam - log_ref + 1.0)
    else:
        g = jnp.zeros(())
    reward = jax.lax.stop_gradient(reward)
    v = lambda p, o: value_net.apply(p, o)[..., 0]  # noqa: E731
    adv, target = gae(reward, v(state.params["value"], tr.obs), v(state.params["value"], tr.next_obs),
                      tr.terminated.astype(jnp.float32), tr.truncated, config.discount, config.gae_lambda)
    adv = (adv - adv.mean()) / (adv.std() + 1e-8)

    def loss(params):
        logp = pi.log_prob(params["policy"], tr.obs, tr.action)
        return -jnp.mean(logp * adv) + 0.5 * jnp.mean((v(params["value"], tr.obs) - target) ** 2)

    grads = jax.grad(loss)(state.params)
    updates, opt_state = optax.adam(config.lr).update(grads, state.opt_state)
    params = optax.apply_updates(state.params, updates)
    metrics = {"entropy": -jnp.mean(log_lam), "violation": jnp.maximum(g, 0.0), "constraint": g,
               "episode_return": jnp.mean(tr.reward) * env.max_steps(),
               "transitions": jnp.asarray(config.num_envs * config.num_steps, jnp.float32)}
    return state.replace(params=params, opt_state=opt_state, mixture=mixture, envs=envs, t=state.t + 1), metrics
