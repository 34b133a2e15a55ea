"""Entropy-regularised neural natural actor-critic (NAC): on tabular MDPs with
the generative-model sampler of the paper, on other discrete-action envs
(cartpole, acrobot, MinAtar) with on-policy rollouts.

Cayci, He, Srikant, "Finite-Time Analysis of Entropy-Regularized Neural
Natural Actor-Critic", TMLR 2024: Algorithm 2 (the actor-critic), Algorithm 1
(`sym_init`), Algorithm 3 (max-norm neural TD for the critic) and Algorithm 4
(sampling from d^π ⊗ π).  The paper has no code; the steps below are the
reconstruction in docs/algorithms.md ("Entropy-regularised neural NAC"),
checked item by item in experiments/wpo/REFERENCE.md part B.

    f(x; θ) = (1/√m) Σ_i c_i ReLU(θ_iᵀ x),  x = φ(s, a) (one-hot of the pair)
    c_i = +1 for i < m/2 and −1 after, θ_{0,i+m/2} = θ_{0,i}, so f(·; θ_0) = 0
    π_θ(a|s) = softmax_a f(φ(s, a); θ)                       (uniform at θ_0)

Each iteration t, with samples (s, a) ~ d^{π_t} ⊗ π_t from the normalised
discounted visitation (exact, as the generative-model sampler), s' ~ P(·|s, a),
a' ~ π_t(·|s'):

  critic   w ← Proj(w + α (r + γ (Q_w(s', a') − λ log π_t(a'|s')) − Q_w(s, a)) ∇_w Q_w(s, a)),
           Proj onto ‖w_i − w_{0,i}‖ ≤ R/√m for every neuron; Q̂ = Q at the average of the iterates
  natural  u ← Proj_{‖u‖ ≤ ρ}(u − α_u (∇_θ f(x; θ_t)ᵀ u − Q̂(s, a)) ∇_θ f(x; θ_t)); û the average
  actor    θ_{t+1} − θ_0 = (1 − ηλ)(θ_t − θ_0) + η û,   i.e. π_{t+1} ∝ π_t^{1−ηλ} exp(η Q̂) (linearised)

Other discrete-action envs [decision: the paper's analysis assumes the
generative model]: x = e_a ⊗ z(s), z = (obs, 1)/‖(obs, 1)‖ (unit norm as the
paper asks, and obs = z_{:n}/z_n, so nothing is lost), obs standardised by
running statistics first (without, a small angle is lost beside the 1);
the samples are the
N × T transitions of on-policy rollouts of π_t (undiscounted visitation; a
truncation bootstraps from the final observation, a termination cuts), with
a' drawn from π_t at s'; the critic starts each iteration from its last
average (`warm_critic`) instead of w_0, inside the same ball around w_0.

Gradient clipping, which the abstract names beside averaging and weight decay: rlx
clips by projection, as the reconstruction reads Algorithms 2–3 — each critic
neuron onto ‖w_i − w_{0,i}‖ ≤ R/√m, the compatible step's estimate onto
‖u‖ ≤ ρ (`natural_radius`) — and has no other clipping; whether the paper's
clipping is exactly these projections could not be checked (its full text was
not readable here).  The weight decay is the (1 − ηλ) in the actor step.

Samples: on a tabular MDP every iteration draws (critic_steps + natural_steps)
× batch transitions from the generative model (128,000 at the defaults) and
logs N episodes; `transitions` counts both.

Decisions where the reconstruction is silent: SGD steps use minibatches of
`batch` samples (the single-sample SGD with a smaller variance), and only the
last half of the iterates is averaged (`average_tail`; averaging from the
start biased Q̂ towards its zero initialisation).  The default step is
ηλ = 1/2: at η = 1/λ (soft policy iteration) the ReLU activation pattern
moves between θ_0 and θ_t, so the step is not the linearised one and the
regularised value can oscillate (what was measured: experiments/README.md,
"Measured notes behind the defaults").
"""

from __future__ import annotations

import math

import gymnasium
import jax
import jax.numpy as jnp
from flax import struct

from rlx import exact
from rlx.agents.shared import onpolicy
from rlx.fields import ConfigError, static
from rlx.rollout import ObsStats, collect_episodes, episode_discount, episode_horizon


