"""PGP on continuous tasks: the official code's estimator and protocol.

Wolf, Fatkhullin, He 2026; github Flo-Wo/penalty-based-constrained-exploration,
code/continuous, `pgp_core.py` and `main.py`.

The occupancy λ(s, a) = d(s) π(a|s) is estimated as

    log λ̂(s, a) = log d̂(s) + log π(a|s),

each term floored at −50: d̂ a 16-component diagonal Gaussian mixture of the
states in a FIFO buffer of the last `buffer_size` (200,000) visited states,
refitted every iteration (`rlx.agents.shared.density`, warm-started); π(a|s)
the policy's density of the EXECUTED action a = tanh(u) (scaled to the Box),
u Gaussian: log π = log N(u) − Σ log(1 − tanh²u), computed from the stored u
(`rlx.envs.base.TanhActions`).  From a stored a, which rounds to ±1 in float32
once |u| > 9, the official atanh clamp puts the density far off, and the
pseudo-reward −log λ̂ then pays the policy to saturate (seen in rlx's first
runs).  The batch estimates are self-normalised with weights w_t = λ̂_t / mean λ̂
over the batch's T = 4096 samples:

    Ĥ = −mean(w ℓ),   ĉ = mean(w g),   F̂ = Ĥ − ρ [ĉ]₊²     (ℓ = log λ̂),

and the pseudo-reward of step t is F̂'s derivative in ℓ_t divided by w_t/T:

    r_t = −(ℓ_t + 1 + Ĥ) − 2ρ [ĉ]₊ (g_t − ĉ + ∂g_t/∂ℓ_t),

the entropy's functional derivative −log λ − 1 and the penalty's, centred by
the self-normalisation.  The constraint g per step:

- `constraint="cost"`: g_t = c_t − budget, c = −(env reward): on
  `cartpole_swingup` the signed slider margin |x| − 1.5 (so ĉ ≤ 0 bounds the
  cart's mean distance from the centre);
- `constraint="kl"`: g_t = ℓ_t − log λ_ref(s_t, a_t) − κ (`kl_radius`), so
  ĉ ≤ 0 is the KL ball KL(λ ‖ λ_ref) ≤ κ; λ_ref = d_ref(s) π_ref(a|s) from
  `reference` (a file of an expert's policy and state mixture, written by
  experiments/pgp/continuous.py; π_ref a Gaussian around the expert's
  executed, clipped, mean action) or, without one, a zero-mean Gaussian policy
  of std `reference_std` with its state mixture fitted at init (rlx's
  stand-in, so the option runs without an expert);
- `"none"`: unconstrained entropy maximisation.

Each iteration resets `num_envs` = 4 envs and steps them 1,024 times (4,096
steps: four 1,000-step episodes and 96 cut steps, what the official one env ×
4,096 steps from a reset holds); the returns of r are discounted (γ 0.99)
Monte-Carlo sums to the episode's end, a cut episode not bootstrapped; the
advantage is return − V(s) with the critic before its update (no
normalisation); then one Adam step on −mean(log π · A) and `critic_steps` (10)
Adam steps on minibatches of 512 drawn with replacement, both clipped to norm 1.
Networks: 256 × 256 ReLU, PyTorch's default init; the policy's mean and
log σ (clipped to [−5, 2]) are two MLPs of the state.

Deviations, each with its reason (docs/algorithms.md, "Deep PGP"):
- the official pseudo-reward is further divided by Σ_t λ̂_t (the derivative in
  λ̂ rather than in log λ̂ scaled by w/T); that positive factor changes from
  batch to batch, so rlx leaves it out and the critic's targets keep one
  scale (Adam's step is nearly blind to a per-batch factor);
- the mixture is refitted by `em_steps` EM steps on the whole buffer (the
  official: 200 Adam steps of minibatch NLL, warm-started): the same model
  and data, a different optimiser of the same likelihood;
- log π is computed from the stored pre-squash u, not from the stored action
  through a clamped atanh (the reason above);
- rlx's penalty ρ[ĉ]₊² is the official β[ĉ]₊² (ρ = β; 10 on both tasks).
"""

from __future__ import annotations

import os
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import serialization, struct

