"""HyperAgent: posterior sampling by a last-layer hypermodel, and the
ε-greedy double DQN baseline sharing its pieces.

Li, Xu, Han, Luo, "Q-Star Meets Scalable Posterior Sampling: Bridging Theory
and Practice via HyperAgent", ICML 2024, as
official code's DeepSea script give it (docs/algorithms.md, "HyperAgent
(and DQN)"; the paper's own equation numbers are not cited):

    Q(s, a, ξ) = σ_post ⟨φ_w(s), (H ξ + h)_a⟩ + σ_prior ⟨φ^P(s), (H^P ξ + h^P)_a⟩

φ_w an MLP torso, φ^P a frozen torso of its own; ξ uniform on the unit
sphere of R^M.  The initialisation is the official DeepSea run's
(`init="official"`; run_deepsea.py and network/hyperagent.py): both torsos
Xavier-normal weights and zero biases; the trainable H Xavier-normal as the
(A·F) × M matrix it is there, std √(2/(M + A·F)); the trainable h and the
frozen h^P each an independent uniform unit vector over its A·F entries ×
prior_std; the frozen H^P Gaussian rows scaled to unit length × prior_std.
Each transition stores a perturbation z (unit sphere); the loss over a batch
of B transitions, each with its own K fresh indices ξ (noise of shape B × K × M,
`index_draw="transition"`), is

    (r + σ ξᵀz + γ (1 − d) Q_θ⁻(s', a*, ξ⁻) − Q_θ(s, a, ξ))²,  a* = argmax_a Q_θ(s', a, ξ⁻)

with a target network θ⁻ and one target index ξ⁻ per transition, drawn apart
from its K update indices (the official code's `target_noise_per_sample=1`,
`dependent_target_noise=0`), so each transition's ξ regress on one sampled target.
`target_index="shared"` sets ξ⁻ = ξ instead, so each index bootstraps from
itself as a bootstrapped-DQN head does; it scaled better on DeepSea
(experiments/hyperagent), but it is not the paper's loss, so it is not the default.
As in the official DeepSea run, gradients are clipped to global norm 10, Adam
has ε = 1.5e-4, the replay holds 10^6 transitions, and actions are uniform
until `learning_starts` transitions are stored.  Acting is greedy on
Q(s, ·, ξ), ξ drawn afresh at each episode's end and with probability 1 − γ
at any step.  Evaluation (`eval_act`, what rlx.run's evaluation plays) is the
official test: each episode its own sampled ξ, held for the episode
(`eval_index="mean"`: ξ = 0, the posterior mean).  rlx's earlier choices stay
reachable for ablations (experiments/hyperagent/deepsea.py): `init="small"`
(H = 0.01·N(0, 1), h = h^P = 0, flax's default torso init) and
`index_draw="batch"` (K indices shared by the whole batch).  Not built: the
(β/|D|)·mean(W(ξ)²) regulariser (β = 0 in the DeepSea defaults) and n-step
targets (Atari's 5-step).  `exploration="epsilon"` is the DQN baseline: the
same torso and replay with a plain linear head and ε-greedy acting.

One `update` runs `num_steps` env steps of one env, each followed (after
`learning_starts` transitions) by one gradient step on a batch from the
on-device buffer (rlx.agents.shared.buffer), the target synced every `target_every` steps.
"""

from __future__ import annotations

from typing import Any, Literal

import jax
import jax.numpy as jnp
import optax
from flax import linen as nn
from flax import struct

from rlx.agent import env_time_limit
from rlx.agents.shared import buffer, onpolicy
from rlx.fields import ConfigError, static
from rlx.policies import encode_obs, obs_encoding
from rlx.rollout import track_returns