@struct.dataclass
class Config:
    width: int = static(2048)  # m (even); the policy's distance to π*_λ shrinks with m (NTK regime)
    temperature: float = 0.5  # λ, the entropy weight
    actor_lr: float = 1.0  # η; ηλ = 1/2 damps the step (η = 1/λ, soft policy iteration, oscillates: docstring)
    critic_steps: int = static(1000)
    critic_lr: float = 4.0
    critic_radius: float = 100.0  # R: ‖w_i − w_{0,i}‖ ≤ R/√m (a smaller R biased Q̂: experiments/README.md)
    natural_steps: int = static(1000)
    natural_lr: float = 0.5
    natural_radius: float = 100.0  # ρ
    batch: int = static(64)
    average_tail: float = static(0.5)  # average the iterates after this fraction of the SGD steps (0: all of them)
    num_envs: int = static(4)  # tabular: episodes an iteration for the logged return; rollouts: envs
    num_steps: int = static(128)  # rollouts: steps of every env an iteration
    centered: bool = static(True)  # fit Â = Q̂ − Σπ Q̂ in the compatible step (False: Q̂, the reconstruction's)
    warm_critic: bool = static(True)  # rollouts: the critic starts from its last average, not from w_0
    horizon: int = static(0)  # tabular: the logged episodes' length (0: the MDP's)
    discount: float | None = None  # rollouts: γ (None: the env's); a tabular MDP uses its own


PRESETS = {"nac": {}}  # registry name -> the Config fields it sets
# The reconstruction's own form, beside rlx's tuned defaults (experiments/nac/width.py runs both): every
# iterate averaged, the compatible step fitting Q̂ itself, one sample an SGD step.
PAPER_FORM = {"average_tail": 0.0, "centered": False, "batch": 1}
# On rollouts (not a tabular MDP's generative model): a narrower network, short SGD loops, λ 0.05, η 10
# (chosen on cartpole: docs/algorithms.md, "Entropy-regularised neural NAC").
ROLLOUTS = {"width": 256, "critic_steps": 200, "natural_steps": 200, "num_envs": 8, "num_steps": 64,
            "actor_lr": 10.0, "temperature": 0.05, "critic_lr": 1.0}
FAMILY_DEFAULTS = {"nac": {"classic": ROLLOUTS, "minatar": ROLLOUTS}}
METRICS = ("episode_return", "transitions")  # on a tabular MDP also soft_J (exact J_λ), critic_error, drift


def eval_horizon(env, config: Config) -> int:
    return episode_horizon(env, config.horizon)


@struct.dataclass
class State:
    theta: jax.Array  # [m, d] actor
    theta0: jax.Array
    w0: jax.Array  # [m, d] critic's initial weights (the projection's centre)
    w: jax.Array  # the critic's last average
    envs: onpolicy.Envs  # rollouts: the envs carried between iterations
    obs_stats: ObsStats  # rollouts: observations are standardised before φ
    t: jax.Array


def _tabular(env) -> bool:
    return env.tabular_mdp() is not None


def _sizes(env) -> tuple[int, int]:
    """(number of actions A, feature dimension d)."""
    params = env.default_params
    if _tabular(env):
        return params.num_actions, params.num_states * params.num_actions
    space = env.action_space(params)
    if not isinstance(space, gymnasium.spaces.Discrete):
        raise ConfigError("nac needs a discrete action space")
    return int(space.n), int(space.n) * (math.prod(env.observation_space(params).shape) + 1)


def features(env, obs) -> jax.Array:
    """φ(s, a) for every action: [..., A, d] for observations [...]."""
    num_actions, d = _sizes(env)
    if _tabular(env):
        return _pair_one_hot(obs, env.default_params.num_states, num_actions)
    obs_ndim = len(env.observation_space(env.default_params).shape)
    flat = jnp.asarray(obs, jnp.float32).reshape(obs.shape[: obs.ndim - obs_ndim] + (-1,))
    z = jnp.concatenate([flat, jnp.ones(flat.shape[:-1] + (1,))], -1)
    z = z / jnp.linalg.norm(z, axis=-1, keepdims=True)
    return jnp.einsum("ab,...z->...abz", jnp.eye(num_actions), z).reshape(flat.shape[:-1] + (num_actions, d))