from rlx.agent import env_time_limit
from rlx.agents.shared import density, onpolicy
from rlx.fields import ConfigError, static
from rlx.envs.base import TanhActions
from rlx.policies import MLP, GaussianMLP, make_policy
from rlx.rollout import gae


@struct.dataclass
class Config:
    num_envs: int = static(4)
    num_steps: int = static(1024)  # 4 × 1024 = 4096 steps an iteration from fresh resets [official: 1 × 4096]
    hidden: tuple[int, ...] = static((256, 256))  # policy and critic [official]
    lr: float = 3e-4  # the policy's Adam step [official]
    critic_lr: float = 3e-4  # [official]
    critic_steps: int = static(10)  # critic minibatch steps an iteration [official]
    critic_batch: int = static(512)  # [official]
    max_grad_norm: float = 1.0  # both networks [official]
    discount: float = 0.99  # [official]
    constraint: Literal["cost", "kl", "none"] = static("cost")  # the env's cost, KL(λ ‖ λ_ref), or unconstrained
    budget: float = 0.0  # "cost": ĉ = mean(w (c − budget)) ≤ 0 [official 0]
    kl_radius: float = 1.0  # "kl": κ [official: 1, 2, 5]
    reference: str = static("")  # "kl": the expert file (experiments/pgp/continuous.py); "" the Gaussian stand-in
    reference_std: float = static(0.3)  # "kl" without a file: the stand-in policy's action std
    penalty: float = 10.0  # ρ: F = H − ρ[ĉ]₊² [official β = 10]
    components: int = static(16)  # mixture components [official]
    em_steps: int = static(5)  # EM steps on the buffer an iteration
    buffer_size: int = static(200_000)  # states the mixture is fitted to [official]
    log_floor: float = -50.0  # log d̂ and log π are floored here [official]


PRESETS = {"pgp_deep": {}}  # registry name -> the Config fields it sets
FAMILY_DEFAULTS: dict = {}
METRICS = ("episode_return", "entropy", "entropy_mc", "constraint", "violation", "g_mean", "transitions")
eval_horizon = env_time_limit


@struct.dataclass
class Reference:
    """λ_ref of the "kl" constraint: a state mixture and a Gaussian policy's parameters."""

    mixture: density.Mixture
    policy: dict


@struct.dataclass
class State:
    params: dict  # {"policy", "value"}
    opt_state: dict  # {"policy", "value"}: an Adam state each
    mixture: density.Mixture
    buffer: jax.Array  # [buffer_size, obs_dim] the last visited states (FIFO)
    stored: jax.Array  # states written so far (the ring's next slot is stored % buffer_size)
    reference: Reference
    t: jax.Array


def env_steps_per_update(env, config: Config) -> int:
    return config.num_envs * config.num_steps


def policy(env, config: Config):
    """The Gaussian over the pre-squash u (mean and log σ MLPs of the state);
    the action executed is tanh(u), scaled to the Box (`TanhActions`)."""
    return make_policy(env, "state_std", config.hidden, activation="relu", weight_init="torch")


def _value_net(config: Config):
    return MLP(config.hidden, 1, activation="relu", out_scale=1.0, weight_init="torch")


def _optimiser(config: Config, lr: float):
    return optax.chain(optax.clip_by_global_norm(config.max_grad_norm), optax.adam(lr))


def _flat(x):
    return x.reshape(-1, *x.shape[2:])


def load_reference(path: str) -> dict:
    """The expert file's contents: {"hidden", "activation", "policy", "mixture"}."""
    if not os.path.exists(path):
        raise ConfigError(f"reference file {path!r} not found (write one with experiments/pgp/continuous.py expert)")
    with open(path, "rb") as f:
        return serialization.msgpack_restore(f.read())


def _reference_policy(env, config: Config):
    """(module, params) of π_ref: the expert's Gaussian MLP, or the stand-in's zero mean and std."""
    action_dim = env.num_actions
    if config.reference:
        saved = load_reference(config.reference)
        hidden = tuple(int(h) for h in np.asarray(saved["hidden"]))
        return GaussianMLP(hidden, action_dim, str(saved["activation"])), jax.tree.map(jnp.asarray, saved["policy"])
    return None, {"log_std": jnp.full((action_dim,), np.log(config.reference_std), jnp.float32)}