@struct.dataclass
class Config:
    exploration: Literal["hypermodel", "epsilon"] = static("hypermodel")  # HyperAgent, or ε-greedy double DQN
    target_index: Literal["independent", "shared"] = static("independent")  # ξ⁻ per transition [official]; ξ⁻ = ξ
    init: Literal["official", "small"] = static("official")  # the official DeepSea init [official]; rlx's earlier
    #   one (H = 0.01·N(0,1), zero h and h^P, flax's lecun-normal torsos), for ablations
    index_draw: Literal["transition", "batch"] = static("transition")  # K update ξ per transition [official];
    #   K shared by the whole batch (rlx's earlier draw), for ablations
    eval_index: Literal["sampled", "mean"] = static("sampled")  # evaluation: one sampled ξ an episode [official];
    #   ξ = 0, the posterior mean
    index_dim: int = static(4)  # M [official]
    num_indices: int = static(20)  # K fresh ξ a transition [official]
    hidden: tuple[int, ...] = static((64, 64))  # [official DeepSea torso]
    lr: float = 1e-3  # [official DeepSea]
    adam_eps: float = 1.5e-4  # [official]
    max_grad_norm: float = 10.0  # [official]
    batch: int = static(128)  # [official DeepSea]
    capacity: int = static(1_000_000)  # replay capacity [official DeepSea]; MinAtar's images: 10^5 (FAMILY_DEFAULTS)
    learning_starts: int = static(128)  # [official DeepSea]
    target_every: int = static(4)  # gradient steps between target syncs [official DeepSea]
    num_steps: int = static(16)  # env steps an update
    discount: float = 0.99
    noise_scale: float = 0.0  # σ [official DeepSea: 0]
    prior_std: float = 1.0  # [official DeepSea]
    prior_scale: float = 10.0  # σ_prior [official DeepSea]
    posterior_scale: float = 1.0  # σ_post [official DeepSea]
    epsilon_start: float = 1.0  # ε-greedy baseline: linear decay to epsilon_end over epsilon_steps env steps
    epsilon_end: float = 0.05
    epsilon_steps: int = static(5_000)


PRESETS = {"hyperagent": {}, "dqn": {"exploration": "epsilon"}}  # dqn: ε-greedy double DQN
# 10^6 MinAtar frames (10 × 10 × channels floats, twice a transition) need gigabytes a seed.
FAMILY_DEFAULTS = {name: {"minatar": {"capacity": 100_000}} for name in PRESETS}
METRICS = ("episode_return", "episodes", "transitions")
eval_horizon = env_time_limit


# torch's xavier_normal_: N(0, 2 / (fan_in + fan_out)), untruncated
XAVIER_NORMAL = nn.initializers.variance_scaling(1.0, "fan_avg", "normal")


class _OneHotDense(nn.Module):
    """nn.Dense on one-hot encoded integer observations, computed as the row
    lookup it equals (W[s] + b instead of onehot(s) @ W + b: DeepSea's N² inputs
    cost no matmul); the same parameters and initialisation as nn.Dense."""

    features: int
    num_states: int
    kernel_init: Any

    @nn.compact
    def __call__(self, obs):
        kernel = self.param("kernel", self.kernel_init, (self.num_states, self.features))
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        return kernel[obs] + bias


class _Torso(nn.Module):
    hidden: tuple[int, ...]
    num_states: int  # > 0: integer observations, one-hot encoded
    obs_ndim: int = 1  # trailing axes of one observation, flattened (MinAtar images)
    xavier: bool = True  # Xavier-normal weights [official]; False: flax's default (lecun normal)

    @nn.compact
    def __call__(self, obs):
        kernel_init = XAVIER_NORMAL if self.xavier else nn.linear.default_kernel_init
        x = obs if self.num_states else encode_obs(obs, 0, self.obs_ndim)
        for i, width in enumerate(self.hidden):  # biases zero, flax's default
            layer = _OneHotDense(width, self.num_states, kernel_init, name="Dense_0") if i == 0 and self.num_states \
                else nn.Dense(width, kernel_init=kernel_init, name=f"Dense_{i}")
            x = nn.relu(layer(x))
        return x