def _signs(m: int) -> jax.Array:
    return jnp.concatenate([jnp.ones(m // 2), -jnp.ones(m // 2)])


def network(theta, x):
    """f(x; θ) = (1/√m) Σ_i c_i ReLU(θ_iᵀ x)."""
    m = theta.shape[0]
    return jnp.sum(_signs(m) * jax.nn.relu(x @ theta.T), -1) / math.sqrt(m)


def _linearised(theta, u, x):
    """∇_θ f(x; θ)ᵀ u = (1/√m) Σ_i c_i 1[θ_iᵀx > 0] u_iᵀx, without the per-sample gradients."""
    m = theta.shape[0]
    return jnp.sum(_signs(m) * (x @ theta.T > 0) * (x @ u.T), -1) / math.sqrt(m)


def _pair_one_hot(obs, num_states: int, num_actions: int) -> jax.Array:
    """φ(s, ·) of a tabular MDP: the one-hot of each pair (s, a), [..., A, S·A]."""
    return jnp.eye(num_states * num_actions)[obs[..., None] * num_actions + jnp.arange(num_actions)]


def probs_table(theta, num_states: int, num_actions: int) -> jax.Array:
    """π_θ[s, a] of a tabular MDP."""
    return jax.nn.softmax(network(theta, _pair_one_hot(jnp.arange(num_states), num_states, num_actions)), -1)


def generative_samples(config: Config) -> int:
    """Tabular: the (s, a, s', a') draws of the critic's and the compatible
    step's SGD, each one call of the generative model."""
    return (config.critic_steps + config.natural_steps) * config.batch


def env_steps_per_update(env, config: Config) -> int:
    if _tabular(env):  # the generative model's draws and the logged episodes
        return generative_samples(config) + config.num_envs * episode_horizon(env, config.horizon)
    return config.num_envs * config.num_steps


def _symmetric(key, m: int, d: int) -> jax.Array:
    half = jax.random.normal(key, (m // 2, d))
    return jnp.concatenate([half, half])


def init(key, env, config: Config) -> State:
    if config.width % 2:
        raise ConfigError(f"width must be even (symmetric pairs), got {config.width}")
    if not 0.0 <= config.average_tail < 1.0:
        raise ConfigError(f"average_tail must lie in [0, 1), got {config.average_tail}")
    _, d = _sizes(env)
    k_actor, k_critic, k_env = jax.random.split(key, 3)
    theta0, w0 = _symmetric(k_actor, config.width, d), _symmetric(k_critic, config.width, d)
    space = env.observation_space(env.default_params)
    stats = ObsStats.create(space.shape, "int32" if _tabular(env) else "float32")
    return State(theta=theta0, theta0=theta0, w0=w0, w=w0, envs=onpolicy.reset(k_env, env, config.num_envs),
                 obs_stats=stats, t=jnp.zeros((), jnp.int32))


def act(key, state: State, obs, env, config: Config, deterministic: bool = True):
    logits = network(state.theta, features(env, state.obs_stats.normalize(obs)))
    return jnp.argmax(logits, -1) if deterministic else jax.random.categorical(key, logits)


def _sampler(env, theta, normalize=lambda obs: obs):
    """`act(key, obs)`: an action drawn from π_θ(·|s) ∝ exp(f_θ(s, ·))."""
    return lambda key, obs: jax.random.categorical(key, network(theta, features(env, normalize(obs))))


def _project_rows(w, centre, radius):
    """Each row back into the ball ‖w_i − centre_i‖ ≤ radius."""
    diff = w - centre
    norm = jnp.linalg.norm(diff, axis=-1, keepdims=True)
    return centre + diff * jnp.minimum(1.0, radius / jnp.maximum(norm, 1e-12))


def _tail_weight(i, steps, config: Config):
    """Tail averaging: iterates before the tail get weight 0."""
    return (i >= int(config.average_tail * steps)).astype(jnp.float32)


@struct.dataclass
class Samples:
    """A minibatch of the critic's and the natural gradient's data, one row a sample."""

    x: jax.Array  # φ(s, a)
    reward: jax.Array  # r(s, a)
    continuation: jax.Array  # γ(1 − done')
    x_next: jax.Array  # φ(s', a'), a' ~ π(·|s')
    logp_next: jax.Array  # log π(a'|s')
    features: jax.Array  # φ(s, ·), every action
    probs: jax.Array  # π(·|s)


def _critic(key, start, w0, draw, config: Config):
    """Projected neural TD(0) on the soft Q from `start`; the tail average.
    draw(key) -> Samples."""
    radius = config.critic_radius / math.sqrt(config.width)
    steps = jnp.arange(config.critic_steps)

    def td(carry, inputs):
        k, i = inputs
        w, w_sum = carry
        b = draw(k)
        soft_next = network(w, b.x_next) - config.temperature * b.logp_next
        target = jax.lax.stop_gradient(b.reward + b.continuation * soft_next)
        grad = jax.grad(lambda w: 0.5 * jnp.mean((network(w, b.x) - target) ** 2))(w)
        w = _project_rows(w - config.critic_lr * grad, w0, radius)
        return (w, w_sum + _tail_weight(i, config.critic_steps, config) * w), None

    (_, w_sum), _ = jax.lax.scan(td, (start, jnp.zeros_like(start)),
                                 (jax.random.split(key, config.critic_steps), steps))
    return w_sum / jnp.sum(_tail_weight(steps, config.critic_steps, config))


def _natural(key, theta, w, draw, config: Config):
    """Compatible function approximation: û ≈ argmin_{‖u‖≤ρ} E[(∇_θ f(x; θ)ᵀu − Â(x))²]
    by projected SGD, the tail average.  `centered`: Â(s, a) = Q̂(s, a) −
    Σ_b π(b|s) Q̂(s, b) instead of Q̂ [decision]: a state-only shift of the
    target leaves π_{t+1} ∝ π_t^{1−ηλ} exp(η Q̂) unchanged, and without V(s) in
    it the fit spends its norm on what moves the policy (experiments/README.md,
    "Measured notes behind the defaults")."""
    steps = jnp.arange(config.natural_steps)

    def sgd(carry, inputs):
        k, i = inputs
        u, u_sum = carry
        b = draw(k)
        q = network(w, b.x)
        if config.centered:
            q = q - jnp.sum(b.probs * network(w, b.features), -1)
        grad = jax.grad(lambda u: 0.5 * jnp.mean((_linearised(theta, u, b.x) - q) ** 2))(u)
        u = u - config.natural_lr * grad
        u = u * jnp.minimum(1.0, config.natural_radius / jnp.maximum(jnp.linalg.norm(u), 1e-12))
        return (u, u_sum + _tail_weight(i, config.natural_steps, config) * u), None

    zeros = jnp.zeros_like(theta)
    (_, u_sum), _ = jax.lax.scan(sgd, (zeros, zeros), (jax.random.split(key, config.natural_steps), steps))
    return u_sum / jnp.sum(_tail_weight(steps, config.natural_steps, config))


def _samples(key, mdp, probs, n):
    """(s, a, s', a') with (s, a) ~ normalised discounted occupancy of π."""
    k1, k2, k3 = jax.random.split(key, 3)
    occ = exact.occupancy(mdp, probs, horizon=None)
    flat = jax.random.categorical(k1, jnp.log(occ.reshape(-1) / occ.sum() + 1e-30), shape=(n,))
    s, a = flat // mdp.num_actions, flat % mdp.num_actions
    s_next = jax.random.categorical(k2, jnp.log(mdp.P[s, a] + 1e-30))
    a_next = jax.random.categorical(k3, jnp.log(probs[s_next] + 1e-30))
    return s, a, s_next, a_next


def update(key, state: State, env, config: Config):
    k_data, k_critic, k_natural = jax.random.split(key, 3)
    if _tabular(env):
        draw, metrics, state = _tabular_data(k_data, state, env, config)
        start = state.w0  # the paper's critic starts from w_0 at every iteration
    else:
        draw, metrics, state = _rollout_data(k_data, state, env, config)
        start = state.w if config.warm_critic else state.w0
    w = _critic(k_critic, start, state.w0, draw, config)
    u = _natural(k_natural, state.theta, w, draw, config)
    eta, lam = config.actor_lr, config.temperature
    theta = state.theta0 + (1.0 - eta * lam) * (state.theta - state.theta0) + eta * u
    new = state.replace(theta=theta, w=w, t=state.t + 1)
    if _tabular(env):
        mdp = env.default_params
        old_probs = probs_table(state.theta, mdp.num_states, mdp.num_actions)
        q_hat = network(w, features(env, jnp.arange(mdp.num_states)))
        metrics = {**metrics,
                   "soft_J": exact.soft_J(mdp, probs_table(theta, mdp.num_states, mdp.num_actions), lam),
                   # occupancy-weighted |Q̂ − Q_λ^{π_t}|: what the natural-gradient step sees
                   "critic_error": jnp.sum(exact.occupancy(mdp, old_probs, horizon=None) * (1.0 - mdp.discount)
                                           * jnp.abs(q_hat - exact.soft_q_values(mdp, old_probs, lam))),
                   # the lazy regime the analysis assumes: the largest neuron's move from its start
                   "drift": jnp.max(jnp.linalg.norm(theta - state.theta0, axis=-1))}
    return new, metrics


def _tabular_data(key, state: State, env, config: Config):
    """The generative-model sampler on the exact MDP, and N logged episodes."""
    mdp = env.default_params
    probs = probs_table(state.theta, mdp.num_states, mdp.num_actions)
    logp = jnp.log(probs + 1e-30)
    phi = features(env, jnp.arange(mdp.num_states))
    r = exact.expected_reward(mdp)
    alive = 1.0 - mdp.terminal.astype(jnp.float32)

    def draw(k):
        s, a, s2, a2 = _samples(k, mdp, probs, config.batch)
        return Samples(x=phi[s, a], reward=r[s, a], continuation=mdp.discount * alive[s2], x_next=phi[s2, a2],
                       logp_next=logp[s2, a2], features=phi[s], probs=probs[s])

    traj = collect_episodes(key, env, mdp, _sampler(env, state.theta), config.num_envs,
                            episode_horizon(env, config.horizon))
    metrics = {"episode_return": jnp.mean(traj.episode_return),
               "transitions": jnp.sum(traj.mask) + generative_samples(config)}  # every sample, drawn or logged
    return draw, metrics, state


def _rollout_data(key, state: State, env, config: Config):
    """N × T on-policy transitions; minibatches drawn from them uniformly."""
    k_roll, k_next = jax.random.split(key)
    discount = episode_discount(env, config.discount)
    stats = state.obs_stats
    sample = _sampler(env, state.theta, stats.normalize)
    tr, envs, episode_return = onpolicy.rollout(k_roll, env, sample, state.envs, config.num_steps)
    phi, phi_next = features(env, stats.normalize(tr.obs)), features(env, stats.normalize(tr.next_obs))  # [T, N, A, d]
    x = jnp.take_along_axis(phi, tr.action[..., None, None].astype(jnp.int32), -2)[..., 0, :]
    logits_next = network(state.theta, phi_next)
    a_next = jax.random.categorical(k_next, logits_next)
    x_next = jnp.take_along_axis(phi_next, a_next[..., None, None], -2)[..., 0, :]
    logp_next = jnp.take_along_axis(jax.nn.log_softmax(logits_next), a_next[..., None], -1)[..., 0]
    cont = discount * (1.0 - tr.terminated.astype(jnp.float32))
    flat = lambda a: a.reshape((-1,) + a.shape[2:])  # noqa: E731
    probs = jax.nn.softmax(network(state.theta, phi))
    data = jax.tree.map(flat, Samples(x=x, reward=tr.reward, continuation=cont, x_next=x_next, logp_next=logp_next,
                                      features=phi, probs=probs))
    size = data.reward.shape[0]

    def draw(k):
        idx = jax.random.randint(k, (config.batch,), 0, size)
        return jax.tree.map(lambda a: a[idx], data)

    state = state.replace(envs=envs, obs_stats=stats.update(tr.obs))
    metrics = {"episode_return": episode_return, "transitions": jnp.asarray(size, jnp.float32)}
    return draw, metrics, state