def _reference_log_prob(env, config: Config, reference: Reference, obs, action):
    module, _ = _reference_policy(env, config) if config.reference else (None, None)
    if module is None:
        log_std, mean = reference.policy["log_std"], jnp.zeros_like(action)
    else:
        mean, log_std = module.apply(reference.policy, obs)
        space = env.action_space(env.default_params)
        mean = jnp.clip(mean, space.low, space.high)  # the action the expert executes (the env clips it)
    z = (action - mean) * jnp.exp(-log_std)
    return jnp.sum(-0.5 * z**2 - log_std - 0.5 * jnp.log(2 * jnp.pi), -1)


def init(key: jax.Array, env, config: Config) -> State:
    if env.discrete_actions:
        raise ConfigError("pgp_deep needs a continuous (Box) action space; use pgp on tabular MDPs")
    try:
        TanhActions(env)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    if config.constraint not in ("cost", "kl", "none"):
        raise ConfigError(f"constraint must be cost, kl or none, got {config.constraint!r}")
    pi = policy(env, config)
    k_pi, k_v, k_mix, k_ref = jax.random.split(key, 4)
    dummy = jnp.zeros(pi.obs_shape, pi.obs_dtype)
    params = {"policy": pi.init(k_pi), "value": _value_net(config).init(k_v, dummy)}
    opt_state = {"policy": _optimiser(config, config.lr).init(params["policy"]),
                 "value": _optimiser(config, config.critic_lr).init(params["value"])}
    obs_dim = pi.obs_shape[0]
    # the official mixture's start: means N(0, 0.1²), unit variances, equal weights
    mixture = density.Mixture(log_weights=jnp.full((config.components,), -jnp.log(config.components)),
                              means=0.1 * jax.random.normal(k_mix, (config.components, obs_dim)),
                              variances=jnp.ones((config.components, obs_dim)))
    reference = _init_reference(k_ref, env, config, mixture)
    return State(params=params, opt_state=opt_state, mixture=mixture,
                 buffer=jnp.zeros((config.buffer_size, obs_dim)), stored=jnp.zeros((), jnp.int32),
                 reference=reference, t=jnp.zeros((), jnp.int32))


def _init_reference(key, env, config: Config, start: density.Mixture) -> Reference:
    module, policy_params = _reference_policy(env, config)
    if config.constraint != "kl":
        return Reference(mixture=start, policy=policy_params)
    if config.reference:
        saved = load_reference(config.reference)["mixture"]
        return Reference(mixture=density.Mixture(**{k: jnp.asarray(v) for k, v in saved.items()}), policy=policy_params)
    k_env, k_roll, k_fit = jax.random.split(key, 3)
    std, shape = config.reference_std, env.action_space(env.default_params).shape
    envs = onpolicy.reset(k_env, env, config.num_envs)
    tr, _, _ = onpolicy.rollout(k_roll, env, lambda k, o: std * jax.random.normal(k, o.shape[:1] + shape), envs,
                                config.num_steps)
    states = _flat(tr.obs)
    mixture = density.fit(density.init(k_fit, states, config.components), states, iterations=50)
    return Reference(mixture=mixture, policy=policy_params)


def act(key, state: State, obs, env, config: Config, deterministic: bool = True):
    pi = policy(env, config)
    u = pi.mode(state.params["policy"], obs) if deterministic else pi.sample(key, state.params["policy"], obs)
    return TanhActions(env).executed(u)


def _store(buffer, stored, states):
    """Write `states` [B, D] into the ring after the `stored` ones."""
    slots = (stored + jnp.arange(states.shape[0])) % buffer.shape[0]
    return buffer.at[slots].set(states), stored + states.shape[0]


def pseudo_reward(ell, g, dg, penalty):
    """(r, Ĥ, ĉ): the self-normalised estimates Ĥ = −mean(w ℓ), ĉ = mean(w g)
    with w = λ̂ / mean λ̂, and r_t = (T / w_t) ∂F̂/∂ℓ_t for F̂ = Ĥ − ρ[ĉ]₊²,
    in closed form (w_t underflows where ℓ_t is far below the batch's top):
    r_t = −(ℓ_t + 1 + Ĥ) − 2ρ[ĉ]₊ (g_t − ĉ + ∂g_t/∂ℓ_t)."""
    w = ell.size * jax.nn.softmax(ell.ravel()).reshape(ell.shape)
    entropy, c = -jnp.mean(w * ell), jnp.mean(w * g)
    return -(ell + 1.0 + entropy) - 2.0 * penalty * jnp.maximum(c, 0.0) * (g - c + dg), entropy, c