@struct.dataclass
class State:
    params: dict  # {"torso", "H", "h"}
    target: dict
    prior: dict  # frozen: {"torso", "H", "h"}
    opt_state: optax.OptState
    replay: buffer.Buffer
    envs: onpolicy.Envs  # the one env (unbatched), run on across updates
    index: jax.Array  # ξ of the running episode
    t: jax.Array  # updates done (env steps so far: t · num_steps)


def _spaces(env):
    """(num_states, 0 for a Box of observations; the number of actions)."""
    return obs_encoding(env)[0], env.num_actions


def _torso(env, config: Config) -> _Torso:
    num_states, _ = _spaces(env)
    return _Torso(config.hidden, num_states, max(len(env.observation_space(env.default_params).shape), 1),
                  xavier=config.init == "official")


def _sphere(key, shape):
    x = jax.random.normal(key, shape)
    return x / jnp.linalg.norm(x, axis=-1, keepdims=True)


def _head(key, num_actions: int, features: int, m: int, config: Config) -> dict:
    """The trainable last layer {"H" [A, F, M], "h" [A, F]}.  official: H
    Xavier-normal as the (A·F) × M matrix (fan_in M, fan_out A·F), h a uniform
    unit vector over its A·F entries × prior_std; small: 0.01·N(0, 1) and 0."""
    k_weight, k_bias = jax.random.split(key)
    if config.init == "small":
        return {"H": 0.01 * jax.random.normal(k_weight, (num_actions, features, m)),
                "h": jnp.zeros((num_actions, features))}
    std = jnp.sqrt(2.0 / (m + num_actions * features))
    return {"H": std * jax.random.normal(k_weight, (num_actions, features, m)),
            "h": config.prior_std * _sphere(k_bias, (num_actions * features,)).reshape(num_actions, features)}


def _prior_head(key, num_actions: int, features: int, m: int, config: Config) -> dict:
    """The frozen prior's last layer: H^P rows unit vectors in R^M × prior_std;
    h^P a uniform unit vector over its A·F entries × prior_std (official), or 0 (small)."""
    k_weight, k_bias = jax.random.split(key)
    bias = config.prior_std * _sphere(k_bias, (num_actions * features,)).reshape(num_actions, features)
    return {"H": config.prior_std * _sphere(k_weight, (num_actions, features, m)),
            "h": bias if config.init == "official" else jnp.zeros((num_actions, features))}


def update_indices(key, config: Config, batch_size: int, m: int):
    """The K update indices of a batch, [K, B, M] on the unit sphere: drawn
    per transition (`index_draw="transition"`, official), or K shared by the
    whole batch ("batch")."""
    if config.index_draw == "transition":
        return _sphere(key, (config.num_indices, batch_size, m))
    return jnp.broadcast_to(_sphere(key, (config.num_indices, 1, m)), (config.num_indices, batch_size, m))


def env_steps_per_update(env, config: Config) -> int:
    return config.num_steps


def q_values(params, prior, torso, obs, index, config: Config):
    """Q(s, ·, ξ) [..., A] for observations [...] and indices ξ [..., M]."""
    def head(layer, feats):  # ⟨φ, (Hξ + h)_a⟩, contracting φ with H first: no [..., A, F] weights per index
        return jnp.einsum("...f,afm,...m->...a", feats, layer["H"], index) + jnp.einsum("...f,af->...a", feats, layer["h"])

    q = config.posterior_scale * head(params, torso.apply(params["torso"], obs))
    if config.exploration == "hypermodel":
        q = q + config.prior_scale * head(prior, jax.lax.stop_gradient(torso.apply(prior["torso"], obs)))
    return q


def init(key, env, config: Config) -> State:
    if not env.discrete_actions:
        raise ConfigError("HyperAgent and DQN need a discrete action space")
    num_states, num_actions = _spaces(env)
    torso = _torso(env, config)
    k_torso, k_head, k_prior_torso, k_prior, k_env, k_index = jax.random.split(key, 6)
    dummy = jnp.zeros((), jnp.int32) if num_states else jnp.zeros(env.observation_space(env.default_params).shape)
    features = config.hidden[-1]
    m = config.index_dim if config.exploration == "hypermodel" else 1
    params = {"torso": torso.init(k_torso, dummy), **_head(k_head, num_actions, features, m, config)}
    prior = {"torso": torso.init(k_prior_torso, dummy), **_prior_head(k_prior, num_actions, features, m, config)}
    obs, env_state = env.reset(k_env, env.default_params)
    example = {"obs": obs, "action": jnp.zeros((), jnp.int32), "reward": jnp.zeros(()),
               "next_obs": obs, "terminated": jnp.zeros((), bool), "z": jnp.zeros((m,))}
    opt = _optimizer(config)
    envs = onpolicy.Envs(state=env_state, obs=obs, episode_return=jnp.zeros(()), last_return=jnp.zeros(()))
    return State(params=params, target=params, prior=prior, opt_state=opt.init(params),
                 replay=buffer.init(example, config.capacity), envs=envs, index=_sphere(k_index, (m,)),
                 t=jnp.zeros((), jnp.int32))


def act(key, state: State, obs, env, config: Config, deterministic: bool = True):
    """Greedy on Q(s, ·, ξ).  deterministic=True: ξ = 0, the posterior mean
    (Q is linear in ξ and ξ is symmetric on the sphere); False: a fresh ξ per
    call.  A stateless `act` cannot hold one ξ per episode: evaluation does,
    through `eval_act`, and training acting through `update`."""
    torso = _torso(env, config)
    m = state.params["H"].shape[-1]
    sampled = config.exploration == "hypermodel" and not deterministic
    batch = obs.shape[: obs.ndim - len(env.observation_space(env.default_params).shape)]  # one ξ per observation
    index = _sphere(key, batch + (m,)) if sampled else jnp.zeros(batch + (m,))
    return jnp.argmax(q_values(state.params, state.prior, torso, obs, index, config), -1)


def eval_act(key, state: State, env, config: Config, num_episodes: int):
    """The `act(k, obs)` of one evaluation of `num_episodes` episodes (the
    official test): episode e greedy on Q(s, ·, ξ_e) with its own ξ_e drawn
    from `key` and held for the whole episode; `eval_index="mean"` (or DQN):
    ξ = 0.  rlx.train.evaluate plays it."""
    torso = _torso(env, config)
    m = state.params["H"].shape[-1]
    sampled = config.exploration == "hypermodel" and config.eval_index == "sampled"
    index = _sphere(key, (num_episodes, m)) if sampled else jnp.zeros((num_episodes, m))

    def policy(k, obs):  # obs [num_episodes, ...], one row an episode
        return jnp.argmax(q_values(state.params, state.prior, torso, obs, index, config), -1)

    return policy


def loss(params, target, prior, batch, indices, target_indices, torso, config: Config):
    """Mean over the batch and the K indices of the perturbed double-DQN error;
    `indices` [K, B, M] are the update indices ξ (`update_indices`),
    `target_indices` [B, M] one ξ⁻ per transition for the target
    (`target_index="shared"`: ξ⁻ = ξ instead)."""
    def bootstrap(xi_target):  # r + γ (1 − d) Q_θ⁻(s', argmax_a Q_θ(s', a, ξ⁻), ξ⁻)
        best = jnp.argmax(q_values(params, prior, torso, batch["next_obs"], xi_target, config), -1)
        q_next = jnp.take_along_axis(q_values(target, prior, torso, batch["next_obs"], xi_target, config),
                                     best[:, None], -1)[:, 0]
        return batch["reward"] + config.discount * (1.0 - batch["terminated"]) * q_next

    independent = bootstrap(target_indices) if config.target_index == "independent" else None

    def per_index(xi_b):  # [B, M]
        q = q_values(params, prior, torso, batch["obs"], xi_b, config)
        q_sa = jnp.take_along_axis(q, batch["action"][:, None], -1)[:, 0]
        y = (independent if independent is not None else bootstrap(xi_b)) \
            + config.noise_scale * jnp.sum(xi_b * batch["z"], -1)
        return jnp.mean((jax.lax.stop_gradient(y) - q_sa) ** 2)

    return jnp.mean(jax.vmap(per_index)(indices))