def update(key: jax.Array, state: State, env, config: Config):
    pi = policy(env, config)
    value_net = _value_net(config)
    k_reset, k_roll, k_critic = jax.random.split(key, 3)
    squashed = TanhActions(env)  # tr.action holds the pre-squash u
    envs = onpolicy.reset(k_reset, squashed, config.num_envs)
    tr, _, _ = onpolicy.rollout(k_roll, squashed, pi.actor(state.params["policy"]), envs, config.num_steps)  # [T, N]
    buffer, stored = _store(state.buffer, state.stored, _flat(tr.obs))
    filled = (jnp.arange(config.buffer_size) < stored).astype(jnp.float32)
    mixture = density.fit(state.mixture, buffer, filled, iterations=config.em_steps)

    floor = config.log_floor
    log_d = jnp.maximum(density.log_density(mixture, _flat(tr.obs)).reshape(tr.reward.shape), floor)
    log_pi = jnp.maximum(pi.log_prob(state.params["policy"], tr.obs, tr.action) - squashed.log_det(tr.action), floor)
    ell = log_d + log_pi  # log λ̂(s, a), [T, N]
    if config.constraint == "cost":
        g, dg = -tr.reward - config.budget, 0.0
    elif config.constraint == "kl":
        log_ref = jnp.maximum(density.log_density(state.reference.mixture, _flat(tr.obs)).reshape(ell.shape), floor) \
            + _reference_log_prob(env, config, state.reference, tr.obs, squashed.executed(tr.action))
        g, dg = ell - log_ref - config.kl_radius, 1.0
    else:
        g, dg = jnp.zeros_like(ell), 0.0
    penalty = 0.0 if config.constraint == "none" else config.penalty
    reward, entropy, c = pseudo_reward(ell, g, dg, penalty)
    reward = jax.lax.stop_gradient(reward)

    v = lambda p, o: value_net.apply(p, o)[..., 0]  # noqa: E731
    zeros = jnp.zeros_like(reward)
    returns, _ = gae(reward, zeros, zeros, tr.terminated.astype(jnp.float32), tr.truncated, config.discount, 1.0)
    adv = returns - v(state.params["value"], tr.obs)

    def policy_loss(p):
        return -jnp.mean(pi.log_prob(p, tr.obs, tr.action) * adv)

    grads = jax.grad(policy_loss)(state.params["policy"])
    updates, policy_opt = _optimiser(config, config.lr).update(grads, state.opt_state["policy"])
    policy_params = optax.apply_updates(state.params["policy"], updates)

    obs_flat, returns_flat = _flat(tr.obs), returns.ravel()

    def critic_step(carry, k):
        p, o = carry
        idx = jax.random.randint(k, (config.critic_batch,), 0, returns_flat.shape[0])
        grads = jax.grad(lambda q: jnp.mean((v(q, obs_flat[idx]) - returns_flat[idx]) ** 2))(p)
        updates, o = _optimiser(config, config.critic_lr).update(grads, o)
        return (optax.apply_updates(p, updates), o), None

    (value_params, value_opt), _ = jax.lax.scan(critic_step, (state.params["value"], state.opt_state["value"]),
                                                jax.random.split(k_critic, config.critic_steps))
    metrics = {"entropy": entropy, "entropy_mc": -jnp.mean(ell), "constraint": c, "violation": jnp.maximum(c, 0.0), "g_mean": jnp.mean(g),
               "episode_return": jnp.mean(tr.reward) * env.max_steps(),
               "transitions": jnp.asarray(config.num_envs * config.num_steps, jnp.float32)}
    return state.replace(params={"policy": policy_params, "value": value_params},
                         opt_state={"policy": policy_opt, "value": value_opt}, mixture=mixture, buffer=buffer,
                         stored=stored, t=state.t + 1), metrics