def _optimizer(config: Config):
    return optax.chain(optax.clip_by_global_norm(config.max_grad_norm), optax.adam(config.lr, eps=config.adam_eps))


def update(key, state: State, env, config: Config):
    _, num_actions = _spaces(env)
    torso = _torso(env, config)
    opt = _optimizer(config)
    m = state.params["H"].shape[-1]
    hyper = config.exploration == "hypermodel"

    def step(state, x):
        k, steps = x  # steps: env steps before this one
        k_act, k_env, k_z, k_batch, k_idx, k_target_idx, k_next = jax.random.split(k, 7)
        q = q_values(state.params, state.prior, torso, state.envs.obs, state.index, config)
        eps = jnp.clip(config.epsilon_start + (config.epsilon_end - config.epsilon_start)
                       * steps / config.epsilon_steps, config.epsilon_end, config.epsilon_start)
        random_action = jax.random.randint(k_act, (), 0, num_actions)
        warming_up = state.replay.size < config.learning_starts  # uniform actions until learning starts
        explore = warming_up | ((~hyper) & (jax.random.uniform(jax.random.fold_in(k_act, 1)) < eps))
        action = jnp.where(explore, random_action, jnp.argmax(q)).astype(jnp.int32)
        obs, env_state, reward, terminated, truncated, info = env.step(k_env, state.envs.state, action,
                                                                        env.default_params)
        item = {"obs": state.envs.obs, "action": action, "reward": reward, "next_obs": info["final_obs"],
                "terminated": terminated, "z": _sphere(k_z, (m,))}
        replay = buffer.add(state.replay, jax.tree.map(lambda x: x[None], item))
        done = jnp.logical_or(terminated, truncated)
        # a fresh ξ at each episode's end, and with probability 1 − γ at any step
        resample = done | (jax.random.uniform(jax.random.fold_in(k_next, 1)) < 1.0 - config.discount)

        def learn(args):
            params, opt_state = args
            batch = buffer.sample(k_batch, replay, config.batch)
            batch = {**batch, "terminated": batch["terminated"].astype(jnp.float32)}
            indices = update_indices(k_idx, config, config.batch, m) if hyper else jnp.zeros((1, config.batch, m))
            target_indices = _sphere(k_target_idx, (config.batch, m)) if hyper else jnp.zeros((config.batch, m))
            grads = jax.grad(loss)(params, state.target, state.prior, batch, indices, target_indices, torso, config)
            updates, opt_state = opt.update(grads, opt_state)
            return optax.apply_updates(params, updates), opt_state

        ready = replay.size >= config.learning_starts
        params, opt_state = jax.lax.cond(ready, learn, lambda a: a, (state.params, state.opt_state))
        grad_steps = jnp.maximum(steps + 1 - config.learning_starts, 0)
        target = jax.tree.map(lambda t, p: jnp.where(ready & (grad_steps % config.target_every == 0), p, t),
                              state.target, params)
        new = state.replace(params=params, target=target, opt_state=opt_state, replay=replay,
                            envs=state.envs.replace(state=env_state, obs=obs),
                            index=jnp.where(resample, _sphere(k_next, (m,)), state.index))
        return new, (reward, done)

    steps = state.t * config.num_steps + jnp.arange(config.num_steps)
    state, (rewards, done) = jax.lax.scan(step, state, (jax.random.split(key, config.num_steps), steps))
    running, last, episode_return = track_returns(state.envs.episode_return[None], state.envs.last_return[None],
                                                  rewards[:, None], done[:, None])
    metrics = {"episode_return": episode_return, "transitions": jnp.asarray(config.num_steps, jnp.float32),
               "episodes": jnp.sum(done)}
    envs = state.envs.replace(episode_return=running[0], last_return=last[0])
    return state.replace(envs=envs, t=state.t + 1), metrics
